#!/bin/bash
# walkthrough.sh - `make demo`'s walkthrough (tests/demo.sh) runs end to end, shell and Python, and
# keeps the results it points the user to (it used to delete them on exit).
# checks: 6
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$SPOOL_BIN:$PATH" timeout 600 sh "$here/tests/demo.sh" >"$T/demo.out" 2>&1
check_eq "tests/demo.sh exits 0" 0 "$?"
d=$(sed -n 's/.*stay in \(\/tmp\/spool-demo\.[A-Za-z0-9]*\):.*/\1/p' "$T/demo.out" | head -1)
check "it names the directory it keeps ($d)" test -n "$d"
check "the shell jobs' results are there, as it says" sh -c "ls '$d'/data/spool-*/1.1.out >/dev/null"
check "the Python calls' results are there, as it says" sh -c "ls '$d'/data/spool-python/*/*.ret >/dev/null"
check "the shell walkthrough printed the squares in order" \
	sh -c "tr '\n' ' ' <'$T/demo.out' | grep -q '4 9 25 49 81'"
check "the Python cells printed the notes' results" \
	sh -c "grep -q 'dview.map(get_squared, \[2, 3, 5, 7, 9\]): \[4, 9, 25, 49, 81\]' '$T/demo.out' &&
		grep -q \"dview.pull('counter'): \[1, 1\]\" '$T/demo.out'"
[ -n "$d" ] && case "$d" in /tmp/spool-demo.*) rm -rf "$d" ;; esac
