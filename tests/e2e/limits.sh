#!/bin/bash
# checks: 3
# limits.sh - a root worker's task gets no more than a login of its submitter would: the limits of
# /etc/security/limits.conf and limits.d (spool-layout.md section 7, "Resource limits") are
# applied in the task's process, only ever lowering the worker's own; a user the files do not name
# keeps the worker's limits.
#
# Needs root (it writes a file in /etc/security/limits.d, removed at the end, and runs tasks as
# the users sptest_a and sptest_b, created as tests/e2e/multiuser.sh does).
. "$(dirname "$0")/../lib.sh"

UA=sptest_a UB=sptest_b G=sptest_g
test_users "limits from limits.d (it writes /etc/security/limits.d)" "$UA" "$UB"

# One file of our own, unique to this run (other checkouts may run this test at the same time;
# their lines name the same users with the same values, so they cannot disturb ours).
mkdir -p /etc/security/limits.d
CONF=/etc/security/limits.d/zz-spool-test-$$.conf
M=$(mktemp -d /tmp/spool-lim.XXXXXX)
chmod 755 "$M"
lim_cleanup() { rm -f "$CONF"; cleanup; rm -rf "$M"; }
trap lim_cleanup EXIT
cat >"$CONF" <<EOF
# written by spool's tests/e2e/limits.sh, removed when it ends
$UA hard nofile 333
@$G soft core 0
$UA soft cpu 7
EOF

# The worker's own limits are larger than those: its tasks would inherit them.
ulimit -n 4096 2>/dev/null || ulimit -n 1024
ulimit -c unlimited 2>/dev/null || ulimit -c 1000000
worker_nofile=$(ulimit -Hn) worker_cpu=$(ulimit -St)

export SPOOL_DIR="$M/spool"
spool init --shared "$SPOOL_DIR" >/dev/null || { fail "spool init --shared"; exit 1; }
sed -i -e 's/^rescan_interval.*/rescan_interval = 0.2;/' -e 's/^heartbeat_interval.*/heartbeat_interval = 0.2;/' \
	"$SPOOL_DIR/spool.conf"
start_spoold
start_worker 1
wait_engines 1 || exit 1
for u in "$UA" "$UB"; do install -d -o "$u" -m 755 "$M/$u"; done

out=$(as "$UA" spool submit --wait --timeout 60 -- sh -c 'echo $(ulimit -Hn) $(ulimit -Sn) $(ulimit -c) $(ulimit -St)' 2>"$T/a.err")
if [ -n "${SPOOL_VALGRIND:-}" ]; then
	# valgrind keeps RLIMIT_NOFILE to itself in the task's first process (before the exec)
	skip "$UA's task: nofile from limits.d is not checked under valgrind (it emulates RLIMIT_NOFILE in the process that sets it)"
	check_eq "$UA's task: core 0 (its group), cpu 7 min" "0 420" "$(echo "$out" | cut -d' ' -f3-)"
else
	check_eq "$UA's task: hard nofile 333 from limits.d, soft nofile lowered with it, core 0 (its group), cpu 7 min" \
		"333 333 0 420" "$out"
fi
out=$(as "$UB" spool submit --wait --timeout 60 -- sh -c 'echo $(ulimit -Hn) $(ulimit -c) $(ulimit -St)' 2>"$T/b.err")
check_eq "$UB's task: core 0 from its group's line; nofile and cpu are the worker's" \
	"$worker_nofile 0 $worker_cpu" "$out"
# The worker's limits as the kernel has them (an ASan build sets its own core limit to 0).
wlim() { # "Max open files" etc.: the worker's soft and hard values, as ulimit prints them
	awk -v k="$1" 'index($0, k) == 1 { s = substr($0, 27); split(s, v, " +");
		for (i = 1; i <= 2; i++) { if (v[i] != "unlimited" && k == "Max core file size") v[i] = v[i] / 1024 }
		print v[1], v[2] }' "/proc/$WORKER_PID/limits"
}
out=$(cd "$M" && spool submit --wait --timeout 60 -- sh -c 'echo $(ulimit -Sn) $(ulimit -Hn) $(ulimit -Sc) $(ulimit -Hc)' 2>"$T/r.err")
check_eq "root's task (the worker's own identity) keeps the worker's limits" \
	"$(wlim 'Max open files') $(wlim 'Max core file size')" "$out"
