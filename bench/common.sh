# common.sh - what bench.sh and bench-scale.sh share: a private spool beside this clone
# (build/bench/, see bench_tmpdir) with one spoold
# and one spool-worker -n 2, stopped and removed on exit; microsecond clocks; peak RSS and CPU of
# a process; medians. Sourced by bash (both scripts re-exec themselves under bash first).
#
# The sourcing script sets, before calling bench_start:
#   B          the temporary directory (made by bench_tmpdir)
# and may define bench_stop_extra, run first on exit (to stop what it started itself).
#   BENCH_DIR=DIR   where the temporary spool goes (default build/bench/ in this clone)
#   SPOOL_BIN=DIR   the programs to measure (default ./bin)

bench_here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="${SPOOL_BIN:-$bench_here/bin}:$PATH"
DPID="" WPID="" broke=0 dead_told=""

# The spool and the data of the tasks go beside this clone, as they would in a user's project
# directory, not in /tmp: /tmp is where every other program (the test suite: about a million
# files) creates and removes its files, and on ext4 without a journal creating a file costs up
# to a millisecond more in a block group where many were removed in the last minutes, so a
# bench there measured what ran before it. The fs line says what creating a file costs here.
bench_tmpdir() { # $1: name prefix; sets B and SPOOL_DIR
	local dir=${BENCH_DIR:-$bench_here/build/bench}
	mkdir -p "$dir" || exit 1
	B=$(mktemp -d "$dir/$1.XXXXXX") || exit 1
	export SPOOL_DIR="$B/spool"
}
bench_cleanup() {
	declare -F bench_stop_extra >/dev/null && bench_stop_extra
	# The worker first, so that it says bye before the controller goes.
	for p in $WPID $DPID; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "${B:-}" ] && rm -rf "$B"
}
trap bench_cleanup EXIT
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
# CPU time (user + system, ms) a process has used so far; its peak RSS (kB), and resetting that
# peak to the current RSS (writing 5 to clear_refs) so that a later read covers only what follows.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null; }
live_engines() { spool workers 2>/dev/null | awk 'NR > 1 && $4 != "dead"' | wc -l; }
# median, p90 (nearest rank), min, max of the numbers (us) in a file, printed in ms
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		if (!NR) { print "- - - -"; exit }
		med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		p = int(NR * 0.9); if (p < NR * 0.9) p++
		printf "%.1f %.1f %.1f %.1f\n", med / 1000, v[p] / 1000, v[1] / 1000, v[NR] / 1000 }'
}
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1e6 }'; } # us -> s, despite its name (wall times)

# What creating a file costs in $B now (ms, 3 decimals): 50 files made, kept until the end (a
# probe that removed them would itself make the next one slower, see fs_settle).
PROBES=0
create_ms() {
	local t0 t1 i
	PROBES=$((PROBES + 1))
	mkdir -p "$B/probe/$PROBES"
	t0=$(now_us)
	for i in $(seq 50); do : >"$B/probe/$PROBES/f$i"; done
	t1=$(now_us)
	awk -v u=$((t1 - t0)) 'BEGIN { printf "%.3f", u / 50000 }'
}
# On ext4 without a journal, creating a file scans past the inodes removed in the last minute
# (and up to six while their blocks are not yet written back) in its block group: after a run
# that removed tens of thousands of files nearby (the test suite, a previous bench, one of this
# bench's throughput runs) it costs up to a millisecond instead of about 0.03 ms, for a minute.
# What a measurement should not inherit from the one before it: wait (three minutes at most)
# until creating a file is cheap again (0.06 ms from this shell, about 0.045 on a quiet disk
# here) or no longer gets cheaper and is below 0.15 ms, and say so.
fs_settle() { # $1: what comes next
	local c prev w=0 first
	first=$(create_ms)
	c=$first prev=1000
	# until cheap, or no longer getting cheaper (within a tenth) and not far off it
	while [ $w -lt 180 ] && awk -v c="$c" -v p="$prev" 'BEGIN { exit !(c > 0.06 && (c < p * 0.9 || c > 0.15)) }'; do
		sleep 15
		w=$((w + 15))
		prev=$c
		c=$(create_ms)
	done
	[ $w -gt 0 ] && echo "waited $w s before $1 for the filesystem to settle: creating a file took $first ms, then $c ms"
	FS_CREATE_MS=$c
}

bench_fs_line() { # where the spool is, and what creating a file costs there
	local fstype
	fstype=$(findmnt -n -o FSTYPE -T "$B" 2>/dev/null || stat -f -c %T "$B" 2>/dev/null)
	# spool writes every record as a new file (tmp + rename), and on some filesystems that, not
	# fsync, is what a task costs.
	fs_settle "the first run"
	echo "spool in $B ($fstype); creating a file there takes $FS_CREATE_MS ms"
}

bench_start() { # spool init with its defaults, spoold, spool-worker -n 2; exits if they do not come up
	local i
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
}
