#!/bin/bash
# schedule.sh - which engine runs which task. map --schedule static splits the items into
# contiguous chunks over the live engines in id order (DirectView.map); balanced gives the
# next task to the first free engine (LoadBalancedView), so a fast engine does more; and
# --targets keeps map, submit and apply on the chosen engines. The engine of each task is
# read from `spool collect --json`.
# checks: 37
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2 nodeA
start_worker 2 nodeB
PB=$WORKER_PID
wait_engines 4 || exit 1
cd "$T"
ids=($(spool workers | awk 'NR > 1 { print $1 }' | sort -n))
check_eq "4 live engines" 4 "${#ids[@]}"

# "TASK ENGINE STATE" per task of job $1, from collect --json.
engines_of() {
	spool collect --json "$1" 2>/dev/null | python3 -c '
import json, sys
for t in json.load(sys.stdin)["tasks"]:
    print(t["task"], t["engine"], t["state"])'
}
# Is every engine of job $1 (collected into file $2) one of the ids after it?
all_in() {
	local f=$1 e; shift
	for e in $(awk '{ print $2 }' "$f"); do
		case " $* " in *" $e "*) ;; *) return 1 ;; esac
	done
	test -s "$f"
}

# --- static: 8 items over 4 engines, two contiguous items each, in engine id order ---
j=$(spool map --schedule static -- sh -c 'echo $0' {} ::: a b c d e f g h)
spool collect "$j" >"$T/o" 2>/dev/null; rc=$?
check_eq "static map of 8 succeeds" 0 "$rc"
check_eq "static map output in input order" "a b c d e f g h" "$(echo $(cat "$T/o"))"
engines_of "$j" >"$T/st"
exp=$(for k in 0 1 2 3; do echo "$((2 * k + 1)) ${ids[k]} succeeded"; echo "$((2 * k + 2)) ${ids[k]} succeeded"; done)
check_eq "static: tasks 1-2, 3-4, 5-6, 7-8 on engines ${ids[*]}" "$exp" "$(cat "$T/st")"
# Uneven: 6 items over 4 engines still go in contiguous runs, every engine used, in order.
j=$(spool map --schedule static -- true ::: 1 2 3 4 5 6)
spool collect "$j" >/dev/null 2>&1
engines_of "$j" >"$T/st6"
check_eq "static 6 over 4: engines never decrease with the task number" \
	"$(awk '{ print $2 }' "$T/st6" | sort -n | tr '\n' ' ')" "$(awk '{ print $2 }' "$T/st6" | tr '\n' ' ')"
check_eq "static 6 over 4: all 4 engines get a chunk" 4 "$(awk '{ print $2 }' "$T/st6" | sort -u | wc -l)"
# Static with --targets: chunks over the chosen engines only.
j=$(spool map --schedule static --targets "${ids[1]},${ids[3]}" -- true ::: 1 2 3 4 5 6)
spool collect "$j" >/dev/null 2>&1
engines_of "$j" >"$T/st7"
exp=$(for k in 1 2 3; do echo "$k ${ids[1]} succeeded"; done; for k in 4 5 6; do echo "$k ${ids[3]} succeeded"; done)
check_eq "static --targets ${ids[1]},${ids[3]}: 3 contiguous items each" "$exp" "$(cat "$T/st7")"

# --- balanced: one slow and one fast engine (restricted with --targets) ---
slow=${ids[0]} fast=${ids[2]}
j=$(spool map --schedule balanced --targets "$slow,$fast" -- \
	sh -c 'if [ "$SPOOL_ENGINE" = "$0" ]; then sleep 0.5; else sleep 0.05; fi; echo $1' "$slow" {} ::: $(seq 20))
spool collect --timeout 120 "$j" >"$T/o" 2>/dev/null; rc=$?
check_eq "balanced map of 20 succeeds" 0 "$rc"
check_eq "balanced map output in input order" "$(echo $(seq 20))" "$(echo $(cat "$T/o"))"
engines_of "$j" >"$T/bal"
check "balanced --targets $slow,$fast: every task ran on one of them" all_in "$T/bal" "$slow" "$fast"
ns=$(awk -v e="$slow" '$2 == e' "$T/bal" | wc -l)
nf=$(awk -v e="$fast" '$2 == e' "$T/bal" | wc -l)
check "balanced: the fast engine ran clearly more ($nf) than the slow one ($ns)" test "$nf" -ge $((2 * ns)) -a "$ns" -ge 1
# The default schedule is balanced too.
j=$(spool map --targets "$slow,$fast" -- \
	sh -c 'if [ "$SPOOL_ENGINE" = "$0" ]; then sleep 0.5; else sleep 0.05; fi' "$slow" ::: $(seq 20))
