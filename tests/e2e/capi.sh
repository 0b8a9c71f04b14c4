#!/bin/bash
# capi.sh - the README's C example built against the installed header and library, run on
# real engines: the notes' walkthrough through include/spool.h.
# checks: 4
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")/../.." && pwd)
make -s -C "$here" install PREFIX="$T/prefix" >/dev/null 2>"$T/install.log" ||
	{ fail "make install"; cat "$T/install.log"; exit 1; }
check "header and library installed" test -f "$T/prefix/include/spool.h" -a -f "$T/prefix/lib/libspool.a"
cc -std=c17 -Wall -Wextra -Werror -I"$T/prefix/include" -o "$T/notes" "$here/examples/notes.c" \
	-L"$T/prefix/lib" -lspool -lconfig -lsodium 2>"$T/cc.log" || { fail "examples/notes.c builds against the install"; cat "$T/cc.log"; exit 1; }
pass "examples/notes.c builds against the installed spool.h and libspool.a"
make_spool
start_spoold
start_worker 2 nodeA
start_worker 2 nodeB
wait_engines 4 || exit 1
cd "$T"
"$T/notes" >"$T/out" 2>"$T/err"; rc=$?
check_eq "notes example exits 0" 0 "$rc"
h=$(hostname)
expect="c.ids: 1 2 3 4
dview.apply_sync(get_hostname):
$h
$h
$h
$h
dview.apply_sync(get_average):
5.2
5.2
5.2
5.2
dview.map(get_squared, [2, 3, 5, 7, 9]):
4
9
25
49
81
increment on every engine
dview.pull('counter'):
1
1
1
1"
check_eq "notes example prints the walkthrough's results" "$expect" "$(cat "$T/out")"
if [ -s "$T/err" ]; then echo "stderr of the example:"; cat "$T/err"; fi
exit 0
