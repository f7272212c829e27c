"""albatross-client's spellings: each albatross-client command line below
makes petrel send exactly the request (`--socket=-` prints it) that
petrel's own spelling does. Needs no root and no daemon.

albatross-client's options come from its cmdliner terms
(client/albatross_client.ml): add-policy's UNIKERNELS positional,
--network and --size; info/block --name (-n); policy, remove-policy and
inactive-consoles --path (-p); --compression-level; create's --restart.
"""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_client_vectors import petrel_bin  # noqa: E402

MKIMAGE = Path(__file__).resolve().parents[2] / "tests" / "tools" / "mkimage.py"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("spellings")
    img = d / "web.hvt"
    subprocess.run(["/usr/bin/python3", str(MKIMAGE), str(img), "--target", "hvt"],
                   check=True, timeout=60)
    data = d / "disk.img"
    data.write_bytes(b"petrel" * 1000)
    return {"IMG": str(img), "DATA": str(data)}


PAIRS = [
    # (albatross-client's spelling, petrel's own)
    ("add-policy team 4 --mem 256 --cpu 0 --cpu 1 --bridge br0 --size 100",
     "add-policy team: --unikernels 4 --mem 256 --cpu 0 --cpu 1 --bridge br0 --block 100"),
    ("add-policy team:alice 2 --mem=64 --cpu=0 --network=br0 --network=br1",
     "add-policy team:alice: --unikernels 2 --mem 64 --cpu 0 --bridge br0 --bridge br1"),
    ("replace-policy team 4 --mem 256 --cpu 0 --size=10",
     "replace-policy team: --unikernels 4 --mem 256 --cpu 0 --block 10"),
    ("info --name=team:web", "info team:web"),
    ("info -n web", "info web"),
    ("info --name team:", "info team:"),
    ("policy --path=team", "policy team:"),
    ("policy -p a:b", "policy a:b:"),
    ("policy --path=:", "policy"),
    ("remove-policy --path=team", "remove-policy team:"),
    ("inactive-consoles --path team", "inactive-consoles team:"),
    ("block --name=team:disk", "block team:disk"),
    ("get web --compression-level=9", "get web --compress"),
    ("get web --compression-level 0", "get web"),
    ("dump-block disk --compression-level=9", "dump-block disk --compress"),
    ("create web IMG --restart --mem 64 --compression-level=9",
     "create web IMG --restart-on-fail --mem 64 --compress"),
    ("create web IMG --compression-level=0", "create web IMG"),
    ("create-block disk 1 --data DATA --compression-level=9",
     "create-block disk 1 --data DATA --compress"),
    ("set-block disk DATA --compression-level=9", "set-block disk DATA --compress"),
    ("console team:web --since 2024-01-02T03:04:05Z",
     "console team:web --since 2024-01-02T03:04:05Z"),
    ("destroy team:web --socket=-", "destroy team:web"),
]


def request(line, files):
    argv = [files.get(w, w) for w in line.split()]
    if "--socket=-" not in argv:
        argv = ["--socket=-"] + argv
    p = subprocess.run([petrel_bin()] + argv, capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, "petrel %s: exit %d: %s" % (line, p.returncode, p.stderr)
    assert p.stdout.strip(), "petrel %s printed no request" % line
    return p.stdout


@pytest.mark.parametrize("albatross,petrel", PAIRS, ids=[a for a, _ in PAIRS])
def test_same_request(albatross, petrel, files):
    assert request(albatross, files) == request(petrel, files)


@pytest.mark.parametrize("line", [
    "get web --compression-level=10",
    "get web --compression-level=x",
    "add-policy team 4 --unikernels 4 --mem 1 --cpu 0",
    "add-policy team four --mem 1 --cpu 0",
    "destroy --name=web",
])
def test_refused(line):
    p = subprocess.run([petrel_bin(), "--socket=-"] + line.split(),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and p.stdout == "", (p.returncode, p.stdout, p.stderr)


def test_aliases_are_not_in_help():
    out = subprocess.run([petrel_bin(), "info", "--help"], capture_output=True,
                         text=True, timeout=30).stdout
    assert "--name" not in out and "Options:" not in out, out
    out = subprocess.run([petrel_bin(), "add-policy", "--help"], capture_output=True,
                         text=True, timeout=30).stdout
    assert "--network" not in out and "--size" not in out, out


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("remote-spellings")
    p = subprocess.run([petrel_bin(), "ca", "generate", "root"], cwd=d,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return d


def remote_outcome(argv, cwd):
    p = subprocess.run([petrel_bin()] + argv, capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL, cwd=cwd)
    return p.returncode, p.stdout, p.stderr.replace("--destination", "--remote")


def test_destination_and_ca_are_remote_and_ca_cert(ca_dir):
    """albatross-client's --destination and --ca: the request bytes of a
    remote command cannot be printed, so petrel's two spellings must go
    just as far (here: up to a connection refused by a port nobody
    listens on, the chain already built and checked against
    --server-ca) and fail alike; and both are refused with --socket."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        host = "127.0.0.1:%d" % closed.getsockname()[1]
        keys = ["--ca-key", "root.key", "--server-ca", "cacert.pem"]
        ours = remote_outcome(["--remote", host, "--ca-cert", "cacert.pem"] + keys +
                              ["info", "web"], ca_dir)
        theirs = remote_outcome(["info", "web", "--destination", host,
                                 "--ca", "cacert.pem"] + keys, ca_dir)
        theirs_eq = remote_outcome(["--destination=" + host, "--ca=cacert.pem"] + keys +
                                   ["info", "web"], ca_dir)
    assert ours[0] == 3 and "refused" in ours[2].lower(), ours
    assert theirs == ours and theirs_eq == ours, (ours, theirs, theirs_eq)
    for spelling in ("--remote", "--destination"):
        rc, out, err = remote_outcome(["--socket=-", spelling, host, "info"], ca_dir)
        assert rc == 2 and out == "" and "--socket" in err, (spelling, rc, err)
