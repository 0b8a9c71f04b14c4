#!/bin/bash
# crash_restart.sh - spoold killed with SIGKILL in the middle of a 2,000-task map while the
# workers keep running; after a restart every task has exactly one accepted result, and
# the output is complete and in order.
# checks: 14
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 1 nodea; PIDS_WORKERS=$WORKER_PID
start_worker 1 nodeb; PIDS_WORKERS="$PIDS_WORKERS $WORKER_PID"
wait_engines 2 || exit 1
cd "$T"

N=2000
seq $N | sed 's/^/x/' >"$T/items"
# Each run also appends its item to a log, so a task run twice shows up there.
j=$(spool map --input "$T/items" -- sh -c 'echo "{#}:{}"; echo "{}" >>"$0"' "$T/runs")
check "map of $N items submitted" test -n "$j"

succeeded() { spool status --tasks "$j" 2>/dev/null | awk '$2 == "succeeded"' | wc -l; }
killed_at=""
for i in $(seq 600); do
	s=$(succeeded)
	if [ "$s" -ge 100 ] && [ "$s" -le 1800 ]; then
		kill -KILL "$SPOOLD_PID"
		killed_at=$s
		break
	fi
	[ "$s" -gt 1800 ] && break
	sleep 0.02
done
wait "$SPOOLD_PID" 2>/dev/null
check "spoold was killed with SIGKILL after 100..1800 of $N tasks succeeded (at ${killed_at:-none})" test -n "$killed_at"
[ -n "$killed_at" ] || exit 1
check "the controller is reported NOT RUNNING" sh -c "spool status | grep -q '^controller: NOT RUNNING'"
# The workers go on with what they hold; let them finish it, then restart the controller.
sleep 0.5
check "the workers are still running" kill -0 $PIDS_WORKERS
start_spoold
spool collect --timeout 120 "$j" >"$T/out" 2>"$T/err"; rc=$?
check_eq "collect after the restart exits 0" 0 "$rc"
awk '{ print NR ":" $0 }' "$T/items" >"$T/expected"
if cmp -s "$T/expected" "$T/out"; then
	pass "collect output is complete and in order ($N lines)"
else
	fail "collect output differs ($(wc -l <"$T/out") lines):"; diff "$T/expected" "$T/out" | head -10
fi

spool status --tasks "$j" >"$T/st"
check_eq "status shows $N tasks succeeded" $N "$(awk '$2 == "succeeded"' "$T/st" | wc -l)"
check_eq "status lists every task 1..$N exactly once" "$(seq $N | tr '\n' ' ')" \
	"$(awk '$1 ~ /^[0-9]+$/ && NF >= 3 { print $1 }' "$T/st" | tr '\n' ' ')"
check "status says the job is done" grep -q "^job $j .* $N tasks  done$" "$T/st"

# Beside the data: exactly the result files of the accepted attempts, each a success.
awk '$1 ~ /^[0-9]+$/ && NF >= 3 { print $1 "." $3 ".res" }' "$T/st" | sort >"$T/want-res"
(cd "$T/spool-$j" && ls | grep '\.res$' | sort) >"$T/have-res"
check_eq "one result file per task, that of its accepted attempt" "" "$(comm -3 "$T/want-res" "$T/have-res" | head -5)"
bad=0
while read -r f; do
	grep -qx 'status exited' "$T/spool-$j/$f" && grep -qx 'exit 0' "$T/spool-$j/$f" || bad=$((bad + 1))
done <"$T/want-res"
check_eq "every accepted result file records exit 0" 0 "$bad"
check_eq "every task ran exactly once" "$(sort "$T/items" | tr '\n' ' ')" "$(sort "$T/runs" | tr '\n' ' ')"
check_eq "no result stays unconsumed in workers/*/done" "" "$(ls "$SPOOL_DIR"/workers/*/done/ 2>/dev/null | grep -v ':$' | grep .)"
check "nothing was quarantined" test -z "$(ls "$SPOOL_DIR/quarantine")"
