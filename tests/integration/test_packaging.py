"""The Debian package: dpkg-buildpackage -us -uc -b in a copy of the tree
(no build products in the repository), lintian with no error and no
warning, dpkg -i on this machine, what it installed (files, users and
groups, modes, enabled units, systemd-analyze verify), the binaries run,
then dpkg --purge and nothing left behind but the users and groups, which
Debian keeps on purge (files elsewhere may still belong to them). The test
removes those itself afterwards, and before, when an earlier run left
them, so that it sees the package create them.

Skipped where dpkg-buildpackage, debhelper or lintian are missing, when
not root, and when a petrel package is installed already (it is not ours
to remove). Takes about a minute on two cores.
"""

import grp
import os
import pwd
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import SRC_DIR

UNITDIR = Path("/lib/systemd/system")
HAVE_STATS = (SRC_DIR / "src" / "stats" / "meson.build").exists()
HAVE_TLS = (SRC_DIR / "src" / "tls" / "meson.build").exists()

BINARIES = ["/usr/sbin/petreld", "/usr/sbin/petrel-console", "/usr/bin/petrel"]
UNITS = ["petreld.service", "petreld.socket",
         "petrel-console.service", "petrel-console.socket"]
# Enabled on install (symlinks in /etc/systemd/system).
ENABLED = list(UNITS)
USERS = ["petrel-console"]
GROUPS = ["petrel", "petrel-console"]
MAN = ["man1/petrel.1.gz", "man5/petrel-files.5.gz", "man8/petreld.8.gz",
       "man8/petrel-console.8.gz"]
if HAVE_STATS:
    BINARIES.append("/usr/sbin/petrel-stats")
    UNITS += ["petrel-stats.service", "petrel-stats.socket"]
    ENABLED += ["petrel-stats.service", "petrel-stats.socket"]
    USERS.append("petrel-stats")
    GROUPS.append("petrel-stats")
    MAN.append("man8/petrel-stats.8.gz")
if HAVE_TLS:
    BINARIES.append("/usr/sbin/petrel-tls")
    UNITS += ["petrel-tls.service", "petrel-tls.socket"]
    USERS.append("petrel-tls")
    GROUPS.append("petrel-tls")
    MAN.append("man8/petrel-tls.8.gz")

# path -> (mode, owner, group) made by tmpfiles.d at install, as petreld
# makes the run dir (docs/permissions.md)
DIRS = {
    "/run/petrel": (0o755, "root", "root"),
    "/run/petrel/util": (0o755, "root", "root"),
    "/run/petrel/fifo": (0o2750, "root", "petrel-console"),
    "/run/petrel/console": (0o3770, "root", "petrel-console"),
    "/var/lib/petrel": (0o700, "root", "root"),
    "/var/log/petrel": (0o700, "root", "root"),
}


GECOS = {"petrel-console": "petrel console daemon",
         "petrel-stats": "petrel statistics daemon",
         "petrel-tls": "petrel TLS endpoint"}


def remove_our_accounts():
    """The users and groups the package made (recognised by their
    comment and system ids), which its purge keeps."""
    for user, gecos in GECOS.items():
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            continue
        if pw.pw_gecos == gecos and pw.pw_uid < 1000:
            run(["userdel", user])
    for group in ["petrel"] + list(GECOS):
        try:
            g = grp.getgrnam(group)
        except KeyError:
            continue
        if g.gr_gid < 1000 and set(g.gr_mem) <= set(GECOS):
            run(["groupdel", group])


