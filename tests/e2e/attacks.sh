#!/bin/bash
# checks: 78
# attacks.sh - a shared spool attacked the way issue 9 describes, with three ordinary users and
# root daemons. Each scenario asserts what must hold, not what happens to hold today:
#   1a  a spool-JOB/ directory planted before the task (with a T.A.vars file) is refused, and its
#       variables never reach the victim's engine;  1b  spool-JOB swapped for a symlink while a
#       task runs: nothing is written through it;  1c  results replaced by another user are not
#       printed by collect;  1d  $SPOOL_VARS cannot set LD_*, BASH_ENV, ENV, IFS (spool push can);
#   1e  a 30 s race loop of re-planted files, dirs and links: nothing gets through;
#   3a-3d  a task that escapes its process group does not outlive its timeout, its cancel, its
#       worker's SIGTERM, and a task run as a user does not outlive its root worker's SIGKILL;
#   5a  the submitter's umask;  5b  a state file its owner edited does not show in another
#       user's status;  5c  a path with a newline and an escape forges no log line, drives no terminal.
#
# ATTACKS_KEEP_LOGS=DIR keeps the daemons' logs and the commands' outputs there.
# Needs root (the users sptest_a, sptest_b, sptest_c and the group sptest_g are created if missing
# and left in place, as tests/e2e/multiuser.sh does). sptest_a is the victim, sptest_b the attacker.
. "$(dirname "$0")/../lib.sh"

command -v python3 >/dev/null || { skip "python3 is missing: cannot read JSON"; exit 0; }
UA=sptest_a UB=sptest_b UC=sptest_c G=sptest_g
test_users "attacks through a shared data directory" "$UA" "$UB" "$UC"
uid_a=$(id -u "$UA") uid_b=$(id -u "$UB")

# The places: each user's own directory, a sticky world-writable one (like /tmp) and a group
# project directory (setgid, writable by sptest_g, not sticky), and root's release files.
M=$(mktemp -d /tmp/spool-att.XXXXXX)
chmod 755 "$M"
for u in "$UA" "$UB" "$UC"; do install -d -o "$u" -g "$(id -g "$u")" -m 755 "$M/$u"; done
install -d -m 1777 "$M/tmp"
install -d -o root -g "$G" -m 2770 "$M/proj"
install -d -m 755 "$M/rel"
S="$M/spool"
export SPOOL_DIR="$S"
SP="$SPOOL_BIN/spool"

