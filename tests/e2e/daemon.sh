#!/bin/bash
# daemon.sh - spoold and spool-worker behave like daemons: every start-up error is printed on
# stderr with exit 3 before they detach (in daemon mode as with -f); in the background they say
# where they log and, without syslog (log = "file"), log to DIR/log/ (made safely); SIGHUP
# rereads spool.conf (applies what it can, names what waits for a restart, keeps the old
# settings on a bad file); SIGUSR1 logs a status line and SIGUSR2 is ignored; SIGTSTP/SIGCONT
# stop and continue a worker; a task that dies of the same SIGTERM as its worker (a batch
# system ending an allocation) is requeued, not failed.
# checks: 77
. "$(dirname "$0")/../lib.sh"
make_spool
cd "$T"

has() { grep -qF -- "$2" "$T/$1.err"; } # NAME TEXT: does its stderr contain TEXT?
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
gone() { ! alive "$1"; }
# stop_pid PID: SIGTERM, and wait (with a deadline) until it is gone (a daemon is not our child).
stop_pid() { kill -TERM "$1" 2>/dev/null; wait_for 60 gone "$1"; }

# --- 1. start-up errors, in daemon mode and with -f, before anything detaches ---
for p in spoold spool-worker; do
	for mode in daemon fg; do
		f=""; [ $mode = fg ] && f=-f
		run "nospool-$p-$mode" $p $f -d "$T/nonexistent"
		check_eq "$p ($mode) on a missing spool exits 3" 3 "$RC"
		check "  ... saying 'no spool at' on stderr" has "nospool-$p-$mode" "no spool at $T/nonexistent"
	done
done
cp "$SPOOL_DIR/spool.conf" "$T/conf.good"
echo "prefetch = 2;" >>"$SPOOL_DIR/spool.conf" # a duplicate setting
line=$(wc -l <"$SPOOL_DIR/spool.conf")
for p in spoold spool-worker; do
	for mode in daemon fg; do
		f=""; [ $mode = fg ] && f=-f
		run "badconf-$p-$mode" $p $f
		check_eq "$p ($mode) with a bad spool.conf exits 3" 3 "$RC"
		check "  ... naming the file and line on stderr" has "badconf-$p-$mode" "spool.conf:$line:"
	done
done
cp "$T/conf.good" "$SPOOL_DIR/spool.conf"

# An error found after the fork (the database cannot be made) used to reach only the log, with
# exit 0 from the command: the daemon now reports it before it detaches.
: >"$T/afile" # a database under a plain file cannot be created
sed -i "s|^database = .*|database = \"$T/afile/queue.db\";|" "$SPOOL_DIR/spool.conf"
run baddb-daemon spoold
check_eq "spoold (daemon) whose database cannot be created exits 3" 3 "$RC"
check "  ... saying so on stderr" has baddb-daemon "$T/afile"
check "  ... and leaves no controller running" sh -c '! spool status 2>/dev/null | grep -q "^controller: running"'
cp "$T/conf.good" "$SPOOL_DIR/spool.conf"

start_spoold
start_worker 1
wait_engines 1 || exit 1
for mode in daemon fg; do
	f=""; [ $mode = fg ] && f=-f
	run "second-spoold-$mode" spoold $f
	check_eq "a second spoold ($mode) exits 3" 3 "$RC"
	check "  ... naming the first one's pid on stderr" has "second-spoold-$mode" "pid $SPOOLD_PID"
	run "second-worker-$mode" spool-worker $f -n 1
	check_eq "a second spool-worker ($mode) on the node exits 3" 3 "$RC"
	check "  ... naming the first one's pid on stderr" has "second-worker-$mode" "(pid $WORKER_PID)"
done
check "the first spoold still runs" alive "$SPOOLD_PID"
check "the first worker still runs" alive "$WORKER_PID"

# --- 3. SIGHUP, SIGUSR1, SIGUSR2 (foreground daemons: their log is their stderr) ---
sed -i 's/^prefetch = .*/prefetch = 3;/; s/^inotify = .*/inotify = false;/; s/^log_level = .*/log_level = "debug";/' \
	"$SPOOL_DIR/spool.conf"
