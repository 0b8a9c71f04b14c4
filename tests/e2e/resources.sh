#!/bin/bash
# resources.sh - what a node gives its tasks: without -n a worker runs as many engines as the CPUs
# it may use (its affinity mask, its cgroup's CPU quota, SLURM_CPUS_ON_NODE), and --mem SIZE
# limits each task's memory (memory.max of its cgroup where the worker may set it, else
# RLIMIT_AS): a task that exceeds it fails with the reason "memory limit SIZE exceeded".
# checks: 24
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
cd "$T"

# Engines of worker NODE, as the controller publishes them (spool workers --json).
engines_of() { # NODE
	spool workers --json 2>/dev/null | python3 -c 'import json, sys
print(sum(1 for e in json.load(sys.stdin) if e["node"] == sys.argv[1] and e["state"] != "dead"))' "$1"
}
has_engines() { [ "$(engines_of "$1")" -ge 1 ]; }
# Start a worker with no -n (env and taskset as given), wait for its engines, print their count,
# stop it.
auto_worker() { # NODE LOG CMD-PREFIX...
	local node=$1 log=$2 p n; shift 2
	"$@" spool-worker -f -d "$SPOOL_DIR" --name "$node" 2>"$T/$log" &
	p=$!
	PIDS="$PIDS $p"
	wait_for 60 has_engines "$node" || { echo "none"; kill "$p"; return; }
	n=$(engines_of "$node")
	kill -TERM "$p"
	wait "$p" 2>/dev/null
	echo "$n"
}

# --- engines follow the CPUs the worker may use -------------------------------------------------
cpus=$(nproc)
n=$(auto_worker any any.log env -u SLURM_CPUS_ON_NODE)
check_eq "without -n, a worker registers one engine per CPU it may use ($cpus)" "$cpus" "$n"
check "it logs how it chose: affinity $cpus CPUs, SLURM_CPUS_ON_NODE unset" \
	grep -q "$cpus engines\{0,1\}: affinity $cpus CPUs\{0,1\}, .*SLURM_CPUS_ON_NODE unset" "$T/any.log"
if command -v taskset >/dev/null; then
	n=$(auto_worker one any1.log env -u SLURM_CPUS_ON_NODE taskset -c 0)
	check_eq "taskset -c 0 spool-worker (no -n) registers 1 engine" 1 "$n"
	check "it logs 1 engine: affinity 1 CPU" grep -q "1 engine: affinity 1 CPU," "$T/any1.log"
else
	skip "taskset is not installed (util-linux): the affinity test cannot run"
	skip "taskset is not installed: its log line cannot be checked"
fi
n=$(auto_worker slurm slurm.log env SLURM_CPUS_ON_NODE=1)
check_eq "SLURM_CPUS_ON_NODE=1 spool-worker (no -n) registers 1 engine" 1 "$n"
check "it logs SLURM_CPUS_ON_NODE 1" grep -q "1 engine: affinity $cpus CPUs\{0,1\}, .*SLURM_CPUS_ON_NODE 1" "$T/slurm.log"
n=$(auto_worker junk junk.log env SLURM_CPUS_ON_NODE=lots)
check_eq "a SLURM_CPUS_ON_NODE that is not a number is ignored ($cpus engines)" "$cpus" "$n"
SLURM_CPUS_ON_NODE=1 spool-worker -f -d "$SPOOL_DIR" --name given -n 3 2>"$T/given.log" &
gp=$!
PIDS="$PIDS $gp"
three() { [ "$(engines_of given)" = 3 ]; }
check "-n 3 wins over the CPUs (3 engines whatever SLURM_CPUS_ON_NODE says)" wait_for 60 three
kill -TERM "$gp"; wait "$gp" 2>/dev/null

# --- --mem ------------------------------------------------------------------------------------------
start_worker 1 mem
check "the worker with -n 1 registers its engine" wait_for 60 has_engines mem
# Written before it registers; other workers' engines may still show, so wait for its own line.
says_how() { grep -q 'memory limits (--mem) are' "$T/worker.log"; }
wait_for 30 says_how
if grep -q 'memory limits (--mem) are set as memory.max' "$T/worker.log"; then
	HOW=cgroup
	echo "# this worker sets --mem as memory.max of each task's cgroup"
elif grep -q 'memory limits (--mem) are enforced with RLIMIT_AS, not a cgroup' "$T/worker.log"; then
	HOW=rlimit
	echo "# this worker enforces --mem with RLIMIT_AS: $(grep -o 'memory limits (--mem) are enforced.*' "$T/worker.log")"
