#!/bin/bash
# errors.sh - clear messages and the documented exit codes for what users get wrong: no
# spool, a newer spool, a broken spool.conf, bad working directories, unknown jobs, a
# second init or controller, records the controller cannot read; and --help/--version.
# checks: 95
. "$(dirname "$0")/../lib.sh"
make_spool
cd "$T"

has() { grep -qF -- "$2" "$T/$1.err"; } # NAME TEXT: does its stderr contain TEXT?

# --- no spool ---
run nospool spool -d /nonexistent status
check_eq "spool -d /nonexistent status exits 3" 3 "$RC"
check "  ... and says 'no spool at /nonexistent'" has nospool "no spool at /nonexistent"
run nospool2 env -u SPOOL_DIR spool status
check_eq "no -d and no SPOOL_DIR exits 3" 3 "$RC"
check "  ... and says to use -d or SPOOL_DIR" has nospool2 "use -d DIR or set SPOOL_DIR"
mkdir "$T/plain"
run plain spool -d "$T/plain" collect abc
check_eq "a directory that is not a spool exits 3" 3 "$RC"
check "  ... and says it has no format file" has plain "no spool at $T/plain (it has no 'format' file)"
for p in spoold spool-worker; do
	run "nospool-$p" $p -f -d /nonexistent
	check_eq "$p -d /nonexistent exits 3" 3 "$RC"
	check "  ... and says 'no spool at'" has "nospool-$p" "no spool at /nonexistent"
done

# --- a spool made by a newer version ---
cp "$SPOOL_DIR/format" "$T/format.saved"
echo "spool-layout 9" >"$SPOOL_DIR/format"
run newer spool status
check_eq "a spool with layout 9 exits 3" 3 "$RC"
check "  ... and says to upgrade spool" has newer "upgrade spool"
check "  ... naming the layout" has newer "has layout 9"
for p in spoold spool-worker; do
	run "newer-$p" $p -f
	check_eq "$p refuses layout 9 with exit 3" 3 "$RC"
	check "  ... and says to upgrade spool" has "newer-$p" "upgrade spool"
done
cp "$T/format.saved" "$SPOOL_DIR/format"

# --- an invalid spool.conf ---
cp "$SPOOL_DIR/spool.conf" "$T/conf.saved"
line=$(( $(wc -l <"$SPOOL_DIR/spool.conf") + 1 ))
echo "rescan_interval = = 3;" >>"$SPOOL_DIR/spool.conf"
run badconf spool status
check_eq "a syntax error in spool.conf exits 3" 3 "$RC"
check "  ... and names spool.conf:$line:" has badconf "$SPOOL_DIR/spool.conf:$line:"
for p in spoold spool-worker; do
	run "badconf-$p" $p -f
	check_eq "$p refuses a broken spool.conf with exit 3" 3 "$RC"
	check "  ... naming spool.conf:$line:" has "badconf-$p" "spool.conf:$line:"
done
cp "$T/conf.saved" "$SPOOL_DIR/spool.conf"
echo "no_such_setting = 1;" >>"$SPOOL_DIR/spool.conf"
run unkconf spool status
check_eq "an unknown setting in spool.conf exits 3" 3 "$RC"
check "  ... and names the setting and its line" sh -c "grep -q 'spool.conf:$line:.*no_such_setting' '$T/unkconf.err'"
cp "$T/conf.saved" "$SPOOL_DIR/spool.conf"
echo 'log_level = "debug";' >>"$SPOOL_DIR/spool.conf"
run dupconf spool status
check_eq "a setting given twice exits 3" 3 "$RC"
check "  ... naming the line and showing it (so the setting)" has dupconf "spool.conf:$line: duplicate setting name: 'log_level = \"debug\";'"
check "  ... and pointing to a command that works" has dupconf "spool config --defaults"
spool config --defaults >"$T/defaults.conf"; rc=$?
check_eq "spool config --defaults exits 0" 0 "$rc"
spool init "$T/fresh" >/dev/null 2>&1
check "  ... and prints every setting, the same text spool init writes" cmp -s "$T/defaults.conf" "$T/fresh/spool.conf"
cp "$T/conf.saved" "$SPOOL_DIR/spool.conf"
run goodconf spool status
check_eq "with spool.conf restored, status exits 0" 0 "$RC"

# From here on a controller and a worker run.
start_spoold
start_worker 1
wait_engines 1 || exit 1