kill -HUP "$SPOOLD_PID" "$WORKER_PID"
wait_until "spoold logs the settings it applied on SIGHUP" 60 \
	grep -q 'spoold: SIGHUP: reread .*applied prefetch, log_level; changed but kept until a restart: inotify' "$T/spoold.log" &&
	pass "spoold's SIGHUP line names the applied settings and the one kept until a restart"
wait_until "the worker logs the settings it applied on SIGHUP" 60 \
	grep -q 'spool-worker: SIGHUP: reread .*applied prefetch, log_level; changed but kept until a restart: inotify' "$T/worker.log" &&
	pass "the worker's SIGHUP line names the applied settings and the one kept until a restart"
# log_level = debug took effect: the worker logs each task it starts at debug level.
out=$(spool submit --wait -- echo after-hup 2>&1); rc=$?
check_eq "a task runs after the SIGHUP" 0 "$rc"
check "the worker now logs at debug level (applied live)" grep -q 'spool-worker: debug: engine .* started' "$T/worker.log"

echo 'log_level = "loud";' >>"$SPOOL_DIR/spool.conf"
line=$(wc -l <"$SPOOL_DIR/spool.conf")
kill -HUP "$SPOOLD_PID" "$WORKER_PID"
wait_until "spoold logs the bad spool.conf on SIGHUP" 60 \
	grep -q "spoold: error: SIGHUP: keeping the settings in use: .*spool.conf:$line: duplicate setting" "$T/spoold.log" &&
	pass "a bad spool.conf on SIGHUP: spoold keeps its settings and names the line"
wait_until "the worker logs the bad spool.conf on SIGHUP" 60 \
	grep -q "spool-worker: error: SIGHUP: keeping the settings in use: .*spool.conf:$line:" "$T/worker.log" &&
	pass "a bad spool.conf on SIGHUP: the worker keeps its settings and names the line"
sed -i '$d' "$SPOOL_DIR/spool.conf"
sed -i 's/^log_level = .*/log_level = "loud";/' "$SPOOL_DIR/spool.conf"
line=$(grep -n '^log_level' "$SPOOL_DIR/spool.conf" | cut -d: -f1)
kill -HUP "$WORKER_PID"
wait_until "the worker names a bad value's setting and line" 60 \
	grep -q "spool-worker: error: SIGHUP: keeping the settings in use: .*spool.conf:$line: log_level \"loud\" is not one of" "$T/worker.log" &&
	pass "a bad value on SIGHUP names the setting and its line"
check "spoold still runs after the SIGHUPs" alive "$SPOOLD_PID"
check "the worker still runs after the SIGHUPs" alive "$WORKER_PID"
cp "$T/conf.good" "$SPOOL_DIR/spool.conf"

kill -USR1 "$SPOOLD_PID" "$WORKER_PID"
wait_until "spoold's status line on SIGUSR1" 60 grep -q 'spoold: status: pid .* 1 worker known (1 alive); tasks: succeeded 1' "$T/spoold.log" &&
	pass "SIGUSR1: spoold logs a status line (workers, tasks by state)"
wait_until "the worker's status line on SIGUSR1" 60 grep -q 'spool-worker: status: worker .* registered; 1 engine, 0 running' "$T/worker.log" &&
	pass "SIGUSR1: the worker logs a status line (engines, running tasks)"
kill -USR2 "$SPOOLD_PID" "$WORKER_PID"
kill -USR1 "$SPOOLD_PID" "$WORKER_PID"
wait_until "a second status line from each" 60 sh -c "[ \$(grep -c 'spoold: status:' '$T/spoold.log') -ge 2 ] && [ \$(grep -c 'spool-worker: status:' '$T/worker.log') -ge 2 ]"
check "spoold survives SIGUSR1 and SIGUSR2" alive "$SPOOLD_PID"
check "the worker survives SIGUSR1 and SIGUSR2" alive "$WORKER_PID"
out=$(spool submit --wait -- echo after-usr 2>&1); rc=$?
check_eq "a task still runs after SIGUSR1 and SIGUSR2" 0 "$rc"

