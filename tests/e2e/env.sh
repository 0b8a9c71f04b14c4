#!/bin/bash
# env.sh - what a task sees (SPOOL_JOB, SPOOL_TASK, SPOOL_ENGINE, SPOOL_NODE, SPOOL_ATTEMPT,
# SPOOL_VARS, its --cwd), collect --follow's headers, collect --no-wait on a running job,
# and workers --wait giving up.
# checks: 27
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2 nodeA
PA=$WORKER_PID
start_worker 2 nodeB
PB=$WORKER_PID
wait_engines 4 || exit 1
cd "$T"

# --- workers --wait ---
n=4
start=$(date +%s%N)
spool workers --wait $((n + 1)) --timeout 1 >"$T/o" 2>"$T/e"; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check_eq "workers --wait $((n + 1)) --timeout 1 with $n engines exits 5" 5 "$rc"
[ "$rc" = 5 ] || cat "$T/e"
check "it says how many are alive" grep -q "only $n of $((n + 1)) engines alive after 1.0 s" "$T/e"
check "it waited its 1 s, no less ($ms ms; at most a minute on a loaded machine)" test "$ms" -ge 900 -a "$ms" -lt 60000
spool workers --wait "$n" --timeout 1 >"$T/o" 2>"$T/e"; rc=$?
check_eq "workers --wait $n exits 0 at once and lists them" "0 $n" "$rc $(awk 'NR > 1' "$T/o" | wc -l)"

mkdir "$T/work dir"

# --- the SPOOL_* variables and the working directory, checked against collect --json ---
j=$(spool map --cwd "$T/work dir" -- sh -c 'echo "$SPOOL_JOB|$SPOOL_TASK|$SPOOL_ENGINE|$SPOOL_NODE|$SPOOL_ATTEMPT|$SPOOL_VARS|$(pwd)|$0"; test -d "${SPOOL_VARS%/*}" && test -w "${SPOOL_VARS%/*}" && echo vars-dir-ok' {} ::: a b c d e f)
spool collect "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "the map of 6 succeeds" 0 "$rc"
spool collect --json "$j" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for t in d["tasks"]:
    print("%s|%d|%d|%s|%d|%s/%d.%d.vars|%s|%s" % (d["job"], t["task"], t["engine"], t["node"], t["attempt"],
          d["outdir"], t["task"], t["attempt"], d["cwd"], "abcdef"[t["task"] - 1]))
    print("vars-dir-ok")' >"$T/exp"
check_eq "each task sees its job, task, engine, node, attempt, SPOOL_VARS (in a writable directory) and --cwd" "$(cat "$T/exp")" "$(cat "$T/o")"
check_eq "the cwd is the --cwd given" "$T/work dir" "$(sed -n 1p "$T/o" | cut -d'|' -f7)"
check_eq "SPOOL_VARS lies in the job's output directory" "$T/work dir/spool-$j/1.1.vars" "$(sed -n 1p "$T/o" | cut -d'|' -f6)"
check_eq "the 6 tasks used engines of both nodes" "nodeA nodeB" "$(cut -s -d'|' -f4 "$T/o" | sort -u | tr '\n' ' ' | sed 's/ $//')"
# An apply: one task per engine, SPOOL_TASK counts 1..4 in engine id order.
ids=$(spool workers | awk 'NR > 1 { print $1 }' | sort -n | tr '\n' ' ')
out=$(spool apply --wait -- sh -c 'echo $SPOOL_TASK:$SPOOL_ENGINE' 2>/dev/null | tr '\n' ' ')
exp=$(k=0; for i in $ids; do k=$((k + 1)); printf '%s ' "$k:$i"; done)
check_eq "apply: SPOOL_TASK n runs on the n-th engine" "$exp" "$out"
# A relative --cwd is taken from the submitter's directory.
out=$(cd "$T" && spool submit --wait --cwd "work dir" -- pwd 2>/dev/null)
check_eq "a relative --cwd is made absolute" "$T/work dir" "$out"
# SPOOL_* win over the submitter's environment of the same names.
out=$(SPOOL_JOB=fake SPOOL_ENGINE=99 spool submit --wait -- sh -c 'echo $SPOOL_JOB $SPOOL_ENGINE' 2>/dev/null)
check "SPOOL_JOB and SPOOL_ENGINE are the task's, not the submitter's ($out)" \
	sh -c "echo '$out' | grep -Eq '^[a-z0-9]+ [0-9]+$' && ! echo '$out' | grep -q fake && [ '${out#* }' != 99 ]"
