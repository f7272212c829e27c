"""bash completion for petrel (completion/petrel.bash): commands and
options from petrel's --help, names of unikernels and block devices from
a running petreld (reached through the --tmpdir on the command line)."""

import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import PETREL_BIN, SRC_DIR, need_binary

COMPLETION = SRC_DIR / "completion" / "petrel.bash"
BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")


def complete(words, cword=None):
    """COMPREPLY for the command line `words` (the last word is being
    completed unless cword says otherwise)."""
    if not BASH_COMPLETION.exists():
        pytest.skip("bash-completion is not installed")
    words = [need_binary(PETREL_BIN)] + list(words)
    cword = len(words) - 1 if cword is None else cword
    # What the user typed: the words need no quoting in these tests.
    line = " ".join(words)
    script = "\n".join([
        "source %s" % shlex.quote(str(BASH_COMPLETION)),
        "source %s" % shlex.quote(str(COMPLETION)),
        "COMP_WORDS=(%s)" % " ".join(shlex.quote(w) for w in words),
        "COMP_CWORD=%d" % cword,
        "COMP_LINE=%s" % shlex.quote(line),
        "COMP_POINT=${#COMP_LINE}",
        "_petrel",
        'printf "%s\\n" "${COMPREPLY[@]}"',
    ])
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.split("\n") if w]


def test_commands():
    got = complete([""])
    for c in ("create", "destroy", "info", "add-policy", "create-block", "console", "log"):
        assert c in got, got
    assert complete(["dump-"]) == ["dump-block"]


def test_options_of_the_command_and_global_ones():
    got = complete(["create", "x", "--"])
    for o in ("--mem", "--net", "--restart-on-fail", "--tmpdir", "--json", "--version"):
        assert o in got, got
    assert "--unikernels" not in got
    assert complete(["add-policy", "--uni"]) == ["--unikernels"]
    assert "--version" in complete(["--"])


def test_names_from_the_daemon(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "team:web", images.path(), "--arg", "run")
    pd.ok("create", "other", images.path(), "--arg", "run")
    pd.ok("create-block", "team:disk", "1")
    conn = ["--tmpdir", pd.tmpdir]
    assert sorted(complete(conn + ["destroy", ""])) == [":other", "team:web"]
    assert complete(conn + ["console", "team:w"]) == ["web"] or \
        complete(conn + ["console", "team:w"]) == ["team:web"]
    assert complete(conn + ["destroy-block", ""]) == ["team:disk"]
    assert complete(["--tmpdir=" + pd.tmpdir, "info", "o"]) == []
    # Without a daemon: nothing, quickly, and no error.
    assert complete(["--tmpdir", "/nonexistent", "destroy", ""]) == []
    pd.ok("destroy", "team:web")
    pd.ok("destroy", "other")


def test_ca_subcommands_and_their_options():
    assert "ca" in complete([""])
    assert complete(["ca", ""]) == ["generate", "request", "sign", "revoke"]
    assert complete(["ca", "re"]) == ["request", "revoke"]
    got = complete(["ca", "sign", "x.req", "--"])
    for o in ("--days", "--db", "--out", "--ca-cert", "--ca-key", "--tmpdir"):
        assert o in got, got
    assert "--serial" not in got and "--server-days" not in got, got
    assert "--server-days" in complete(["ca", "generate", "root", "--"])
    assert complete(["ca", "revoke", "crl", "--seri"]) == ["--serial"]
    # After `ca request NAME`: the command the certificate carries.
    got = complete(["ca", "request", "alice", "add-"])
    assert got == ["add-policy"], got
    assert "ca" not in complete(["ca", "request", "alice", ""])


def test_remote_options():
    got = complete(["--"])
    for o in ("--remote", "--destination", "--ca-cert", "--ca", "--ca-key",
              "--server-ca", "--key-type"):
        assert o in got, got
    assert complete(["--key-type", ""]) == ["ed25519", "p256", "p384", "p521",
                                            "rsa2048", "rsa4096"]
    assert complete(["--key-type", "rsa"]) == ["rsa2048", "rsa4096"]
    # An option's value is not the command: the command is still to come
    # after `--remote HOST`, and `info` is found after `--ca-cert FILE`.
    assert complete(["--remote", "host", "dump-"]) == ["dump-block"]
    assert complete(["--ca-cert", "x.pem", "info", "--ser"]) == ["--server-ca"]
    assert "--unikernels" in complete(["--destination", "h", "add-policy", "--"])
