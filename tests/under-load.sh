#!/bin/sh
# under-load.sh - `make check-under-load`: two copies of the suite at the same time, each from
# its own clean copy of the tree (git archive of HEAD), beside a CPU hog (stress-ng --cpu 2).
# Fails unless both end with "0 failed". Timing-dependent checks show up here.
#   UNDER_LOAD_REF=ref   what to test (default HEAD; uncommitted changes are NOT included)
#   UNDER_LOAD_KEEP=1    keep the two trees and their logs even when both pass
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
ref=${UNDER_LOAD_REF:-HEAD}
W=$(mktemp -d /tmp/spool-under-load.XXXXXX)
chmod 755 "$W" # the tests run programs of the tree as other users (multiuser.sh, escaping.sh)
# The simulated nodes' script lives beside the project, not in it: point the copies at ours.
FAKE_NODES=${FAKE_NODES:-$(cd "$here/.." && pwd)/shared/tools/fake-nodes.sh}
export FAKE_NODES
echo "under-load: testing $(git -C "$here" rev-parse --short "$ref") in $W/a and $W/b" >&2

for c in a b; do
	mkdir -p "$W/$c"
	git -C "$here" archive "$ref" | tar -x -C "$W/$c" || { echo "under-load: git archive $ref failed" >&2; exit 1; }
	make -C "$W/$c" --no-print-directory all >"$W/$c.build" 2>&1 ||
		{ echo "under-load: building copy $c failed (see $W/$c.build)" >&2; tail -20 "$W/$c.build" >&2; exit 1; }
done

# The hog gets its own deadline too, and is stopped by its pid when the suites end.
stress-ng --cpu 2 --timeout 3h --quiet >"$W/stress.log" 2>&1 &
hog=$!
trap 'kill "$hog" 2>/dev/null; wait "$hog" 2>/dev/null' EXIT
start=$(date +%s)
(cd "$W/a" && sh tests/run.sh >"$W/a.out" 2>"$W/a.err"; echo $? >"$W/a.rc") &
pa=$!
(cd "$W/b" && sh tests/run.sh >"$W/b.out" 2>"$W/b.err"; echo $? >"$W/b.rc") &
pb=$!
wait "$pa" "$pb"
kill "$hog" 2>/dev/null
echo "under-load: both suites took $(( $(date +%s) - start )) s beside stress-ng --cpu 2" >&2

ok=1
for c in a b; do
	last=$(tail -1 "$W/$c.out")
	echo "copy $c: $last (exit $(cat "$W/$c.rc" 2>/dev/null))"
	case "$last" in
	*" passed, 0 failed, "*" skipped") [ "$(cat "$W/$c.rc")" = 0 ] || ok=0 ;;
	*) ok=0 ;;
	esac
	if grep -q '^FAIL: ' "$W/$c.out"; then
		grep '^FAIL: ' "$W/$c.out" | sed "s/^/  copy $c: /"
	fi
	sed -n '/^skipped/,/^[0-9]* passed/p' "$W/$c.out" | grep '^    ' | sed "s/^/  copy $c skipped: /"
done
if [ $ok = 1 ] && [ -z "${UNDER_LOAD_KEEP:-}" ]; then
	rm -rf "$W"
	echo "under-load: both copies passed"
	exit 0
fi
echo "under-load: logs kept in $W (a.out, a.err, b.out, b.err)"
[ $ok = 1 ]
