#!/bin/bash
# cancel.sh - spool cancel: queued tasks never start; a running task is killed with every
# process it spawned; collect reports the tasks cancelled (exit 1); JOB.TASK cancels one
# task only.
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
	for i in $(seq 250); do
		[ "$(state_of "$1" "$2")" = "$3" ] && return 0
		sleep 0.02
	done
	return 1
}

# --- queued tasks: the only engine is busy, so they wait (one of them prefetched) ---
blk=$(spool submit -- sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done' "$T/release")
check "the blocker runs" wait_state "$blk" 1 running
j=$(spool map -- sh -c 'touch "$0/marker.$1"' "$T" {} ::: 1 2 3 4 5)
for i in $(seq 250); do spool status "$j" 2>/dev/null | grep -q ' 5 tasks ' && break; sleep 0.02; done
check "the map is accepted with 5 tasks" sh -c "spool status $j | grep -q ' 5 tasks '"
check_eq "they wait (queued, or prefetched by the busy engine), none started" "waits waits waits waits waits" \
	"$(echo $(for t in 1 2 3 4 5; do st=$(state_of "$j" $t); case $st in queued|assigned) echo waits ;; *) echo "$st" ;; esac; done))"
check "at least one is prefetched, so the cancel reaches the worker's queue too" \
	sh -c "spool status $j | awk '\$2 == \"assigned\"' | grep -q ."
spool cancel "$j" 2>"$T/e"; rc=$?
check_eq "spool cancel JOB exits 0" 0 "$rc"
spool collect --timeout 10 "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "collect of the cancelled job exits 1" 1 "$rc"
check_eq "all 5 tasks are cancelled" 5 "$(grep -c 'task [1-5]: cancelled' "$T/e")"
check "the summary says why" grep -q "cancelled by uid $(id -u)" "$T/e"
touch "$T/release"
spool collect --timeout 10 "$blk" >/dev/null 2>&1; rc=$?
check_eq "the blocker then finishes" 0 "$rc"
# The engine is free now: had a cancelled task been left in the worker's queue, it would run.
sleep 0.5
check_eq "no cancelled task ever started (no marker files)" "" "$(ls "$T" | grep '^marker' | tr '\n' ' ')"
check_eq "and none has an output file" "" "$(ls "$T/spool-$j" 2>/dev/null)"
out=$(spool submit --wait -- echo after)
check_eq "the engine runs new work after the cancel" after "$out"

# --- a running task whose command spawned a child ---
j=$(spool submit -- sh -c 'sleep 300 & sleep 300; wait')
check "the task runs" wait_state "$j" 1 running
for i in $(seq 100); do [ "$(job_procs "$j" | wc -l)" -ge 3 ] && break; sleep 0.02; done
before=$(job_procs "$j" | wc -l)
check "sh and both sleeps are running ($before processes)" test "$before" -ge 3
spool cancel "$j"; rc=$?
check_eq "spool cancel of a running job exits 0" 0 "$rc"
spool collect --timeout 10 "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "collect exits 1" 1 "$rc"
check "collect reports task 1 cancelled" grep -q "task 1: cancelled" "$T/e"
check_eq "status says cancelled" cancelled "$(state_of "$j" 1)"
left=""
for i in $(seq 100); do left=$(job_procs "$j"); [ -z "$left" ] && break; sleep 0.05; done
check_eq "no process of the cancelled task remains" "" "$left"
check_eq "collect --json gives state cancelled" cancelled \
	"$(spool collect --json "$j" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["tasks"][0]["state"])')"
check_eq "the engine is free again afterwards" again "$(spool submit --wait -- echo again 2>/dev/null)"

# --- JOB.TASK cancels that task only ---
start_worker 2 nodeB
wait_engines 3 || exit 1
j=$(spool map -- sh -c 'sleep 1; echo done $0' {} ::: 1 2 3)
check "task 2 runs" wait_state "$j" 2 running
spool cancel "$j.2"; rc=$?
check_eq "spool cancel JOB.2 exits 0" 0 "$rc"
spool collect --timeout 10 "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "collect exits 1 (one task cancelled)" 1 "$rc"
check_eq "tasks 1 and 3 finished and printed" "done 1
done 3" "$(cat "$T/o")"
check_eq "only task 2 is cancelled" "succeeded cancelled succeeded" \
	"$(echo $(state_of "$j" 1) $(state_of "$j" 2) $(state_of "$j" 3))"
check_eq "the summary names task 2 only" "  task 2: cancelled on $(spool status "$j" | awk '$1 == 2 { print $5 }'): cancelled by uid $(id -u)" \
	"$(grep '^  task' "$T/e")"
spool cancel "$j.7" 2>"$T/e"; rc=$?
check "cancel of a task that does not exist fails" test "$rc" -ne 0
check "and says the job has 3 tasks" grep -q "has 3 tasks" "$T/e"
spool cancel nosuchjob0 2>"$T/e"; rc=$?
check_eq "cancel of an unknown job exits 4" 4 "$rc"
