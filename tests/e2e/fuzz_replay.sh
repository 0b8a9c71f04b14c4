#!/bin/bash
# fuzz_replay.sh - every fuzz target (fuzz/fuzz_NAME.c) run, without clang or libFuzzer, over its
# seed corpus (fuzz/corpus/NAME) and every input that once made it fail (fuzz/regress/NAME), so a
# parser bug found by `make fuzz` stays fixed. The replay programs are built by `make` beside the
# unit tests: BUILD/fuzz/replay-NAME (UNIT_DIR/../fuzz, as tests/run.sh finds the unit tests).
# checks: 8
. "$(dirname "$0")/../lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
bindir=$(dirname "${UNIT_DIR:-$root/build/tests}")/fuzz
# A leak inside libconfig itself is known and not spool's (fuzz/lsan.supp): an ASan build
# (make sanitize) or valgrind (make valgrind) would otherwise report it.
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
vg=${VG:+$VG --suppressions=$root/fuzz/valgrind.supp}

for src in "$root"/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	t=${t#fuzz_}
	bin=$bindir/replay-$t
	if [ ! -x "$bin" ]; then
		fail "$t: no replay program $bin (make builds it; is $t in FUZZ_TARGETS in GNUmakefile?)"
		continue
	fi
	nseed=$(find "$root/fuzz/corpus/$t" -type f 2>/dev/null | wc -l)
	if [ "$nseed" -eq 0 ]; then
		fail "$t: no seed inputs in fuzz/corpus/$t"
		continue
	fi
	dirs=("$root/fuzz/corpus/$t")
	nreg=0
	if [ -d "$root/fuzz/regress/$t" ]; then
		dirs+=("$root/fuzz/regress/$t")
		nreg=$(find "$root/fuzz/regress/$t" -type f | wc -l)
	fi
	$vg "$bin" "${dirs[@]}" >"$T/replay-$t.log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		pass "$t: $nseed seed and $nreg regression inputs replayed"
	else
		# The input being replayed when it stopped is the last one it named.
		last=$(grep '^replay: ' "$T/replay-$t.log" | tail -1 | sed 's/^replay: //; s/ ([0-9]* bytes)$//')
		fail "$t: exit $rc on ${last#"$root"/}; reproduce with: $bin ${last#"$root"/}"
		grep -v '^replay: ' "$T/replay-$t.log" | tail -30
	fi
done
