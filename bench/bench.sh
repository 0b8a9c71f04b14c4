#!/bin/sh
# bench.sh - spool's benchmark, on a private spool under /tmp with one spoold and one
# spool-worker -n 2 on this machine, spool.conf left at its defaults. One run prints:
#
#   1. throughput: `spool map --wait` of 5,000 `true` tasks on 2 engines, from submit to the
#      last result collected, against `seq 5000 | xargs -P 2 -n 1 true` in the same run;
#   2. latency: median, p90, min, max of 50 single-task `spool submit --wait -- true` with a
#      warm controller and worker, against spawning `true` itself the same way;
#   3. memory: peak RSS (VmHWM) of spoold and spool-worker during the throughput run.
#
# Timing figures are reported against their targets as PASS/MISS but never fail the run
# (machines are noisy): the exit status is 0 unless something broke (a task failed, a
# program died or hung), then 1.
#   BENCH_TASKS=N   tasks in the throughput run (default 5000)
#   BENCH_TRIES=N   single-task tries in the latency run (default 50)
#   BENCH_DIR=DIR   where the temporary spool goes (default /tmp)
#   SPOOL_BIN=DIR   the programs to measure (default ./bin)
#
# Bash for $EPOCHREALTIME: microsecond timestamps without forking date(1), which would add
# about a millisecond of noise to each latency sample.
if [ -z "${BASH_VERSION:-}" ]; then
	command -v bash >/dev/null 2>&1 || { echo "bench: needs bash" >&2; exit 1; }
	exec bash "$0" "$@"
fi
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="${SPOOL_BIN:-$here/bin}:$PATH"
N=${BENCH_TASKS:-5000}
TRIES=${BENCH_TRIES:-50}
B=$(mktemp -d "${BENCH_DIR:-/tmp}/spool-bench.XXXXXX") || exit 1
export SPOOL_DIR="$B/spool"
DPID="" WPID="" MPID="" broke=0 dead_told=""

stop_map() { # the timed map, if it still runs
	[ -n "$MPID" ] || return 0
	[ -s "$B/map.pid" ] && kill "$(cat "$B/map.pid")" 2>/dev/null
	wait "$MPID" 2>/dev/null
	MPID=""
}
cleanup() {
	stop_map
	# The worker first, so that it says bye before the controller goes.
	for p in $WPID $DPID; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$B"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_us() { local t=$EPOCHREALTIME; echo $(( ${t%.*} * 1000000 + 10#${t#*.} )); }
fail() { echo "bench: BROKEN: $*" >&2; broke=1; }
daemons_alive() { kill -0 "$DPID" 2>/dev/null && kill -0 "$WPID" 2>/dev/null; }
check_daemons() { # say once which one died
	local name pid
	for name in spoold spool-worker; do
		pid=$DPID
		[ $name = spool-worker ] && pid=$WPID
		kill -0 "$pid" 2>/dev/null && continue
		case " $dead_told " in *" $name "*) continue ;; esac
		dead_told="$dead_told $name"
		fail "$name (pid $pid) died; the end of its log:"
		tail -20 "$B/$name.log" >&2
	done
}
# CPU time (user + system, ms) a process has used so far; its peak RSS (kB)
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
live_engines() { spool workers 2>/dev/null | awk 'NR > 1 && $4 != "dead"' | wc -l; }
# median, p90 (nearest rank), min, max of the numbers (us) in a file, printed in ms
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		p = int(NR * 0.9); if (p < NR * 0.9) p++
		printf "%.1f %.1f %.1f %.1f\n", med / 1000, v[p] / 1000, v[1] / 1000, v[NR] / 1000 }'
}
xargs_run() { # prints the wall time in us of N `true` two at a time
	local t0 t1
	t0=$(now_us)
	seq "$N" | xargs -P 2 -n 1 true || fail "xargs -P 2 -n 1 true failed"
	t1=$(now_us)
	echo $((t1 - t0))
}

