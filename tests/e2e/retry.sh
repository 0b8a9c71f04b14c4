#!/bin/bash
# retry.sh - reruns: --retry-on-failure runs a failed or timed-out task again within --retries,
# every attempt staying visible; 'spool retry JOB' submits exactly the tasks that did not
# succeed (their items, command, environment, working directory) as a new job linked to the old
# one; collect --json and the failure summary name each task's item.
# checks: 25
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2 nodeA
wait_engines 2 || exit 1
cd "$T"
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# --- --retry-on-failure ---
# Fails on its first two attempts (a counter beside it), succeeds on the third.
flaky='n=$(cat "$0" 2>/dev/null || echo 0); n=$((n + 1)); echo $n >"$0"; echo "run $n"; [ $n -ge 3 ]'
out=$(spool submit --wait --retries 3 --retry-on-failure -- sh -c "$flaky" "$T/c1" 2>"$T/e"); rc=$?
check_eq "a task failing twice then succeeding, --retries 3 --retry-on-failure: collect exits 0, prints the third run" \
	"0 run 3" "$rc $out"
j=$(sed -n 's/^spool: job \([a-z0-9]*\) submitted.*/\1/p' "$T/e")
spool collect --json "$j" >"$T/j.json" 2>/dev/null
check_eq "  ... the accepted attempt is 3" 3 "$(json 'd["tasks"][0]["attempt"]' <"$T/j.json")"
check_eq "  ... attempts 1 and 2 stay visible, exited 1" "[(1, 'exited', 1), (2, 'exited', 1)]" \
	"$(json '[(a["attempt"], a["status"], a["exit_code"]) for a in d["tasks"][0]["duplicates"]]' <"$T/j.json")"
check "  ... their output files stay beside the data" test -s "$T/spool-$j/1.1.out" -a -s "$T/spool-$j/1.2.out"

out=$(spool submit --wait --retries 3 -- sh -c "$flaky" "$T/c2" 2>/dev/null); rc=$?
check_eq "without --retry-on-failure the same task fails at once (attempt 1 only)" "1 run 1 1" "$rc $out $(cat "$T/c2")"

j=$(spool submit --retries 1 --retry-on-failure -- sh -c 'echo x >>"$0"; exit 5' "$T/c3")
spool collect --timeout 120 "$j" >/dev/null 2>"$T/e"; rc=$?
check_eq "always failing, --retries 1: two attempts, then failed (collect exits 1)" "1 2 failed 2" \
	"$rc $(wc -l <"$T/c3") $(spool collect --json "$j" 2>/dev/null | json 'd["tasks"][0]["state"], d["tasks"][0]["attempt"]' | tr -d "(),'")"

timedout='if [ -e "$0" ]; then echo fast; else touch "$0"; sleep 60; fi'
out=$(spool submit --wait --timeout 1 --retries 2 --retry-on-failure -- sh -c "$timedout" "$T/c4" 2>/dev/null); rc=$?
check_eq "a task timing out once is run again and succeeds" "0 fast" "$rc $out"

out=$(spool map --wait --retries 2 --retry-on-failure -- sh -c "$flaky" '{}' ::: "$T/m1" "$T/m2" 2>/dev/null); rc=$?
check_eq "--retry-on-failure on a map: each task retried on its own" "0 run 3 run 3" "$rc $(echo $out)"

# --- spool retry ---
mkdir -p "$T/sub"
cd "$T/sub"
j=$(spool map --env X=42 -- sh -c '[ -e "$1" ] || [ $(($0 % 2)) = 1 ] || exit 3; echo "$0 X=$X $(pwd)"' \
	'{}' "$T/ok" ::: 1 2 3 4 5 6)
cd "$T"
spool collect --timeout 120 "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "a map whose even items fail: collect exits 1" 1 "$rc"
check "the failure summary names each failed task's item" \
	test "$(grep -c -E '^  task [246] \(item [246]\): exited with status 3' "$T/e")" = 3
spool collect --json "$j" >"$T/j.json" 2>/dev/null
check_eq "collect --json names each task's item" "1 2 3 4 5 6" "$(json '" ".join(t["item"] for t in d["tasks"])' <"$T/j.json")"
check_eq "  ... and its values" "[['1'], ['2'], ['3'], ['4'], ['5'], ['6']]" \
	"$(json '[t["values"] for t in d["tasks"]]' <"$T/j.json")"