# Processes started outside lib.sh's list (extra workers, the attacker's loop) and the pids of
# processes tasks leave behind: all stopped by pid at the end, whatever happened.
X_PIDS="" LEFT=""
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
# alive_as PID MARK: PID runs and its command line contains MARK (so a reused pid never counts)
alive_as() { alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"; }
at_cleanup() {
	local p i
	touch "$M/stop-attack" 2>/dev/null
	for p in $LEFT; do alive_as "${p%%:*}" "${p#*:}" && kill -KILL "${p%%:*}" 2>/dev/null; done
	for p in $X_PIDS $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for i in $(seq 150); do # a worker that does not stop on SIGTERM must not hang the suite
		local any=0
		for p in $X_PIDS $PIDS; do alive "$p" && any=1; done
		[ $any = 0 ] && break
		sleep 0.1
	done
	for p in $X_PIDS $PIDS; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
	for p in $X_PIDS; do wait "$p" 2>/dev/null; done
	[ -n "${ATTACKS_KEEP_LOGS:-}" ] && mkdir -p "$ATTACKS_KEEP_LOGS" && cp "$T"/*.log "$T"/*.out "$T"/*.err "$ATTACKS_KEEP_LOGS"/ 2>/dev/null
	cleanup
	rm -rf "$M"
}
trap at_cleanup EXIT

state_of() { "$SP" status "$1" 2>/dev/null | awk -v t="${2:-1}" '$1 == t { print $2 }'; } # as root
is_state() { [[ "$(state_of "$1" "$2")" =~ ^($3)$ ]]; } # JOB TASK REGEX
TERMINAL='succeeded|failed|timedout|cancelled|abandoned|skipped'
# task_json JOB TASK: "STATE<TAB>REASON" from spool status --json (as root)
task_json() {
	"$SP" status --json "$1" 2>/dev/null | python3 -c '
import json, sys
t = json.load(sys.stdin)["tasks"][int(sys.argv[1]) - 1]
print("%s\t%s" % (t["state"], t["reason"] or ""))' "$2" 2>/dev/null
}
# engine_of NODE: the ids of the live engines of the worker started with --name NODE
engine_of() {
	"$SP" workers --json 2>/dev/null | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    if e["node"] == sys.argv[1] and e["state"] != "dead":
        print(e["id"])' "$1" 2>/dev/null | xargs
}
# gone LABEL PID MARK: PASS when PID (whose command line holds MARK) is gone within 10 s
gone() {
	if [ -z "$2" ]; then
		fail "$1: the process never started, nothing to check"
	elif wait_for 10 eval "! alive_as '$2' '$3'"; then
		pass "$1 (pid $2)"
	else
		fail "$1 (pid $2 still runs 10 s later: $(ps -o pid=,pgid=,sid=,user=,args= -p "$2" 2>/dev/null))"
	fi
}
# A task that waits for root's release file $M/rel/NAME, then prints its environment.
WAITER='while [ ! -e "$0" ]; do sleep 0.05; done; env'
release() { touch "$M/rel/$1"; }
# files_not_of USER DIR: the entries in DIR (recursively) USER does not own, one a line
files_not_of() { find "$1" -mindepth 1 ! -user "$2" 2>/dev/null; }
# lair NAME: a directory of the attacker's that anyone may write in, but (sticky) not delete B's files from
lair() { install -d -o "$UB" -g "$UB" -m 1777 "$M/$UB/$1"; echo "$M/$UB/$1"; }

cd "$T" || exit 1 # root's own jobs (pull, apply) put their spool-JOB/ here, not in the checkout
run init "$SP" init --group "$G" "$S"
check_eq "spool init --group $G exits 0" 0 "$RC"
sed -i -e 's/^rescan_interval.*/rescan_interval = 0.2;/' -e 's/^heartbeat_interval.*/heartbeat_interval = 0.2;/' \
	-e 's/^dead_timeout.*/dead_timeout = 3.0;/' -e 's/^kill_grace.*/kill_grace = 1.0;/' "$S/spool.conf"
KILL_GRACE=1
start_spoold
start_worker 2 main # engines 1 and 2
wait_engines 2 || exit 1
[ "$(engine_of main)" = "1 2" ] || { fail "the main worker's engines are not 1 and 2"; exit 1; }
# extra_worker NAME N: another root worker, in a session of its own (a task of class 3 that joins
# its worker's process group then never shares one with this script or the main worker)
extra_worker() {
	setsid "$SPOOL_BIN/spool-worker" -f -d "$S" -n "$2" --name "$1" 2>>"$T/worker-$1.log" &
	XW=$!
	X_PIDS="$X_PIDS $XW"
	# (setsid does not fork here: a background job of a script is no process group leader; until
	# the child has run setsid and setsid the worker, its command line is still this script's)
	wait_for 30 alive_as "$XW" spool-worker || { fail "the worker $1 is not pid $XW (setsid forked?)"; return 1; }
	wait_for 20 eval '[ "$(engine_of '"$1"' | wc -w)" = '"$2"' ]' ||
		{ fail "the worker $1 never registered its $2 engines: $(tail -3 "$T/worker-$1.log")"; return 1; }
}

# ============ class 3: a task cannot outlive its timeout, its cancel or its worker ============
# (first, so that nothing planted by class 1 is in these tasks' way)
# esc: the task's child leaves for a session of its own (setsid); $0 the pid file, $1 a marker.
esc='setsid sleep "$1" & echo $! >"$0"; sleep 1000'
# leader_moves: the task's leader itself leaves its process group for its parent's (the worker's).
leader_moves='import os, sys, time
os.setpgid(0, os.getpgid(os.getppid()))
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(int(sys.argv[2]))'
j3a=$(as "$UA" "$SP" -d "$S" submit --targets 1 --timeout 2 -- sh -c "$esc" "$M/$UA/esc3a" 3001)
j3b=$(as "$UA" "$SP" -d "$S" submit --targets 2 -- sh -c "$esc" "$M/$UA/esc3b" 3002)
wait_for 30 test -s "$M/$UA/esc3a" || fail "3a: the task never wrote its escaped child's pid"
wait_for 30 test -s "$M/$UA/esc3b" || fail "3b: the task never wrote its escaped child's pid"
p3a=$(cat "$M/$UA/esc3a" 2>/dev/null) p3b=$(cat "$M/$UA/esc3b" 2>/dev/null)
LEFT="$LEFT ${p3a:-0}:3001 ${p3b:-0}:3002"
run cancel3b as "$UA" "$SP" -d "$S" cancel "$j3b"
check_eq "3b: spool cancel of the running task exits 0" 0 "$RC"
check "3a: the task with --timeout 2 is reported timed out" wait_for 30 is_state "$j3a" 1 timedout
check "3b: the cancelled task is reported cancelled" wait_for 30 is_state "$j3b" 1 cancelled
gone "3a: its child moved to another session (setsid) is gone after the timeout" "$p3a" 3001
gone "3b: its child moved to another session (setsid) is gone after the cancel" "$p3b" 3002
# 3a(ii) and 3c run on a worker of their own (w3c, 2 engines).
p3a2="" p3c="" p3c2=""
if extra_worker w3c 2; then
	w3c=$XW
	read -r e3c e3c2 <<<"$(engine_of w3c)"
	# 3a(ii). the task's leader itself leaves its process group; --timeout 2
	j3a2=$(as "$UA" "$SP" -d "$S" submit --targets "$e3c2" --timeout 2 --retries 0 -- python3 -c "$leader_moves" "$M/$UA/esc3a2" 3005)
	wait_for 30 test -s "$M/$UA/esc3a2" || fail "3a(ii): the task never wrote its pid"
	p3a2=$(cat "$M/$UA/esc3a2" 2>/dev/null)
	LEFT="$LEFT ${p3a2:-0}:3005"
	check "3a(ii): a task with --timeout 2 whose leader left its process group is reported timed out (within 20 s)" \
		wait_for 20 is_state "$j3a2" 1 timedout
	gone "3a(ii): ... and its leader is gone" "$p3a2" 3005
	# Today it is not: kill it (by pid) so that engine ends the task and serves 3c.
	alive_as "${p3a2:-0}" 3005 && kill -KILL "$p3a2"
	wait_for 20 is_state "$j3a2" 1 "$TERMINAL" || fail "3a(ii): the task never ended, even once its leader was killed"

	# 3c. SIGTERM to the worker while tasks run that escaped (a child in a session of its own, a
	# leader in its worker's process group): it stops within kill_grace and a margin, and they end.
	j3c=$(as "$UA" "$SP" -d "$S" submit --targets "$e3c" --retries 0 -- sh -c "$esc" "$M/$UA/esc3c" 3003)
	j3c2=$(as "$UA" "$SP" -d "$S" submit --targets "$e3c2" --retries 0 -- python3 -c "$leader_moves" "$M/$UA/esc3c2" 3006)
	wait_for 30 test -s "$M/$UA/esc3c" || fail "3c: the task never wrote its escaped child's pid"
	wait_for 30 test -s "$M/$UA/esc3c2" || fail "3c: the task whose leader moves never wrote its pid"
	p3c=$(cat "$M/$UA/esc3c" 2>/dev/null) p3c2=$(cat "$M/$UA/esc3c2" 2>/dev/null)
	LEFT="$LEFT ${p3c:-0}:3003 ${p3c2:-0}:3006"
fi
if [ -n "$p3c" ] && [ -n "$p3c2" ] && alive "$w3c"; then
	kill -TERM "$w3c"
	if wait_for $((KILL_GRACE + 10)) eval "! alive $w3c"; then
		pass "3c: a worker sent SIGTERM while its tasks escape their process groups exits within kill_grace + 10 s"
	else
		fail "3c: a worker sent SIGTERM while its tasks escape their process groups (pids $p3c, $p3c2) should exit within kill_grace ($KILL_GRACE s) + 10 s; it still runs (killed with SIGKILL)"
		kill -KILL "$w3c" 2>/dev/null
	fi
	wait "$w3c" 2>/dev/null
	gone "3c: ... and the escaped child is gone" "$p3c" 3003
	gone "3c: ... and the leader that left its process group is gone" "$p3c2" 3006
else
	fail "3c: the worker's tasks that escape never ran: SIGTERM not tried"
fi

# 3d. SIGKILL to a root worker running a task as sptest_a: the task does not run on.
p3dl="" p3dc=""
if extra_worker w3d 1; then
	w3d=$XW
	e3d=$(engine_of w3d)  # one engine
	j3d=$(as "$UA" "$SP" -d "$S" submit --targets "$e3d" --retries 0 -- \
		sh -c 'echo $$ >"$0.lead"; sleep 3004 & echo $! >"$0.child"; wait' "$M/$UA/p3d")
	wait_for 30 test -s "$M/$UA/p3d.child" || fail "3d: the task never wrote its pids"
	p3dl=$(cat "$M/$UA/p3d.lead" 2>/dev/null) p3dc=$(cat "$M/$UA/p3d.child" 2>/dev/null)
	LEFT="$LEFT ${p3dl:-0}:p3d ${p3dc:-0}:3004"
fi
if [ -n "$p3dl" ] && [ -n "$p3dc" ] && alive "$w3d"; then
	check_eq "3d: the task runs as $UA" "$uid_a" "$(awk '/^Uid:/ { print $2 }' "/proc/$p3dl/status" 2>/dev/null)"
	kill -KILL "$w3d"
	wait "$w3d" 2>/dev/null
	gone "3d: after its root worker is SIGKILLed, the task's leader (as $UA) does not keep running" "$p3dl" p3d
	gone "3d: ... nor its child in the same process group" "$p3dc" 3004
else
	fail "3d: the task as $UA never ran on worker w3d: SIGKILL not tried"
fi

# ============ class 5: a task runs as its submitter would run it, and says nothing it should not ============
# 5a. umask 077
j5a=$(as "$UA" sh -c 'umask 077; cd "$1" && exec "$2" -d "$3" submit -- sh -c "echo secret >made5a"' sh "$M/$UA" "$SP" "$S")
run co5a as "$UA" timeout 40 "$SP" -d "$S" collect --timeout 30 "$j5a"
check_eq "5a: a task submitted under umask 077 succeeds" 0 "$RC"
check_eq "5a: the file it creates is mode 600 (the submitter's umask 077, not the worker's)" 600 \
	"$(stat -c %a "$M/$UA/made5a" 2>/dev/null)"
check_eq "5a: its output directory spool-$j5a is not wider than 0700" 700 \
	"$(stat -c %a "$M/$UA/spool-$j5a" 2>/dev/null)"
check_eq "5a: its 1.1.out is mode 600" 600 "$(stat -c %a "$M/$UA/spool-$j5a/1.1.out" 2>/dev/null)"
run rd5a as "$UB" cat "$M/$UA/spool-$j5a/1.1.out"
check "5a: $UB cannot read $UA's output written under umask 077" test "$RC" -ne 0

# 5b. B edits the state file it owns to claim A as its owner, and makes it readable.
j5b=$(as "$UB" "$SP" -d "$S" submit -- echo b-owned)
run co5b as "$UB" timeout 40 "$SP" -d "$S" collect --timeout 30 "$j5b"
check_eq "5b: $UB's job $j5b succeeds" 0 "$RC"
check_eq "5b: its state file is $UB's, mode 600 (given to its owner)" "$UB 600" \
	"$(stat -c '%U %a' "$S/ctl/jobs/$j5b.state")"
run edit5b as "$UB" sh -c 'c=$(sed "s/^owner .*/owner $2/" "$1") && printf "%s\n" "$c" >"$1" && chmod 644 "$1"' \
	sh "$S/ctl/jobs/$j5b.state" "$uid_a"
grep -qx "owner $uid_a" "$S/ctl/jobs/$j5b.state" || fail "5b: $UB could not edit its state file: $(cat "$T/edit5b.err")"
run st5b as "$UA" "$SP" -d "$S" status
check_eq "5b: $UA's spool status exits 0" 0 "$RC"
check "5b: $UA's spool status does not list $UB's job whose state $UB edited to claim owner $uid_a" \
	eval "! grep -q '^$j5b ' '$T/st5b.out'"
run st5b1 as "$UA" "$SP" -d "$S" status "$j5b"
check "5b: $UA's spool status $j5b refuses it (exit $RC, expected non-zero)" test "$RC" -ne 0
run co5b1 as "$UA" "$SP" -d "$S" collect --no-wait "$j5b"
check "5b: $UA's spool collect $j5b refuses it and prints nothing of it" \
	eval "[ $RC -ne 0 ] && ! grep -q b-owned '$T/co5b1.out'"

# 5c. a working directory and an output path with a newline and an escape sequence
ESC=$'\e'
d5c="$M/$UA/x"$'\n''FORGED LINE 5c'"$ESC[31m"
as "$UA" mkdir "$d5c"
j5c=$(as "$UA" "$SP" -d "$S" submit --cwd "$d5c" -- echo ran5c)
as "$UA" touch "$M/$UA/afile"
j5c2=$(as "$UA" "$SP" -d "$S" submit --output "$M/$UA/afile/y"$'\n''FORGED LINE 5c2'"$ESC[31m" -- echo never)
check "5c: both jobs were submitted" test -n "$j5c" -a -n "$j5c2"
run co5c as "$UA" timeout 40 "$SP" -d "$S" collect --timeout 30 "$j5c"
check_eq "5c: the task in the directory named with a newline and ESC succeeds" 0 "$RC"
run co5c2 as "$UA" timeout 40 "$SP" -d "$S" collect --timeout 30 "$j5c2"
check_eq "5c: the task whose output directory cannot be made fails (collect exits 1)" 1 "$RC"
run st5c as "$UA" "$SP" -d "$S" status "$j5c2"
run st5cl as "$UA" "$SP" -d "$S" status
check "5c: no line of the spoold and worker logs starts with FORGED" eval "! grep -q '^FORGED' '$T'/*.log"
check "5c: the spoold and worker logs hold no raw ESC byte" eval "! grep -q \"\$ESC\" '$T'/*.log"
check "5c: spool status $j5c2 prints no raw ESC byte" eval "! grep -q \"\$ESC\" '$T/st5c.out'"
check "5c: ... and no line starting with FORGED" eval "! grep -q '^FORGED' '$T/st5c.out'"
check "5c: spool status (all jobs) prints no raw ESC byte" eval "! grep -q \"\$ESC\" '$T/st5cl.out'"
check "5c: spool collect $j5c2 prints no raw ESC byte and no line starting with FORGED on stderr" \
	eval "! grep -q \"\$ESC\" '$T/co5c2.err' && ! grep -q '^FORGED' '$T/co5c2.err'"

# ============ class 1: nothing beside the data may be planted or redirected by another user ============
# 1d. $SPOOL_VARS cannot set what changes how programs start (as sptest_c, on engine 2).
bad1d="LD_PRELOAD LD_AUDIT LD_LIBRARY_PATH BASH_ENV ENV IFS"
run t1d as "$UC" timeout 40 "$SP" -d "$S" submit --targets 2 --wait -- sh -c \
	'for n in LD_PRELOAD LD_AUDIT LD_LIBRARY_PATH BASH_ENV ENV IFS; do echo "$n=/x1d"; done >"$SPOOL_VARS"; echo SAFE1D=ok >>"$SPOOL_VARS"'
check "1d: a task writing LD_*, BASH_ENV, ENV, IFS and SAFE1D to \$SPOOL_VARS ran (collect exits 0 or 1, got $RC)" \
	test "$RC" -le 1
check_eq "1d: an ordinary variable from \$SPOOL_VARS is kept (SAFE1D=ok)" ok \
	"$(as "$UC" "$SP" -d "$S" pull --targets 2 --wait SAFE1D 2>/dev/null)"
for n in $bad1d; do
	check "1d: $n from \$SPOOL_VARS is not kept (spool pull $n shows no /x1d)" \
		eval "! as '$UC' '$SP' -d '$S' pull --targets 2 --wait $n 2>/dev/null | grep -q /x1d"
done
run e1d as "$UC" timeout 40 "$SP" -d "$S" apply --targets 2 --wait -- env
check "1d: a later task on that engine gets none of them in its environment" eval "[ -s '$T/e1d.out' ] && ! grep -q '=/x1d' '$T/e1d.out'"
run push1d as "$UC" "$SP" -d "$S" push --targets 2 --wait LD_LIBRARY_PATH=/pushed1d
check_eq "1d: spool push LD_LIBRARY_PATH=/pushed1d (explicit) exits 0" 0 "$RC"
check_eq "1d: ... spool pull shows it" /pushed1d \
	"$(as "$UC" "$SP" -d "$S" pull --targets 2 --wait LD_LIBRARY_PATH 2>/dev/null)"
check "1d: ... and a later task gets it" eval "as '$UC' timeout 40 '$SP' -d '$S' apply --targets 2 --wait -- env 2>/dev/null | grep -qx LD_LIBRARY_PATH=/pushed1d"

# 1a. the attacker creates spool-JOB/ before the victim's task starts. The victim's jobs wait
# behind root's blocker on engine 1; their ids are listed in ctl/jobs/ (readable by the group).
jblk=$(cd "$M/rel" && "$SP" submit --targets 1 -- sh -c "$WAITER" "$M/rel/blk1a")
wait_for 30 is_state "$jblk" 1 running || fail "1a: root's blocker never ran"
# (i) in a sticky world-writable directory: spool-JOB/ made 1777 by B, with a 1.1.vars in it
j1a=$(as "$UA" "$SP" -d "$S" submit --targets 1 --cwd "$M/tmp" -- env)
# (ii) in the group project directory: spool-JOB a symlink to B's directory holding a 1.1.vars
j1a2=$(as "$UA" "$SP" -d "$S" submit --targets 1 --cwd "$M/proj" -- env)
# (iii) the victim's own --output directory, group-writable: the task's files go to its own
# spool-JOB/ there, which B tries to plant 1.1.vars in while it runs
as "$UA" install -d -m 2770 -g "$G" "$M/proj/out1a3"
j1a3=$(as "$UA" "$SP" -d "$S" submit --targets 1 --output "$M/proj/out1a3" -- sh -c "$WAITER" "$M/rel/a1a3")
wait_for 30 eval "as '$UB' ls '$S/ctl/jobs' 2>/dev/null | grep -q '^$j1a3\\.'" ||
	echo "note: $UB could not list $UA's job ids in ctl/jobs/ (the attack then needs a guess)"
as "$UB" sh -c 'mkdir "$1" && printf "ATT1A_PLANTED=yes\nLD_PRELOAD=/nonexistent-1a.so\n" >"$1/1.1.vars" && chmod 644 "$1/1.1.vars" && chmod 1777 "$1"' \
	sh "$M/tmp/spool-$j1a" || fail "1a: setup: $UB could not plant $M/tmp/spool-$j1a"
l1a2=$(lair lair1a2)
as "$UB" sh -c 'printf "ATT1A2_PLANTED=yes\n" >"$1/1.1.vars" && chmod 644 "$1/1.1.vars" && ln -s "$1" "$2"' \
	sh "$l1a2" "$M/proj/spool-$j1a2" || fail "1a: setup: $UB could not plant the link $M/proj/spool-$j1a2"
release blk1a
wait_for 40 is_state "$j1a3" 1 "running|$TERMINAL" || fail "1a(iii): $UA's task never started"
as "$UB" sh -c 'printf "ATT1A3_PLANTED=yes\n" >"$1/1.1.vars"' sh "$M/proj/out1a3/spool-$j1a3" 2>/dev/null
release a1a3
for j in "$j1a" "$j1a2" "$j1a3"; do wait_for 40 is_state "$j" 1 "$TERMINAL" || fail "1a: job $j never ended"; done

IFS=$'\t' read -r st rs <<<"$(task_json "$j1a" 1)"
check_eq "1a(i): $UA's task whose spool-JOB/ was made by $UB (1777) fails" failed "$st"
check "1a(i): ... the reason names the path $M/tmp/spool-$j1a (got: '$rs')" eval "[[ \"\$rs\" == *'$M/tmp/spool-$j1a'* ]]"
check "1a(i): ... and nothing of $UA's is written in $UB's directory" \
	test -z "$(files_not_of "$M/tmp/spool-$j1a" "$UB")"
check "1a(i): the task's own output does not show the planted variable" \
	eval "! grep -q ATT1A_PLANTED '$M/tmp/spool-$j1a/1.1.out' 2>/dev/null"
IFS=$'\t' read -r st rs <<<"$(task_json "$j1a2" 1)"
check_eq "1a(ii): $UA's task whose spool-JOB is $UB's symlink fails" failed "$st"
check "1a(ii): ... the reason names the path $M/proj/spool-$j1a2 (got: '$rs')" eval "[[ \"\$rs\" == *'$M/proj/spool-$j1a2'* ]]"
check "1a(ii): ... and nothing is written through the link into $UB's directory" test -z "$(files_not_of "$l1a2" "$UB")"
IFS=$'\t' read -r st rs <<<"$(task_json "$j1a3" 1)"
check_eq "1a(iii): $UA's task given a --output directory writable by group $G runs in its own spool-JOB/ there" succeeded "$st"
check "1a(iii): ... $M/proj/out1a3/spool-$j1a3 is $UA's and writable by no one else" \
	eval "[ \"\$(stat -c %U '$M/proj/out1a3/spool-$j1a3')\" = '$UA' ] && [ \$((0\$(stat -c %a '$M/proj/out1a3/spool-$j1a3') & 022)) -eq 0 ]"
check "1a(iii): ... and $UB's 1.1.vars is not in it" eval "! grep -q ATT1A3_PLANTED '$M/proj/out1a3/spool-$j1a3/1.1.vars' 2>/dev/null"
run pull1a as "$UA" timeout 40 "$SP" -d "$S" pull --targets 1 --wait ATT1A_PLANTED ATT1A2_PLANTED ATT1A3_PLANTED LD_PRELOAD
check "1a: $UA's engine 1 has none of the planted variables (spool pull shows none)" \
	eval "! grep -q -e yes -e nonexistent-1a '$T/pull1a.out'"
run env1a as "$UA" timeout 40 "$SP" -d "$S" apply --targets 1 --wait -- env
check_eq "1a: a later task of $UA on engine 1 runs" 0 "$RC"
check "1a: ... without any planted variable in its environment" \
	eval "! grep -q -e _PLANTED= -e nonexistent-1a '$T/env1a.out'"

# 1b. spool-JOB swapped for a symlink to B's directory while a task runs (root's and A's).
j1br=$(cd "$M/proj" && "$SP" submit --targets 1 --timeout 60 -- sh -c "$WAITER" "$M/rel/r1b")
j1ba=$(as "$UA" "$SP" -d "$S" submit --targets 2 --timeout 60 --cwd "$M/proj" -- sh -c "$WAITER" "$M/rel/a1b")
wait_for 30 is_state "$j1br" 1 running || fail "1b: root's task never ran"
wait_for 30 is_state "$j1ba" 1 running || fail "1b: $UA's task never ran"
l1br=$(lair lair1br) l1ba=$(lair lair1ba)
run swap1b as "$UB" sh -c 'mv "$1" "$1.moved" && ln -s "$2" "$1" && mv "$3" "$3.moved" && ln -s "$4" "$3"' \
	sh "$M/proj/spool-$j1br" "$l1br" "$M/proj/spool-$j1ba" "$l1ba"
[ "$RC" = 0 ] || fail "1b: setup: $UB could not swap the directories: $(cat "$T/swap1b.err")"
release r1b
release a1b
wait_for 40 is_state "$j1br" 1 "$TERMINAL" || fail "1b: root's task never ended"
wait_for 40 is_state "$j1ba" 1 "$TERMINAL" || fail "1b: $UA's task never ended"
check "1b: nothing of root's task (.out/.err/.res/.vars) is written into $UB's directory through the swapped link" \
	test -z "$(files_not_of "$l1br" "$UB")"
check "1b: nothing of $UA's task is written into $UB's directory through the swapped link" \
	test -z "$(files_not_of "$l1ba" "$UB")"

# 1c. B replaces A's finished results (the project directory lets B rename A's spool-JOB).
j1c=$(as "$UA" "$SP" -d "$S" submit --cwd "$M/proj" -- echo victim-1c)
run co1c0 as "$UA" timeout 40 "$SP" -d "$S" collect --timeout 30 "$j1c"
check_eq "1c: $UA's job in the project directory succeeds" "0 victim-1c" "$RC $(cat "$T/co1c0.out")"
j1c2=$(as "$UA" "$SP" -d "$S" submit --cwd "$M/proj" -- echo victim-1c2)
run co1c20 as "$UA" timeout 40 "$SP" -d "$S" collect --timeout 30 "$j1c2"
forge='mv "$1" "$1.moved" && mkdir -m 755 "$2" && echo ATTACKER-1C >"$2/1.1.out" && : >"$2/1.1.err" &&
	{ cp "$1.moved/1.1.res" "$2/1.1.res" 2>/dev/null || :; } && chmod 644 "$2"/*'
# (i) replaced by B's own directory; (ii) by a symlink to B's directory with the same forged files
run forge1c as "$UB" sh -c "$forge" sh "$M/proj/spool-$j1c" "$M/proj/spool-$j1c"
run forge1c2 as "$UB" sh -c "$forge && ln -s \"\$2\" \"\$1\"" sh "$M/proj/spool-$j1c2" "$M/$UB/lair1c2"
[ -f "$M/proj/spool-$j1c/1.1.out" ] && [ -f "$M/proj/spool-$j1c2/1.1.out" ] ||
	fail "1c: setup: $UB could not replace the results: $(cat "$T/forge1c.err" "$T/forge1c2.err")"
for k in 1c 1c2; do
	eval "j=\$j$k"
	run "co$k" as "$UA" timeout 40 "$SP" -d "$S" collect --timeout 30 "$j"
	check "$k: $UA's spool collect of results replaced by $UB exits non-zero (got $RC)" test "$RC" -ne 0
	check "$k: ... and never prints $UB's content" eval "! grep -q ATTACKER-1C '$T/co$k.out' '$T/co$k.err'"
	check "$k: ... it says which file it refused ($M/proj/spool-$j/1.1.out or .res)" \
		grep -qF -e "$M/proj/spool-$j/1.1.out" -e "$M/proj/spool-$j/1.1.res" "$T/co$k.err"
done

# ============ 1e: a race loop, for at least 30 s ============
# B watches ctl/jobs/ and, for every new job, plants spool-JOB/ (1777, with vars files) in the
# sticky directory (and for half the jobs in the project directory) before the worker makes it,
# and swaps every spool-JOB the worker made in the project directory for a link to a directory
# of forged results (it may: the directory is the group's and not sticky); it puts back every
# vars file a task removed from the directories it planted.
cat >"$M/attacker.sh" <<'EOF'
S=$1 M=$2
declare -A seen
for f in "$S"/ctl/jobs/*.state; do f=${f##*/}; seen[${f%.state}]=old; done
planted=0 swapped=0 replanted=0
while [ ! -e "$M/stop-attack" ]; do
	for f in "$S"/ctl/jobs/*.state; do
		id=${f##*/}; id=${id%.state}
		[ "${seen[$id]:-}" = old ] && continue
		for d in "$M/tmp" "$M/proj"; do
			p=$d/spool-$id
			# In the project directory only about half the jobs are planted in advance: the
			# others are left for the worker to make their directory, which is then swapped.
			if [ ! -e "$p" ] && [ ! -L "$p" ] && { [ "$d" = "$M/tmp" ] || [[ $id == [0-9a-h]* ]]; }; then
				if mkdir -m 1777 "$p" 2>/dev/null; then
					for t in 1 2 3; do printf 'RACE_PLANTED=yes\nLD_PRELOAD=/nonexistent-race.so\n' >"$p/$t.1.vars"; done
					chmod 644 "$p"/*.vars; planted=$((planted + 1))
				fi
			elif [ -d "$p" ] && [ ! -L "$p" ] && [ -O "$p" ]; then
				# B's own: put back the vars files a task removed (root may, even here)
				for t in 1 2 3; do
					[ -e "$p/$t.1.vars" ] && continue
					printf 'RACE_PLANTED=yes\nLD_PRELOAD=/nonexistent-race.so\n' >"$p/$t.1.vars" &&
						chmod 644 "$p/$t.1.vars" && replanted=$((replanted + 1))
				done
			elif [ "$d" = "$M/proj" ] && [ -d "$p" ] && [ ! -L "$p" ]; then
				l="$M/sptest_b/trap-$id-$RANDOM"
				mkdir -m 777 "$l" && for t in 1 2 3; do echo "ATTACKER-RACE $t" >"$l/$t.1.out"; chmod 666 "$l/$t.1.out"; done
				mv "$p" "$p.moved$RANDOM" 2>/dev/null && ln -s "$l" "$p" && swapped=$((swapped + 1))
			fi
		done
	done
	echo "$planted $swapped $replanted" >"$M/sptest_b/attack-count.tmp" && mv "$M/sptest_b/attack-count.tmp" "$M/sptest_b/attack-count"
	sleep 0.02
done
EOF
chmod 644 "$M/attacker.sh"
(cd "$M/$UB" && exec setpriv --reuid "$UB" --regid "$(id -g "$UB")" --init-groups -- bash "$M/attacker.sh" "$S" "$M") \
	2>"$T/attacker.err" &
att=$!
X_PIDS="$X_PIDS $att"
race_end=$((SECONDS + 30)) rounds=0 jobs=0
task='env; sleep 0.2; echo VICTIM-$0'
: >"$T/race.out"
while [ $SECONDS -lt $race_end ]; do
	ra="" rr=""
	for d in "$M/tmp" "$M/proj"; do
		ra="$ra $(as "$UA" "$SP" -d "$S" map --timeout 30 --cwd "$d" -- sh -c "$task" {} ::: 1 2 3)"
		rr="$rr $(cd "$d" && "$SP" submit --timeout 30 -- sh -c "$task" root)"
	done
	for j in $ra; do as "$UA" timeout 40 "$SP" -d "$S" collect --timeout 30 "$j" >>"$T/race.out" 2>&1; done
	for j in $rr; do timeout 40 "$SP" collect --timeout 30 "$j" >>"$T/race.out" 2>&1; done
	jobs=$((jobs + $(echo $ra $rr | wc -w)))
	rounds=$((rounds + 1))
done
touch "$M/stop-attack"
wait_for 10 eval "! alive $att" || kill -KILL "$att"
wait "$att" 2>/dev/null
read -r planted swapped replanted <"$M/sptest_b/attack-count" 2>/dev/null || planted=0 swapped=0 replanted=0
echo "race: $rounds rounds, $jobs jobs; the attacker planted $planted directories, swapped $swapped, re-planted $replanted vars files"
check "1e: the race was on: $jobs jobs, $planted planted directories, $swapped swapped links (each > 0)" \
	test "$jobs" -gt 0 -a "${planted:-0}" -gt 0 -a "${swapped:-0}" -gt 0
written=$( { for p in "$M/tmp"/spool-* "$M/proj"/spool-* "$M/$UB"/trap-*; do
	[ -d "$p" ] && [ ! -L "$p" ] && [ "$(stat -c %U "$p")" = "$UB" ] && files_not_of "$p" "$UB"; done; } | wc -l)
check_eq "1e: files of the victims' tasks written into $UB's directories" 0 "$written"
check_eq "1e: lines of $UB's forged results printed by collect" 0 "$(grep -c ATTACKER-RACE "$T/race.out")"
check_eq "1e: output lines of tasks that saw a planted variable (RACE_PLANTED or its LD_PRELOAD)" 0 "$(grep -c -e RACE_PLANTED -e nonexistent-race "$T/race.out")"
for who in "$UA" root; do
	if [ "$who" = root ]; then pre=(); else pre=(as "$UA"); fi
	run "pull1e-$who" "${pre[@]}" timeout 40 "$SP" -d "$S" pull --wait RACE_PLANTED LD_PRELOAD
	check "1e: no engine keeps a planted variable for $who (spool pull RACE_PLANTED LD_PRELOAD)" \
		eval "! grep -q -e yes -e nonexistent-race '$T/pull1e-$who.out'"
	run "env1e-$who" "${pre[@]}" timeout 40 "$SP" -d "$S" apply --wait -- env
	check "1e: a later task of $who on every engine has no planted variable" \
		eval "[ -s '$T/env1e-$who.out' ] && ! grep -q -e RACE_PLANTED -e nonexistent-race '$T/env1e-$who.out' '$T/env1e-$who.err'"
done
check "1e: spoold and the worker are still running" eval "alive $SPOOLD_PID && alive $WORKER_PID"
jok=$(cd "$T" && "$SP" submit -- echo still-fine)
check_eq "1e: a job in a private directory still runs afterwards" still-fine \
	"$(timeout 40 "$SP" collect --timeout 30 "$jok" 2>/dev/null)"
