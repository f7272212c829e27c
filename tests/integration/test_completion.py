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