def run(argv, timeout=600, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        pytest.fail("%s: exit %d\n%s\n%s" % (" ".join(argv), p.returncode,
                                             p.stdout[-6000:], p.stderr[-6000:]))
    return p


def need_tools():
    if os.geteuid() != 0:
        pytest.skip("needs root (dpkg -i)")
    for tool in ("dpkg-buildpackage", "dh", "lintian", "fakeroot", "systemd-analyze"):
        if shutil.which(tool) is None:
            pytest.skip("%s is not installed (scripts/install-deps.sh installs it): "
                        "cannot build the package here" % tool)
    if run(["dpkg-query", "-W", "-f=${Status}", "petrel"], check=False).stdout \
            .startswith("install"):
        pytest.skip("a petrel package is installed already; not ours to remove")


def copy_tree(dst):
    """The source tree as git sees it (committed or not, ignored files
    left out), so that no build directory goes into the package."""
    files = run(["git", "-C", str(SRC_DIR), "ls-files", "-z", "--cached", "--others",
                 "--exclude-standard"], check=False)
    if files.returncode != 0:
        shutil.copytree(SRC_DIR, dst, ignore=shutil.ignore_patterns(
            "build*", ".git", "__pycache__"), symlinks=True)
        return
    for rel in filter(None, files.stdout.split("\0")):
        src = SRC_DIR / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / rel, follow_symlinks=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    need_tools()
    top = tmp_path_factory.mktemp("deb")
    tree = top / "petrel"
    copy_tree(tree)
    env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=2")
    for k in ("CC", "CFLAGS", "LDFLAGS", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
        env.pop(k, None)
    run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree, env=env, timeout=1200)
    debs = sorted(top.glob("petrel_*.deb"))
    changes = sorted(top.glob("petrel_*.changes"))
    assert len(debs) == 1 and len(changes) == 1, list(top.iterdir())
    return debs[0], changes[0]


def test_lintian_is_clean(built):
    deb, changes = built
    p = run(["lintian", "--fail-on", "error,warning", "--pedantic", str(changes)],
            check=False)
    bad = [l for l in p.stdout.splitlines() if l[:2] in ("E:", "W:")]
    assert p.returncode == 0 and not bad, p.stdout + p.stderr


def enabled_links():
    out = []
    for d in Path("/etc/systemd/system").glob("*.wants"):
        out += [p.name for p in d.iterdir() if p.name.startswith("petrel")]
    return sorted(out)


def test_install_check_and_purge(built):
    deb, _ = built
    assert enabled_links() == [], "petrel units are enabled before the install"
    remove_our_accounts()
    for u in USERS:
        with pytest.raises(KeyError):
            pwd.getpwnam(u)
    try:
        run(["dpkg", "-i", str(deb)])
        check_installed()
        installed = run(["dpkg-query", "-L", "petrel"]).stdout.split("\n")
    finally:
        run(["dpkg", "--purge", "petrel"], check=False)
    try:
        check_purged([f for f in installed if f])
    finally:
        remove_our_accounts()


def check_installed():
    for b in BINARIES:
        st = os.stat(b)
        assert stat.S_IMODE(st.st_mode) == 0o755 and st.st_uid == 0, b
    for u in UNITS:
        assert (UNITDIR / u).is_file(), u
    for m in MAN:
        assert Path("/usr/share/man", m).is_file(), m
    for f in ("/usr/lib/sysusers.d/petrel.conf", "/usr/lib/tmpfiles.d/petrel.conf",
              "/usr/share/bash-completion/completions/petrel"):
        assert Path(f).is_file(), f
    for u in USERS:
        pw = pwd.getpwnam(u)
        assert pw.pw_shell == "/usr/sbin/nologin" and pw.pw_uid < 1000, pw
        assert grp.getgrgid(pw.pw_gid).gr_name == u, pw
    for g in GROUPS:
        grp.getgrnam(g)
    if HAVE_TLS:
        # vmmd.sock is the operators', console/ petrel-console's group's.
        assert "petrel-tls" in grp.getgrnam("petrel").gr_mem
        assert "petrel-tls" in grp.getgrnam("petrel-console").gr_mem
    for path, (mode, owner, group) in DIRS.items():
        st = os.stat(path)
        got = (stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name,
               grp.getgrgid(st.st_gid).gr_name)
        assert got == (mode, owner, group), "%s: %s" % (path, got)
    assert enabled_links() == sorted(ENABLED)
    # Every unit is valid, its binary and its man pages exist.
    p = run(["systemd-analyze", "verify"] + [str(UNITDIR / u) for u in UNITS],
            check=False)
    assert p.returncode == 0 and p.stderr.strip() == "", p.stdout + p.stderr
    for b in BINARIES:
        name = os.path.basename(b)
        assert run([b, "--version"]).stdout.startswith(name + " ")
        assert "usage" in run([b, "--help"]).stdout
    # The units' command lines are ones petreld accepts.
    for u in UNITS:
        if not u.endswith(".service"):
            continue
        line = next(l for l in (UNITDIR / u).read_text().splitlines()
                    if l.startswith("ExecStart="))
        argv = line[len("ExecStart="):].split()
        run(argv + ["--version"])
    assert run(["man", "-w", "petreld"]).stdout.strip() == "/usr/share/man/man8/petreld.8.gz"


def check_purged(installed):
    status = run(["dpkg-query", "-W", "-f=${Status}", "petrel"], check=False)
    assert status.returncode != 0 or "not-installed" in status.stdout, status.stdout
    left = [f for f in installed
            if os.path.lexists(f) and not os.path.isdir(f)]
    assert left == [], "files left after purge: %s" % left
    for d in DIRS:
        assert not os.path.lexists(d), "%s left after purge" % d
    assert enabled_links() == [], "unit links left after purge"
    # Debian keeps the users and groups on purge.
    for u in USERS:
        pwd.getpwnam(u)
    helper = Path("/var/lib/systemd/deb-systemd-helper-enabled")
    if helper.is_dir():
        left = [str(p) for p in helper.rglob("petrel*")]
        assert left == [], left


def test_petreld_logs_priorities_to_the_journal(tmp_path):
    """Under systemd (JOURNAL_STREAM names stderr) each line starts with
    its syslog priority, without a timestamp; otherwise with one."""
    from conftest import PETRELD_BIN, need_binary
    (tmp_path / "db").write_text("")
    argv = [need_binary(PETRELD_BIN), "--tmpdir", str(tmp_path / "run"),
            "--dbdir", str(tmp_path / "db" / "x"), "--logdir", str(tmp_path / "log")]
    for journal in (True, False):
        with open(tmp_path / "err", "w+") as err:
            st = os.fstat(err.fileno())
            env = dict(os.environ)
            env.pop("JOURNAL_STREAM", None)
            if journal:
                env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
            else:
                # Another stream than stderr: not the journal.
                env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino + 1)
            p = subprocess.run(argv, stderr=err, env=env, timeout=30)
            err.seek(0)
            text = err.read()
        assert p.returncode == 1, text
        # Every line carries its priority; the last one is the error that
        # stopped it (info lines, such as the descriptor limit, come first).
        lines = text.splitlines()
        line = lines[-1]
        if journal:
            assert all(l.startswith("<") for l in lines), text
            assert line.startswith("<3>error: "), text
        else:
            assert all(l[:4].isdigit() for l in lines), text
            assert " petreld error: " in line, text


