#!/bin/sh
# Installs the build dependencies (Debian 12, as root) and builds petrel
# into ./build. The binaries end up in build/src/petreld/petreld and
# build/src/client/petrel.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
	./scripts/install-deps.sh
fi
if [ ! -d build ]; then
	meson setup build
fi
ninja -C build
echo "built: build/src/petreld/petreld build/src/client/petrel"
