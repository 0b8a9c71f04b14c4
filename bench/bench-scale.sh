#!/bin/sh
# bench-scale.sh - spool at scale: one map of 1,000,000 `true` tasks on a private spool
# (build/bench/) with one spoold and one spool-worker -n 2 (spool.conf defaults), measuring issue 11's
# targets in one run:
#
#   a. `seq 1 1000000 | spool map --input - -- true`: the time from submit until `spool status`
#      shows the job accepted (active), target <= 5 s;
#   b. peak RSS (VmHWM) of spoold while it accepts the job and while the job runs, <= 64 MiB;
#   c. how long `spool status` and `spool status JOB` take while the job is queued (median),
#      <= 100 ms each;
#   d. throughput (tasks/s over a fixed count of completions) with the million tasks queued,
#      against short jobs of 1,000 tasks run before and after it on the same engines, ratio
#      >= 0.90;
#   e. `spool collect --follow JOB` prints its first result before the job ends, and its peak
#      RSS; then the job is cancelled (`spool cancel JOB`), so that the run ends in minutes.
#
# Timing figures are reported against their targets as PASS/MISS and never fail the run; the
# exit status is 1 only if something broke (a command failed, a program died, the job was
# never accepted or no task completed), else 0. Knobs:
#   SCALE_TASKS=N          tasks in the big map (default 1000000; 50000 for a quick run)
#   SCALE_SHORT=N          tasks in the short job (default 1000)
#   SCALE_WINDOW=N         completions counted in each throughput window (default 8/10 of
#                          SCALE_SHORT, after the short job's first tenth)
#   SCALE_STATUS_TRIES=N   calls of each status command (default 10; fewer if they are slow:
#                          they stop after SCALE_STATUS_BUDGET seconds each, default 60, with
#                          at least 3 calls)
#   SCALE_ACCEPT_TIMEOUT=S how long the big job may take to be accepted (default 600)
#   SCALE_BIG_SECONDS=S    the window with the million queued lasts at least this long
#                          (default 30), so that a periodic stall of the controller (a
#                          publish of the whole job, say) falls inside it
#   SCALE_WINDOW_TIMEOUT=S how long a throughput window may last (default 180; a window cut
#                          short gives the rate of what completed, and says so)
#   BENCH_DIR, SPOOL_BIN   as for bench.sh
if [ -z "${BASH_VERSION:-}" ]; then
	command -v bash >/dev/null 2>&1 || { echo "bench-scale: needs bash" >&2; exit 1; }
	exec bash "$0" "$@"
fi
set -u
. "$(dirname "$0")/common.sh"
TASKS=${SCALE_TASKS:-1000000}
SHORT=${SCALE_SHORT:-1000}
WARM=$((SHORT / 10))
WINDOW=${SCALE_WINDOW:-$((SHORT * 8 / 10))}
STATUS_TRIES=${SCALE_STATUS_TRIES:-10}
STATUS_BUDGET=${SCALE_STATUS_BUDGET:-60}
ACCEPT_TIMEOUT=${SCALE_ACCEPT_TIMEOUT:-600}
WINDOW_TIMEOUT=${SCALE_WINDOW_TIMEOUT:-180}
BIG_SECONDS=${SCALE_BIG_SECONDS:-30}
if [ $((WARM + WINDOW)) -gt "$SHORT" ] || [ "$WINDOW" -lt 10 ]; then
	echo "bench-scale: SCALE_WINDOW=$WINDOW must be at least 10 and leave the short job's first tenth ($WARM of $SHORT) as warm-up" >&2
	exit 2
fi
bench_tmpdir spool-scale
CPID="" JOB="" BIG_ENDED=0

bench_stop_extra() {
	[ -n "$CPID" ] && { kill "$CPID" 2>/dev/null; wait "$CPID" 2>/dev/null; }
	# The big job would keep the engines busy for hours: cancel it before the daemons go.
	[ -n "$JOB" ] && [ "$BIG_ENDED" = 0 ] && daemons_alive && timeout 30 spool cancel "$JOB" >/dev/null 2>&1
}
bail() { # something broke: say so and stop (the exit trap cleans up)
	fail "$*"
	check_daemons
	echo "bench-scale: something broke (see above): exit 1"
	exit 1
}

