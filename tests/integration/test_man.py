"""The man pages: each documents every long option its binary's --help
prints (for petrel, also every command's --help), and they are clean for
mandoc -T lint and man --warnings. Needs no root.

petrel-stats and petrel-tls are checked once they are built.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD_DIR, SRC_DIR

MAN_DIR = SRC_DIR / "man"

# binary (relative to the build dir) -> its man page
PAGES = {
    "src/petreld/petreld": "petreld.8",
    "src/console/petrel-console": "petrel-console.8",
    "src/client/petrel": "petrel.1",
    "src/stats/petrel-stats": "petrel-stats.8",
    "src/tls/petrel-tls": "petrel-tls.8",
}

LONG_OPT = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, "%s: exit %d\n%s" % (argv, p.returncode, p.stderr)
    return p.stdout


def rendered(page):
    """The page as a reader sees it: plain text, no overstrike, no
    hyphenation (long lines)."""
    need_mandoc()
    out = run(["mandoc", "-T", "ascii", "-O", "width=400", str(MAN_DIR / page)])
    return re.sub(".\b", "", out)


def need_mandoc():
    if shutil.which("mandoc") is None:
        pytest.skip("mandoc is not installed (scripts/install-deps.sh installs it)")


def help_texts(binary):
    texts = [run([binary, "--help"])]
    if binary.endswith("/petrel"):
        commands = re.findall(r"^  ([a-z][a-z-]*) ",
                              texts[0].split("Commands:", 1)[1].split("\n\n", 1)[0],
                              re.M)
        assert len(commands) > 10, texts[0]
        texts += [run([binary, c, "--help"]) for c in commands]
    return texts


def built_pages():
    for rel, page in PAGES.items():
        if (BUILD_DIR / rel).exists():
            yield rel, page


@pytest.mark.parametrize("rel,page", list(PAGES.items()), ids=list(PAGES.values()))
def test_every_option_is_documented(rel, page):
    binary = BUILD_DIR / rel
    if not binary.exists():
        if rel.endswith(("petrel-stats", "petrel-tls")):
            pytest.skip("%s is not built (yet)" % rel)
        pytest.fail("%s is not built (PETREL_BUILD_DIR=%s)" % (binary, BUILD_DIR))
    text = rendered(page)
    documented = set(LONG_OPT.findall(text))
    missing = set()
    for h in help_texts(str(binary)):
        missing |= set(LONG_OPT.findall(h)) - documented
    assert not missing, "%s does not document %s" % (page, sorted(missing))


def test_version_in_every_binary():
    for rel, _ in built_pages():
        name = Path(rel).name
        out = run([str(BUILD_DIR / rel), "--version"])
        assert re.fullmatch(re.escape(name) + r" \d+\.\d+\.\d+\S*\n", out), out


def all_pages():
    return sorted(p.name for p in MAN_DIR.glob("*.[1-8]"))


@pytest.mark.parametrize("page", all_pages())
def test_mandoc_lint_clean(page):
    need_mandoc()
    p = subprocess.run(["mandoc", "-T", "lint", "-W", "all", str(MAN_DIR / page)],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr


@pytest.mark.parametrize("page", all_pages())
def test_man_warnings_clean(page):
    if shutil.which("man") is None:
        pytest.skip("man-db is not installed")
    env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
    p = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z",
                        str(MAN_DIR / page)], capture_output=True, text=True, env=env)
    assert p.returncode == 0 and p.stderr == "", p.stderr


def test_every_page_is_installed():
    """man/meson.build installs each page whose binary is built."""
    text = (MAN_DIR / "meson.build").read_text()
    for page in all_pages():
        assert "'%s'" % page in text, page
