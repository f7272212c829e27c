#!/bin/sh
# Runs the whole test suite: unit tests (cmocka), fuzz targets for a bounded
# time, and the integration tests (pytest, real daemons in private
# directories and network namespaces), all in an ASan+UBSan build made with
# clang (needed for libFuzzer). Installs the dependencies first when run as
# root. The last line counts passed and failed tests.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
	./scripts/install-deps.sh >/dev/null
fi
dir=build-test
if [ ! -d "$dir" ]; then
	CC=clang meson setup "$dir" \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dfuzz=true -Dfuzz_seconds="${PETREL_FUZZ_SECONDS:-30}"
fi
ninja -C "$dir"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
rc=0
meson test -C "$dir" --print-errorlogs --num-processes 2 || rc=$?
/usr/bin/python3 scripts/test-summary.py "$dir/meson-logs/testlog.json"
exit $rc
