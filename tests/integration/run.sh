#!/bin/sh
# Runs the pytest integration suite given as arguments. The tests make
# network namespaces, bridges and taps, so they need root: without it the
# suite is skipped (exit 77, meson's "skipped").
if [ "$(id -u)" -ne 0 ]; then
	echo "integration tests need root (network namespaces): skipped"
	exit 77
fi
if ! command -v ip >/dev/null 2>&1; then
	echo "integration tests need iproute2 (ip) for their scaffolding: skipped"
	exit 77
fi
# No __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider "$@"
