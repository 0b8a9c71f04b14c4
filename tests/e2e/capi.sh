#!/bin/bash
# capi.sh - the README's C example built against the installed header and library, run on
# real engines: the notes' walkthrough through include/spool.h.
# checks: 7
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")/../.." && pwd)
make -s -C "$here" install PREFIX="$T/prefix" >/dev/null 2>"$T/install.log" ||
	{ fail "make install"; cat "$T/install.log"; exit 1; }
check "header and libraries installed" test -f "$T/prefix/include/spool.h" -a -f "$T/prefix/lib/libspool.a" \
	-a -L "$T/prefix/lib/libspool.so" -a -f "$T/prefix/lib/libspool.so.0"
export PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig"
# shellcheck disable=SC2046 # pkg-config's words are meant to split
cc -std=c17 -Wall -Wextra -Werror $(pkg-config --cflags spool) -o "$T/notes" "$here/examples/notes.c" \
	$(pkg-config --libs spool) -Wl,-rpath,"$T/prefix/lib" 2>"$T/cc.log" ||
	{ fail "examples/notes.c builds against the install"; cat "$T/cc.log"; exit 1; }
pass "examples/notes.c builds with pkg-config against the installed spool.h and libspool.so"
# The shared library exports the API alone: a program may name a function like an internal one.
printf '#include <spool.h>\nvoid log_info(const char *f, ...) { (void)f; }\nint rec_parse(void) { return 0; }\n%s\n' \
	'int main(void) { log_info("x"); return spool_exit_code(-SPOOL_ERR_NO_JOB) == SPOOL_EXIT_NO_JOB ? rec_parse() : 1; }' >"$T/clash.c"
# shellcheck disable=SC2046
cc -std=c17 $(pkg-config --cflags spool) -o "$T/clash" "$T/clash.c" $(pkg-config --libs spool) -Wl,-rpath,"$T/prefix/lib" 2>"$T/cc2.log" &&
	"$T/clash"
check_eq "a program defining log_info and rec_parse links with libspool.so and runs" 0 "$?"
# python/spool/_lib.py mirrors struct spool_job_spec by ctypes: its last field (mem) must sit where
# the C compiler puts it, and the sizes agree (a field appended on one side only would not).
printf '#include <stddef.h>\n#include <stdio.h>\n#include <spool.h>\n%s\n' \
	'int main(void) { printf("%zu %zu\n", offsetof(struct spool_job_spec, mem), sizeof(struct spool_job_spec)); return 0; }' >"$T/layout.c"
# shellcheck disable=SC2046
cc -std=c17 $(pkg-config --cflags spool) -o "$T/layout" "$T/layout.c" 2>"$T/cc3.log"
check_eq "the Python JobSpec mirrors struct spool_job_spec (offset of mem, size)" "$("$T/layout" 2>&1)" \
	"$(PYTHONPATH="$here/python" python3 -c 'import ctypes; from spool._lib import JobSpec; print(JobSpec.mem.offset, ctypes.sizeof(JobSpec))' 2>&1)"
bad=$(nm -D --defined-only "$T/prefix/lib/libspool.so.0" | awk '$2 != "A" && $3 !~ /^spool_/ {print $3}')
check_eq "libspool.so exports only spool_* symbols" "" "$bad"
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