else
	HOW=
fi
check "the worker logs how it enforces memory limits (${HOW:-it does not say})" test -n "$HOW"

if [ "$HOW" = rlimit ] && valgrinded; then
	# The task's process is the worker's until its exec: there valgrind itself runs out of
	# memory under a small RLIMIT_AS ("Valgrind's memory management: out of memory").
	skip "--mem 50M and 64M under RLIMIT_AS: not run under valgrind (valgrind, in the task's process until the exec, runs out of memory under the limit)"
else
	run big spool submit --mem 50M --wait -- python3 -c 'x = bytearray(300 * 1024 * 1024)'
	check_eq "a task allocating 300 MiB under --mem 50M fails (exit 1)" 1 "$RC"
	j=$(sed -n 's/^spool: job \([^ ]*\) submitted.*/\1/p' "$T/big.err")
	spool collect --json "$j" >"$T/big.json" 2>/dev/null
	if [ "$HOW" = rlimit ] && sanitized; then
		# The task's process is the worker's until its exec: under RLIMIT_AS a sanitizer's runtime
		# cannot map its memory and aborts the task ("Failed to mmap") before Python runs.
		skip "--mem 50M under RLIMIT_AS: the reason is not checked on a sanitizer-build (its runtime, in the task's process until the exec, cannot map memory under the limit)"
	else
		check "its reason is 'memory limit 50M exceeded'" grep -q "memory limit 50M exceeded" "$T/big.err"
		check_eq "collect --json says failed, with that reason" "failed memory limit 50M exceeded" \
			"$(python3 -c 'import json, sys; t = json.load(open(sys.argv[1]))["tasks"][0]
print(t["state"], t["reason"][:len("memory limit 50M exceeded")])' "$T/big.json")"
	fi
	if [ "$HOW" = rlimit ]; then
		check "the reason says the limit was RLIMIT_AS, not a cgroup" \
			grep -q "memory limit enforced with RLIMIT_AS, not a cgroup" "$T/big.err"
		run plain spool submit --mem 50M --wait -- sh -c 'exit 3'
		check_eq "another failure under RLIMIT_AS keeps its exit status (3)" 1 "$RC"
		check "... and its reason says how the limit was enforced, not that it was exceeded" \
			sh -c "grep -q 'memory limit enforced with RLIMIT_AS' '$T/plain.err' && ! grep -q 'exceeded' '$T/plain.err'"
		run as spool submit --mem 64M --wait -- sh -c 'ulimit -v'
		check_eq "the task's RLIMIT_AS is the limit (65536 KiB)" 65536 "$(cat "$T/as.out")"
	else
		check "the reason is the kernel's: an OOM kill in the task's cgroup (no RLIMIT_AS)" \
			sh -c "! grep -q 'RLIMIT_AS' '$T/big.err'"
		run plain spool submit --mem 50M --wait -- sh -c 'exit 3'
		check_eq "another failure under a cgroup limit keeps its exit status (3)" 1 "$RC"
		check "... and no memory reason" sh -c "! grep -q 'memory limit' '$T/plain.err'"
		run as spool submit --mem 64M --wait -- sh -c 'cat /sys/fs/cgroup/unified/$(sed -n "s/^0:://p" /proc/self/cgroup)/memory.max 2>/dev/null || cat /sys/fs/cgroup/$(sed -n "s/^0:://p" /proc/self/cgroup)/memory.max'
		check_eq "the task's cgroup has memory.max 64 MiB" 67108864 "$(cat "$T/as.out")"
	fi
fi
run ok spool submit --mem 500M --wait -- python3 -c 'x = bytearray(300 * 1024 * 1024); print("fits")'
check_eq "the same allocation under --mem 500M succeeds" 0 "$RC"
check_eq "... and prints its output" fits "$(cat "$T/ok.out")"
run nomem spool submit --wait -- sh -c 'ulimit -v'
check_eq "a task without --mem has no address-space limit" unlimited "$(cat "$T/nomem.out")"
run m spool map --mem 1G --wait -- sh -c 'ulimit -v >/dev/null; echo {}' ::: a b
check_eq "map takes --mem" 0 "$RC"

# --- refused sizes (records written by hand are refused by spoold: tests/e2e/badinput.sh) --------
run bad spool submit --mem 10X -- true
check_eq "--mem 10X is a usage error (2)" 2 "$RC"
check "... saying what --mem wants" grep -q -- "--mem wants a size from 1M to 1P" "$T/bad.err"
run small spool submit --mem 512K -- true
check_eq "--mem below 1M is refused (2)" 2 "$RC"
