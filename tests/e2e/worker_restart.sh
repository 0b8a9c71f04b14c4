#!/bin/bash
# worker_restart.sh - a worker stopped with SIGTERM in the middle of a job kills its running
# tasks, the controller requeues them, and a new worker finishes the job: every task
# succeeds exactly once, and the new worker's engine ids are new (never reused).
# checks: 28
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2 nodeold
OLD=$WORKER_PID
wait_engines 2 || exit 1
cd "$T"

N=16
# Tasks 1 and 2 end at once; the others wait for $T/go, created once the new worker runs: when
# the old worker is stopped exactly 2 tasks have succeeded and 2 are running, however slow.
j=$(spool map -- sh -c 'echo "start {}" >>"$0"; n=0; [ {} -le 2 ] || while [ ! -e "$1" ] && [ $n -lt 3000 ]; do sleep 0.1; n=$((n + 1)); done; echo "out {}"; echo "end {}" >>"$0"' "$T/runs" "$T/go" ::: $(seq $N))
check "map of $N tasks submitted" test -n "$j"
count() { spool status "$j" 2>/dev/null | awk -v s="$1" '$1 ~ /^[0-9]+$/ && $2 == s' | wc -l; }
ok=""
for i in $(seq 600); do
	[ "$(count succeeded)" -eq 2 ] && [ "$(count running)" -eq 2 ] && [ -n "$(pgrep -P "$OLD")" ] && { ok=1; break; }
	sleep 0.1
done
check "2 tasks succeeded and 2 run when the worker is stopped" test -n "$ok"
check "tasks are still assigned to the worker" test "$(count assigned)" -ge 1
old_ids=$(spool workers | awk 'NR > 1 { print $1 }' | sort -n | tr '\n' ' ')
# The processes of the running tasks: children of the worker, each leading its own group.
groups=$(pgrep -P "$OLD" | tr '\n' ' ')
kill -TERM "$OLD"
check "the old worker had running task processes" test -n "$groups"
wait "$OLD"; rc=$?
check_eq "the worker exits 0 on SIGTERM" 0 "$rc"
left=""
for g in $groups; do
	left="$left$(ps -e -o pid=,pgid=,stat= | awk -v g="$g" '$2 == g && $3 !~ /^Z/ { print " " $1 }')"
done
check_eq "its running tasks' processes are gone" "" "$left"
check "the worker said goodbye" sh -c "ls '$SPOOL_DIR'/workers/*/bye >/dev/null"
check "it logged that running tasks get SIGTERM" grep -q "running task.* get SIGTERM" "$T/worker.log"

# With no worker, the interrupted tasks go back to the queue.
for i in $(seq 600); do
	[ "$(count assigned)" -eq 0 ] && [ "$(count running)" -eq 0 ] && break
	sleep 0.1
done
check_eq "no task is left assigned or running without a worker" "0 0" "$(count assigned) $(count running)"
check "tasks wait queued" test "$(count queued)" -ge 1
check_eq "the old engines are dead" "" "$(spool workers | awk 'NR > 1')"

start_worker 2 nodenew
touch "$T/go"
spool collect --timeout 300 "$j" >"$T/out" 2>"$T/err"; rc=$?
check_eq "collect exits 0 after a new worker finished the job" 0 "$rc"
check_eq "collect prints every task's output once, in order" "$(seq $N | sed 's/^/out /')" "$(cat "$T/out")"
spool status "$j" >"$T/st"
check_eq "status shows $N succeeded" $N "$(awk '$2 == "succeeded"' "$T/st" | wc -l)"
check_eq "every task ended exactly once" "$(seq $N | sed 's/^/end /' | sort)" "$(grep '^end ' "$T/runs" | sort)"
# The tasks killed by the stop started twice; no task started more often.
twice=$(grep '^start ' "$T/runs" | sort | uniq -c | awk '$1 == 2 { print $3 }' | sort -n | tr '\n' ' ')
check_eq "the 2 tasks running at the stop started twice, no other" 2 "$(echo $twice | wc -w)"
check_eq "no task started more than twice" "" "$(grep '^start ' "$T/runs" | sort | uniq -c | awk '$1 > 2')"
for t in $twice; do
	check "task $t: killed at the stop, accepted from a later attempt on the new node" \
		sh -c "grep -Eq '^ *$t  succeeded +[2-9] .* nodenew ' '$T/st'"
	check "task $t: the killed attempt's result beside the data says cancelled" \
		sh -c "grep -lx 'status cancelled' '$T/spool-$j/$t'.*.res | grep -q ."
done
check_eq "tasks requeued from the old worker went to the new node" "" \
	"$(awk '$1 ~ /^[0-9]+$/ && $3 > 1 && $5 != "nodenew"' "$T/st")"
# Beside the data: the accepted attempt's result is a success.
bad=0
while read -r t a; do
	grep -qx 'exit 0' "$T/spool-$j/$t.$a.res" || bad=$((bad + 1))
done < <(awk '$2 == "succeeded" { print $1, $3 }' "$T/st")
check_eq "every accepted result file records exit 0" 0 "$bad"

spool workers --all >"$T/w"
new_ids=$(awk 'NR > 1 && $4 != "dead" { print $1 }' "$T/w" | sort -n | tr '\n' ' ')
dead_ids=$(awk 'NR > 1 && $4 == "dead" { print $1 }' "$T/w" | sort -n | tr '\n' ' ')
check_eq "workers --all lists the old engines as dead" "$old_ids" "$dead_ids"
check_eq "the new worker has 2 live engines" 2 "$(echo $new_ids | wc -w)"
maxold=$(echo $dead_ids | tr ' ' '\n' | sort -n | tail -1)
minnew=$(echo $new_ids | tr ' ' '\n' | sort -n | head -1)
check "new engine ids ($new_ids) are above the old ones ($dead_ids)" test "${minnew:-0}" -gt "${maxold:-999999}"
check_eq "engine ids are never reused" "" "$(awk 'NR > 1 { print $1 }' "$T/w" | sort -n | uniq -d)"
check_eq "workers (without --all) hides the dead engines" "$new_ids" \
	"$(spool workers | awk 'NR > 1 { print $1 }' | sort -n | tr '\n' ' ')"