# --- SIGTSTP / SIGCONT: the worker stops, and goes on where it was ---
if [ -n "${SPOOL_VALGRIND:-}" ]; then
	skip "SIGTSTP and SIGCONT: a program under valgrind keeps running on SIGTSTP (valgrind's own signal handling), so not checked under valgrind"
else
	kill -TSTP "$WORKER_PID"
	wait_until "the worker stopped on SIGTSTP" 60 grep -q '^State:.*T' "/proc/$WORKER_PID/status" &&
		pass "SIGTSTP stops the worker"
	j=$(spool submit -- echo after-cont); rc=$?
	check_eq "a job is accepted while the worker is stopped" 0 "$rc"
	kill -CONT "$WORKER_PID"
	out=$(spool collect --timeout 120 "$j" 2>&1); rc=$?
	check_eq "after SIGCONT the worker runs the job" "0 after-cont" "$rc $out"
fi

# --- a task killed by the same SIGTERM as its worker (Slurm's scancel) is requeued ---
j=$(spool submit -- sh -c "if [ -e '$T/second' ]; then echo second-run; else echo \$\$ >'$T/taskpid'; exec sleep 600; fi")
wait_until "the task started" 120 test -s "$T/taskpid"
tp=$(cat "$T/taskpid")
kill -TERM "$tp" "$WORKER_PID"
wait_for 60 gone "$WORKER_PID"
check "the worker ended on SIGTERM" gone "$WORKER_PID"
check "  ... logging that it ended its task without a failure report" \
	grep -Eq "task $j\.1\.1 (ended .* as the worker was told to stop|ended after it was revoked)" "$T/worker.log"
wait_until "the task back in the queue" 120 sh -c "spool status $j | grep -q 'queued'" &&
	pass "the task the step's SIGTERM killed is queued again, not failed"
check "  ... and no failure was reported for it" sh -c "! spool status $j | grep -Eq 'failed|signaled'"
touch "$T/second"
start_worker 1
out=$(spool collect --timeout 120 "$j" 2>&1); rc=$?
check_eq "a new worker runs it to success" "0 second-run" "$rc $out"
stop_pid "$WORKER_PID"
stop_pid "$SPOOLD_PID"

# --- 2. in the background: where they log, and a log file under the spool ---
sed -i 's/^log = .*/log = "file";/' "$SPOOL_DIR/spool.conf"
run bg-spoold spoold
check_eq "spoold (daemon, log = file) exits 0 once started" 0 "$RC"
check "  ... saying where it logs" has bg-spoold "spoold: logging to $SPOOL_DIR/log/spoold.log"
dpid=$(sed -n 's/^pid //p' "$SPOOL_DIR/ctl/controller")
[ -n "$dpid" ] && PIDS="$PIDS $dpid"
check "  ... and is running as soon as the command returned" sh -c "spool status | grep -q '^controller: running (pid $dpid '"
check "its log file has the start line" grep -q "spoold\[$dpid\]: controlling spool $SPOOL_DIR" "$SPOOL_DIR/log/spoold.log"
check_eq "  ... mode 0600, owned by the spool's owner" "600 $(stat -c %u "$SPOOL_DIR")" \
	"$(stat -c '%a %u' "$SPOOL_DIR/log/spoold.log")"
check "  ... in a directory no one else may write" sh -c "[ \$((0$(stat -c %a "$SPOOL_DIR/log") & 022)) = 0 ]"
run bg-worker spool-worker -n 1 --name "dnode"
check_eq "spool-worker (daemon, log = file) exits 0 once started" 0 "$RC"
check "  ... saying where it logs" has bg-worker "spool-worker: logging to $SPOOL_DIR/log/worker-dnode.log"
wpid=$(sed -n 's/.*runs in the background (pid \([0-9]*\)).*/\1/p' "$T/bg-worker.err")
[ -n "$wpid" ] && PIDS="$PIDS $wpid"
check "its log file has the start line" grep -q "spool-worker\[$wpid\]: worker dnode-.* 1 engine, waiting for the controller" \
	"$SPOOL_DIR/log/worker-dnode.log"
