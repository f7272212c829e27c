#!/bin/bash
# petrel in one command: builds if needed, then, as root, in a private
# directory and network namespace, starts petreld and petrel-console,
# makes a bridge and a policy, runs a unikernel with a tap on that bridge,
# shows `petrel info`, its console and the event log, sends it traffic,
# destroys it and cleans up. It leaves nothing behind.
#
# With SOLO5_HVT naming a real solo5-hvt (or SOLO5_SPT a solo5-spt) and
# PETREL_DEMO_IMAGE a unikernel image for it, that unikernel runs, and is
# pinged at PETREL_DEMO_IP (default 10.0.0.2; the bridge is 10.0.0.1/24).
# PETREL_DEMO_ARGS are its arguments (default: MirageOS's
# --ipv4=10.0.0.2/24). Without them the stand-in tender of the test suite
# runs a test image that echoes every frame back, and the demo says so.
#
# PETREL_BUILD_DIR: the build to use (default ./build, built if missing).
set -euo pipefail

cd "$(dirname "$0")/.."
src=$PWD
build=${PETREL_BUILD_DIR:-$src/build}

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
die() { echo "demo.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: it makes a network namespace and taps"
command -v ip >/dev/null || die "needs iproute2 (ip)"

petreld=$build/src/petreld/petreld
console=$build/src/console/petrel-console
client=$build/src/client/petrel
standin=$build/tests/tender
if [ ! -x "$petreld" ] || [ ! -x "$console" ] || [ ! -x "$client" ] ||
   [ ! -x "$standin/solo5-hvt" ]; then
	say "building petrel in $build"
	[ -d "$build" ] || meson setup "$build" >/dev/null
	ninja -C "$build"
fi

work=$(mktemp -d /tmp/petrel-demo.XXXXXX)
ns=petrel-demo-$$
pids=()

# Runs on every exit, failed or not: stop what we started (by pid), then
# remove the namespace (and with it the bridge and any tap) and the files.
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	# Whatever still runs in the namespace was started by this demo.
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		kill -KILL "$pid" 2>/dev/null || true
	done
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
	if [ "$rc" -ne 0 ]; then
		echo "demo.sh: failed (exit $rc); cleaned up" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Polls a condition (a command) until it holds, for at most $1 seconds.
wait_until() {
	local deadline=$((SECONDS + $1)) what=$2
	shift 2
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what"
		sleep 0.05
	done
}

petrel() { "$client" --tmpdir "$work/run" "$@"; }
in_ns() { ip netns exec "$ns" "$@"; }

say "a private network namespace ($ns) with bridge br0 (10.0.0.1/24)"
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add br0 type bridge
ip -n "$ns" addr add 10.0.0.1/24 dev br0
ip -n "$ns" link set br0 up

mkdir -p "$work/db" "$work/run"
real=
if [ -n "${PETREL_DEMO_IMAGE:-}" ] && { [ -n "${SOLO5_HVT:-}" ] || [ -n "${SOLO5_SPT:-}" ]; }; then
	real=yes
	image=$PETREL_DEMO_IMAGE
	[ -n "${SOLO5_HVT:-}" ] && ln -s "$(readlink -f "$SOLO5_HVT")" "$work/db/solo5-hvt"
	[ -n "${SOLO5_SPT:-}" ] && ln -s "$(readlink -f "$SOLO5_SPT")" "$work/db/solo5-spt"
	ip=${PETREL_DEMO_IP:-10.0.0.2}
	read -r -a uk_args <<<"${PETREL_DEMO_ARGS:---ipv4=$ip/24}"
	say "the real Solo5 tender(s) and $image"
else
	image=$work/hello.hvt
	/usr/bin/python3 "$src/tests/tools/mkimage.py" "$image" --target hvt \
		--net service >/dev/null
	ln -s "$standin/solo5-hvt" "$work/db/solo5-hvt"
	uk_args=("print:hello%20from%20the%20demo" "echo")
	# The console is shown once the unikernel is up.
	PETREL_DEMO_CONSOLE_MARK="echoing frames"
	say "no real Solo5 tender and image given (SOLO5_HVT, PETREL_DEMO_IMAGE):" \
		"using the test suite's stand-in tender and a test image that" \
		"echoes every frame back"
fi

say "starting petrel-console and petreld (logs in $work/*.log)"
"$console" --tmpdir "$work/run" >"$work/console.log" 2>&1 &
pids+=($!)
# Not through in_ns: $! must be petreld itself (ip netns exec execs it).
ip netns exec "$ns" "$petreld" --tmpdir "$work/run" --dbdir "$work/db" \
	--logdir "$work/log" --grace-ms 1000 >"$work/petreld.log" 2>&1 &
pids+=($!)
wait_until 30 "petreld to answer" petrel policy >/dev/null 2>&1

say "petrel add-policy demo: --unikernels 2 --mem 256 --cpu 0 --bridge br0"
petrel add-policy demo: --unikernels 2 --mem 256 --cpu 0 --bridge br0

say "petrel create demo:hello $(basename "$image") --net service:br0"
uk_argv=()
for a in "${uk_args[@]}"; do uk_argv+=(--arg "$a"); done
petrel create demo:hello "$image" --mem 64 --net service:br0 "${uk_argv[@]}"

say "petrel info demo:"
petrel info demo:

say "petrel console demo:hello (the last lines)"
petrel console demo:hello --count 20 >"$work/console.out" 2>/dev/null &
cpid=$!
pids+=("$cpid")
wait_until 20 "console output" grep -q "${PETREL_DEMO_CONSOLE_MARK:-.}" "$work/console.out"
kill -TERM "$cpid" 2>/dev/null || true
wait "$cpid" 2>/dev/null || true
tail -n 4 "$work/console.out"

tap=$(ip -n "$ns" -o link show master br0 | awk -F': ' '{print $2}' | cut -d@ -f1)
[ -n "$tap" ] || die "the unikernel has no tap on br0"
in_ns_counter() { in_ns cat "/sys/class/net/$tap/statistics/$1"; }
if [ -n "$real" ]; then
	say "ping $ip (the unikernel, through $tap on br0)"
	in_ns ping -c 3 -w 20 "$ip"
else
	say "traffic to the unikernel: pings on br0 reach it through $tap"
	# The stand-in answers no ping; it sends every frame back, which the
	# tap's counters show in both directions.
	in_ns ping -c 3 -i 0.2 -W 1 -I br0 10.0.0.2 >/dev/null 2>&1 || true
	got_frames() { [ "$(in_ns_counter tx_packets)" -gt 0 ] &&
		[ "$(in_ns_counter rx_packets)" -gt 0 ]; }
	wait_until 10 "frames through $tap" got_frames
	echo "$tap: $(in_ns_counter tx_packets) frames to the unikernel," \
		"$(in_ns_counter rx_packets) echoed back"
fi

say "petrel destroy demo:hello"
petrel destroy demo:hello
no_tap() { [ -z "$(ip -n "$ns" -o link show master br0)" ]; }
wait_until 10 "the tap to go" no_tap

say "petrel log demo: (the event log)"
petrel log demo:

say "stopping the daemons and cleaning up"
for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
pids=()
[ -z "$(ip netns pids "$ns")" ] || die "processes left in $ns"
echo "done: nothing left behind (namespace $ns and $work are removed)"