# job_state JOB: "STATE NTASKS ENDED" as `spool status` shows it (STATE submitted, active or
# done; ENDED the tasks in a final state), "missing 0 0" if it does not list the job, "error"
# if status failed. The list of all jobs, not `spool status JOB`: with --json the latter prints
# every task (a million objects), and both carry the same per-state counts. JSON first (its
# format is stable, spool-layout.md section 11); the text table if --json is refused.
job_state() {
	local out
	if out=$(timeout 120 spool status --json 2>>"$B/status.err"); then
		printf '%s' "$out" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError as e:
    print("error"); sys.exit()
for j in d.get("jobs") or []:
    if j.get("job") == sys.argv[1]:
        c = j.get("counts") or {}
        ended = sum(v for k, v in c.items() if k not in ("queued", "assigned", "running"))
        print(j.get("state") or "?", j.get("ntasks") or 0, ended)
        break
else:
    print("missing 0 0")' "$1"
		return
	fi
	# the text table: JOB NAME OWNER TASKS QUEUED RUNNING SUCCEEDED FAILED STATE
	out=$(timeout 120 spool status 2>>"$B/status.err") || { echo error; return; }
	printf '%s\n' "$out" | awk -v j="$1" '$1 == j {
		if ($0 ~ /not yet accepted|submitted/) print "submitted 0 0"; else print $NF, $4, $7 + $8; f = 1; exit }
		END { if (!f) print "missing 0 0" }'
}

