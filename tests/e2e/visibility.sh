#!/bin/bash
# checks: 10
# visibility.sh - the visibility deadline (spool-layout.md section 10) on simulated nodes.
# spoold runs on node 1, one worker on node 2, each through its own FUSE mount of the share.
# The worker preloads tests/preload/hide.c, which makes its listings of the inbox leave out a
# chosen assignment for a chosen time, as a stale NFS directory cache does. The worker must
#   - not revoke a running task whose file was missing for less than visibility_deadline, and
#     revoke (kill) it once missing for longer, not earlier than the deadline;
#   - not forget a finished assignment missing for less than the deadline (+1 s), so that a
#     listing that shows it again does not run it twice; and forget it once missing for longer
#     (it then runs again when it reappears: the at-least-once side of the same rule).
# Every window is timed by the shim itself from the first listing that hid the name, so a slow
# machine only lengthens the test: it cannot make a short window look long.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../multinode.sh"
need_fake_nodes
trap 'nodes_down; cleanup' EXIT

b=$(basename "$SPOOL_BIN")
SHIM="${SPOOL_SHIM_DIR:-${UNIT_DIR:-$SPOOL_BIN/../${b/bin/build}/tests}/preload}/hide.so"
[ -f "$SHIM" ] || { fail "the test shim $SHIM is missing (make all builds it)"; exit 1; }

VIS=4 # visibility_deadline, seconds
nodes_up 2
make_shared_spool "visibility_deadline = $VIS.0" "dead_timeout = 10.0" "prefetch = 0"
start_spoold_on 1
CTL="$T/hide.ctl" HLOG="$T/hide.log"
: >"$CTL"
on 2 env LD_PRELOAD="$SHIM" SPOOL_HIDE_CTL="$CTL" SPOOL_HIDE_LOG="$HLOG" spool-worker -f -n 1 2>>"$T/worker-node2.log" &
PIDS="$PIDS $!"
wait_engines_on 1 1 || exit 1

D="$F/backing/data" # the test's (the server's) view of the data directory
mkdir -p "$D" && chmod 777 "$D"
# A task that counts its runs, records when a SIGTERM reached it (CLOCK_BOOTTIME, as the shim's
# log), and runs until the test releases it.
cat >"$D/task.sh" <<'EOF'
d=$(dirname "$0"); n=$1
echo run >>"$d/$n.runs"
trap 'cut -d" " -f1 /proc/uptime >"$d/$n.killed"; exit 143' TERM
while [ ! -e "$d/$n.release" ]; do sleep 0.1; done
echo ok >"$d/$n.finished"
EOF

