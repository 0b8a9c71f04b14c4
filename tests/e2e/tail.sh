#!/bin/bash
# tail.sh - spool tail prints a task's output as it is written: -f shows the lines of a running
# task before it ends and exits when it ends, with collect's exit code for it (0 succeeded, 1
# not); --stderr; a task not started yet (exit 5 without -f, -f waits for it); unknown jobs and
# tasks (exit 4). The spool runs with inotify = false, as on NFS: tail polls.
# checks: 23
. "$(dirname "$0")/../lib.sh"
make_spool "inotify=false"
start_spoold
start_worker 2
wait_engines 2 || exit 1
cd "$T"

# One line every 0.2 s, then it waits for $T/gate before it ends: it cannot have ended before.
j=$(spool submit -- sh -c 'for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done; echo oops >&2
	while [ ! -e "$0" ]; do sleep 0.05; done; echo last' "$T/gate")
spool tail -f "$j" >"$T/tail.out" 2>"$T/tail.err" &
TP=$!
PIDS="$PIDS $TP"
wait_until "tail -f shows the fifth line" 120 grep -qx line5 "$T/tail.out"
check "tail -f printed lines 1 to 5 in order while the task runs" \
	sh -c "[ \"\$(cat $T/tail.out | tr '\n' ' ')\" = 'line1 line2 line3 line4 line5 ' ]"
check "the task has not ended (it waits for the gate)" sh -c "spool status $j | grep -qE 'running|assigned'"
check "tail -f is still following" kill -0 "$TP"
check_eq "tail -f holds no inotify descriptor (it polls)" 0 "$(ls -l /proc/$TP/fd 2>/dev/null | grep -c 'anon_inode:inotify')"
touch "$T/gate"
wait "$TP"; rc=$?
check_eq "tail -f exits 0 once the task succeeded" 0 "$rc"
check_eq "it printed every line once, the last one too" "line1 line2 line3 line4 line5 last " "$(tr '\n' ' ' <"$T/tail.out")"
check_eq "its stderr is quiet" "" "$(cat "$T/tail.err")"

spool tail "$j.1" >"$T/o" 2>"$T/e"; rc=$?
check_eq "tail of the finished task exits 0" 0 "$rc"
check_eq "and prints its whole output" "line1 line2 line3 line4 line5 last " "$(tr '\n' ' ' <"$T/o")"
spool tail --stderr "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "tail --stderr prints its standard error" "0 oops" "$rc $(cat "$T/o")"

# A task that fails: -f exits 1, after printing its output.
f=$(spool map -- sh -c 'echo out{}; exit {}' ::: 0 3)
spool tail -f "$f.2" >"$T/o" 2>"$T/e"; rc=$?
check_eq "tail -f of a failing task exits 1" 1 "$rc"
check_eq "after printing its output" out3 "$(cat "$T/o")"
spool tail -f "$f.1" >"$T/o" 2>"$T/e"; rc=$?
check_eq "tail -f of the other task of the map exits 0" "0 out0" "$rc $(cat "$T/o")"

# A task that fails once and runs again (--retry-on-failure): -f follows the second attempt too.
r=$(spool submit --retries 2 --retry-on-failure -- sh -c 'if [ ! -e "$0.once" ]; then touch "$0.once"; echo first
	while [ ! -e "$0" ]; do sleep 0.05; done; exit 1; fi; echo second' "$T/gate2")
spool tail -f "$r" >"$T/r.out" 2>"$T/r.err" &
RP=$!
PIDS="$PIDS $RP"
wait_until "tail -f shows the first attempt's line" 120 grep -qx first "$T/r.out"
touch "$T/gate2"
wait "$RP"; rc=$?
check_eq "tail -f of a task run again exits 0 when the second attempt succeeds" 0 "$rc"
check_eq "it printed both attempts' output, in order" "first second " "$(tr '\n' ' ' <"$T/r.out")"
check "it said which attempt it moved to" grep -q "$r: attempt 2" "$T/r.err"

# A task that has not started: it waits on a job that waits for $T/go.
b=$(spool submit -- sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done' "$T/go")
w=$(spool submit --after "$b" -- sh -c 'echo waited')
wait_until "the waiting job is accepted" 120 sh -c "spool status $w | grep -q 'waiting on'"
spool tail "$w" >"$T/o" 2>"$T/e"; rc=$?
check_eq "tail of a task not started exits 5" 5 "$rc"
check "and says it has not started" grep -q "has not started yet" "$T/e"
spool tail -f "$w" >"$T/w.out" 2>"$T/w.err" &
WP=$!
PIDS="$PIDS $WP"
wait_until "the task the first one waits on runs" 120 sh -c "spool status $b | grep -q running"
check "tail -f waits for a task not started" kill -0 "$WP"
touch "$T/go"
wait "$WP"; rc=$?
check_eq "then prints its output and exits 0" "0 waited" "$rc $(cat "$T/w.out")"

spool tail nosuchjob0.1 >"$T/o" 2>"$T/e"; rc=$?
check_eq "tail of an unknown job exits 4" 4 "$rc"
spool tail "$f.3" >"$T/o" 2>"$T/e"; rc=$?
check_eq "tail of a task the job does not have exits 4" 4 "$rc"
spool tail "$f.x" >"$T/o" 2>"$T/e"; rc=$?
check_eq "tail of a malformed reference is a usage error" 2 "$rc"