touch "$T/ok"
r=$(spool retry --failed "$j"); rc=$?
check_eq "spool retry --failed JOB prints a new job id" "0 yes" "$rc $([ -n "$r" ] && [ "$r" != "$j" ] && echo yes)"
check_eq "  ... its record says retry_of JOB" "$j" "$(sed -n 's/^retry_of //p' "$SPOOL_DIR/ctl/jobs/$r.job" "$SPOOL_DIR/incoming/$r.job" 2>/dev/null)"
out=$(spool collect --timeout 120 "$r" 2>/dev/null); rc=$?
check_eq "  ... it ran exactly the failed items, with the job's environment and working directory (not this one's)" \
	"0 2 X=42 $T/sub|4 X=42 $T/sub|6 X=42 $T/sub" "$rc $(echo "$out" | paste -sd'|')"
check_eq "  ... collect --json of the retry names the items" "2 4 6" \
	"$(spool collect --json "$r" 2>/dev/null | json '" ".join(t["item"] for t in d["tasks"])')"
run r2 spool retry "$r"
check "retrying a job with nothing failed is refused (exit 2), saying so" \
	test "$RC" = 2 -a -n "$(grep -F 'nothing to retry' "$T/r2.err")"
run r3 spool retry nosuchjob0000
check_eq "retrying a job that does not exist exits 4" 4 "$RC"

# Several sources: each task's values go back one by one.
j=$(spool map -- sh -c '[ -e "$0.ok" ] || [ "$1" = y ] || exit 1; echo "$0-$1"' '{1}' '{2}' ::: "$T/a" "$T/b" ::: x y)
spool collect --timeout 120 "$j" >/dev/null 2>&1
check_eq "a map of two sources: the tasks with value x failed" "failed succeeded failed succeeded" \
	"$(spool collect --json "$j" 2>/dev/null | json '" ".join(t["state"] for t in d["tasks"])')"
check_eq "  ... collect --json gives each task's values" "[['$T/a', 'x'], ['$T/a', 'y'], ['$T/b', 'x'], ['$T/b', 'y']]" \
	"$(spool collect --json "$j" 2>/dev/null | json '[t["values"] for t in d["tasks"]]')"
touch "$T/a.ok" "$T/b.ok"
r=$(spool retry "$j")
check_eq "  ... spool retry (default: failed) runs those two again with both values" "$T/a-x|$T/b-x" \
	"$(spool collect --timeout 120 "$r" 2>/dev/null | paste -sd'|')"

# --cancelled picks only the cancelled tasks.
j=$(spool map -- sh -c '[ "$0" != 2 ] || [ -e "$1" ] || sleep 600; [ "$0" != 3 ] || exit 1; echo "t$0"' '{}' "$T/go" ::: 1 2 3)
wait_until "task 2 runs" 120 sh -c "spool status $j | awk '\$1 == 2 { print \$2 }' | grep -qx running"
spool cancel "$j.2" >/dev/null 2>&1
spool collect --timeout 120 "$j" >/dev/null 2>&1
check_eq "a map with one task cancelled and one failed" "succeeded cancelled failed" \
	"$(spool collect --json "$j" 2>/dev/null | json '" ".join(t["state"] for t in d["tasks"])')"
touch "$T/go"
r=$(spool retry --cancelled "$j")
check_eq "spool retry --cancelled runs the cancelled task only" "t2" "$(spool collect --timeout 120 "$r" 2>/dev/null)"
r=$(spool retry --failed --cancelled "$j")
check_eq "--failed --cancelled runs both, in task order" "2 3" \
	"$(spool collect --json --timeout 120 "$r" 2>/dev/null | json '" ".join(t["item"] for t in d["tasks"])')"
a=$(spool apply -- true)
spool collect --timeout 120 "$a" >/dev/null 2>&1
run r4 spool retry "$a"
check "retrying an apply is refused (exit 2), naming why" test "$RC" = 2 -a -n "$(grep -F 'apply' "$T/r4.err")"
