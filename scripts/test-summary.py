"""Prints the closing line of the whole suite from meson's testlog.json:
'tests: N passed, N failed, N skipped', counting individual test cases.

A cmocka binary counts the cases it reports ("[  PASSED  ] 12 test(s)."),
the pytest run counts what its last line says ("208 passed, 131 skipped"),
and anything else (a fuzz target, a crash before any report) counts as
one test with meson's verdict. A binary whose verdict is a failure never
counts as all-passed, whatever it printed."""
import json
import re
import sys

CMOCKA_PASSED = re.compile(r"^\[  PASSED  \] (\d+) test", re.M)
CMOCKA_FAILED = re.compile(r"^\[  FAILED  \] (\d+) test", re.M)
CMOCKA_SKIPPED = re.compile(r"^\[  SKIPPED \] (\d+) test", re.M)
PYTEST_LAST = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s", re.M)


def cases(entry):
    """(passed, failed, skipped) for one meson test."""
    out = (entry.get("stdout") or "") + (entry.get("stderr") or "")
    ok = entry["result"] in ("OK", "EXPECTEDFAIL")
    if entry["result"] == "SKIP":
        return 0, 0, 1
    p = CMOCKA_PASSED.findall(out)
    if p:
        passed = sum(map(int, p))
        failed = sum(map(int, CMOCKA_FAILED.findall(out)))
        skipped = sum(map(int, CMOCKA_SKIPPED.findall(out)))
        if not ok and failed == 0:
            failed = 1
        return passed, failed, skipped
    last = PYTEST_LAST.findall(out)
    if last:
        counts = dict((w, int(n)) for n, w in
                      re.findall(r"(\d+) (\w+)", last[-1]))
        failed = counts.get("failed", 0) + counts.get("error", 0) + \
            counts.get("errors", 0)
        if not ok and failed == 0:
            failed = 1
        return counts.get("passed", 0), failed, counts.get("skipped", 0)
    return (1, 0, 0) if ok else (0, 1, 0)


totals = [0, 0, 0]
with open(sys.argv[1]) as f:
    for line in f:
        for i, n in enumerate(cases(json.loads(line))):
            totals[i] += n
print("tests: %d passed, %d failed, %d skipped" % tuple(totals))
