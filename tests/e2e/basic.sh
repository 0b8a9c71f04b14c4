#!/bin/bash
# basic.sh - submit, map and collect through real spoold and spool-worker processes.
# checks: 11
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2
wait_engines 2 || exit 1
cd "$T"

out=$(spool submit --wait -- hostname 2>/dev/null)
check_eq "submit --wait prints the engine's hostname" "$(hostname)" "$out"

out=$(spool map --wait -- sh -c 'echo $(( {} * {} ))' ::: 2 3 5 7 9 2>/dev/null | tr '\n' ' ')
check_eq "map of squares in input order" "4 9 25 49 81 " "$out"

j=$(spool submit -- sh -c 'echo out; echo err >&2; exit 3')
spool collect "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "collect exits 1 when a task exits 3" 1 "$rc"
check_eq "collect prints the failing task's stdout" "out" "$(cat "$T/o")"
check "collect summary names exit status 3" grep -q "task 1: exited with status 3" "$T/e"
check "stdout file written beside the data" test -f "$T/spool-$j/1.1.out"
check "result record written beside the data" grep -q '^exit 3$' "$T/spool-$j/1.1.res"

# A job aimed at an engine that does not exist fails at once, and --follow says it never ran.
j=$(spool submit --targets 999 -- true)
spool collect --follow "$j" >"$T/f" 2>"$T/fe"; rc=$?
check_eq "a job whose targets are all dead fails (collect exit 1)" 1 "$rc"
check "collect --follow labels a task that never ran" grep -q "^==> task 1 (never ran): failed <==$" "$T/f"
check "the summary says why" grep -q "none of its target engines is alive" "$T/fe"

# A task inherits stdin, stdout and stderr from the worker, and no other descriptor (the worker
# here is started with the test's own descriptors open, like one started from a shell).
check_eq "a task has no descriptor open above 2" "open: []" \
	"$(spool submit --wait -- python3 -c '
import os
def is_open(f):
    try:
        os.fstat(f)
        return True
    except OSError:
        return False
listed = [int(f) for f in os.listdir("/proc/self/fd")]  # includes the listing'"'"'s own, closed since
print("open:", [f for f in sorted(listed) if f > 2 and is_open(f)])' 2>/dev/null)"
