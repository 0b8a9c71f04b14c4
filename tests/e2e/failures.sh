#!/bin/bash
# failures.sh - how collect and status report tasks that fail: an exit status, a timeout
# (and the task's processes really gone), a signal, a working directory missing on the
# node, and a command that cannot be executed as opposed to one that exits 127.
# checks: 41
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
cd "$T"

# Live (non-zombie) processes in process group $1.
group_procs() { # (a group never seen is not an empty one)
	[ -n "$1" ] || { echo "unknown: the task's process group was never seen"; return 0; }
	ps -e -o pid=,pgid=,stat= | awk -v g="$1" '$2 == g && $3 !~ /^Z/ { print $1 }'
}
# Live "sleep 300" processes that belong to job $1 (the worker puts SPOOL_JOB in their environment).
job_sleeps() {
	local p
	for p in $(pgrep -fx 'sleep 300'); do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SPOOL_JOB=$1" && echo "$p"
	done
}
# Wait (up to 10 s, the tasks' timeout) for the sleep 300 of job $1; its pid in sp.
wait_sleep() {
	local i
	for i in $(seq 500); do
		sp=$(job_sleeps "$1")
		[ -n "$sp" ] && return 0
		sleep 0.02
	done
	return 1
}

# --- a working directory that is gone by the time the node runs the task ---
# No worker yet: the task stays queued while its directory is removed.
mkdir "$T/vanishing"
j=$(spool submit --cwd "$T/vanishing" --output "$T/out-nodir" -- pwd)
check "submit with an existing --cwd succeeds" test -n "$j"
for i in $(seq 600); do
	spool status "$j" 2>/dev/null | grep -q ' queued ' && break
	sleep 0.1
done
check "the task is queued while no worker runs" sh -c "spool status $j | grep -q ' queued '"
rm -rf "$T/vanishing"
start_worker 2 testnode
wait_engines 2 || exit 1
spool collect "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "missing cwd: collect exits 1" 1 "$rc"
check "missing cwd: summary says it does not exist on the node" \
	grep -q "task 1: .*working directory $T/vanishing does not exist on node testnode" "$T/e"
check_eq "missing cwd: nothing on stdout" "" "$(cat "$T/o")"
check "missing cwd: status shows failed" sh -c "spool status $j | grep -q '^ *1  failed '"

# --- a task that exits 3 ---
j=$(spool submit -- sh -c 'echo partial; exit 3')
spool collect "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "exit 3: collect exits 1" 1 "$rc"
check "exit 3: summary says exited with status 3" grep -q "task 1: exited with status 3 on testnode" "$T/e"
check_eq "exit 3: its stdout is still printed" "partial" "$(cat "$T/o")"
check "exit 3: status shows failed with exit 3" sh -c "spool status $j | grep -Eq '^ *1  failed .* 3 +[0-9.]+s'"

# --- a task killed by its timeout ---
# The timeout (10 s) leaves time to see the task; the sleep (300 s) cannot end by itself first.
start=$(date +%s)
j=$(spool submit --timeout 10 -- sleep 300)
wait_sleep "$j"
pg=$sp
check "timeout: the task's sleep 300 was seen running" test -n "$sp"
# The task runs under its shepherd (worker/shepherd.c), the worker's child.
shep=$(ps -o ppid= -p "${sp:-0}" | tr -d ' ')
check_eq "timeout: it is the child of the worker's shepherd and leads its own process group" \
	"$WORKER_PID ${sp:-none}" "$(ps -o ppid= -p "${shep:-0}" | tr -d ' ') $(ps -o pgid= -p "${sp:-0}" | tr -d ' ')"
spool collect "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "timeout: collect exits 1" 1 "$rc"
check "timeout: summary says timed out" grep -q "task 1: timed out on testnode" "$T/e"
check "timeout: collect returned well before the sleep would end (the task was killed)" test $(( $(date +%s) - start )) -lt 200
check "timeout: status shows timedout" sh -c "spool status $j | grep -q '^ *1  timedout '"
check_eq "timeout: no sleep 300 of this job remains" "" "$(job_sleeps "$j")"
check_eq "timeout: nothing remains in the task's process group" "" "$(group_procs "$pg")"

