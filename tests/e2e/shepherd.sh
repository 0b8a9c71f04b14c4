#!/bin/bash
# checks: 15
# shepherd.sh - every process of a task ends with it (spool-layout.md section 7): a task runs under
# its shepherd, a child subreaper, and where the worker may make cgroups, in a cgroup of its own.
# Checked here: which of the two the worker says it uses, and that it is so; a process the task
# moved to another session is ended when the task ends; and when the worker AND the shepherd are
# killed with SIGKILL (nothing of spool left to end the task), the next worker started on the node
# ends what was left, where there are cgroups (without them it cannot: the layout says so, and the
# check says which case ran). And a worker started while the shepherds of a worker killed with
# SIGKILL still end its tasks waits for them (they hold the node's lock) instead of refusing.
. "$(dirname "$0")/../lib.sh"

# kill_grace 15 s: section 3 starts a worker within the grace of a dead worker's shepherd.
make_spool kill_grace=15.0
start_spoold
start_worker 1
wait_engines 1 || exit 1
W1=$WORKER_PID
mkdir -p "$T/work" && cd "$T/work" || exit 1

cg=0
if grep -q 'each task runs in a cgroup of its own' "$T/worker.log"; then
	cg=1
	CGDIR=$(sed -n 's/.*each task runs in a cgroup of its own below //p' "$T/worker.log" | head -n 1)
	CGNAME=$(basename "$CGDIR")
	echo "# this worker runs each task in a cgroup of its own below $CGDIR"
	check "the worker itself is in its cgroup's w/" grep -q "^0::.*/$CGNAME/w\$" "/proc/$W1/cgroup"
elif grep -q 'tasks get no cgroup of their own' "$T/worker.log"; then
	echo "# this worker uses its shepherds alone: $(grep -o 'tasks get no cgroup of their own.*' "$T/worker.log")"
else
	fail "the worker says neither that it uses cgroups nor why it does not"
fi

# deadline SECONDS CMD...: CMD succeeds within SECONDS.
deadline() {
	local end=$(( $(date +%s) + $1 )); shift
	while [ "$(date +%s)" -le "$end" ]; do "$@" && return 0; sleep 0.1; done
	return 1
}
gone() { ! kill -0 "$1" 2>/dev/null; }

# --- 1. the task's processes are where the worker said, and a setsid child ends with the task ---
j=$(spool submit -- sh -c 'setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $! >esc.pid; cat /proc/self/cgroup; sleep 1')
spool collect --timeout 120 "$j" >"$T/o1" 2>"$T/e1"; rc=$?
check_eq "a task that leaves a setsid child succeeds" 0 "$rc"
esc=$(cat esc.pid 2>/dev/null)
check "  ... its child was started" test -n "$esc"
check "  ... and does not outlive the task" deadline 30 gone "${esc:-0}"
if [ $cg = 1 ]; then
	check "  ... it ran in its task's cgroup ($CGNAME/t...)" grep -q "^0::.*/$CGNAME/t[0-9]*\$" "$T/o1"
	check "  ... which is removed after the task" deadline 30 sh -c "! ls -d '$CGDIR'/t* 2>/dev/null | grep -q ."
else
	check "  ... it ran in the worker's own cgroup (none of its own)" sh -c "! grep -q spool-worker- '$T/o1'"
fi

# --- 2. the worker and the shepherd killed with SIGKILL ---
j=$(spool submit -- sh -c 'setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $! >esc2.pid; exec sleep 600')
deadline 60 test -s esc2.pid || fail "the second task did not start"
esc2=$(cat esc2.pid 2>/dev/null)
shep=$(ps -o pid= --ppid "$W1" | tr -d ' ' | head -n 1)
check "the task's shepherd is the worker's child" test -n "$shep"
kill -KILL "$W1" ${shep:+"$shep"}
deadline 30 gone "$W1"
if [ $cg = 1 ]; then
	check "with the worker and the shepherd killed, the setsid child still runs (nothing of spool is left)" \
		kill -0 "${esc2:-0}"
	start_worker 1
	# (A cgroup younger than 10 s may be a starting worker's: the next worker waits that out.)
	check "the next worker started on the node ends it (its cgroup's cgroup.kill)" deadline 90 gone "${esc2:-0}"
	# (Any worker on this machine may be the one that does it: other test runs share the cgroup tree.)
	grep -q "removed the task cgroups $CGDIR of a worker" "$T/worker.log" ||
		echo "# another worker on this machine removed $CGDIR first"
	check "  ... and the dead worker's cgroup is gone" deadline 30 test ! -d "$CGDIR"
