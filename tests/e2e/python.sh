#!/bin/bash
# python.sh - the Python package (python/spool, issue 12) with pytest against real spoold and
# spool-worker processes: python/tests makes its own personal spools (spool init, spoold -f,
# spool-worker -f -n 2) under $T. Each pytest test is one PASS/FAIL line here; a SKIP is printed
# as a SKIP (only numpy's test may skip, when numpy is not installed).
# deadline: 900
# checks: 51
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")/../.." && pwd)

# The interpreter: the first python3 that has pytest and cloudpickle (make check installs
# python3-pytest and python3-cloudpickle for /usr/bin/python3).
PY=""
for p in ${SPOOL_TEST_PYTHON:-} python3 /usr/bin/python3; do
	command -v "$p" >/dev/null 2>&1 || continue
	if "$p" -c 'import pytest, cloudpickle' 2>/dev/null; then PY=$(command -v "$p"); break; fi
done
if [ -z "$PY" ]; then
	fail "no python3 with pytest and cloudpickle (apt-get install python3-pytest python3-cloudpickle)"
	exit 1
fi

# The client library: an uninstrumented build/libspool.so even when the programs under test are a
# sanitizer build (an ASan library cannot be loaded into an uninstrumented python3).
LIB=${SPOOL_LIBRARY:-$here/build/libspool.so}
if [ ! -e "$LIB" ]; then
	make -s -C "$here" build/libspool.so >"$T/make-lib.log" 2>&1 || { fail "make build/libspool.so"; cat "$T/make-lib.log"; exit 1; }
fi
cd "$here"
PYTHONPATH="$here/python" SPOOL_BIN="$SPOOL_BIN" SPOOL_LIBRARY="$LIB" \
	timeout --kill-after=15 840 "$PY" -m pytest -q -rA -p no:cacheprovider --basetemp="$T/pytest" \
	python/tests >"$T/pytest.out" 2>&1
rc=$?
# pytest's short summary (-rA): "PASSED file::test", "FAILED file::test - why", "SKIPPED [1] ...: why"
n=0
while IFS= read -r line; do
	case "$line" in
	PASSED\ *) pass "${line#PASSED }"; n=$((n + 1)) ;;
	FAILED\ *) fail "${line#FAILED }"; n=$((n + 1)) ;;
	ERROR\ *) fail "${line#ERROR }"; n=$((n + 1)) ;;
	SKIPPED\ *) skip "${line#SKIPPED }" ;;
	esac
done <"$T/pytest.out"
if [ "$rc" -ne 0 ]; then
	fail "pytest exited $rc; its output:"
	sed -n '/= FAILURES =\|= ERRORS =/,$p' "$T/pytest.out" | head -300 | sed 's/^/#   /'
	[ "$n" -gt 0 ] || tail -40 "$T/pytest.out" | sed 's/^/#   /'
fi
[ "$rc" -eq 0 ]
