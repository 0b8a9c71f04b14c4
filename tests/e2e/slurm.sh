#!/bin/bash
# slurm.sh - spool-worker inside a real Slurm allocation: a one-node cluster of its own
# (slurmctld and slurmd in the foreground, munged on a private socket, private ports and state
# directories, SLURM_CONF pointing at a slurm.conf written here), then
#   srun --ntasks-per-node=1 spool-worker -f
# runs tasks, and scancel ending the allocation (SIGTERM to every process of the step, the
# worker's tasks too, then SIGKILL after KillWait) ends the worker cleanly: it says goodbye, its
# engines are dead, and its running task is queued again, not failed nor lost.
# Skipped, saying why, where Slurm cannot run: no Slurm or munge programs, not root, munged or
# slurmctld/slurmd refusing to start here.
# checks: 14
# deadline: 240
. "$(dirname "$0")/../lib.sh"

for c in slurmctld slurmd srun sinfo squeue scancel munged; do
	if ! command -v "$c" >/dev/null; then
		skip "Slurm: no $c program (Debian: apt-get install slurm-wlm munge; make check installs them)"
		exit 0
	fi
done
if [ "$(id -u)" != 0 ]; then
	skip "Slurm: slurmd must run as root to start job steps (uid $(id -u) here)"
	exit 0
fi

S="$T/slurm"
mkdir -p "$S/state" "$S/slurmd" "$S/munge"
chmod 700 "$S/munge"
SLURM_PIDS=""
slurm_down() {
	local p
	[ -n "${SRUN_PID:-}" ] && kill -TERM "$SRUN_PID" 2>/dev/null
	for p in $SLURM_PIDS; do kill -TERM "$p" 2>/dev/null; done
	[ -s "$S/munge/pid" ] && kill -TERM "$(cat "$S/munge/pid")" 2>/dev/null
	for p in $SLURM_PIDS; do wait_for 30 sh -c "! kill -0 $p 2>/dev/null" || kill -KILL "$p" 2>/dev/null; done
	cleanup
}
trap slurm_down EXIT

# munge: a key of its own, on a private socket (--force: the directories under /tmp are not
# the ones munged would trust).
dd if=/dev/urandom of="$S/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 600 "$S/munge/munge.key"
if ! munged --force -S "$S/munge/sock" --key-file="$S/munge/munge.key" --pid-file="$S/munge/pid" \
	--log-file="$S/munge/log" --seed-file="$S/munge/seed" 2>"$S/munge/err"; then
	skip "Slurm: munged cannot start here: $(tail -1 "$S/munge/err") $(tail -1 "$S/munge/log" 2>/dev/null)"
	exit 0
fi

node=$(hostname -s)
base=$((20000 + RANDOM % 20000))
cat >"$S/slurm.conf" <<EOF
ClusterName=spooltest
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$base
SlurmdPort=$((base + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge/sock
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/slurmd
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
KillWait=10
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$S/slurm.conf"
slurmctld -D -i >"$S/slurmctld.out" 2>&1 &
SLURM_PIDS="$SLURM_PIDS $!"
ctld=$!
slurmd -D >"$S/slurmd.out" 2>&1 &
SLURM_PIDS="$SLURM_PIDS $!"
sd=$!
node_idle() {
	kill -0 "$ctld" 2>/dev/null && kill -0 "$sd" 2>/dev/null &&
		[ "$(sinfo -h -n "$node" -o %t 2>/dev/null)" = idle ]
}
wait_for 90 node_idle
if ! kill -0 "$ctld" 2>/dev/null || ! kill -0 "$sd" 2>/dev/null; then
	skip "Slurm: slurmctld or slurmd cannot start here: $(tail -2 "$S/slurmctld.log" "$S/slurmd.log" 2>/dev/null | tr '\n' ' ')"
	exit 0
fi
check_eq "the one-node Slurm cluster comes up (node $node idle)" idle "$(sinfo -h -n "$node" -o %t 2>/dev/null)"

make_spool
cd "$T"
start_spoold
# A worker in an allocation of one task on the node, as a batch user would start it.
srun -N1 --ntasks-per-node=1 -t 5 -J spoolw "$SPOOL_BIN/spool-worker" -f -d "$SPOOL_DIR" -n 2 --name slurmnode \
	</dev/null >"$T/srun.out" 2>"$T/worker.log" &
SRUN_PID=$!
wait_engines 2 || { tail -5 "$S/slurmctld.log" "$S/slurmd.log"; exit 1; }
jid=$(squeue -h -n spoolw -o %i)
check "the worker runs as step of Slurm job ${jid:-?}" sh -c "[ -n '$jid' ] && squeue -h -j '$jid' -o %T | grep -qx RUNNING"
out=$(spool map --wait -- sh -c 'echo {} $SPOOL_NODE' ::: a b c 2>/dev/null); rc=$?
check_eq "tasks run on the worker in the allocation" "0 a slurmnode b slurmnode c slurmnode" "$rc $(echo $out)"

# A task still running when the allocation ends.
j=$(spool submit -- sh -c "if [ -e '$T/second' ]; then echo second-run; else echo \$\$ >'$T/taskpid'; exec sleep 600; fi")
wait_until "the long task started" 120 test -s "$T/taskpid"
tp=$(cat "$T/taskpid")
scancel "$jid"
wait_for 60 sh -c "! kill -0 $SRUN_PID 2>/dev/null"
check "srun ended once the allocation was cancelled" sh -c "! kill -0 $SRUN_PID 2>/dev/null"
wait "$SRUN_PID" 2>/dev/null
SRUN_PID=""
check "the worker ended on Slurm's SIGTERM, ending its tasks itself" grep -q "spool-worker: stopping: " "$T/worker.log"
check "  ... and said goodbye to the controller" sh -c "ls '$SPOOL_DIR'/workers/slurmnode-*/bye >/dev/null 2>&1"
check "  ... not killed by Slurm's SIGKILL (no 'cannot write my bye')" sh -c "! grep -q 'cannot write my bye' '$T/worker.log'"
check "the task's processes are gone" sh -c "! kill -0 $tp 2>/dev/null"
wait_until "its engines marked dead" 60 sh -c "[ \$(spool workers --all | awk '\$2 == \"slurmnode\" && \$4 == \"dead\"' | wc -l) = 2 ]" &&
	pass "the worker's two engines are marked dead"
check_eq "no engine of it is listed alive" 0 "$(spool workers | awk '$2 == "slurmnode"' | wc -l)"
wait_until "the running task queued again" 60 sh -c "spool status $j | grep -q queued" &&
	pass "the task running when the allocation ended is queued again"
check "  ... not reported failed" sh -c "! spool status $j | grep -Eq 'failed|signaled'"
check_eq "the allocation left the queue" "" "$(squeue -h -j "$jid" -o %T 2>/dev/null | grep -v COMPLETING)"
touch "$T/second"
start_worker 1
out=$(spool collect --timeout 120 "$j" 2>&1); rc=$?
check_eq "the requeued task then runs to success on another worker" "0 second-run" "$rc $out"
sed "s/^/#   /" "$T/worker.log" | grep -E "stopping|task .* ended" >&9
