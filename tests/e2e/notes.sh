#!/bin/bash
# notes.sh - the examples of the IPython-parallel notes (issue 3) with real engines: two
# workers ("nodes") of two engines each. apply runs once per engine and prints in engine id
# order, map keeps the input order under both schedules, and push/apply/pull keep a counter
# per engine that never appears in the submitter's own environment.
# checks: 18
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
# nodeA's engines are registered before nodeB starts: the checks below expect them to hold ids
# 1 and 2, and two workers started together register in whichever order their hellos arrive
# (under load, nodeB's first).
start_worker 2 nodeA
wait_engines 2 || exit 1
start_worker 2 nodeB
wait_engines 4 || exit 1
cd "$T"

# c.ids: four engines, two per node; their ids in order.
ids=$(spool workers | awk 'NR > 1 { print $1 }' | sort -n | tr '\n' ' ')
check_eq "spool workers lists 4 engines" 4 "$(echo $ids | wc -w)"
check_eq "two engines per node" "nodeA nodeA nodeB nodeB" \
	"$(spool workers | awk 'NR > 1 { print $1, $2 }' | sort -n | awk '{ print $2 }' | tr '\n' ' ' | sed 's/ $//')"

# dview.apply_sync(get_hostname): one line per engine, in engine id order.
out=$(spool apply --wait -- sh -c 'echo $SPOOL_NODE' 2>"$T/e"); rc=$?
check_eq "apply --wait exits 0" 0 "$rc"
check_eq "apply prints one node per engine, in engine id order" "nodeA
nodeA
nodeB
nodeB" "$out"
out=$(spool apply --wait --tag -- sh -c 'echo $SPOOL_ENGINE' 2>/dev/null)
exp=$(for i in $ids; do n=$(spool workers | awk -v i="$i" '$1 == i { print $2 }'); echo "[$i $n] $i"; done)
check_eq "apply --tag prefixes each line with [ENGINE NODE], in engine id order" "$exp" "$out"

# dview.apply_sync(get_average, [2, 3, 5, 7, 9])
out=$(spool apply --wait -- sh -c 'echo "$@" | awk "{ s = 0; for (i = 1; i <= NF; i++) s += \$i; print s / NF }"' avg 2 3 5 7 9 2>/dev/null)
check_eq "the average of 2 3 5 7 9 on every engine" "5.2 5.2 5.2 5.2" "$(echo $out)"

# dview.map(get_squared, [2, 3, 5, 7, 9], block=True), both schedules.
for s in balanced static; do
	out=$(spool map --wait --schedule $s -- sh -c 'echo $(( $0 * $0 ))' {} ::: 2 3 5 7 9 2>/dev/null); rc=$?
	check_eq "map --schedule $s of squares in input order" "4 9 25 49 81" "$(echo $out)"
	check_eq "map --schedule $s exits 0" 0 "$rc"
done

# push(dict(counter=0)); apply_sync(increment); pull('counter', block=True)
spool push --wait counter=0 >"$T/o" 2>"$T/e"; rc=$?
check_eq "push --wait counter=0 exits 0" 0 "$rc"
out=$(spool apply --wait -- sh -c 'c=$((counter + 1)); echo "counter=$c" >"$SPOOL_VARS"; echo $c' 2>/dev/null)
check_eq "apply(increment) prints 1 on every engine" "1 1 1 1" "$(echo $out)"
out=$(spool pull --wait counter 2>"$T/e"); rc=$?
check_eq "pull --wait counter prints 1 for each of the 4 engines" "1
1
1
1" "$out"
check_eq "pull --wait exits 0" 0 "$rc"
# "print i" in the notes: the submitter's side is untouched; the values live on the engines.
check_eq "the submitter's environment has no counter" "" "$(env | grep '^counter=')"
# A second round sees the first one's value: the counter lives on the engines.
spool apply --wait -- sh -c 'echo "counter=$((counter + 1))" >"$SPOOL_VARS"' >/dev/null 2>&1
out=$(spool pull --wait --tag counter 2>/dev/null)
exp=$(for i in $ids; do n=$(spool workers | awk -v i="$i" '$1 == i { print $2 }'); echo "[$i $n] 2"; done)
check_eq "after a second increment pull --tag prints 2 per engine" "$exp" "$out"
# A plain submit from this shell does not carry the counter in from the submitter: the
# engine's value is what the task sees.
out=$(spool submit --wait -- sh -c 'echo "$counter"' 2>/dev/null)
check_eq "a plain task sees the engine's counter" 2 "$out"
check_eq "each engine's counter is stored in vars/NODE.SLOT" "nodeA.0 nodeA.1 nodeB.0 nodeB.1" \
	"$(cd "$SPOOL_DIR/vars" && grep -lx 'var counter=2' * | sort | tr '\n' ' ' | sed 's/ $//')"
