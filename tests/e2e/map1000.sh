#!/bin/bash
# map1000.sh - a map of 1,000 items on 2 engines, collected in input order.
# checks: 9
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2
wait_engines 2 || exit 1
cd "$T"

# Items that are not just their task numbers, so that order and substitution both show.
for i in $(seq 1000); do echo "item-$(( (i * 7919) % 10007 ))"; done >"$T/items"
awk '{ print NR " " $0 }' "$T/items" >"$T/expected"

j=$(spool map --input "$T/items" -- printf '%s %s\n' '{#}' '{}')
check "map of 1000 items submitted" test -n "$j"
spool collect "$j" >"$T/out" 2>"$T/err"; rc=$?
check_eq "collect exits 0" 0 "$rc"
check_eq "collect printed 1000 lines" 1000 "$(wc -l <"$T/out")"
if cmp -s "$T/expected" "$T/out"; then
	pass "collect output is every item in input order"
else
	fail "collect output differs from the input order:"; diff "$T/expected" "$T/out" | head -10
fi
check_eq "collect printed nothing on stderr" "" "$(cat "$T/err")"

spool status "$j" >"$T/st"
check_eq "status shows 1000 tasks succeeded" 1000 "$(awk '$2 == "succeeded"' "$T/st" | wc -l)"
check "status header says 1000 tasks, done" grep -q "^job $j .* 1000 tasks  done$" "$T/st"
check_eq "the tasks ran on both engines" 2 "$(awk '$2 == "succeeded" { print $4 }' "$T/st" | sort -u | wc -l)"
check_eq "spool status lists the job with 1000 succeeded" "1000 1000 0" \
	"$(spool status | awk -v j="$j" '$1 == j { print $5, $8, $9 }')" # TASKS OK FAIL