# --- working directories ---
mkdir -p "$T/rel/sub"
j=$(spool submit --cwd rel/sub -- pwd)
check "submit --cwd rel/sub succeeds" test -n "$j"
check_eq "a relative --cwd runs the task in the absolute directory" "$T/rel/sub" "$(spool collect "$j" 2>/dev/null)"
# (accepted records move from incoming/ to ctl/jobs/ in batches, within a second)
check "the accepted job record holds the absolute cwd" wait_for 30 grep -qx "cwd $T/rel/sub" "$SPOOL_DIR/ctl/jobs/$j.job"
check "the results went beside the data in that directory" test -f "$T/rel/sub/spool-$j/1.1.res"
run nocwd spool submit --cwd "$T/no-such-dir" -- true
check_eq "a --cwd that does not exist exits 3" 3 "$RC"
check "  ... and says it does not exist" has nocwd "$T/no-such-dir does not exist"
check_eq "  ... and prints no job id" "" "$(cat "$T/nocwd.out")"
run nocwd2 spool submit --cwd no-such-rel -- true
check_eq "a relative --cwd that does not exist exits 3" 3 "$RC"
check "  ... and names it made absolute" has nocwd2 "$T/no-such-rel does not exist"
check_eq "nothing was submitted by the refused submits" "" "$(ls "$SPOOL_DIR/incoming")"

# --- a job id that does not exist ---
run nojob spool collect nosuchjob1
check_eq "collect nosuchjob1 exits 4" 4 "$RC"
check "  ... and says there is no job" has nojob "no job 'nosuchjob1'"
run nojob2 spool status nosuchjob1
check_eq "status nosuchjob1 exits 4" 4 "$RC"
check "  ... and says there is no job" has nojob2 "no job 'nosuchjob1'"
run nojob3 spool cancel nosuchjob1
check_eq "cancel nosuchjob1 exits 4" 4 "$RC"
run nojob4 spool collect --no-wait 'bad/id'
check_eq "collect of a malformed id exits 4" 4 "$RC"
check "  ... and says it is not a job id" has nojob4 "is not a job id"

# --- spool init on an existing spool ---
key=$(cat "$SPOOL_DIR/key")
run reinit spool init "$SPOOL_DIR"
check_eq "spool init on an existing spool exits 3" 3 "$RC"
check "  ... and says it already holds a spool" has reinit "already holds a spool"
check_eq "  ... and leaves its key alone" "$key" "$(cat "$SPOOL_DIR/key")"

# --- a second controller ---
run second spoold -f
check_eq "a second spoold on the same spool exits 3" 3 "$RC"
check "  ... and names the pid of the first" has second "pid $SPOOLD_PID"
run second-daemon spoold
check_eq "a second spoold started as a daemon also exits 3" 3 "$RC"
check "  ... and names the pid of the first on stderr" has second-daemon "pid $SPOOLD_PID"

# --- a second worker on the node ---
run second-worker spool-worker -n 1
check_eq "a second spool-worker on the node started as a daemon exits 3 (it used to exit 0)" 3 "$RC"
check "  ... saying so on stderr with the first's pid" has second-worker "already runs as node $(hostname) (pid $WORKER_PID)"
check "  ... and the first one still serves" sh -c 'kill -0 '"$WORKER_PID"
run other-daemon spool-worker -n 1 --name "errors-daemon-$$"
check_eq "a worker started as a daemon under another name exits 0" 0 "$RC"
check "  ... saying it runs in the background and where it logs" has other-daemon "runs in the background (pid"
dpid=$(sed -n 's/.*runs in the background (pid \([0-9]*\)).*/\1/p' "$T/other-daemon.err")
check "  ... and its lock file names the daemon's pid, not the parent's" \
	wait_for 60 sh -c "[ -n '$dpid' ] && grep -qx '$dpid' '$SPOOL_DIR/vars/.lock.errors-daemon-$$'"
[ -n "$dpid" ] && kill "$dpid" 2>/dev/null
# A lock held by someone other than the worker whose pid it names (the shepherds of a dead
# worker, or a worker of the same name elsewhere): waited for, then refused, saying both.
lk="$SPOOL_DIR/vars/.lock.errors-held-$$"
echo 999999999 >"$lk"
(exec 9>>"$lk" && flock 9 && exec sleep 120) & # (the sleep itself holds it: killed below)
fpid=$!
wait_for 30 sh -c "! flock -n '$lk' true" || fail "the test could not hold $lk"
run held-lock spool-worker -f -n 1 --name "errors-held-$$"
check_eq "a worker whose node lock stays held, by no running worker, exits 3 after waiting" 3 "$RC"
check "  ... having said that it waits for the last worker's task processes" has held-lock "(pid 999999999) has died; waiting"
check "  ... then naming the lock file, fuser, and a worker of that name elsewhere" \
	sh -c "grep -q 'vars/.lock.errors-held-$$ is still locked' '$T/held-lock.err' && grep -q 'fuser -v' '$T/held-lock.err' && grep -q 'another machine' '$T/held-lock.err'"
