#!/bin/bash
# scale.sh - a map of 200,000 tasks: accepted without the controller's memory growing with it,
# `spool status` of the job reads its summary only (never its tasks), the queue runs from the
# front, and after a cancel every task has exactly one end and every run exactly one result.
# Figures (how fast, how much) are the benchmarks' business (make bench-scale), not this test's:
# it checks what must hold whatever the machine's load.
# checks: 13
# deadline: 900
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
N=200000
RUN=1500
cd "$T"
seq $N >"$T/items"
j=$(spool map --input "$T/items" -- sh -c 'echo "$0"' '{}')
check "map of $N items submitted" test -n "$j"
summary() { spool status --json "$j" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], d["ntasks"], *(d["counts"][k] for k in ("queued", "succeeded", "cancelled")))'; }
wait_until "the controller accepts the $N-task job" 600 sh -c "spool status $j 2>/dev/null | grep -q '^job $j .* $N tasks  active$'"
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$SPOOLD_PID/status"; }
check_memory() { # DESCRIPTION: spoold's peak RSS under 64 MiB (a sanitizer's shadow memory is not spoold's)
	# (make sanitize allows this skip by its tag, sanitizer-build; make check measures it.)
	if sanitized; then skip "$1: not measured on a sanitizer-build (its shadow memory and quarantine are not spoold's)"; return; fi
	if valgrinded; then skip "$1: not measured under valgrind (its shadow memory is not spoold's)"; return; fi
	check "$1 ($(hwm) kB)" test "$(hwm)" -lt 65536
}
check_memory "spoold's peak memory after accepting $N tasks is under 64 MiB"
# The summary alone: status opens no chunk of the job's tasks and reads a few KiB.
ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=openat,read -o "$T/status.strace" "$SPOOL_BIN/spool" status "$j" >"$T/st" 2>&1
check "status of the job shows its counts" grep -q "^tasks: $N queued$" "$T/st"
check "  ... and opens none of its task chunks" sh -c "! grep -q '$j\\.tasks\\.' '$T/status.strace'"
check "  ... and the summary it reads is small ($(stat -c %s "$SPOOL_DIR/ctl/jobs/$j.state") bytes)" \
	test "$(stat -c %s "$SPOOL_DIR/ctl/jobs/$j.state")" -lt 4096
check_eq "no chunk is written for tasks never assigned" 0 "$(ls "$SPOOL_DIR/ctl/jobs" | grep -c "^$j\\.tasks\\.")"
# Engines come after the job: the queue runs from its front.
start_worker 2
wait_engines 2 || exit 1
wait_until "$RUN tasks succeed" 600 sh -c "[ \"\$(spool status --json $j 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"counts\"][\"succeeded\"])')\" -ge $RUN ]"
spool cancel "$j" >/dev/null
wait_until "the job is done after the cancel" 300 sh -c "spool status $j 2>/dev/null | grep -q '^job $j .* $N tasks  done$'"
read -r state ntasks queued succeeded cancelled <<<"$(summary)"
check_eq "after the cancel: done, $N tasks, none queued" "done $N 0" "$state $ntasks $queued"
check_eq "every task ended exactly once: succeeded + cancelled = $N" $N $((succeeded + cancelled))
check "at least $RUN succeeded ($succeeded)" test "$succeeded" -ge $RUN
# collect --json lists every task once; each succeeded one printed its own item, once.
spool collect --json "$j" >"$T/c.json" 2>/dev/null
python3 - "$T/c.json" "$N" "$T/spool-$j" >"$T/verdict" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1])); n = int(sys.argv[2]); out = sys.argv[3]
tasks = d["tasks"]
assert [t["task"] for t in tasks] == list(range(1, n + 1)), "task numbers"
bad = 0
for t in tasks:
    if t["state"] == "succeeded":
        if open(t["stdout"]).read() != "%d\n" % t["task"]:
            bad += 1
res = sorted(f for f in os.listdir(out) if f.endswith(".res"))
ok = sorted("%d.%d.res" % (t["task"], t["attempt"]) for t in tasks if t["state"] == "succeeded")
extra = set(res) - set(ok)
print("ok" if bad == 0 else "bad outputs %d" % bad)
print(len(set(ok) - set(res)))
PY
check_eq "collect --json: every succeeded task printed its own item" ok "$(sed -n 1p "$T/verdict")"
check_eq "  ... and each has its result file beside the data" 0 "$(sed -n 2p "$T/verdict")"
check_memory "spoold's peak memory stayed under 64 MiB"
check "spoold is still running" kill -0 "$SPOOLD_PID"
