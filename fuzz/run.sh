#!/bin/sh
# run.sh - run one libFuzzer target from its seeds; `make fuzz` calls it for each target.
#
#   sh fuzz/run.sh TARGET
#
# Environment (make fuzz passes its variables of the same names):
#   FUZZ_BUILD   where `make fuzz` built the fuzzers (FUZZ_BUILD/fuzz/fuzzer-TARGET); the corpus
#                the fuzzer grows goes to FUZZ_BUILD/corpus/TARGET, its log to FUZZ_BUILD/log/
#   FUZZ_TIME    seconds to run (default 60)
#   FUZZ_LEN     -max_len, the longest input tried (default 4096)
#   FUZZ_FLAGS   more libFuzzer flags (-jobs=..., -only_ascii=1, ...)
#   FUZZ_NICE    prefix for the fuzzer (default "nice -n 10": the tests may be running too)
#
# Reads fuzz/corpus/TARGET and fuzz/regress/TARGET but never writes there: new inputs stay in
# the build directory, to be merged into the seeds by hand when they are worth keeping. An input
# that crashes is saved in fuzz/crashes/TARGET/ and the run fails; once fixed, move it to
# fuzz/regress/TARGET/ so `make check` replays it for ever.
set -u
t=${1:?usage: sh fuzz/run.sh TARGET}
cd "$(dirname "$0")/.." || exit 2
b=${FUZZ_BUILD:-build/fuzz-clang}
bin=$b/fuzz/fuzzer-$t
time=${FUZZ_TIME:-60}
if [ ! -x "$bin" ]; then
	echo "fuzz: $bin is missing (make fuzz builds it)" >&2
	exit 2
fi
mkdir -p "$b/corpus/$t" "$b/log" "fuzz/crashes/$t" || exit 2
seeds=fuzz/corpus/$t
[ -d "fuzz/regress/$t" ] && seeds="$seeds fuzz/regress/$t"
dict=
[ -f "fuzz/dict/$t.dict" ] && dict=-dict=fuzz/dict/$t.dict
log=$b/log/$t.log
# Leaks inside libconfig itself are known and not ours (fuzz/lsan.supp says which).
LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
echo "fuzz: $t for $time s from $seeds (log: $log)"
# -timeout: an input taking 10 s is a hang; the parsers take microseconds.
# shellcheck disable=SC2086
${FUZZ_NICE-nice -n 10} "$bin" -max_total_time="$time" -max_len="${FUZZ_LEN:-4096}" -timeout=10 \
	-print_final_stats=1 $dict -artifact_prefix="fuzz/crashes/$t/" ${FUZZ_FLAGS:-} \
	"$b/corpus/$t" $seeds >"$log" 2>&1
rc=$?
last=$(grep -E '^#[0-9]+' "$log" | tail -1)
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
echo "fuzz: $t: ${runs:-?} runs; last status: ${last:-none}"
if [ $rc -ne 0 ]; then
	echo "fuzz: $t FAILED (exit $rc); the input is in fuzz/crashes/$t/:"
	ls -t "fuzz/crashes/$t" | head -3 | sed "s#^#    fuzz/crashes/$t/#"
	grep -n -m1 -E 'ERROR: |runtime error|deadly signal|fuzz check failed|ALARM|out-of-memory' "$log" | cut -d: -f1 |
		while read -r n; do sed -n "$((n > 5 ? n - 5 : 1)),$((n + 40))p" "$log"; done
	exit 1
fi
