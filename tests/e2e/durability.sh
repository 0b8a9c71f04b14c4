#!/bin/bash
# checks: 25
# durability.sh - every rename that matters is durable where spool-layout.md (sections 3.1, 4,
# 7, 8) says it is, and a power cut loses nothing that was accepted.
# 1. Crash consistency, from the system calls of the real programs (strace -f -y): for a job
#    record (spool submit) and a finished job's state (spoold), the temporary is fsync'd before
#    the rename and the directory after it; spoold commits a job to its database before it moves
#    the record out of incoming/, writes an assignment before the sync that lets the record move
#    (so a power cut before the sync queues the task again), and commits
#    a result before it removes the assignment and then the done record. The assignment and the
#    done record (and the result beside the data) are renamed into place whole but deliberately
#    not fsync'd: only that is checked for them.
# 2. Power cuts: spoold, a worker and submitters run with tests/preload/durable.c, which records
#    what each fsync made durable; everything is killed at once (SIGKILL to a pid namespace) at
#    a random moment, tests/powercut.py rolls the spool back to what a power cut would have left
#    (unsynced content and unsynced directory entries lost), and a fresh spoold and worker must
#    bring every job whose `spool submit` exited 0 to a terminal state.
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")/.." && pwd)
b=$(basename "$SPOOL_BIN")
SHIM="${SPOOL_SHIM_DIR:-${UNIT_DIR:-$SPOOL_BIN/../${b/bin/build}/tests}/preload}/durable.so"

# "STATE COUNT-OF-TERMINAL-TASKS/NTASKS" of a job, from its published state.
job_state() { spool status --json "$1" 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
c = j["counts"]
print(j["state"], sum(c[k] for k in ("succeeded", "failed", "timedout", "cancelled", "abandoned", "skipped")), j["ntasks"])' 2>/dev/null; }
# The accepted jobs (ids in file $1) in three lists, from one `spool status --json` and the
# spool's files: "done" (terminal), "pending" (not done, but its record or job is still there)
# and "lost" (unknown to spoold and its record in neither incoming/ nor ctl/jobs/: gone for good).
sort_jobs() { spool status --json 2>/dev/null | python3 -c '
import json, os, sys
jobs = {j["job"]: j["state"] for j in json.load(sys.stdin)["jobs"]}
spool, out = os.environ["SPOOL_DIR"], {"done": [], "pending": [], "lost": []}
for j in open(sys.argv[1]).read().split():
    if jobs.get(j) == "done":
        out["done"].append(j)
    elif j in jobs or any(os.path.exists(os.path.join(spool, d, j + ".job")) for d in ("incoming", "ctl/jobs")):
        out["pending"].append(j)
    else:
        out["lost"].append(j)
print(json.dumps(out))' "$1"; }
settled() { # every accepted job done or lost for good
	local r; r=$(sort_jobs "$1") && python3 -c 'import json,sys; sys.exit(1 if json.loads(sys.argv[1])["pending"] else 0)' "$r"
}
job_done() { [ "$(job_state "$1" | cut -d' ' -f1)" = done ]; }

report_checks() { # the trace checker's "ok"/"bad" lines as checks
	while IFS= read -r line; do
		case $line in
		ok\ *) pass "crash consistency: ${line#ok }" ;;
		bad\ *) fail "crash consistency: ${line#bad }" ;;
		*) echo "$line" ;;
		esac
	done
}

# ---------------------------------------------------------------- 1. the order of system calls
if ! command -v strace >/dev/null 2>&1; then
	skip "crash consistency: strace is not installed (make check installs it as root)"
