#!/bin/sh
# Runs one libFuzzer target for the test suite without touching the repo:
# libFuzzer adds the inputs it finds to the first corpus directory, so it
# gets a scratch copy of the seed corpus, removed afterwards. Crash
# artifacts go to the given directory (in the build tree).
#
# usage: run-fuzzer.sh <fuzzer> <seed-corpus-dir> <artifact-dir> [libFuzzer options...]
set -eu
if [ $# -lt 3 ]; then
	echo "usage: $0 <fuzzer> <seed-corpus-dir> <artifact-dir> [options...]" >&2
	exit 2
fi
fuzzer=$1
seeds=$2
artifacts=$3
shift 3
work=$(mktemp -d "${TMPDIR:-/tmp}/petrel-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
cp -R "$seeds"/. "$work"/
mkdir -p "$artifacts"
"$fuzzer" -artifact_prefix="$artifacts/" "$@" "$work"