def unit_setting(unit, key):
    text = (SRC_DIR / "systemd" / (unit + ".in")).read_text()
    return [l.split("=", 1)[1] for l in text.splitlines() if l.startswith(key + "=")]


def test_petreld_runs_with_the_capabilities_its_unit_keeps(petreld_factory, images, tender):
    """petreld.service's CapabilityBoundingSet (CAP_NET_ADMIN alone), and
    the supplementary groups the unit gives it for its --group and
    --console-group, are enough for taps, the run dir's owners and modes
    (docs/permissions.md: fifo/ and console/ in the console group, setgid,
    vmmd.sock 0660 in the operators') and the tenders. Here the unit's
    groups are stood in for by two groups of the host."""
    tender.need_scripted()
    if shutil.which("setpriv") is None:
        pytest.skip("needs util-linux's setpriv")
    (caps,) = unit_setting("petreld.service", "CapabilityBoundingSet")
    bset = "-all," + ",".join("+" + c.lower()[len("cap_"):] for c in caps.split())
    (execstart,) = unit_setting("petreld.service", "ExecStart")
    unit_argv = execstart.split()
    stand_in = {unit_argv[unit_argv.index("--console-group") + 1]: "nogroup",
                unit_argv[unit_argv.index("--group") + 1]: "daemon"}
    (groups,) = unit_setting("petreld.service", "SupplementaryGroups")
    assert set(groups.split()) == set(stand_in), groups
    gids = [str(grp.getgrnam(g).gr_gid) for g in stand_in.values()]
    pd = petreld_factory(start=False, extra_args=[
        "--console-group", "nogroup", "--group", "daemon"])
    argv = pd.argv()
    i = argv.index(str(conftest_petreld()))
    argv[i:i] = ["setpriv", "--bounding-set=" + bset, "--groups", ",".join(gids), "--"]
    pd.starts += 1
    pd.proc = pd.spawn(argv=argv)
    pd.wait_ready()
    status = open("/proc/%d/status" % pd.pid).read()
    pd.ok("create", "web", images.path("hvt", nets=["service"]),
          "--net", "service:br0", "--arg", "run")
    pd.wait_tender(":web")
    assert len(pd.ns.taps()) == 1

    def owner(path):
        st = os.lstat(path)
        return (stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name,
                grp.getgrgid(st.st_gid).gr_name)
    run_dir = pd.tmpdir
    assert owner(pd.fifo_path(":web")) == (0o640, "root", "nogroup")
    assert owner(os.path.join(run_dir, "fifo")) == (0o2750, "root", "nogroup")
    assert owner(os.path.join(run_dir, "console")) == (0o3770, "root", "nogroup")
    assert owner(os.path.join(run_dir, "util")) == (0o755, "root", "root")
    assert owner(pd.sock) == (0o660, "root", "daemon")
    assert os.readlink(os.path.join(run_dir, "util", "console.sock")) == \
        "../console/console.sock"
    pd.ok("destroy", "web")
    # The bounding set really was that small.
    bnd = int(next(l for l in status.splitlines() if l.startswith("CapBnd:")).split()[1], 16)
    numbers = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3,
               "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_NET_ADMIN": 12,
               "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24}
    assert bnd == sum(1 << numbers[c] for c in caps.split()), hex(bnd)


