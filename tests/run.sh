#!/bin/sh
# run.sh - run every test: the C unit tests, then the end-to-end scripts in tests/e2e/.
# Each test prints "PASS: ..." or "FAIL: ..." lines (SKIP: for checks that cannot run here,
# with the reason); the last line is "N passed, N failed, N skipped". Exit 1 on any failure.
#   SPOOL_BIN   directory of the programs (default: ./bin)
#   UNIT_DIR    directory of the unit test binaries (default: ./build/tests)
#   SPOOL_VALGRIND=1   run unit tests and the programs under valgrind
#   TESTS="pattern"    only e2e scripts whose name matches
here=$(cd "$(dirname "$0")/.." && pwd)
export SPOOL_BIN="${SPOOL_BIN:-$here/bin}"
UNIT_DIR="${UNIT_DIR:-$here/build/tests}"
out=$(mktemp -d /tmp/spool-tests.XXXXXX)
status=0
vg=""
[ -n "$SPOOL_VALGRIND" ] && vg="valgrind -q --error-exitcode=99 --leak-check=full"

run_one() { # name, command...
	name=$1; shift
	start=$(date +%s)
	"$@" >"$out/$name.log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP): ' "$out/$name.log"
	if [ $rc -ne 0 ] && ! grep -q '^FAIL: ' "$out/$name.log"; then
		echo "FAIL: $name: exited with status $rc without reporting a failure; its log:"
		sed 's/^/    /' "$out/$name.log" | tail -30
		echo "FAIL: $name: exit $rc" >>"$out/$name.log"
	fi
	if grep -q '^FAIL: ' "$out/$name.log"; then
		echo "--- log of $name (last 40 lines):"
		grep -v -E '^(PASS|SKIP): ' "$out/$name.log" | tail -40 | sed 's/^/    /'
	fi
	echo "# $name took $(( $(date +%s) - start ))s" >&2
}

for t in "$UNIT_DIR"/test_*; do
	[ -x "$t" ] || continue
	[ -n "$TESTS" ] && continue
	run_one "$(basename "$t")" $vg "$t"
done
for t in "$here"/tests/e2e/*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh)
	if [ -n "$TESTS" ]; then case "$n" in *$TESTS*) ;; *) continue ;; esac; fi
	run_one "$n" bash "$t"
done
pass=$(cat "$out"/*.log 2>/dev/null | grep -c '^PASS: ')
fail=$(cat "$out"/*.log 2>/dev/null | grep -c '^FAIL: ')
skip=$(cat "$out"/*.log 2>/dev/null | grep -c '^SKIP: ')
rm -rf "$out"
[ "$fail" -eq 0 ] || status=1
[ "$pass" -gt 0 ] || status=1
echo "$pass passed, $fail failed, $skip skipped"
exit $status