uptime_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }
runs() { if [ -f "$D/$1.runs" ]; then wc -l <"$D/$1.runs"; else echo 0; fi; }
inbox_name() { # JOB: the assignment's name, from the server's disk
	local f
	for f in "$F"/backing/spool/ctl/w/*/inbox/"$1".*; do [ -e "$f" ] && basename "$f" && return 0; done
	return 1
}
hid_count() { awk -v n="$1" '$1 == "hid" && $2 == n {c++} END {print c + 0}' "$HLOG"; }
hid_at_least() { [ "$(hid_count "$1")" -ge "$2" ]; }
runs_at_least() { [ "$(runs "$1")" -ge "$2" ]; }
first_hid() { awk -v n="$1" '$1 == "hid" && $2 == n {print $3; exit}' "$HLOG"; }
last_hid() { awk -v n="$1" '$1 == "hid" && $2 == n {t = $3} END {print t}' "$HLOG"; }
hidden_for_more_than() { # NAME MS: listings without NAME span more than MS
	local a b
	a=$(first_hid "$1") b=$(last_hid "$1")
	[ -n "$a" ] && [ $((b - a)) -gt "$2" ]
}
shown() { grep -q "^shown $1 " "$HLOG" 2>/dev/null; }
# A job's published state and its task's, read on the server's disk ("done succeeded").
job_state() { SPOOL_DIR="$F/backing/spool" spool status --json "$1" 2>/dev/null |
	python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["state"], j["tasks"][0]["state"])' 2>/dev/null; }
job_done() { [ "$(job_state "$1")" = "done succeeded" ]; }
submit() { # NAME: prints the job id
	on 2 sh -c "cd $SHARED/data && spool submit -- sh task.sh $1"
}

# --- A: missing for less than the deadline: the running task is not revoked. -------------------
A=$(submit A) || { fail "submit A"; exit 1; }
wait_until "task A started" 60 test -f "$D/A.runs" || exit 1
NA=$(inbox_name "$A") || { fail "no assignment file for job $A"; exit 1; }
: >"$HLOG"
echo "hide $NA $(((VIS - 2) * 1000))" >"$CTL"
wait_until "the worker listing its inbox again after a $((VIS - 2)) s window hiding $NA" 60 shown "$NA" || exit 1
span=$(($(last_hid "$NA") - $(first_hid "$NA")))
check "A: the worker listed its inbox without $NA ($(hid_count "$NA") times, over $span ms)" \
	test "$(hid_count "$NA")" -ge 1
check "A: ... all within the window, shorter than the deadline" test "$span" -lt $((VIS * 1000))
: >"$CTL"
touch "$D/A.release"
wait_until "task A to finish or be killed" 60 sh -c "test -e '$D/A.finished' || test -e '$D/A.killed'"
check "A: a task whose assignment was missing for less than the deadline was not killed" test ! -e "$D/A.killed"
check "A: ... and finished" test -e "$D/A.finished"
wait_until "job A done" 60 job_done "$A" && pass "A: its result was accepted"

# --- B: missing for longer than the deadline: the running task is revoked, not earlier. --------
B=$(submit B) || { fail "submit B"; exit 1; }
wait_until "task B started" 60 test -f "$D/B.runs" || exit 1
NB=$(inbox_name "$B") || { fail "no assignment file for job $B"; exit 1; }
: >"$HLOG"
echo "hide $NB 0" >"$CTL"
if wait_until "task B killed by the worker after its assignment was missing for ${VIS}s" $((VIS + 60)) test -s "$D/B.killed"; then
	t0=$(first_hid "$NB")
	tk=$(awk '{printf "%d", $1 * 1000}' "$D/B.killed")
	# /proc/uptime has 10 ms steps: allow them.
	check "B: killed $((tk - t0)) ms after the first listing without it, not before the deadline (${VIS}000 ms)" \
		test $((tk - t0)) -ge $((VIS * 1000 - 20))
fi
: >"$CTL"
touch "$D/B.release"
SPOOL_DIR="$F/backing/spool" spool cancel "$B" >/dev/null 2>&1 # its run was revoked: nothing will report it

# --- C: a finished assignment, still in the inbox (its done record cannot be written yet, so
# the controller has not taken it), missing for a while, then listed again. ---------------------
C=$(submit C) || { fail "submit C"; exit 1; }
wait_until "task C started" 60 test -f "$D/C.runs" || exit 1
NC=$(inbox_name "$C") || { fail "no assignment file for job $C"; exit 1; }
echo "block $NC" >"$CTL"
touch "$D/C.release"
wait_until "task C finished" 60 test -e "$D/C.finished" || exit 1
wait_until "the worker failing to report C (blocked by the shim)" 60 grep -q "cannot report its result.*" "$T/worker-node2.log"
: >"$HLOG"
printf 'block %s\nhide %s %d\n' "$NC" "$NC" $((VIS * 1000 - 500)) >"$CTL"
wait_until "the worker listing its inbox again after a $((VIS * 1000 - 500)) ms window hiding $NC" 60 shown "$NC" || exit 1
check "C: the worker listed its inbox without $NC ($(hid_count "$NC") times)" test "$(hid_count "$NC")" -ge 1
# The reappeared name is in the listing now; give the worker ten more scans to (wrongly) run it.
more_listings() { [ "$(grep -c "^shown $NC " "$HLOG")" -ge 10 ] || runs_at_least C 2; }
wait_until "a few more listings by the worker" 60 more_listings
check_eq "C: a finished assignment missing for less than the deadline is not run again when it reappears" 1 "$(runs C)"

: >"$HLOG"
printf 'block %s\nhide %s 0\n' "$NC" "$NC" >"$CTL"
wait_until "the first listing without $NC" 60 hid_at_least "$NC" 1 || exit 1
# Wait until the worker has listed the inbox without it for longer than the deadline + 1 s.
wait_until "$NC missing from the worker's listings for more than $((VIS + 1)) s" 60 \
	hidden_for_more_than "$NC" $(((VIS + 1) * 1000 + 200)) || exit 1
printf 'block %s\n' "$NC" >"$CTL"
wait_until "the worker running $NC again once it was forgotten and reappeared" 60 runs_at_least C 2 &&
	pass "C: a finished assignment missing for longer than the deadline is forgotten (it runs again when listed again)"
: >"$CTL"
wait_until "job C done once its done record can be written" 60 job_done "$C" && pass "C: its result was accepted"