else
	make_spool
	TR="trace=fsync,fdatasync,syncfs,rename,renameat,renameat2,openat,unlink,unlinkat,dup"
	# LeakSanitizer cannot run under ptrace (make sanitize): off for the traced programs only.
	NOLEAK="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	# `exec` keeps the pid: the pid file names the traced program itself, not strace.
	strace -f -y -qq -e "$TR" -o "$T/st.spoold" env "$NOLEAK" sh -c 'echo $$ >"$0"; exec spoold -f -d "$SPOOL_DIR"' \
		"$T/spoold.pid" 2>>"$T/spoold.log" &
	strace -f -y -qq -e "$TR" -o "$T/st.worker" env "$NOLEAK" sh -c 'echo $$ >"$0"; exec spool-worker -f -d "$SPOOL_DIR" -n 1' \
		"$T/worker.pid" 2>>"$T/worker.log" &
	wait_until "spoold and the worker started" 30 sh -c "test -s '$T/spoold.pid' && test -s '$T/worker.pid'"
	PIDS="$PIDS $(cat "$T/spoold.pid") $(cat "$T/worker.pid")"
	wait_engines 1
	job=$(cd "$T" && strace -f -y -qq -e "$TR" -o "$T/st.client" env "$NOLEAK" spool submit -- true)
	check_eq "crash consistency: spool submit under strace exits 0" 0 $?
	wait_until "job $job done" 60 job_done "$job"
	# The final state is written once the job is done; stop the programs so the traces are whole.
	kill -TERM "$(cat "$T/spoold.pid")" "$(cat "$T/worker.pid")"
	wait_until "spoold and the worker stopped" 30 sh -c "! kill -0 $(cat "$T/spoold.pid") 2>/dev/null && ! kill -0 $(cat "$T/worker.pid") 2>/dev/null"
	python3 "$here/syscall_order.py" "$job" "$T/st.client" "$T/st.spoold" "$T/st.worker" "$(fs_kind "$SPOOL_DIR")" | report_checks
	[ "${PIPESTATUS[0]}" = 0 ] || fail "crash consistency: the trace checker failed (see above)"
	for p in $(cat "$T/spoold.pid") $(cat "$T/worker.pid"); do PIDS=${PIDS/ $p/}; done
	rm -rf "$SPOOL_DIR"
fi

# A user's submit to a shared spool: incoming/ cannot be read, so not fsync'd: syncfs instead.
if command -v strace >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null 2>&1 || ! id nobody >/dev/null 2>&1; then
		skip "crash consistency (shared spool): needs root, setpriv and the user nobody to submit as another user"
	else
		M=$(mktemp -d /tmp/spool-dur.XXXXXX)
		chmod 755 "$M" && mkdir -m 777 "$M/data"
		spool init --shared "$M/spool" >/dev/null || fail "spool init --shared"
		job=$(cd "$M/data" && strace -f -y -qq -e "$TR" -o "$T/st.shared" \
			setpriv --reuid nobody --regid "$(id -g nobody)" --clear-groups -- env "$NOLEAK" "$SPOOL_BIN/spool" -d "$M/spool" submit -- true)
		check_eq "crash consistency (shared spool): spool submit as nobody exits 0" 0 $?
		python3 "$here/syscall_order.py" --shared-submit "$job" "$T/st.shared" "$(fs_kind "$M/spool")" | report_checks
		[ "${PIPESTATUS[0]}" = 0 ] || fail "crash consistency: the trace checker failed (see above)"
		rm -rf "$M"
	fi
fi

# ------------------------------------------------------------------------------ 2. power cuts
[ -f "$SHIM" ] || { fail "power cut: the test shim $SHIM is missing (make all builds it)"; exit 1; }
if ! command -v unshare >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
	skip "power cut: needs root and unshare (a pid namespace kills every process of a run at once)"
	exit 0
fi
mkdir -p "$T/data"

# Everything of a run lives in a pid namespace; SIGKILL to its init is the power cut: the
# kernel kills every process in it (spoold, worker, shepherds, tasks, submitters) at once, and
# the init is not reaped (unshare's wait does not return) before every one of them is gone.
run_alive() { # does any process still carry the shim's store $1 in its environment?
	grep -qsz "^SPOOL_DURABLE_DIR=$1\$" /proc/[0-9]*/environ
}
accepted_at_least() { [ -f "$R/accepted" ] && [ "$(grep -c . "$R/accepted")" -ge "$1" ]; }

# The programs of a run, started inside the namespace with the shim: spoold (unless MODE is
# "down": the controller is off, the records wait in incoming/), a worker, and a submitter that
# notes a job id only once `spool submit` (or `spool map`) exited 0.
cat >"$T/run.sh" <<'EOF'
cd "$DATA" || exit 1
[ "$MODE" = down ] || spoold -f -d "$SPOOL_DIR" 2>>"$R/spoold-cut.log" &
spool-worker -f -d "$SPOOL_DIR" -n 2 2>>"$R/worker-cut.log" &
i=0
while :; do
	i=$((i + 1))
	if [ $((i % 3)) = 0 ]; then
		id=$(spool map -- true ::: a b c) && echo "$id" >>"$R/accepted"
	else
		id=$(spool submit -- echo "$i") && echo "$id" >>"$R/accepted"
	fi