kill "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null
check "the first spoold is still running" kill -0 "$SPOOLD_PID"
check "status still names the first spoold" sh -c "spool status | grep -q '^controller: running (pid $SPOOLD_PID '"

# --- records the controller cannot read go to quarantine ---
drop() { # NAME: move $T/rec into incoming/NAME whole, as a client would
	cp "$T/rec" "$SPOOL_DIR/incoming/.tmp.$1" && mv "$SPOOL_DIR/incoming/.tmp.$1" "$SPOOL_DIR/incoming/$1"
}
wait_quarantined() { # NAME: wait until NAME left incoming/ and its .reason exists
	local i
	for i in $(seq 1200); do
		[ ! -e "$SPOOL_DIR/incoming/$1" ] && ls "$SPOOL_DIR/quarantine/"*".$1.reason" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}
printf 'spool-record 2 job\nid fmtjob2\ncwd %s\narg true\nend\n' "$T" >"$T/rec"
drop fmtjob2.job
check "a record of a newer format is quarantined" wait_quarantined fmtjob2.job
check "  ... the record itself is kept there" sh -c "ls '$SPOOL_DIR/quarantine/' | grep -qx '[a-z0-9]*\.fmtjob2\.job'"
check "  ... with a .reason mentioning 'record format'" sh -c "grep -q 'record format 2' '$SPOOL_DIR'/quarantine/*.fmtjob2.job.reason"
head -c 3000 /dev/urandom >"$T/rec"
drop garbage1.job
check "garbage bytes in incoming/ are quarantined" wait_quarantined garbage1.job
check "  ... with a reason" sh -c "test -s \"\$(ls '$SPOOL_DIR'/quarantine/*.garbage1.job.reason)\""
echo hello >"$T/rec"
drop notes.txt
check "a file with an unexpected name is quarantined" wait_quarantined notes.txt
check "  ... with a reason naming the expected names" sh -c "grep -q 'unexpected file name' '$SPOOL_DIR'/quarantine/*.notes.txt.reason"
# Things that are not plain files are refused without being followed or read.
ln -s /etc/passwd "$SPOOL_DIR/incoming/link1.job"
check "a symbolic link in incoming/ is quarantined" wait_quarantined link1.job
check "  ... with a reason saying so" sh -c "grep -q 'symbolic link' '$SPOOL_DIR'/quarantine/*.link1.job.reason"
check "  ... and its target is untouched" test -s /etc/passwd
mkfifo "$SPOOL_DIR/incoming/fifo1.job"
check "a FIFO in incoming/ is quarantined (spoold does not block on it)" wait_quarantined fifo1.job
mkdir "$SPOOL_DIR/incoming/.tmp.dir1" && mv "$SPOOL_DIR/incoming/.tmp.dir1" "$SPOOL_DIR/incoming/dir1.job"
check "a directory in incoming/ is quarantined" wait_quarantined dir1.job
check "spoold keeps running after rejecting records" kill -0 "$SPOOLD_PID"
check_eq "and still completes a good task afterwards" "still ok" "$(spool submit --wait -- echo still ok 2>/dev/null)"
check "spool doctor counts the rejected records" sh -c "spool doctor | grep -q '6 rejected records'"

# --- --help and --version ---
for p in spool spoold spool-worker; do
	run "help-$p" $p --help
	check_eq "$p --help exits 0" 0 "$RC"
	check "  ... and prints usage on stdout" grep -q "^usage: $p" "$T/help-$p.out"
	run "version-$p" $p --version
	check_eq "$p --version exits 0" 0 "$RC"
	check "  ... and prints '$p VERSION'" grep -Eqx "$p [0-9]+\.[0-9]+\.[0-9]+" "$T/version-$p.out"
done
check_eq "the three programs report the same version" 1 \
	"$(cat "$T"/version-*.out | awk '{ print $2 }' | sort -u | wc -l)"
run usage spool frobnicate
check_eq "an unknown command exits 2" 2 "$RC"
run usage2 spool collect
check_eq "collect without a job exits 2" 2 "$RC"
