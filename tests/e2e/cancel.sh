#!/bin/bash
# cancel.sh - spool cancel: queued tasks never start; a running task is killed with every
# process it spawned; collect reports the tasks cancelled (exit 1); JOB.TASK cancels one
# task only.
# checks: 39
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 1 nodeA
wait_engines 1 || exit 1
cd "$T"

# Live processes whose environment says SPOOL_JOB=$1.
job_procs() {
	local f p
	for f in /proc/[0-9]*/environ; do
		p=${f#/proc/}; p=${p%/environ}
		{ tr '\0' '\n' <"$f"; } 2>/dev/null | grep -qx "SPOOL_JOB=$1" || continue
		[ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" = Z ] && continue
		echo "$p"
	done
}
state_of() { # job task -> state, from status
	spool status "$1" 2>/dev/null | awk -v t="$2" '$1 == t { print $2 }'
}
wait_state() { # job task state
	local i
	for i in $(seq 600); do
		[ "$(state_of "$1" "$2")" = "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

# --- queued tasks: the only engine is busy, so they wait (one of them prefetched) ---
blk=$(spool submit -- sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done' "$T/release")
check "the blocker runs" wait_state "$blk" 1 running
j=$(spool map -- sh -c 'touch "$0/marker.$1"' "$T" {} ::: 1 2 3 4 5)
for i in $(seq 600); do spool status "$j" 2>/dev/null | grep -q ' 5 tasks ' && break; sleep 0.1; done
check "the map is accepted with 5 tasks" sh -c "spool status $j | grep -q ' 5 tasks '"
check_eq "they wait (queued, or prefetched by the busy engine), none started" "waits waits waits waits waits" \
	"$(echo $(for t in 1 2 3 4 5; do st=$(state_of "$j" $t); case $st in queued|assigned) echo waits ;; *) echo "$st" ;; esac; done))"
check "at least one is prefetched, so the cancel reaches the worker's queue too" \
	sh -c "spool status $j | awk '\$2 == \"assigned\"' | grep -q ."
spool cancel "$j" 2>"$T/e"; rc=$?
check_eq "spool cancel JOB exits 0" 0 "$rc"
spool collect --timeout 120 "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "collect of the cancelled job exits 1" 1 "$rc"
check_eq "all 5 tasks are cancelled" 5 "$(grep -c 'task \([1-5]\) (item \1): cancelled' "$T/e")"
check "the summary says why" grep -q "cancelled by uid $(id -u)" "$T/e"
touch "$T/release"
spool collect --timeout 120 "$blk" >/dev/null 2>&1; rc=$?
check_eq "the blocker then finishes" 0 "$rc"
# The engine is free now: had a cancelled task been left in the worker's queue, it would have
# run before this new one (one engine, queued in order).
out=$(spool submit --wait -- echo after)
check_eq "the engine runs new work after the cancel" after "$out"
check_eq "no cancelled task ever started (no marker files)" "" "$(ls "$T" | grep '^marker' | tr '\n' ' ')"
check_eq "and none has an output file" "" "$(ls "$T/spool-$j" 2>/dev/null)"

# --- a running task whose command spawned a child ---
# Its processes would live 30 minutes: only the cancel can end them within the test.
j=$(spool submit -- sh -c 'sleep 1800 & sleep 1800; wait')
check "the task runs" wait_state "$j" 1 running
for i in $(seq 300); do [ "$(job_procs "$j" | wc -l)" -ge 3 ] && break; sleep 0.1; done
before=$(job_procs "$j")
check "sh and both sleeps are running ($(echo $before))" test "$(echo "$before" | grep -c .)" -ge 3
spool cancel "$j"; rc=$?
check_eq "spool cancel of a running job exits 0" 0 "$rc"
spool collect --timeout 120 "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "collect exits 1" 1 "$rc"
check "collect reports task 1 cancelled" grep -q "task 1: cancelled" "$T/e"
check_eq "status says cancelled" cancelled "$(state_of "$j" 1)"
# The very processes seen before the cancel, each by pid (fast: no scan of /proc), for 60 s.
alive() { local s; s=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) && [ -n "$s" ] && [ "$s" != Z ]; }
left=$before
end=$(( $(date +%s) + 60 ))
while [ -n "$left" ] && [ "$(date +%s)" -lt "$end" ]; do
	left=$(for p in $left; do alive "$p" && echo "$p"; done)
	[ -n "$left" ] && sleep 0.1
done
check_eq "every process seen running before the cancel is killed (within 60 s)" "" "$(echo $left)"
check_eq "no other process of the cancelled task remains" "" "$(echo $(job_procs "$j"))"
check_eq "collect --json gives state cancelled" cancelled \
	"$(spool collect --json "$j" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["tasks"][0]["state"])')"
check_eq "the engine is free again afterwards" again "$(spool submit --wait -- echo again 2>/dev/null)"

# --- JOB.TASK cancels that task only ---
start_worker 2 nodeB
wait_engines 3 || exit 1
# Task 2 would run 30 minutes: it is still running when it is cancelled, however slow the machine.
j=$(spool map -- sh -c '[ $0 != 2 ] || sleep 1800; echo done $0' {} ::: 1 2 3)
check "task 2 runs" wait_state "$j" 2 running
spool cancel "$j.2"; rc=$?
check_eq "spool cancel JOB.2 exits 0" 0 "$rc"
spool collect --timeout 120 "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "collect exits 1 (one task cancelled)" 1 "$rc"
check_eq "tasks 1 and 3 finished and printed" "done 1
done 3" "$(cat "$T/o")"
check_eq "only task 2 is cancelled" "succeeded cancelled succeeded" \
	"$(echo $(state_of "$j" 1) $(state_of "$j" 2) $(state_of "$j" 3))"
check_eq "the summary names task 2 only, and its item" "  task 2 (item 2): cancelled on $(spool status "$j" | awk '$1 == 2 { print $5 }'): cancelled by uid $(id -u)" \
	"$(grep '^  task' "$T/e")"
spool cancel "$j.7" 2>"$T/e"; rc=$?
check_eq "cancel of a task that does not exist exits 4 (no such task)" 4 "$rc"
check "and says the job has 3 tasks" grep -q "has 3 tasks" "$T/e"
spool cancel nosuchjob0 2>"$T/e"; rc=$?
check_eq "cancel of an unknown job exits 4" 4 "$rc"

# Several at once; a finished job is left alone and said so; durations take units.
a=$(spool submit --timeout 1m -- sleep 300)
b=$(spool submit --timeout 90s -- sleep 300)
spool cancel "$a" "$b" >"$T/o" 2>"$T/e"; rc=$?
check_eq "spool cancel A B exits 0" 0 "$rc"
check_eq "  ... and requests both" "cancel of $a requested
cancel of $b requested" "$(cat "$T/o")"
spool collect --timeout 2m "$a" >/dev/null 2>&1
spool collect --timeout 2m "$b" >/dev/null 2>&1
check_eq "  ... both end cancelled" "cancelled cancelled" "$(echo $(state_of "$a" 1) $(state_of "$b" 1))"
spool cancel "$a" 2>"$T/e"; rc=$?
check_eq "cancel of a job that had finished exits 0" 0 "$rc"
check "  ... and says it had already finished" grep -q "job $a had already finished: nothing to cancel" "$T/e"
spool cancel "$a" nosuchjob0 2>"$T/e"; rc=$?
check_eq "cancel of a finished and an unknown job exits 4 (the failure's code)" 4 "$rc"
spool submit --timeout 1x -- true 2>"$T/e"; rc=$?
check_eq "--timeout 1x is refused (exit 2)" 2 "$rc"
check "  ... naming the units it takes" grep -q "90s, 1m or 2h" "$T/e"