echo "spool bench: $N tasks on 2 engines, $TRIES single-task tries; $(spool --version) ($(git -C "$here" describe --always --dirty 2>/dev/null || echo "no git")); $(nproc) CPUs, $(uname -sr)"
fstype=$(findmnt -n -o FSTYPE -T "$B" 2>/dev/null || stat -f -c %T "$B" 2>/dev/null)
# What creating a file costs here: spool writes every record as a new file (tmp + rename),
# and on some filesystems that, not fsync, is what a task costs.
mkdir "$B/probe"
t0=$(now_us)
for i in $(seq 200); do : >"$B/probe/f$i"; done
t1=$(now_us)
rm -rf "$B/probe"
echo "spool in $B ($fstype); creating a file there takes $(awk -v u=$((t1 - t0)) 'BEGIN { printf "%.3f", u / 200000 }') ms"

spool init "$SPOOL_DIR" >/dev/null || { echo "bench: spool init failed" >&2; exit 1; }
[ -n "${BENCH_PREFETCH:-}" ] && sed -i "s/^prefetch =.*/prefetch = $BENCH_PREFETCH;/" "$SPOOL_DIR/spool.conf"
echo "spool.conf: the defaults of spool init ($(grep -E '^(prefetch|prefetch_short|publish_interval|rescan_interval) ' "$SPOOL_DIR/spool.conf" | tr -d ';' | tr '\n' ',' | sed 's/,$//; s/,/, /g'))"
spoold -f -d "$SPOOL_DIR" 2>>"$B/spoold.log" &
DPID=$!
spool-worker -f -d "$SPOOL_DIR" -n 2 2>>"$B/spool-worker.log" &
WPID=$!
for i in $(seq 200); do
	[ "$(live_engines)" -ge 2 ] && break
	sleep 0.1
done
if [ "$(live_engines)" -lt 2 ]; then
	fail "the 2 engines did not come up in 20 s"
	check_daemons
	tail -20 "$B/spoold.log" "$B/spool-worker.log" >&2
	exit 1
fi
mkdir "$B/data" && cd "$B/data" || exit 1
seq "$N" >"$B/items"

# --- 1. throughput -------------------------------------------------------------------------
# xargs -n 1 starts one `true` per item, with the item as its argument, as a map task runs
# `true ITEM`; -P 2 keeps two running at a time, as the 2 engines do; both look `true` up
# along PATH. That is the floor of spawning N processes two at a time: what spool adds is its
# records, fsyncs and the controller and worker round trips. It runs before and after spool's
# run and the mean is used, so that a change of load on the machine hits both alike.
x1=$(xargs_run)

cpu_d0=$(cpu_ms "$DPID") cpu_w0=$(cpu_ms "$WPID")
# Peak RSS from here on: writing 5 to clear_refs resets VmHWM to the current RSS.
echo 5 >"/proc/$DPID/clear_refs" 2>/dev/null
echo 5 >"/proc/$WPID/clear_refs" 2>/dev/null
# The map times itself (in the background, so that this shell can watch the daemons: if one
# died the map would wait for ever).
(
	t0=$(now_us)
	timeout 900 spool map --wait --input "$B/items" -- true >"$B/map.out" 2>"$B/map.err" &
	echo $! >"$B/map.pid"
	wait $!
	rc=$?
	t1=$(now_us)
	echo "$rc $((t1 - t0))" >"$B/map.result"
) &
MPID=$!
while kill -0 "$MPID" 2>/dev/null; do
	daemons_alive || { stop_map; break; }
	sleep 0.2
done
wait "$MPID" 2>/dev/null
MPID=""
hwm_d=$(hwm_kb "$DPID") hwm_w=$(hwm_kb "$WPID")
cpu_d=$(( $(cpu_ms "$DPID") - cpu_d0 )) cpu_w=$(( $(cpu_ms "$WPID") - cpu_w0 ))
rc="stopped: a daemon died" spool_us=0
[ -s "$B/map.result" ] && read -r rc spool_us <"$B/map.result"
if [ "$rc" != 0 ]; then
	fail "spool map of $N true tasks did not succeed (exit $rc):"; tail -5 "$B/map.err" >&2
	spool_us=0
fi
check_daemons