spool collect --timeout 120 "$j" >/dev/null 2>&1
engines_of "$j" >"$T/bal2"
ns=$(awk -v e="$slow" '$2 == e' "$T/bal2" | wc -l)
nf=$(awk -v e="$fast" '$2 == e' "$T/bal2" | wc -l)
check "default schedule is balanced: fast $nf, slow $ns" test "$nf" -ge $((2 * ns)) -a "$ns" -ge 1 -a $((nf + ns)) -eq 20

# --- --targets on submit, map and apply ---
set2="${ids[1]} ${ids[2]}"
: >"$T/sub"
for k in $(seq 8); do
	j=$(spool submit --targets "${ids[1]},${ids[2]}" -- sh -c 'sleep 0.05; echo $SPOOL_ENGINE')
	echo "$j" >>"$T/subjobs"
done
for j in $(cat "$T/subjobs"); do
	spool collect "$j" >>"$T/subout" 2>/dev/null
	engines_of "$j" >>"$T/sub"
done
check_eq "8 submits with --targets all succeed" 8 "$(grep -c ' succeeded$' "$T/sub")"
check "submit --targets: every task ran on $set2" all_in "$T/sub" $set2
check_eq "submit --targets: \$SPOOL_ENGINE agrees with the reported engine" \
	"$(awk '{ print $2 }' "$T/sub" | tr '\n' ' ')" "$(cat "$T/subout" | tr '\n' ' ')"
j=$(spool map --targets "${ids[3]}" -- sh -c 'echo $SPOOL_ENGINE' ::: 1 2 3 4 5)
spool collect "$j" >"$T/o" 2>/dev/null
engines_of "$j" >"$T/m1"
check "map --targets ${ids[3]}: every task ran there" all_in "$T/m1" "${ids[3]}"
check_eq "map --targets ${ids[3]}: 5 tasks" 5 "$(wc -l <"$T/m1")"
j=$(spool apply --targets "${ids[3]},${ids[0]}" -- sh -c 'echo $SPOOL_ENGINE')
spool collect "$j" >"$T/o" 2>/dev/null
engines_of "$j" >"$T/ap"
check_eq "apply --targets ${ids[3]},${ids[0]}: one task per target, in engine id order" \
	"1 ${ids[0]} succeeded
2 ${ids[3]} succeeded" "$(cat "$T/ap")"
check_eq "apply --targets: output in engine id order" "${ids[0]} ${ids[3]}" "$(echo $(cat "$T/o"))"
j=$(spool apply --targets all -- true)
spool collect "$j" >/dev/null 2>&1
check_eq "apply --targets all: one task on each of the 4 engines" "${ids[*]}" \
	"$(echo $(engines_of "$j" | awk '{ print $2 }'))"

# --- bad --targets and --schedule are command-line errors (exit 2), and nothing is submitted ---
before=$(ls "$SPOOL_DIR/incoming" "$SPOOL_DIR/ctl/jobs" | grep -c '\.job$')
for args in "submit --targets abc -- true" "map --targets 0 -- true ::: 1" "apply --targets 3,3 -- true" \
	"push --targets x a=1" "pull --targets 1,,2 a" "map --schedule fast -- true ::: 1"; do
	spool $args >/dev/null 2>"$T/e"; rc=$?
	check_eq "spool $args exits 2" 2 "$rc"
	check "spool $args says what is wrong" grep -Eq -- "--(targets|schedule) wants" "$T/e"
done
check_eq "none of them submitted a job" "$before" "$(ls "$SPOOL_DIR/incoming" "$SPOOL_DIR/ctl/jobs" | grep -c '\.job$')"

# --- work aimed at one engine waits for that engine only; when it goes, the work fails ---
b=${ids[3]}
busy=$(spool submit --targets "$b" -- sleep 30)
one=$(spool submit --targets "$b" -- echo never)
onemap=$(spool map --targets "$b" -- echo never ::: 1 2)
for i in $(seq 250); do spool status "$busy" 2>/dev/null | grep -q ' running ' && break; sleep 0.02; done
sleep 0.3
check_eq "the submit and map aimed at busy engine $b wait (queued or prefetched, not started)" "waits waits waits" \
	"$( (spool status "$one"; spool status "$onemap") | awk '$1 ~ /^[12]$/ { print ($2 == "queued" || $2 == "assigned") ? "waits" : $2 }' | tr '\n' ' ' | sed 's/ $//')"
kill -TERM "$PB"; wait "$PB"
spool collect --timeout 120 "$one" >"$T/o" 2>"$T/e"; rc=$?
check_eq "when engine $b's worker stops, the submit aimed at it fails (collect exits 1)" 1 "$rc"
check "the reason says its engine is gone" grep -q "task 1: failed on nodeB: its engine is gone" "$T/e"
spool collect --timeout 120 "$onemap" >/dev/null 2>"$T/e"; rc=$?
check_eq "so do the map's tasks" "1 2" "$rc $(grep -c 'its engine is gone' "$T/e")"
