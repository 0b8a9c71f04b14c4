#!/bin/bash
# failures4.sh - failures on one machine (local filesystem), each on a spool of its own:
#   (a) a worker stopped (SIGSTOP) past dead_timeout: its tasks run elsewhere as attempt 2; on
#       SIGCONT it kills what still runs, registers again with new engine ids, and a result it
#       finished while stopped is kept as a duplicate, never accepted twice;
#   (b) --retries 1: a task whose worker is killed -9 twice in a row ends abandoned, with a reason;
#   (c) the disk fills while submitting: a clear error, exit 3, no partial record;
#   (d) the disk fills while a worker writes results: the task fails with a reason, spoold goes on;
#   (e) inotify limits: a warning naming the sysctl, and tasks still complete.
# checks: 67
. "$(dirname "$0")/../lib.sh"
MOUNTS=""
f4_cleanup() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	for m in $MOUNTS; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	cleanup
}
trap f4_cleanup EXIT

# A spool of its own for each part; the processes of the part before are stopped first.
part() { # NAME [settings...]
	local name=$1 p
	shift
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	PIDS=""
	for f in spoold worker; do [ -f "$T/$f.log" ] && mv "$T/$f.log" "$T/$f-before-$name.log"; done
	export SPOOL_DIR="$T/spool-$name"
	make_spool "$@"
}
tstate() { # JOB TASK: its state in spool status
	spool status "$1" 2>/dev/null | awk -v t="$2" '$1 == t { print $2 }'
}
wait_state() { # JOB TASK STATE [tenths]
	local i
	for i in $(seq "${4:-600}"); do
		[ "$(tstate "$1" "$2")" = "$3" ] && return 0
		sleep 0.1
	done
	return 1
}
jq_() { # FILE PYTHON-EXPR over the JSON object j
	python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
# Live processes whose environment says they run task TASK of job JOB (attempt ATTEMPT if given).
task_procs() { # JOB TASK [ATTEMPT]
	local p e
	for p in $(pgrep -x 'sleep|sh'); do
		e=$( { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null)
		grep -qx "SPOOL_JOB=$1" <<<"$e" && grep -qx "SPOOL_TASK=$2" <<<"$e" || continue
		[ -z "${3:-}" ] || grep -qx "SPOOL_ATTEMPT=$3" <<<"$e" || continue
		echo "$p"
	done
}
wait_procs() { # JOB TASK [ATTEMPT]
	local i
	for i in $(seq 1200); do
		[ -n "$(task_procs "$@")" ] && return 0
		sleep 0.05
	done
	return 1
}
wait_grep() { # FILE PATTERN TENTHS
	local i
	for i in $(seq "$3"); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
ids_of() { # NODE: live engine ids on that node
	spool workers 2>/dev/null | awk -v n="$1" 'NR > 1 && $2 == n { print $1 }' | sort -n | tr '\n' ' '
}

# --- (a) SIGSTOP past dead_timeout, then SIGCONT ----------------------------------------------
part stop
start_spoold
start_worker 2 nodea
A=$WORKER_PID
wait_engines 2 || exit 1
cd "$T"
old_a=$(ids_of nodea)
# Task 1 ends while its worker is stopped (it waits for $T/release-1, created once the worker is
# stopped); task 2 (attempt 1 only) would run on for half an hour.
j=$(spool map -- sh -c 'if [ {} = 1 ]; then sleep 0.1; n=0; while [ ! -e "$0" ] && [ $n -lt 3000 ]; do sleep 0.1; n=$((n + 1)); done; echo one; elif [ $SPOOL_ATTEMPT = 1 ]; then sleep 1800; else echo two; fi' "$T/release-1" {} ::: 1 2)
check "(a) a map of 2 tasks is submitted" test -n "$j"
wait_procs "$j" 1 1 && wait_procs "$j" 2 1
check "(a) both tasks run on worker nodea" test -n "$(task_procs "$j" 2 1)" -a -n "$(task_procs "$j" 1 1)"
kill -STOP "$A"
touch "$T/release-1"
start_worker 2 nodeb
B=$WORKER_PID
check "(a) the stopped worker is declared dead after dead_timeout" \
	wait_grep "$T/spoold.log" "worker nodea-.* is dead (no heartbeat change" 600
# The engine table is republished at most every publish_interval: give it a few seconds.
no_engines_of() { local i; for i in $(seq 600); do [ -z "$(ids_of "$1")" ] && return 0; sleep 0.1; done; return 1; }
check "(a) ... and its engines are gone from spool workers" no_engines_of nodea
check "(a) task 1 runs again elsewhere and succeeds" wait_state "$j" 1 succeeded
check "(a) task 2 runs again elsewhere and succeeds" wait_state "$j" 2 succeeded
spool collect --json "$j" >"$T/a.json"
check_eq "(a) task 1 was accepted from attempt 2 on nodeb" "2 nodeb" "$(jq_ "$T/a.json" 'j["tasks"][0]["attempt"], j["tasks"][0]["node"]' | tr -d "(),'")"
check_eq "(a) task 2 was accepted from attempt 2 on nodeb" "2 nodeb" "$(jq_ "$T/a.json" 'j["tasks"][1]["attempt"], j["tasks"][1]["node"]' | tr -d "(),'")"
check "(a) the stopped worker's task 2 still runs (stopped workers do not kill)" test -n "$(task_procs "$j" 2 1)"
kill -CONT "$A"
check "(a) after SIGCONT the worker says it was declared dead and kills its tasks" \
	wait_grep "$T/worker.log" "was declared dead by the controller: killing its tasks and registering again" 600
for i in $(seq 600); do [ -n "$(ids_of nodea)" ] && break; sleep 0.1; done
new_a=$(ids_of nodea)
check "(a) the worker registered again with new engine ids ($new_a; old: $old_a)" \
	test -n "$new_a" -a "${new_a%% *}" -gt "$(echo $old_a | tr ' ' '\n' | tail -1)"
check "(a) it is the same process" kill -0 "$A"
for i in $(seq 600); do [ -z "$(task_procs "$j" 2 1)" ] && break; sleep 0.1; done
check_eq "(a) the stopped worker's run of task 2 was killed" "" "$(task_procs "$j" 2 1)"
# The run of task 1 that ended while the worker was stopped is reported late: a duplicate.
for i in $(seq 300); do
	spool collect --json "$j" >"$T/a.json"
	[ "$(jq_ "$T/a.json" 'len(j["tasks"][0]["duplicates"])')" -ge 1 ] && break
	sleep 0.1
done
check_eq "(a) task 1's late result from the stopped worker shows as a duplicate (attempt, status, exit)" \
	"1 exited 0" "$(jq_ "$T/a.json" '" ".join(str(d[k]) for d in j["tasks"][0]["duplicates"] for k in ("attempt", "status", "exit_code"))')"
check "(a) the duplicate names the stopped worker's old id" \
	sh -c "python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(not j[\"tasks\"][0][\"duplicates\"][0][\"worker\"].startswith(\"nodea-\"))' '$T/a.json'"
check_eq "(a) task 2 has no duplicate (its first run was killed, not reported)" 0 "$(jq_ "$T/a.json" 'len(j["tasks"][1]["duplicates"])')"
# spoold holds its database while it runs (locking_mode=EXCLUSIVE): stopped to read it; what
# follows reads only published files.
kill -TERM "$SPOOLD_PID"; wait "$SPOOLD_PID" 2>/dev/null
check_eq "(a) exactly one accepted result per task in the database" "1 1" \
	"$(python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(" ".join(str(c.execute("SELECT count(*) FROM attempts a JOIN jobs j ON j.rid = a.rid WHERE j.id = ? AND a.idx = ? AND a.accepted = 1", (sys.argv[2], t)).fetchone()[0]) for t in (1, 2)))' "$SPOOL_DIR/ctl/queue.db" "$j")"
spool collect "$j" >"$T/a.out" 2>"$T/a.err"; rc=$?
check_eq "(a) collect exits 0 and prints each task's output once" "0 one two" "$rc $(tr '\n' ' ' <"$T/a.out" | sed 's/ $//')"
check "(a) beside the data: attempt 1 of task 1 ended (exit 0), attempt 1 of task 2 was cancelled" \
	sh -c "grep -qx 'exit 0' '$T/spool-$j/1.1.res' && grep -qx 'status cancelled' '$T/spool-$j/2.1.res'"
check "(a) nothing was quarantined" test -z "$(ls "$SPOOL_DIR/quarantine")"
check_eq "(a) spoold logged no error" "" "$(grep -m3 '^spoold: error' "$T/spoold.log")"

# --- (b) --retries 1: the worker killed -9 twice in a row --------------------------------------
# Workers without --name run as this machine's node: the controller proves them gone at once,
# without waiting for the heartbeat. dead_timeout is 600 s here, so a task requeued within the
# 60 s waited for can only have been requeued by that proof (the latency is bench's business).
part retries "dead_timeout=600.0"
start_spoold
start_worker 1
wait_engines 1 || exit 1
j=$(spool submit --retries 1 -- sleep 1800)
check "(b) a task with --retries 1 is submitted" test -n "$j"
for round in 1 2; do
	wait_procs "$j" 1 "$round"
	check "(b) round $round: attempt $round runs" test -n "$(task_procs "$j" 1 "$round")"
	for i in $(seq 300); do # (published up to publish_interval after the change: wait for it)
		st=$(tstate "$j" 1)
		[ -n "$st" ] && [ "$st" != queued ] && break
		sleep 0.1
	done
	check "(b) round $round: ... and is published as given to the worker before the kill ($st)" \
		test "$st" = assigned -o "$st" = running
	kill -KILL "$WORKER_PID"
	wait "$WORKER_PID" 2>/dev/null
	t0=$(date +%s%N)
	want=queued
	[ $round = 2 ] && want=abandoned
	wait_state "$j" 1 $want 600
	dt=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "# (b) round $round: $want ${dt} ms after kill -9" >&2
	check "(b) round $round: after kill -9 the task is $want long before dead_timeout (600 s)" \
		test "$(tstate "$j" 1)" = $want
	check_eq "(b) round $round: the controller proved the worker gone (log lines so far)" "$round" \
		"$(grep -c 'is gone (its process no longer exists on this node)' "$T/spoold.log")"
	for i in $(seq 200); do [ -z "$(task_procs "$j" 1)" ] && break; sleep 0.1; done
	check_eq "(b) round $round: the killed worker's task is gone too" "" "$(task_procs "$j" 1)"
	[ $round = 1 ] && start_worker 1
done
spool collect "$j" >"$T/b.out" 2>"$T/b.err"; rc=$?
check_eq "(b) collect exits 1" 1 "$rc"
check "(b) collect says why: its node was lost too often" grep -q "task 1: .*lost too often" "$T/b.err"
spool collect --json "$j" >"$T/b.json"
check_eq "(b) JSON: abandoned after 2 attempts, with a reason" "abandoned 2 True" \
	"$(jq_ "$T/b.json" 'j["tasks"][0]["state"], j["tasks"][0]["attempt"], "lost too often" in (j["tasks"][0]["reason"] or "")' | tr -d "(),'")"
check_eq "(b) no worker was declared dead by the heartbeat" 0 "$(grep -c 'is dead (no heartbeat change' "$T/spoold.log")"

# --- (c) disk full while submitting ------------------------------------------------------------
small_fs() { # DIR: a 1 MiB tmpfs there (root only); returns 1 with WHY set when it cannot
	WHY=""
	if [ "$(id -u)" != 0 ]; then WHY="mounting a small tmpfs needs root"; return 1; fi
	mkdir -p "$1"
	if ! mount -t tmpfs -o size=1m spool-full "$1" 2>"$T/mount.err"; then
		WHY="mount -t tmpfs failed: $(cat "$T/mount.err")"
		return 1
	fi
	MOUNTS="$1 $MOUNTS"
}
fill() { # DIR [KIB to leave free]
	rm -f "$1/filler" "$1/spare"
	[ "${2:-0}" -gt 0 ] && dd if=/dev/zero of="$1/spare" bs=1k count="$2" 2>/dev/null
	dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null
	rm -f "$1/spare"
}
part full-submit
if small_fs "$T/small"; then
	s="$T/small/spool"
	spool init "$s" >/dev/null
	check "(c) a spool on a 1 MiB tmpfs" test -f "$s/format"
	fill "$T/small"
	spool -d "$s" submit -- echo hi >"$T/c.out" 2>"$T/c.err"; rc=$?
	check_eq "(c) submit on a full disk exits 3" 3 "$rc"
	check "(c) its message says No space left ($(head -c 200 "$T/c.err"))" grep -q "No space left" "$T/c.err"
	check_eq "(c) it prints no job id" "" "$(cat "$T/c.out")"
	check_eq "(c) incoming/ holds nothing, not even a temporary" "" "$(ls -A "$s/incoming")"
	# Room for a small record, not for a big one: the big one must leave nothing behind.
	fill "$T/small" 24
	j1=$(spool -d "$s" submit --no-env -- echo small 2>"$T/c.err")
	check "(c) with 24 KiB free a small submit works" test -n "$j1"
	seq 1 5000 >"$T/items"
	spool -d "$s" map --no-env --input "$T/items" -- echo {} >"$T/c.out" 2>"$T/c.err"; rc=$?
	check_eq "(c) a map too big for the space left exits 3" 3 "$rc"
	check "(c) its message says No space left" grep -q "No space left" "$T/c.err"
	check_eq "(c) incoming/ holds only the complete small record" "$j1.job" "$(ls -A "$s/incoming")"
	check "(c) that record is whole" sh -c "tail -1 '$s/incoming/$j1.job' | grep -qx end"
	rm -f "$T/small/filler"
	# The controller's database for 5,000 tasks (rows and the scheduler's indexes) needs more than
	# this 1 MiB: the disk grows, as an admin would make room, before the controller starts.
	mount -o remount,size=16m "$T/small"
	j2=$(spool -d "$s" map --no-env --input "$T/items" -- echo {} 2>"$T/c.err")
	check "(c) once space is freed the big map is submitted" test -n "$j2"
	check "(c) and its record is whole" sh -c "tail -1 '$s/incoming/$j2.job' | grep -qx end"
	check_eq "(c) no temporaries are left" "" "$(ls -A "$s/incoming" | grep '^\.')"
	# The controller takes both (the big one cancelled at once); a worker runs the small one.
	spool -d "$s" cancel "$j2" >/dev/null
	export SPOOL_DIR="$s"
	start_spoold
	start_worker 1
	check_eq "(c) the small job runs" small "$(spool collect --timeout 120 "$j1" 2>/dev/null)"
else
	skip "(c) disk full while submitting: $WHY"
fi

# --- (d) disk full while a worker writes results -----------------------------------------------
part full-results
if small_fs "$T/outfs"; then
	start_spoold
	start_worker 1
	wait_engines 1 || exit 1
	mkdir -p "$T/outfs/out"
	fill "$T/outfs"
	j=$(spool submit --output "$T/outfs/out" -- sh -c 'echo hello')
	spool collect --timeout 120 "$j" >"$T/d.out" 2>"$T/d.err"; rc=$?
	check_eq "(d) the task whose results cannot be written fails: collect exits 1" 1 "$rc"
	check_eq "(d) status says failed" failed "$(tstate "$j" 1)"
	spool collect --json "$j" >"$T/d.json"
	reason=$(jq_ "$T/d.json" 'j["tasks"][0]["reason"]')
	check "(d) with a reason that says No space left ($reason)" grep -q "No space left" <<<"$reason"
	check "(d) collect's summary gives the reason" grep -q "task 1: .*No space left" "$T/d.err"
	check "(d) spoold keeps running" kill -0 "$SPOOLD_PID"
	check "(d) the worker keeps running" kill -0 "$WORKER_PID"
	rm -f "$T/outfs/filler"
	check_eq "(d) once space is back a new task succeeds" hello \
		"$(spool submit --wait --output "$T/outfs/out" -- sh -c 'echo hello' 2>"$T/d2.err")"
	j=$(spool map --output "$T/outfs/out" -- sh -c 'echo {}' ::: 1 2 3)
	check_eq "(d) ... and a map too" "1 2 3" "$(spool collect --timeout 120 "$j" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
	# Output lost beside the data after the fact: collect must not call that a success.
	rm -f "$T/outfs/out/spool-$j/2.1.out"
	spool collect "$j" >"$T/d.out" 2>"$T/d.err"; rc=$?
	check_eq "(d) a succeeded task's output gone: collect exits 3 (I/O error), not 0" 3 "$rc"
	check "(d) ... and says which output it could not read" grep -q "task $j.2: cannot read its output" "$T/d.err"
	check_eq "(d) ... and still prints the others" "1 3" "$(tr '\n' ' ' <"$T/d.out" | sed 's/ $//')"
else
	skip "(d) disk full while writing results: $WHY"
fi

# --- (e) inotify limits ------------------------------------------------------------------------
# In a private user namespace the inotify limits are the namespace's own. spoold and the worker
# share one, as they would share a user on a real node.
limited() { # WATCHES INSTANCES LOG
	unshare -U -r sh -c 'echo "$0" >/proc/sys/user/max_inotify_watches && echo "$1" >/proc/sys/user/max_inotify_instances &&
		spoold -f -d "$SPOOL_DIR" 2>>"$2" & exec spool-worker -f -d "$SPOOL_DIR" -n 2 2>>"$2"' "$@" &
	LPID=$!
	PIDS="$PIDS $LPID"
	for i in $(seq 600); do
		SPID=$(pgrep -P "$LPID" -x spoold) && break
		sleep 0.1
	done
	PIDS="$PIDS $SPID"
}
if ! unshare -U -r sh -c 'echo 4 >/proc/sys/user/max_inotify_watches' 2>"$T/unshare.err"; then
	skip "(e) inotify limits: unshare -U cannot set them here: $(head -c 200 "$T/unshare.err")"
else
	for lim in "4 2 watches max_user_watches" "64 1 instances max_user_instances"; do
		set -- $lim
		part "inotify-$3"
		limited "$1" "$2" "$T/limited-$3.log"
		wait_engines 2 || { cat "$T/limited-$3.log"; exit 1; }
		check "(e) $3 limited to $1/$2: spoold and the worker run (pids ${SPID:-none} $LPID)" kill -0 "$LPID" "${SPID:-0}"
		check "(e) $3: a warning names the sysctl fs.inotify.$4" \
			wait_grep "$T/limited-$3.log" "warning: .*rescan.*raise sysctl fs.inotify.$4" 300
		cd "$T"
		j=$(spool map -- sh -c 'echo {}' ::: $(seq 20))
		check_eq "(e) $3: a map of 20 tasks still completes" "$(seq 20 | tr '\n' ' ')" \
			"$(spool collect --timeout 120 "$j" 2>/dev/null | tr '\n' ' ')"
		grep warning "$T/limited-$3.log" | sed 's/^/# /' >&2
	done
fi