# --- collect --follow: a header per task as they finish ---
# The order the tasks finish in is forced through the published state, not by sleeps: item 1
# (task 2) ends at once, item 2 (task 3) once task 2 is published succeeded, item 3 (task 1)
# once task 3 is.
j=$(spool map -- sh -c 'after() { n=0; until spool status "$SPOOL_JOB" | grep -Eq "^ *$1  succeeded " || [ $n -ge 3000 ]; do sleep 0.1; n=$((n + 1)); done; }
	case $0 in 2) after 2 ;; 3) after 3 ;; esac; echo item $0' {} ::: 3 1 2)
spool collect --follow "$j" >"$T/f" 2>"$T/fe"; rc=$?
check_eq "collect --follow exits 0" 0 "$rc"
check_eq "one '==> task N' header per task" "1 2 3" "$(grep -o '^==> task [0-9]*' "$T/f" | awk '{ print $3 }' | sort -n | tr '\n' ' ' | sed 's/ $//')"
check "headers give engine, node and state" grep -Eq '^==> task 2 \(engine [0-9]+ on node[A-C]\): succeeded <==$' "$T/f"
check_eq "each header is followed by its task's output" "" \
	"$(awk '/^==> task/ { t = $3; next } { if ($0 != "item " (t == 1 ? 3 : t == 2 ? 1 : 2)) print "bad: " $0 }' "$T/f")"
check_eq "the tasks are printed in the order they finished (2, 3, 1)" "2 3 1" "$(grep -o '^==> task [0-9]*' "$T/f" | awk '{ print $3 }' | tr '\n' ' ' | sed 's/ $//')"
check_eq "collect --follow off a terminal writes no terminal control codes" "" "$(grep -l $'\033' "$T/f" "$T/fe")"
# On a terminal a waiting collect draws a progress line on stderr; it is cleared before the
# first output, which starts its own line.
if command -v script >/dev/null; then
	script -qc "spool submit --wait -- sh -c 'sleep 0.6; echo hello'" /dev/null >"$T/tty"
	check "on a terminal the progress line was drawn" grep -q 'running 1, queued 0' "$T/tty"
	check_eq "on a terminal the output does not follow the progress line on its line" "hello" \
		"$(python3 -c 'import sys; l = [x for x in open(sys.argv[1], "rb").read().split(b"\n") if b"hello" in x][0]; print(l.split(b"\x1b[K")[-1].strip(b"\r").decode())' "$T/tty")"
else
	skip "script(1) is not installed: cannot test the progress line on a terminal"
fi

# --- collect --no-wait on a running job: exit 5, how many are pending ---
j=$(spool map -- sh -c '[ $0 = 1 ] || sleep 1800' {} ::: 1 2 3) # cancelled below
for i in $(seq 600); do spool status "$j" 2>/dev/null | grep -q ' succeeded ' && break; sleep 0.1; done
spool collect --no-wait "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "collect --no-wait of a running job exits 5" 5 "$rc"
check "it says 2 of 3 tasks are still pending" grep -q "job $j: 2 of 3 tasks still pending" "$T/e"
spool collect --timeout 0.5 "$j" >/dev/null 2>"$T/e"; rc=$?
check_eq "collect --timeout 0.5 of it exits 5 too" 5 "$rc"
check "and says it gave up" grep -q "gave up waiting for job $j after" "$T/e"
spool cancel "$j"


# --- a task requeued after its worker stopped runs again with SPOOL_ATTEMPT=2 ---
j=$(spool submit -- sh -c 'echo attempt $SPOOL_ATTEMPT; [ $SPOOL_ATTEMPT -gt 1 ] || { echo "$SPOOL_NODE" >"$0"; sleep 1800; }' "$T/first")
for i in $(seq 600); do [ -s "$T/first" ] && break; sleep 0.1; done
n=$(cat "$T/first")
check "the first attempt started on nodeA or nodeB ($n)" test "$n" = nodeA -o "$n" = nodeB
if [ "$n" = nodeA ]; then P=$PA other=nodeB; else P=$PB other=nodeA; fi
kill -TERM "$P"; wait "$P"
out=$(spool collect --timeout 120 "$j" 2>/dev/null)
check_eq "the requeued task ran again with SPOOL_ATTEMPT=2" "attempt 2" "$out"
check_eq "on the other node, as attempt 2" "2 $other" \
	"$(spool collect --json "$j" | python3 -c 'import json,sys; t = json.load(sys.stdin)["tasks"][0]; print(t["attempt"], t["node"])')"