done
EOF

power_cut_round() { # N, "down" or the delay (ms) of the cut after the first accepted job
	local n=$1 mode=$2 i init="" cutpid sp wp lost="" acc
	R="$T/r$n"
	mkdir -p "$R/shadow/f" "$R/shadow/d"
	SPOOL_DIR="$R/spool"
	make_spool
	# The baseline: as if the machine had synced everything before the run.
	env SPOOL_DURABLE_ROOT="$SPOOL_DIR" SPOOL_DURABLE_DIR="$R/shadow" SPOOL_DURABLE_BASELINE=1 LD_PRELOAD="$SHIM" true
	SPOOL_DURABLE_ROOT="$SPOOL_DIR" SPOOL_DURABLE_DIR="$R/shadow" LD_PRELOAD="$SHIM" DATA="$T/data" MODE="$mode" \
		R="$R" unshare --pid --fork --kill-child bash "$T/run.sh" 2>>"$R/run.err" &
	cutpid=$!
	for i in $(seq 100); do
		init=$(awk '{print $1}' "/proc/$cutpid/task/$cutpid/children" 2>/dev/null)
		[ -n "$init" ] && break
		sleep 0.1
	done
	[ -n "$init" ] || { fail "power cut $n: the run did not start"; kill -9 "$cutpid"; return; }
	if [ "$mode" = down ]; then
		wait_until "round $n: 5 jobs accepted while spoold is down" 60 accepted_at_least 5
	else
		wait_until "round $n: a job accepted" 60 accepted_at_least 1
		sleep "$(awk -v ms="$mode" 'BEGIN {printf "%.3f", ms / 1000}')" # the moment of the cut: random on purpose
	fi
	kill -9 "$init"
	wait "$cutpid" 2>/dev/null
	if run_alive "$R/shadow"; then fail "power cut $n: a process of the run outlived the cut"; return; fi
	acc=$(grep -c . "$R/accepted" 2>/dev/null)
	python3 "$here/powercut.py" "$R/shadow" "$SPOOL_DIR" >"$R/powercut.log" 2>&1 ||
		{ fail "power cut $n: the rollback failed"; cat "$R/powercut.log"; return; }
	echo "# round $n ($mode): ${acc:-0} jobs accepted; the cut lost $(grep -c '^lost ' "$R/powercut.log") entries, rolled back $(grep -c '^rolled back ' "$R/powercut.log") files, brought back $(grep -c '^back ' "$R/powercut.log")"
	# Power back: a fresh controller and worker, without the shim.
	spoold -f -d "$SPOOL_DIR" 2>>"$R/spoold.log" &
	sp=$!
	spool-worker -f -d "$SPOOL_DIR" -n 2 2>>"$R/worker.log" &
	wp=$!
	PIDS="$PIDS $sp $wp"
	wait_until "round $n: each of the $acc accepted jobs done, or lost for good" 120 settled "$R/accepted"
	lost=$(sort_jobs "$R/accepted" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(" ".join(j["lost"] + j["pending"]))' 2>&1)
	if [ -z "$lost" ] && [ "${acc:-0}" -gt 0 ]; then
		pass "power cut $n ($mode): all $acc jobs accepted before the cut reached a terminal state"
	else
		ROUND_FAILED=1
		fail "power cut $n ($mode): of ${acc:-0} accepted jobs, never done (lost, or stuck):$lost"
		for j in $(echo $lost | tr ' ' '\n' | head -5); do
			echo "  $j: $(job_state "$j"); on disk:"
			find "$SPOOL_DIR" -name "$j*" -printf '    %p %s bytes\n'
		done
		grep -h -E "$(echo $lost | tr ' ' '|')|ERROR|error" "$R/powercut.log" "$R/spoold.log" | head -20
	fi
	kill -TERM "$sp" "$wp"
	wait "$sp" "$wp" 2>/dev/null
	PIDS=${PIDS/ $sp $wp/}
}

ROUND_FAILED=""
power_cut_round 1 down
for n in 2 3 4 5 6; do
	[ -n "$ROUND_FAILED" ] && { fail "power cut: rounds $n-6 not run after a failed round"; break; }
	power_cut_round "$n" $((RANDOM % 1500))
done
