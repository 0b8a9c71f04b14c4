#!/bin/bash
# rebuild.sh - the queue database deleted while spoold is down: spoold rebuilds it from the
# spool, the running job completes with one result per task, engine ids are not reused.
# checks: 8
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2
wait_engines 2 || exit 1
cd "$T"
j=$(spool map -- sh -c 'sleep 0.02; echo {}' ::: $(seq 1 300))
for i in $(seq 300); do
	n=$(spool status --json "$j" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["succeeded"])')
	[ "$n" -ge 50 ] && break
	sleep 0.1
done
check "some tasks done before the database is lost ($n)" test "$n" -ge 50 -a "$n" -lt 300
max_before=$(spool workers --all --json | python3 -c 'import json,sys; print(max(e["id"] for e in json.load(sys.stdin)))')
kill -TERM "$SPOOLD_PID"; wait "$SPOOLD_PID" 2>/dev/null
db="$SPOOL_DIR/ctl/queue.db"
check "the database existed" test -f "$db"
rm -f "$db" "$db-wal" "$db-shm"
start_spoold
out=$(spool collect --timeout 120 "$j" 2>"$T/err"); rc=$?
check_eq "collect after the rebuild exits 0" 0 "$rc"
check_eq "every task's output, in order" "$(seq 1 300 | tr '\n' ' ')" "$(echo "$out" | tr '\n' ' ')"
check "spoold logged the rebuild" grep -q "rebuilding the queue from the spool" "$T/spoold.log"
min_after=$(spool workers --json | python3 -c 'import json,sys; print(min(e["id"] for e in json.load(sys.stdin)))')
check "engines registered after the rebuild have new ids ($min_after > $max_before)" test "$min_after" -gt "$max_before"
n=$(spool status --json "$j" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["counts"]["succeeded"], len(d["tasks"]))')
check_eq "300 tasks, all succeeded, in the rebuilt queue" "300 300" "$n"
wait_engines 2
out=$(spool submit --wait -- echo after 2>/dev/null)
check_eq "a new job runs after the rebuild" "after" "$out"