out=$(spool submit --wait -- echo in-background 2>&1); rc=$?
check_eq "the daemons run a task" 0 "$rc"
kill -HUP "$dpid"
wait_until "the SIGHUP line in spoold's log file" 60 grep -q 'SIGHUP: reread .*no change to apply' "$SPOOL_DIR/log/spoold.log" &&
	pass "SIGHUP is logged in the log file"
stop_pid "$wpid"
check "the worker (daemon) stops on SIGTERM" gone "$wpid"
stop_pid "$dpid"
check "spoold (daemon) stops on SIGTERM" gone "$dpid"
check "  ... logging its stop in the file" grep -q 'stopping on signal' "$SPOOL_DIR/log/spoold.log"

# The file is opened safely: a link planted in its place is refused, not followed.
mv "$SPOOL_DIR/log/spoold.log" "$T/spoold.log.saved"
ln -s "$T/victim" "$SPOOL_DIR/log/spoold.log"
run link-spoold spoold
check_eq "spoold refuses a symbolic link as its log file: exit 3" 3 "$RC"
check "  ... saying so on stderr" has link-spoold "log file $SPOOL_DIR/log/spoold.log"
check "  ... and wrote nothing through it" test ! -e "$T/victim"
rm "$SPOOL_DIR/log/spoold.log"
ln -s "$T/victim" "$SPOOL_DIR/log/worker-wlink.log"
run link-worker spool-worker -n 1 --name wlink
check_eq "spool-worker (daemon) refuses a symbolic link as its log file: exit 3" 3 "$RC"
check "  ... saying so on stderr" has link-worker "log file $SPOOL_DIR/log/worker-wlink.log"
check "  ... and wrote nothing through it" test ! -e "$T/victim"
check "  ... and left no worker behind (its node lock is free)" flock -n "$SPOOL_DIR/vars/.lock.wlink" true
# Rotation: with log_max_size tiny, the file is renamed to .1 and a new one started.
sed -i 's/^log_max_size = .*/log_max_size = 0.01;/' "$SPOOL_DIR/spool.conf"
run rot-spoold spoold
check_eq "spoold with log_max_size = 0.01 starts" 0 "$RC"
dpid=$(sed -n 's/^pid //p' "$SPOOL_DIR/ctl/controller")
[ -n "$dpid" ] && PIDS="$PIDS $dpid"
# Each SIGUSR1 adds a status line (signals sent at once would merge into one: one per poll).
wait_until "the log rotated to spoold.log.1" 120 sh -c "kill -USR1 $dpid; test -s '$SPOOL_DIR/log/spoold.log.1'" &&
	pass "the log file rotates to .1 at log_max_size"
check "  ... and neither file is much beyond the limit" sh -c \
	"[ \$(stat -c %s '$SPOOL_DIR/log/spoold.log') -le 12000 ] && [ \$(stat -c %s '$SPOOL_DIR/log/spoold.log.1') -le 12000 ]"
stop_pid "$dpid"
cp "$T/conf.good" "$SPOOL_DIR/spool.conf"

# log = "auto" with no syslog socket: the file (only where this machine has none).
if [ -S /dev/log ]; then
	skip "log = auto without syslog: this machine has a syslog socket at /dev/log"
else
	run auto-spoold spoold
	check_eq "spoold (auto, no /dev/log) starts" 0 "$RC"
	check "  ... logging to the file, saying why" has auto-spoold "logging to $SPOOL_DIR/log/spoold.log (no syslog socket at /dev/log)"
	dpid=$(sed -n 's/^pid //p' "$SPOOL_DIR/ctl/controller")
	[ -n "$dpid" ] && PIDS="$PIDS $dpid"
	stop_pid "$dpid"
fi