# The results beside the data (OUTDIR/T.A.res, spool-layout.md section 4) count completions
# without asking spool: their directory only grows with what has ended, so counting them costs
# the same whatever the queue, and the count does not wait on the controller's publishing.
# Reading a directory of tens of thousands of files takes tens of ms, so that the counting
# would steal CPU from what it measures: the polls are spaced (POLL_US) to cost about 5% of a
# core. The rate needs no exact poll times: it is the counts' difference over the time between
# the two polls that read them.
POLL_US=50000
count_res() { # $1: the --output directory (the job's results are in $1/spool-JOB/); sets RES and POLL_US
	local f t0=$(now_us)
	shopt -s nullglob
	f=("$1"/spool-*/*.res)
	shopt -u nullglob
	RES=${#f[@]}
	POLL_US=$(( ($(now_us) - t0) * 20 ))
	[ $POLL_US -ge 50000 ] || POLL_US=50000
}
poll_sleep() { local s; printf -v s '%d.%06d' $((POLL_US / 1000000)) $((POLL_US % 1000000)); sleep "$s"; }
# window DIR FROM N [SECONDS [LAST]]: wait until DIR holds FROM results, then time the next N,
# and go on for at least SECONDS, but stop at LAST results (the job's tail, where engines idle);
# sets W_N (how many were counted: fewer than N if the window timed
# out), W_US (over how long, us) and W_SERIES (the completions in each 5 s of the window, to
# show stalls).
window() {
	local dir=$1 from=$2 n=$3 min_us=$(( ${4:-0} * 1000000 )) last=${5:-0} t0 c0 deadline tick cprev
	W_N=0 W_US=0 W_SERIES=""
	deadline=$(( $(now_us) + WINDOW_TIMEOUT * 1000000 ))
	while count_res "$dir"; [ "$RES" -lt "$from" ]; do
		daemons_alive || return
		[ "$(now_us)" -lt "$deadline" ] || return
		poll_sleep
	done
	t0=$(now_us) c0=$RES
	tick=$((t0 + 5000000)) cprev=$c0
	deadline=$(( t0 + (WINDOW_TIMEOUT > ${4:-0} ? WINDOW_TIMEOUT : ${4:-0} + 60) * 1000000 ))
	while count_res "$dir"; [ $((RES - c0)) -lt "$n" ] || [ $(( $(now_us) - t0 )) -lt $min_us ]; do
		daemons_alive || break
		[ "$(now_us)" -lt "$deadline" ] || break
		[ "$last" -gt 0 ] && [ "$RES" -ge "$last" ] && break
		[ "$(now_us)" -ge $tick ] && { W_SERIES="$W_SERIES $((RES - cprev))"; cprev=$RES; tick=$((tick + 5000000)); }
		poll_sleep
	done
	W_N=$((RES - c0)) W_US=$(( $(now_us) - t0 ))
}
rate() { awk -v n="$1" -v u="$2" 'BEGIN { if (u > 0 && n > 0) printf "%.0f", n * 1e6 / u; else printf "-" }'; }
kb_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
verdict() { awk -v r="$1" -v t="$2" -v op="$3" 'BEGIN { if (r == "-" || r == "") print "n/a"; else if (op == ">=" ? r >= t : r <= t) print "PASS"; else print "MISS" }'; }

echo "spool bench-scale: a map of $TASKS true on 2 engines, against jobs of $SHORT; $(spool --version) ($(git -C "$bench_here" describe --always --dirty 2>/dev/null || echo "no git")); $(nproc) CPUs, $(uname -sr)"
bench_fs_line
bench_start
mkdir "$B/data" && cd "$B/data" || exit 1

# --- d, first half: the short queue --------------------------------------------------------
# After a warm-up job (the engines learn that the tasks are short, as they will have by the
# time the big job is measured), and again after the short job's first tenth, the rate is over
# the next WINDOW completions, before the last tasks, where an engine may already be idle.
seq "$((SHORT / 5 + 1))" >"$B/warm.items"
timeout 600 spool map --wait --output "$B/out-warm" --input "$B/warm.items" -- true >/dev/null 2>"$B/warm.err" ||
	bail "the warm-up map of $((SHORT / 5 + 1)) tasks failed: $(tail -3 "$B/warm.err")"
seq "$SHORT" >"$B/short.items"
short_run() { # $1: 1 or 2 (before the big job, after it); sets SHORT_TPS
	local sjob
	sjob=$(spool map --output "$B/out-short$1" --input "$B/short.items" -- true 2>"$B/short.err") ||
		bail "spool map of $SHORT tasks failed: $(tail -3 "$B/short.err")"
	window "$B/out-short$1" "$WARM" "$WINDOW"
	[ "$W_N" -gt 0 ] || bail "no task of the short job $sjob completed in $WINDOW_TIMEOUT s"
	timeout 600 spool collect "$sjob" >/dev/null 2>"$B/short.err" || bail "spool collect $sjob (the short job): $(tail -3 "$B/short.err")"
	SHORT_TPS=$(rate "$W_N" "$W_US")
	echo "short job $sjob: $W_N completions in $(ms "$W_US") s after its first $WARM: $SHORT_TPS tasks/s"
}
short_run 1
short1=$SHORT_TPS

# --- a, b: the million-task map is submitted and accepted ----------------------------------
# Submitted from seq's output as a user would; the time runs from the start of `spool map`.
# Acceptance is seen by polling `spool status`, so it is known to within one poll: the last
# poll that did not see it and the first that did are both reported.
reset_hwm "$DPID"
t0=$(now_us)
JOB=$(seq 1 "$TASKS" | spool map --output "$B/out-big" --input - -- true 2>"$B/big.err") ||
	{ JOB=""; bail "seq 1 $TASKS | spool map --input - -- true failed: $(tail -3 "$B/big.err")"; }
submit_us=$(( $(now_us) - t0 ))
acc_us="" notyet_us=0 polls=0 last=""
while :; do
	p0=$(now_us)
	read -r st nt ended < <(job_state "$JOB")
	p1=$(now_us)
	polls=$((polls + 1))
	last="$st $nt $ended"
	case $st in
	active | done) acc_us=$((p1 - t0)); break ;;
	error) bail "spool status failed while the job was being accepted: $(tail -3 "$B/status.err")" ;;
	esac
	notyet_us=$((p0 - t0))
	daemons_alive || bail "a daemon died while the job was being accepted"
	[ $((p1 - t0)) -lt $((ACCEPT_TIMEOUT * 1000000)) ] || bail "job $JOB was not accepted in $ACCEPT_TIMEOUT s (status: $last)"
	sleep 0.1
done
hwm_accept=$(hwm_kb "$DPID")
[ "$nt" = "$TASKS" ] || fail "job $JOB is accepted with $nt tasks, not $TASKS"
echo "job $JOB: spool map returned in $(ms "$submit_us") s; accepted (status: $last) by $(ms "$acc_us") s, not yet at $(ms "$notyet_us") s ($polls polls); spoold's peak RSS so far $hwm_accept kB"

# --- b, c: spool status while the job is queued --------------------------------------------
# From here spoold's peak RSS covers the job running. The calls run as a user types them, not
# under timeout(1), which would add its own few ms to each; instead one watchdog per command
# stops this shell's own `spool` children if the calls outlast their budget by 120 s.
reset_hwm "$DPID"
time_cmd() { # $1: file for the samples (us); the rest: the command, output dropped
	local f=$1 t0 t1 spent=0 i=0 dog
	shift
	: >"$f"
	( # its sleep goes with it when it is stopped
		trap 'kill $s 2>/dev/null; exit 0' TERM
		sleep $((STATUS_BUDGET + 120)) &
		s=$!
		wait $s
		echo "bench-scale: '$*' still running after $((STATUS_BUDGET + 120)) s: stopped" >>"$B/status.err"
		pkill -TERM -P $$ -x spool
	) &
	dog=$!
	while [ $i -lt "$STATUS_TRIES" ]; do
		[ $i -ge 3 ] && [ $spent -ge $((STATUS_BUDGET * 1000000)) ] && break
		t0=$(now_us)
		"$@" >/dev/null 2>>"$B/status.err" || { kill $dog; bail "'$*' failed while the job was queued: $(tail -3 "$B/status.err")"; }
		t1=$(now_us)
		echo $((t1 - t0)) >>"$f"
		spent=$((spent + t1 - t0)) i=$((i + 1))
	done
	kill $dog 2>/dev/null
	wait $dog 2>/dev/null
}
time_cmd "$B/lat.all" spool status
time_cmd "$B/lat.job" spool status "$JOB"
read -r all_med all_p90 all_min all_max < <(stats "$B/lat.all")
read -r job_med job_p90 job_min job_max < <(stats "$B/lat.job")
echo "spool status: median $all_med ms (max $all_max, $(wc -l <"$B/lat.all") calls); spool status $JOB: median $job_med ms (max $job_max, $(wc -l <"$B/lat.job") calls)"
check_daemons

# --- d, second half: the same engines with the million tasks queued -------------------------
count_res "$B/out-big"
queued=$((TASKS - RES))
window "$B/out-big" "$RES" "$WINDOW" "$BIG_SECONDS" $((TASKS - WARM))
big_n=$W_N big_us=$W_US
[ "$big_n" -gt 0 ] || bail "no task of job $JOB completed in $WINDOW_TIMEOUT s"
big_tps=$(rate "$big_n" "$big_us")
cut_short=""
[ "$big_n" -lt "$WINDOW" ] && cut_short=" (window cut short: by its timeout, or by the job's end)"
echo "job $JOB: $big_n completions in $(ms "$big_us") s with about $queued tasks queued: $big_tps tasks/s$cut_short (per ~5 s:${W_SERIES:- -})"

# --- e: collect --follow streams ------------------------------------------------------------
# Its first result must come while the job still runs; its peak RSS is read after it has
# printed results for a while (up to 30 s more, or 200 results), just before it is stopped.
spool collect --follow "$JOB" >"$B/follow.out" 2>"$B/follow.err" &
CPID=$!
f0=$(now_us) first_us="" follow_hwm=0 follow_active=no
while kill -0 "$CPID" 2>/dev/null; do
	[ -s "$B/follow.out" ] && { first_us=$(( $(now_us) - f0 )); break; }
	[ $(( $(now_us) - f0 )) -lt $((WINDOW_TIMEOUT * 1000000)) ] || break
	daemons_alive || break
	sleep 0.05
done
if [ -n "$first_us" ]; then
	read -r st _ < <(job_state "$JOB")
	[ "$st" = active ] && follow_active=yes
	f1=$(now_us)
	while kill -0 "$CPID" 2>/dev/null && [ "$(grep -c '^==> task' "$B/follow.out")" -lt 200 ] &&
		[ $(( $(now_us) - f1 )) -lt 30000000 ]; do
		sleep 0.2
	done
fi
follow_hwm=$(hwm_kb "$CPID")
follow_lines=$(grep -c '^==> task' "$B/follow.out")
if kill -0 "$CPID" 2>/dev/null; then
	kill "$CPID" 2>/dev/null
	wait "$CPID" 2>/dev/null
else # it ends with the job: a failure only if the job was still running
	wait "$CPID"
	rc=$?
	read -r st _ < <(job_state "$JOB")
	if [ "$st" = done ] && [ $rc -le 1 ]; then
		echo "bench-scale: job $JOB ended before collect --follow could be measured: raise SCALE_TASKS" >&2
	else
		fail "spool collect --follow $JOB ended (exit $rc) while the job was $st: $(tail -3 "$B/follow.err")"
	fi
fi
CPID=""
[ -n "$first_us" ] || fail "spool collect --follow $JOB printed nothing in $WINDOW_TIMEOUT s"
echo "spool collect --follow: first result after $(ms "${first_us:-0}") s (job still active then: $follow_active); $follow_lines results printed; peak RSS $follow_hwm kB"
hwm_run=$(hwm_kb "$DPID")
check_daemons

# --- the end: cancel ------------------------------------------------------------------------
c0=$(now_us)
timeout 120 spool cancel "$JOB" >/dev/null 2>"$B/cancel.err" || bail "spool cancel $JOB failed: $(tail -3 "$B/cancel.err")"
cancel_note="not done after 120 s"
while [ $(( $(now_us) - c0 )) -lt 120000000 ] && daemons_alive; do
	read -r st _ < <(job_state "$JOB")
	[ "$st" = done ] && { cancel_note="done after $(ms $(( $(now_us) - c0 ))) s"; BIG_ENDED=1; break; }
	sleep 0.2
done
echo "spool cancel $JOB: the job is $cancel_note"
check_daemons

# --- d, again: a short queue after the big job, so that a change of load on the machine during
# the run hits both sides alike (the mean of both short jobs is the reference). Only if the
# cancelled job has ended: its tasks would still be in the queue otherwise.
short2=""
if [ "$BIG_ENDED" = 1 ]; then
	short_run 2
	short2=$SHORT_TPS
	# Once (of several runs) this job ran at 4 tasks/s after the cancel, and the logs went with
	# the run: when it is that slow again, keep them.
	if awk -v a="$short1" -v b="$short2" 'BEGIN { exit !(b * 4 < a) }'; then
		keep=$(mktemp -d /tmp/spool-scale-logs.XXXXXX)
		cp "$B"/*.log "$keep"/ 2>/dev/null
		spool workers --all >"$keep/workers.txt" 2>&1
		echo "bench-scale: the short job after the cancel ran at $short2 tasks/s against $short1 before it:" \
			"the daemons' logs are kept in $keep"
	fi
fi
short_tps=$(awk -v a="$short1" -v b="${short2:-$short1}" 'BEGIN { printf "%.0f", (a + b) / 2 }')
tput_ratio=$(awk -v a="$big_tps" -v b="$short_tps" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-" }')

# --- report ---------------------------------------------------------------------------------
acc_s=$(ms "$acc_us")
echo
echo "accept: $TASKS-task map accepted (status shows it active) ${acc_s} s after submit, target <= 5 s: $(verdict "$acc_s" 5 "<=")"
echo "memory: spoold peak RSS while accepting $(kb_mib "$hwm_accept") MiB, while running $(kb_mib "$hwm_run") MiB, target <= 64 MiB: $(verdict "$(kb_mib "$(( hwm_accept > hwm_run ? hwm_accept : hwm_run ))")" 64 "<=")"
echo "status: spool status median $all_med ms: $(verdict "$all_med" 100 "<="); spool status JOB median $job_med ms: $(verdict "$job_med" 100 "<=") (target <= 100 ms)"
echo "throughput: $big_tps tasks/s with $TASKS queued / $short_tps tasks/s with $SHORT (short jobs before and after: $short1, ${short2:-not run}) = $tput_ratio (target >= 0.90): $(verdict "$tput_ratio" 0.90 ">=")"
echo "collect --follow: first result before the job ended: $( [ "$follow_active" = yes ] && echo PASS || echo MISS); its peak RSS $(kb_mib "$follow_hwm") MiB after $follow_lines results"
if [ $broke -ne 0 ]; then
	echo "bench-scale: something broke (see above): exit 1"
	exit 1
fi
exit 0
