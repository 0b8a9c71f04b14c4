#!/bin/bash
# spoold_down.sh - submitting while the controller is not running: the job waits in the
# spool, status and collect say so, and it runs once spoold starts.
# checks: 24
. "$(dirname "$0")/../lib.sh"
make_spool
cd "$T"

# --- spoold never ran; a worker is up ---
start_worker 2
j=$(spool submit -- sh -c 'echo "first $SPOOL_TASK"'); rc=$?
check_eq "submit without a controller exits 0" 0 "$rc"
check "submit without a controller prints a job id" sh -c "echo '$j' | grep -Eqx '[a-z0-9]{6,}'"
check "the job record waits in incoming/" test -f "$SPOOL_DIR/incoming/$j.job"
COLUMNS=200 spool status >"$T/st" 2>&1; rc=$? # wide: the whole line, its last column too
check_eq "status exits 0 without a controller" 0 "$rc"
check "status says the controller is NOT RUNNING" grep -q "^controller: NOT RUNNING" "$T/st"
check "status lists the job as not yet accepted" grep -q "^$j .* submitted \+(not yet accepted)\$" "$T/st"
check "status JOB says it waits for the controller" sh -c "spool status $j | grep -q 'waiting for the controller'"
spool collect --no-wait "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "collect --no-wait exits 5 (pending)" 5 "$rc"
check "collect --no-wait says the job is not yet accepted" grep -q "not yet accepted" "$T/e"
check_eq "collect --no-wait prints no output" "" "$(cat "$T/o")"
spool collect --timeout 0.5 "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "collect --timeout exits 5 while the controller is down" 5 "$rc"

start_spoold
out=$(spool collect --timeout 30 "$j" 2>"$T/e"); rc=$?
check_eq "after spoold starts, collect exits 0" 0 "$rc"
check_eq "after spoold starts, collect prints the task's output" "first 1" "$out"
check "status now says the controller is running with its pid" \
	sh -c "spool status | grep -q '^controller: running (pid $SPOOLD_PID '"
# Accepted records move out of incoming/ in batches, within a second (spool-layout.md 7).
check "the job record left incoming/" wait_for 30 test ! -e "$SPOOL_DIR/incoming/$j.job"

# --- spoold stopped after it ran; no worker either ---
old=$SPOOLD_PID
kill -TERM "$SPOOLD_PID"; wait "$SPOOLD_PID"
kill -TERM "$WORKER_PID"; wait "$WORKER_PID"
j=$(spool map -- sh -c 'echo "second {}"' ::: a b c d e); rc=$?
check_eq "map without a controller exits 0" 0 "$rc"
check "map without a controller prints a job id" test -n "$j"
spool status >"$T/st" 2>&1
check "status says NOT RUNNING and names the pid it last ran as" grep -q "^controller: NOT RUNNING (last ran as pid $old " "$T/st"
spool collect --no-wait "$j" >/dev/null 2>&1; rc=$?
check_eq "collect --no-wait of the map exits 5" 5 "$rc"
# A waiting collect, started before the controller: it warns, then gets the results.
spool collect --timeout 60 "$j" >"$T/o2" 2>"$T/e2" &
cpid=$!
wait_for 60 grep -q "the controller is not running" "$T/e2"
check "a waiting collect says (after 5 s) the controller is not running and to start spoold" \
	grep -q "spool: the controller is not running: start 'spoold -d $SPOOL_DIR' (job $j waits in the spool until it does)" "$T/e2"
check "the waiting collect is still waiting" kill -0 "$cpid"
start_spoold
start_worker 1
wait "$cpid"; rc=$?
check_eq "the waiting collect exits 0 once spoold and a worker run" 0 "$rc"
check_eq "the waiting collect prints every item in order" "second a second b second c second d second e" \
	"$(tr '\n' ' ' <"$T/o2" | sed 's/ $//')"
check_eq "status JOB shows 5 succeeded" 5 "$(spool status "$j" | awk '$2 == "succeeded"' | wc -l)"
