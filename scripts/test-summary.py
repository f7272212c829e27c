"""Prints one closing line for the whole suite from meson's testlog.json:
'tests: N passed, N failed, N skipped'. A meson test that is a cmocka or
pytest binary counts as one test here; their own output has the details."""
import json
import sys

passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        result = json.loads(line)["result"]
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