x2=$(xargs_run)
xargs_us=$(( (x1 + x2) / 2 ))
read -r spool_tps xargs_tps ratio < <(awk -v n="$N" -v s="$spool_us" -v x="$xargs_us" 'BEGIN {
	if (s > 0) printf "%.0f %.0f %.3f\n", n * 1e6 / s, n * 1e6 / x, x / s; else printf "- %.0f -\n", n * 1e6 / x }')
tput_ok=$(awk -v r="$ratio" -v s="$spool_us" 'BEGIN { print (s == 0 ? "n/a" : r >= 0.25 ? "PASS" : "MISS") }')

# --- 2. latency ----------------------------------------------------------------------------
# Warm: the controller and the worker have just run the map; three more untimed tasks make
# sure this path is hot too. Each try is submit + wait + collect in one command.
if daemons_alive; then
	for i in 1 2 3; do
		timeout 60 spool submit --wait -- true >/dev/null 2>&1 || fail "warm-up task $i failed"
	done
fi
truebin=$(type -P true)
: >"$B/lat.spool"
: >"$B/lat.base"
for i in $(seq "$TRIES"); do
	daemons_alive || break
	t0=$(now_us)
	timeout 60 spool submit --wait -- true >/dev/null 2>>"$B/lat.err" || fail "single task $i failed"
	t1=$(now_us)
	echo $((t1 - t0)) >>"$B/lat.spool"
	# the baseline: the same spawn-and-wait from this shell, of `true` itself
	t0=$(now_us)
	"$truebin"
	t1=$(now_us)
	echo $((t1 - t0)) >>"$B/lat.base"
done
check_daemons
l_med=- l_p90=- l_min=- l_max=- b_med=- b_p90=- b_min=- b_max=- lat_ok=n/a lat_ratio=-
if [ -s "$B/lat.spool" ]; then
	read -r l_med l_p90 l_min l_max < <(stats "$B/lat.spool")
	read -r b_med b_p90 b_min b_max < <(stats "$B/lat.base")
	lat_ok=$(awk -v m="$l_med" 'BEGIN { print (m < 50 ? "PASS" : "MISS") }')
	lat_ratio=$(awk -v a="$l_med" -v b="$b_med" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')
fi

# --- report --------------------------------------------------------------------------------
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1e6 }'; }
echo
printf '%-36s %14s %14s %8s\n' "" spool baseline ratio
printf '%-36s %14s %14s %8s\n' "throughput, tasks/s ($N x true)" "$spool_tps" "$xargs_tps" "$ratio"
printf '%-36s %14s %14s\n' "  wall time, s" "$(ms "$spool_us")" "$(ms "$xargs_us")"
printf '%-36s %14s %14s\n' "  xargs before, after the map, s" "" "$(ms "$x1"), $(ms "$x2")"
printf '%-36s %14s %14s %8s\n' "latency median, ms ($TRIES tries)" "$l_med" "$b_med" "$lat_ratio"
printf '%-36s %14s %14s\n' "latency p90, ms" "$l_p90" "$b_p90"
printf '%-36s %14s %14s\n' "latency min, ms" "$l_min" "$b_min"
printf '%-36s %14s %14s\n' "latency max, ms" "$l_max" "$b_max"
printf '%-36s %14s %14s\n' "" spoold spool-worker
printf '%-36s %14s %14s\n' "peak RSS in the throughput run, kB" "$hwm_d" "$hwm_w"
printf '%-36s %14s %14s\n' "CPU in the throughput run, ms" "$cpu_d" "$cpu_w"
echo
echo "throughput: spool $spool_tps tasks/s, xargs -P 2 $xargs_tps tasks/s, ratio $ratio (target >= 0.25): $tput_ok"
echo "latency: spool submit --wait -- true median $l_med ms (p90 $l_p90, min $l_min, max $l_max), true itself median $b_med ms, ratio $lat_ratio (target median < 50 ms): $lat_ok"
echo "memory: peak RSS spoold $hwm_d kB, spool-worker $hwm_w kB"
if [ $broke -ne 0 ]; then
	echo "bench: something broke (see above): exit 1"
	exit 1
fi
exit 0