# The same with the sleep as a grandchild: the whole process group goes.
j=$(spool submit --timeout 10 -- sh -c 'sleep 300; echo never')
wait_sleep "$j"
pg=$(ps -o ppid= -p "${sp:-0}" | tr -d ' ')
check "timeout of a shell: its sleep 300 was seen" test -n "$sp"
check_eq "timeout of a shell: the sleep's parent is the child of the worker's shepherd" "$WORKER_PID" \
	"$(ps -o ppid= -p "$(ps -o ppid= -p "${pg:-0}" | tr -d ' ')" | tr -d ' ')"
check_eq "timeout of a shell: the sleep is in that shell's process group" "${pg:-none}" "$(ps -o pgid= -p "${sp:-0}" | tr -d ' ')"
spool collect "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "timeout of a shell: collect exits 1" 1 "$rc"
check "timeout of a shell: summary says timed out" grep -q "task 1: timed out" "$T/e"
check_eq "timeout of a shell: stdout is empty" "" "$(cat "$T/o")"
check_eq "timeout of a shell: no sleep 300 of this job remains" "" "$(job_sleeps "$j")"
check_eq "timeout of a shell: nothing remains in its process group" "" "$(group_procs "$pg")"

# --- a task killed by a signal ---
j=$(spool submit -- sh -c 'kill -9 $$')
spool collect "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "signal: collect exits 1" 1 "$rc"
check "signal: summary says killed by signal 9" grep -q "task 1: killed by signal 9" "$T/e"
check "signal: status shows failed with sig9" sh -c "spool status $j | grep -q '^ *1  failed .* sig9 '"

# --- a command that cannot be executed vs one that exits 127 ---
j1=$(spool submit -- no-such-cmd-xyz)
j2=$(spool submit -- sh -c 'exit 127')
spool collect "$j1" >"$T/o1" 2>"$T/e1"; rc1=$?
spool collect "$j2" >"$T/o2" 2>"$T/e2"; rc2=$?
check_eq "not found: collect exits 1" 1 "$rc1"
check "not found: summary says cannot execute and names the command" grep -q "task 1: .*cannot execute 'no-such-cmd-xyz'" "$T/e1"
check "not found: summary does not call it an exit status" sh -c "! grep -q 'exited with status' '$T/e1'"
check_eq "exit 127: collect exits 1" 1 "$rc2"
check "exit 127: summary says exited with status 127" grep -q "task 1: exited with status 127" "$T/e2"
check "exit 127: summary does not say cannot execute" sh -c "! grep -q 'cannot execute' '$T/e2'"
check "not found: status has no exit code" sh -c "spool status $j1 | grep -Eq '^ *1  failed .* - +[0-9.]+s +cannot execute'"
check "exit 127: status shows exit 127" sh -c "spool status $j2 | grep -Eq '^ *1  failed .* 127 +[0-9.]+s'"

# The reason says why in the user's terms: PATH only for a bare name, no shell for a command line.
j3=$(spool submit -- ./no-such-script)
j4=$(spool submit -- "echo hi | wc")
spool collect "$j1" 2>"$T/e1" >/dev/null
spool collect "$j3" 2>"$T/e3" >/dev/null
spool collect "$j4" 2>"$T/e4" >/dev/null
check "not found, a bare name: the reason says not found in the task's PATH" grep -q "not found in the task's PATH" "$T/e1"
check "not found, ./x: the reason says relative to the working directory, not PATH" \
	sh -c "grep -q 'no such file relative to the task.s working directory' '$T/e3' && ! grep -q PATH '$T/e3'"
check "a shell command line as argv[0]: the reason says to use sh -c" grep -q "runs without a shell.*give sh -c" "$T/e4"

# A success after all that: the engines are still usable.
check_eq "a later task still runs" "ok" "$(spool submit --wait -- echo ok 2>/dev/null)"