else
	echo "# without cgroups a process of a task whose shepherd was killed with SIGKILL is not found again"
	kill -KILL "${esc2:-0}" 2>/dev/null
fi

# --- 3. the worker alone killed with SIGKILL: its shepherd ends the task, holding the node's lock
# until it is done; a worker started meanwhile waits for it instead of refusing to start ---
[ $cg = 1 ] || start_worker 1
spool cancel "$j" >/dev/null # (its task, requeued from the dead engine, would hold the new one)
wait_for 120 grep -q "registered: engine id" "$T/worker.log"
regs=$(grep -c "registered: engine id" "$T/worker.log")
W3=$WORKER_PID
j3=$(spool submit -- sh -c 'trap "" TERM; echo $$ >t3.pid; while :; do sleep 0.1; done')
deadline 60 test -s t3.pid || fail "the third task did not start"
t3=$(cat t3.pid 2>/dev/null)
kill -KILL "$W3"
deadline 30 gone "$W3"
start_worker 1
check "a worker started while the dead worker's shepherd ends its task (SIGTERM ignored: 15 s) waits" \
	deadline 60 grep -q "the last worker of node .* (pid $W3) has died; waiting" "$T/worker.log"
check "  ... and registers once the shepherd is done" \
	deadline 90 sh -c "[ \$(grep -c 'registered: engine id' '$T/worker.log') -gt $regs ]"
check "  ... by then the task's process is gone" gone "${t3:-0}"
check "  ... it did not refuse to start" sh -c "! grep -q 'already runs as node' '$T/worker.log'"

# --- 4. one shepherd per engine: it stays for the engine's next task, each task's CPU time is its
# own, a shepherd killed between tasks is replaced, and a worker's clean stop leaves none ---
W4=$WORKER_PID
spool cancel "$j3" >/dev/null # (requeued from the dead worker, it runs again here, ignoring SIGTERM)
spool collect --timeout 120 "$j3" >/dev/null 2>&1
spool submit --wait -- sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done' >/dev/null
spool submit --wait -- true >/dev/null
shep4=$(ps -o pid= --ppid "$W4" | tr -d ' ')
check_eq "the engine keeps one shepherd between its tasks" 1 "$(echo "$shep4" | grep -c .)"
# (the two results, newest last: the spin's user time is its own, true's does not include it)
res=$(ls -t spool-*/1.1.res | head -n 2 | tac)
spin_ms=$(sed -n 's/^user_ms //p' $(echo "$res" | head -n 1))
true_ms=$(sed -n 's/^user_ms //p' $(echo "$res" | tail -n 1))
check "  ... the spinning task's result counts its CPU time (${spin_ms:-none} ms)" test "${spin_ms:-0}" -gt 20
check "  ... the next task's counts only its own (${true_ms:-none} ms)" test "${true_ms:-999}" -lt 20
kill -KILL "$shep4"
deadline 30 gone "$shep4"
out=$(spool submit --wait -- echo after the shepherd was killed 2>"$T/e4")
check_eq "a task after its engine's shepherd was killed runs under a new one" "after the shepherd was killed" "$out"
check "  ... a new shepherd" sh -c "ps -o pid= --ppid $W4 | tr -d ' ' | grep -qvx '$shep4'"
shep5=$(ps -o pid= --ppid "$W4" | tr -d ' ')
kill -TERM "$W4"
deadline 60 gone "$W4"
check "a worker stopped with SIGTERM leaves no shepherd running" deadline 30 gone "${shep5:-0}"
if [ $cg = 1 ]; then
	CG4=$(sed -n 's/.*each task runs in a cgroup of its own below //p' "$T/worker.log" | tail -n 1)
	check "  ... and removes its cgroup with the engines' ones ($(basename "$CG4"))" test ! -d "$CG4"
fi
