#!/bin/sh
# run.sh - run every test: the C unit tests, then the end-to-end scripts in tests/e2e/.
# Each test prints "PASS: ..." or "FAIL: ..." lines (SKIP: for an area that cannot run here,
# with the reason); the last line is "N passed, N failed, N skipped". Exit 1 on any failure.
# A script that times out, is killed, exits non-zero, prints no check, or prints fewer checks
# than its "# checks: N" header declares counts as a failure naming it; so does a missing
# unit-test binary. See tests/README.md for the headers and the skip policy.
#   SPOOL_BIN   directory of the programs (default: ./bin)
#   UNIT_DIR    directory of the unit test binaries (default: ./build/tests)
#   SPOOL_VALGRIND=1   run unit tests and the programs under valgrind
#   SPOOL_TEST_NO_SKIP=1   every SKIP is a FAIL (CI: root, FUSE available), except those named
#                          in SPOOL_TEST_ALLOW_SKIP (space-separated "script" or "script:text")
#   SPOOL_TEST_DEADLINE=N  default per-script deadline in seconds (600); a script's
#                          "# deadline: N" header overrides it; SPOOL_TEST_DEADLINE_SCALE=K
#                          multiplies every deadline (valgrind, sanitizers)
#   TESTS="pattern"    only e2e scripts whose name matches
here=$(cd "$(dirname "$0")/.." && pwd)
export SPOOL_BIN="${SPOOL_BIN:-$here/bin}"
UNIT_DIR="${UNIT_DIR:-$here/build/tests}"
DEADLINE="${SPOOL_TEST_DEADLINE:-600}"
SCALE="${SPOOL_TEST_DEADLINE_SCALE:-1}"
[ -n "$SPOOL_VALGRIND" ] && [ "$SCALE" = 1 ] && SCALE=3
out=$(mktemp -d /tmp/spool-tests.XXXXXX)
status=0
vg=""
[ -n "$SPOOL_VALGRIND" ] && vg="valgrind -q --error-exitcode=99 --leak-check=full --suppressions=$here/tests/valgrind.supp"
ran=0

# header FILE NAME: the value of a "# NAME: N" line in the first 30 lines of a script.
header() {
	head -30 "$1" 2>/dev/null | sed -n "s/^# *$2: *\([0-9][0-9]*\).*/\1/p" | head -1
}

# note NAME TEXT: a failure found by the runner, counted like a test's own.
note() {
	echo "FAIL: $1: $2"
	echo "FAIL: $1: $2" >>"$out/$1.log"
}

# Is this SKIP line allowed under SPOOL_TEST_NO_SKIP? (a script name, or "script:text" with
# text found in the line)
skip_allowed() { # NAME LINE
	for a in $SPOOL_TEST_ALLOW_SKIP; do
		case "$a" in
		*:*) [ "${a%%:*}" = "$1" ] && case "$2" in *"${a#*:}"*) return 0 ;; esac ;;
		*) [ "$a" = "$1" ] && return 0 ;;
		esac
	done
	return 1
}

run_one() { # name, script-or-binary (for its headers), command...
	name=$1; src=$2; shift 2
	ran=$((ran + 1))
	d=$(header "$src" deadline); d=${d:-$DEADLINE}; d=$((d * SCALE))
	min=$(header "$src" checks)
	start=$(date +%s)
	# timeout makes itself a process-group leader and signals the whole group: the script's
	# spoold, workers and tasks die with it (SIGKILL 15 s after the SIGTERM if they linger).
	timeout --kill-after=15 "$d" "$@" >"$out/$name.log" 2>&1 </dev/null
	rc=$?
	grep -E '^(PASS|FAIL|SKIP): ' "$out/$name.log"
	took=$(( $(date +%s) - start ))
	checks=$(grep -c -E '^(PASS|FAIL): ' "$out/$name.log")
	skips=$(grep -c '^SKIP: ' "$out/$name.log")
	if [ $rc -eq 124 ] || { [ $rc -eq 137 ] && [ "$took" -ge "$d" ]; }; then
		note "$name" "did not finish within its deadline of ${d} s (killed; raise '# deadline: N' only if it is really that slow)"
	elif [ $rc -gt 128 ]; then
		note "$name" "killed by signal $((rc - 128)) (exit $rc)"
	elif [ $rc -ne 0 ]; then
		grep -q '^FAIL: ' "$out/$name.log" || note "$name" "exited with status $rc without reporting a failure"
	fi
	if [ "$checks" -eq 0 ] && [ "$skips" -eq 0 ]; then
		note "$name" "printed no check"
	elif [ -n "$min" ] && [ "$skips" -eq 0 ] && [ "$checks" -lt "$min" ]; then
		note "$name" "printed $checks checks, fewer than the $min its '# checks:' header declares (it stopped early?)"
	fi
	if [ -n "$SPOOL_TEST_NO_SKIP" ] && [ "$skips" -gt 0 ]; then
		grep '^SKIP: ' "$out/$name.log" | while IFS= read -r l; do
			skip_allowed "$name" "$l" || note "$name" "skipped under SPOOL_TEST_NO_SKIP=1 (CI must run every area): ${l#SKIP: }"
		done
	fi
	if grep -q '^FAIL: ' "$out/$name.log"; then
		echo "--- log of $name (last 40 lines):"
		grep -v -E '^(PASS|SKIP): ' "$out/$name.log" | tail -40 | sed 's/^/    /'
	fi
	echo "# $name took ${took}s (deadline ${d}s)" >&2
}

if [ -z "$TESTS" ]; then
	# Every unit test with a source must have been built: a missing binary is a failure.
	for src in "$here"/tests/unit/test_*.c "$here"/tests/queue/test_*.c; do
		[ -f "$src" ] || continue
		n=$(basename "$src" .c)
		if [ -x "$UNIT_DIR/$n" ]; then
			run_one "$n" "$src" $vg "$UNIT_DIR/$n"
		else
			ran=$((ran + 1))
			note "$n" "unit-test binary $UNIT_DIR/$n is missing (run make all)"
		fi
	done
fi
for t in "$here"/tests/e2e/*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh)
	if [ -n "$TESTS" ]; then case "$n" in *$TESTS*) ;; *) continue ;; esac; fi
	run_one "$n" "$t" bash "$t"
done
[ "$ran" -gt 0 ] || note run "no test matched TESTS='$TESTS'"
pass=$(cat "$out"/*.log 2>/dev/null | grep -c '^PASS: ')
fail=$(cat "$out"/*.log 2>/dev/null | grep -c '^FAIL: ')
skip=$(cat "$out"/*.log 2>/dev/null | grep -c '^SKIP: ')
if [ "$skip" -gt 0 ]; then
	echo "skipped (the environment lacks what they need):"
	cat "$out"/*.log | grep '^SKIP: ' | sed 's/^SKIP: /    /'
fi
if [ "$fail" -gt 0 ]; then
	echo "failed scripts: $(grep -l '^FAIL: ' "$out"/*.log | sed 's|.*/||; s|\.log$||' | tr '\n' ' ')"
fi
rm -rf "$out"
[ "$fail" -eq 0 ] || status=1
[ "$pass" -gt 0 ] || status=1
echo "$pass passed, $fail failed, $skip skipped"
exit $status