def conftest_petreld():
    from conftest import PETRELD_BIN
    return PETRELD_BIN


def expand_syscall_set(item, seen=None):
    """The system calls a SystemCallFilter= item names: a call, or a
    group (@name) as this systemd expands it."""
    if not item.startswith("@"):
        return {item}
    seen = set() if seen is None else seen
    if item in seen:
        return set()
    seen.add(item)
    out = run(["systemd-analyze", "syscall-filter", "--no-pager", item]).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        word = line.split("#", 1)[0].strip()
        if word:
            calls |= expand_syscall_set(word, seen)
    return calls


def unit_syscalls(unit):
    """What SystemCallFilter= allows: the allow lists, less the `~` ones."""
    allowed, denied = set(), set()
    for value in unit_setting(unit, "SystemCallFilter"):
        into = denied if value.startswith("~") else allowed
        for item in value.lstrip("~").split():
            into |= expand_syscall_set(item)
    assert allowed, "%s: no allow list" % unit
    return allowed - denied


@pytest.mark.skipif(not HAVE_TLS, reason="petrel-tls is not in the tree")
def test_petrel_tls_unit_allows_its_own_seccomp_filter():
    """petrel-tls installs its own filter (src/tls/sandbox.c) under the
    unit's: libseccomp refuses to make a filter that kills when the
    seccomp() call is refused, so the unit must allow it (and prctl, for
    no_new_privs), and every call petrel-tls's filter allows, or they
    fail with EPERM."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    allowed = unit_syscalls("petrel-tls.service")
    text = (SRC_DIR / "src" / "tls" / "sandbox.c").read_text()
    own = text.split("allowed[] = {", 1)[1].split("};", 1)[0]
    needed = set(re.findall(r"SCMP_SYS\((\w+)\)", own)) | {"seccomp", "prctl", "socket"}
    assert len(needed) > 20, needed
    assert needed <= allowed, sorted(needed - allowed)
