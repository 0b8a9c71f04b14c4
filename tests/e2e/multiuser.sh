#!/bin/bash
# multiuser.sh - a shared spool used by two users (section 12 of spool-layout.md): a root worker
# runs each task as its submitter, with the submitter's groups, and writes their files as them;
# one user cannot read, collect, cancel or list another's jobs, nor write the daemons'
# directories; a forged cancel is quarantined; variables are per user; a uid without an account
# is refused; a symlink planted beside the data is not written through; a worker run by a
# non-root account runs only that account's tasks; programs refuse a spool with unsafe modes.
#
# Needs root (it creates the users sptest_a and sptest_b and the group sptest_g, and acts as
# them with setpriv). They are created only if missing and LEFT IN PLACE afterwards, so the test
# is idempotent and other checkouts running it at the same time share them.
# checks: 125
. "$(dirname "$0")/../lib.sh"

UA=sptest_a UB=sptest_b G=sptest_g
test_users "a shared spool used by two users" "$UA" "$UB"
uid_a=$(id -u "$UA") uid_b=$(id -u "$UB") gid_g=$(getent group "$G" | cut -d: -f3)

# lib.sh's $T is 0700: the users need a directory they can reach. One data directory each.
M=$(mktemp -d /tmp/spool-mu.XXXXXX)
chmod 755 "$M"
for u in "$UA" "$UB"; do install -d -o "$u" -g "$(id -g "$u")" -m 755 "$M/$u"; done
S="$M/spool"
export SPOOL_DIR="$S"
SP="$SPOOL_BIN/spool"

# Processes started as user A (section 4): stopped by pid at the end even if the test aborts.
A_PIDS=""
mu_cleanup() {
	for p in $A_PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $A_PIDS; do wait "$p" 2>/dev/null; done
	cleanup
	rm -rf "$M"
}
trap mu_cleanup EXIT

has() { grep -qF -- "$2" "$T/$1.err"; } # NAME TEXT: does its stderr contain TEXT?
fast_conf() { # SPOOL_CONF [as USER]: the fast timers of make_spool (edited as the file's owner)
	local f=$1; shift
	"$@" sed -i -e 's/^rescan_interval.*/rescan_interval = 0.2;/' -e 's/^heartbeat_interval.*/heartbeat_interval = 0.2;/' \
		-e 's/^dead_timeout.*/dead_timeout = 3.0;/' -e 's/^kill_grace.*/kill_grace = 1.0;/' "$f"
}
state_of() { spool status "$1" 2>/dev/null | awk -v t="${2:-1}" '$1 == t { print $2 }'; } # as root
wait_state() { # JOB TASK STATE
	local i
	for i in $(seq 200); do [ "$(state_of "$1" "$2")" = "$3" ] && return 0; sleep 0.05; done
	return 1
}
wait_file() { # PATTERN: until a file matches (globs expanded as root)
	local i
	for i in $(seq 200); do compgen -G "$1" >/dev/null && return 0; sleep 0.05; done
	return 1
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# ===== 1. a root controller and a root worker on a spool shared with group sptest_g =====
run init spool init --group "$G" "$S"
check_eq "spool init --group $G exits 0" 0 "$RC"
fast_conf "$S/spool.conf"
check_eq "the spool directory is root:$G 0750" "root:$G 750" "$(stat -c '%U:%G %a' "$S")"
check_eq "incoming/ is 3733 (sticky, setgid, not listable)" 3733 "$(stat -c %a "$S/incoming")"
start_spoold
start_worker 2
wait_engines 2 || exit 1

# --- each task runs as its submitter, with the submitter's groups, and its files are theirs ---
for u in "$UA" "$UB"; do
	j=$(as "$u" "$SP" -d "$S" submit -- sh -c 'id -u; id -g; id -G')
	eval "job_$u=$j"
	run "ids-$u" as "$u" "$SP" -d "$S" collect --timeout 20 "$j"
	check_eq "$u: its task succeeds" 0 "$RC"
	check_eq "$u: the task runs with $u's uid" "$(id -u "$u")" "$(sed -n 1p "$T/ids-$u.out")"
	check_eq "$u: ... and $u's primary gid" "$(id -g "$u")" "$(sed -n 2p "$T/ids-$u.out")"
	check_eq "$u: ... and exactly $u's groups" "$(id -G "$u" | tr ' ' '\n' | sort -n | xargs)" \
		"$(sed -n 3p "$T/ids-$u.out" | tr ' ' '\n' | sort -n | xargs)"
	check "$u: ... which include $G (gid $gid_g)" sh -c "sed -n 3p '$T/ids-$u.out' | tr ' ' '\n' | grep -qx $gid_g"
	check_eq "$u: its .out, .err and .res files belong to $u" "$u $u $u" \
		"$(cd "$M/$u/spool-$j" && stat -c %U 1.1.out 1.1.err 1.1.res | xargs)"
	check_eq "$u: ... and so does its output directory" "$u" "$(stat -c %U "$M/$u/spool-$j")"
done
ja=$job_sptest_a jb=$job_sptest_b
jr=$(cd "$T" && spool submit -- sh -c 'id -u; id -G')
run ids-root spool collect --timeout 20 "$jr"
check_eq "root: a task root submitted runs as root" "0" "$(sed -n 1p "$T/ids-root.out")"
check_eq "root: ... with root's groups only" "$(id -G root)" "$(sed -n 2p "$T/ids-root.out")"
check_eq "root: ... and its files are root's" "root root root" \
	"$(cd "$T/spool-$jr" && stat -c %U 1.1.out 1.1.err 1.1.res | xargs)"

# --- what B may not touch in the spool ---
# (A's accepted record moves from incoming/ to ctl/jobs/ in a batch, within a second)
wait_for 30 test -e "$S/ctl/jobs/$ja.job"
run readjob as "$UB" cat "$S/ctl/jobs/$ja.job"
check "B cannot read A's job record ctl/jobs/$ja.job" test "$RC" -ne 0
check "  ... permission denied" has readjob "Permission denied"
run readstate as "$UB" cat "$S/ctl/jobs/$ja.state"
check "B cannot read A's job state (0600, given to A)" sh -c "[ $RC -ne 0 ] && grep -q 'Permission denied' '$T/readstate.err'"
run lsin as "$UB" ls "$S/incoming"
check "B cannot list incoming/" sh -c "[ $RC -ne 0 ] && grep -q 'Permission denied' '$T/lsin.err'"
run key as "$UB" cat "$S/key"
check "B cannot read the key" sh -c "[ $RC -ne 0 ] && grep -q 'Permission denied' '$T/key.err' && ! grep -q . '$T/key.out'"
for d in ctl ctl/jobs ctl/w workers vars quarantine; do
	run "w-${d//\//-}" as "$UB" touch "$S/$d/probe-b"
	check "B cannot create a file in $d/" sh -c "[ $RC -ne 0 ] && [ ! -e '$S/$d/probe-b' ]"
done
run mvrec as "$UB" mv "$S/ctl/jobs/$ja.job" "$S/incoming/$ja.stolen"
check "B cannot move A's record out of ctl/jobs/" sh -c "[ $RC -ne 0 ] && [ -f '$S/ctl/jobs/$ja.job' ]"

# --- B cannot see, collect or cancel A's job; A's job is unaffected ---
rel="$M/$UA/release"
jw=$(as "$UA" "$SP" -d "$S" submit -- sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done; echo released' "$rel")
check "A's waiting job $jw runs" wait_state "$jw" 1 running
not_yours="job $jw belongs to uid $uid_a, not to you (uid $uid_b)"
run st-b as "$UB" "$SP" -d "$S" status "$jw"
check_eq "B: spool status A_JOB exits 3" 3 "$RC"
check "  ... saying it belongs to uid $uid_a, not to B" has st-b "$not_yours"
check_eq "  ... and prints nothing of it" "" "$(cat "$T/st-b.out")"
run co-b as "$UB" timeout 20 "$SP" -d "$S" collect "$jw"
check_eq "B: spool collect A_JOB exits 3 (at once, without waiting)" 3 "$RC"
check "  ... saying it is not B's" has co-b "$not_yours"
run js-b as "$UB" "$SP" -d "$S" collect --json --no-wait "$jw"
check_eq "B: spool collect --json A_JOB exits 3 too" 3 "$RC"
run ca-b as "$UB" "$SP" -d "$S" cancel "$jw"
check_eq "B: spool cancel A_JOB exits 3" 3 "$RC"
check "  ... saying it is not B's" has ca-b "$not_yours"
run ca-b2 as "$UB" "$SP" -d "$S" cancel "$jw.1"
check_eq "B: spool cancel A_JOB.1 exits 3" 3 "$RC"
# A cancel record B writes straight into incoming/, the way a client would.
cname="$jw.x7k2m9q4.cancel"
run forge as "$UB" sh -c 'printf "spool-record 1 cancel\njob %s\nend\n" "$1" >"$2/.tmp.forged" && mv "$2/.tmp.forged" "$2/$3"' \
	sh "$jw" "$S/incoming" "$cname"
check_eq "B can still drop a cancel record for A's job into incoming/" 0 "$RC"
check "  ... spoold quarantines it" wait_file "$S/quarantine/*.$cname.reason"
check "  ... with the reason 'uid $uid_b may not cancel job $jw of uid $uid_a'" \
	grep -qF "uid $uid_b may not cancel job $jw of uid $uid_a" "$(compgen -G "$S/quarantine/*.$cname.reason" | head -1)"
check "  ... and the record left incoming/" test ! -e "$S/incoming/$cname"
sleep 0.5
check_eq "A's job is still running after all that" running "$(state_of "$jw" 1)"
as "$UA" touch "$rel"
run co-a as "$UA" "$SP" -d "$S" collect --timeout 20 "$jw"
check_eq "A's job then completes (collect as A exits 0)" 0 "$RC"
check_eq "  ... with its own output" released "$(cat "$T/co-a.out")"
check_eq "  ... succeeded, not cancelled" succeeded "$(state_of "$jw" 1)"

# --- status lists your own jobs; --json names each job's owner ---
ids_of() { awk '{ print $1 }' "$T/$1.out" | grep -E '^[0-9a-z]{10}$' | sort | xargs; } # job ids listed
run ls-b as "$UB" "$SP" -d "$S" status
check_eq "B: spool status exits 0" 0 "$RC"
check_eq "B: spool status lists B's jobs only" "$jb" "$(ids_of ls-b)"
run ls-a as "$UA" "$SP" -d "$S" status
check_eq "A: spool status lists A's jobs only" "$(echo "$ja" "$jw" | tr ' ' '\n' | sort | xargs)" "$(ids_of ls-a)"
run ls-r spool status
check_eq "root: spool status lists every job" "$(echo "$ja" "$jb" "$jw" "$jr" | tr ' ' '\n' | sort | xargs)" \
	"$(ids_of ls-r)"
# --user chooses among the jobs one may see: root sees each user's; A asking for B's sees none.
run lsu-r spool status --user "$UA"
check_eq "root: spool status --user A lists A's jobs only, each with A's name" \
	"$(echo "$ja" "$jw" | tr ' ' '\n' | sort | xargs) $UA $UA" \
	"$(ids_of lsu-r) $(awk -v a="$ja" -v w="$jw" '$1 == a || $1 == w { print $2 }' "$T/lsu-r.out" | xargs)"
run lsu-b spool status --user "$uid_b"
check_eq "root: spool status --user B's uid lists B's job only" "$jb" "$(ids_of lsu-b)"
run lsu-ab as "$UA" "$SP" -d "$S" status --user "$UB"
check_eq "A: spool status --user B lists nothing (B's jobs are not A's to see)" "0 " "$RC $(ids_of lsu-ab)"
run acct-r spool acct --json
check_eq "root: spool acct totals one line per user (A, B, root), A's with its 2 jobs" "root:1 $UA:2 $UB:1" \
	"$(python3 -c 'import json,sys; print(" ".join(sorted("%s:%d" % (u["user"], u["jobs"]) for u in json.load(sys.stdin)["users"])))' <"$T/acct-r.out")"
run acct-b as "$UB" "$SP" -d "$S" acct --json
check_eq "B: spool acct sees B's job only, its result record read (B's own, in B's directory)" "$jb $UB True" \
	"$(python3 -c 'import json,sys; d = json.load(sys.stdin); print(" ".join(x["job"] for x in d["jobs"]), d["users"][0]["user"], d["jobs"][0]["unreadable"] == 0 and d["jobs"][0]["attempts"] == 1)' <"$T/acct-b.out")"
check_eq "A: collect --json shows A's uid as the owner" "$uid_a" \
	"$(as "$UA" "$SP" -d "$S" collect --json "$ja" 2>/dev/null | json_field owner)"
check_eq "B: collect --json shows B's uid as the owner" "$uid_b" \
	"$(as "$UB" "$SP" -d "$S" collect --json "$jb" 2>/dev/null | json_field owner)"
check_eq "root: collect --json shows 0 for root's job" 0 "$(spool collect --json "$jr" 2>/dev/null | json_field owner)"

# --- variables are per user ---
run push-a as "$UA" "$SP" -d "$S" push --targets 1 --wait x=1
check_eq "A: spool push --targets 1 x=1 exits 0" 0 "$RC"
run pull-a as "$UA" "$SP" -d "$S" pull --targets 1 --wait x
check_eq "A: pull x on engine 1 gives 1" 1 "$(cat "$T/pull-a.out")"
run pull-b as "$UB" "$SP" -d "$S" pull --targets 1 --wait x
check_eq "B: pull x on the same engine exits 1" 1 "$RC"
check "  ... there is no variable x for B" has pull-b "no variable 'x' on engine 1"
check_eq "  ... and A's value is not printed" "" "$(cat "$T/pull-b.out")"
check_eq "B: a task on engine 1 does not see \$x" "x=[unset]" \
	"$(as "$UB" "$SP" -d "$S" submit --targets 1 --wait -- sh -c 'echo "x=[${x-unset}]"' 2>/dev/null)"
check_eq "A: a task on engine 1 sees x=1" "x=[1]" \
	"$(as "$UA" "$SP" -d "$S" submit --targets 1 --wait -- sh -c 'echo "x=[${x-unset}]"' 2>/dev/null)"
check "A's variables are kept apart, in vars/*.u$uid_a, mode 0600" \
	sh -c "stat -c %a '$S'/vars/*.u$uid_a | grep -qx 600"

# --- the root worker looks a user up once, not for every task (accounts may come from LDAP) ---
if strace -f -o /dev/null true 2>/dev/null; then
	strace -p "$WORKER_PID" -e trace=openat,open,connect -o "$T/worker.strace" 2>/dev/null &
	st_pid=$!
	sleep 0.5
	run lookups as "$UA" "$SP" -d "$S" map --wait -- true ::: 1 2 3 4 5 6 7 8
	check_eq "A: a map of 8 tasks succeeds (worker traced)" 0 "$RC"
	kill "$st_pid" 2>/dev/null; wait "$st_pid" 2>/dev/null
	check "  ... the worker ran them without reading the passwd or group database again" \
		sh -c "! grep -Eq 'passwd|group|nscd|sss' '$T/worker.strace' && grep -q openat '$T/worker.strace'"
else
	skip "worker account lookups: strace is not installed"
fi

# --- a submitter's record is durable and taken even when spoold takes it at once ---
# The rename into incoming/ is held up (strace delays it), so spoold has taken the record by the
# time the client commits it: the client must not look it up by name again (it used to, and then
# said "nothing was submitted" about a job that ran).
if strace -f -o /dev/null true 2>/dev/null; then
	run slow as "$UB" timeout 30 strace -f -o "$M/$UB/strace.txt" -e trace=utimensat,syncfs,rename,renameat,renameat2 \
		-e inject=rename,renameat,renameat2:delay_exit=500000 \
		env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$SP" -d "$S" submit -- echo durable
	# (LeakSanitizer refuses to run under ptrace: in a sanitizer build it would fail the submit.)
	check_eq "B: a submit whose record spoold takes before the client commits it exits 0" 0 "$RC"
	check "  ... and does not say 'nothing was submitted'" sh -c "! grep -q 'nothing was submitted' '$T/slow.err'"
	check_eq "  ... and the job runs" durable \
		"$(as "$UB" "$SP" -d "$S" collect --timeout 20 "$(cat "$T/slow.out")" 2>/dev/null)"
	check "  ... the record was committed with syncfs (B cannot fsync incoming/)" \
		grep -q '^[0-9]* *syncfs(.*= 0' "$M/$UB/strace.txt"
	# With spoold stopped the record stays. Its place in B's own order is in the record (client
	# and seq, spool-layout.md 7): the client neither touches incoming/ nor sleeps on the file
	# server's clock (it used to, until the clock had passed the record's mtime).
	kill -STOP "$SPOOLD_PID"
	run probe as "$UB" env ASAN_OPTIONS=detect_leaks=0 timeout 30 strace -f -o "$M/$UB/strace2.txt" -e trace=utimensat,nanosleep,clock_nanosleep \
		"$SP" -d "$S" submit -- true
	check "B: a submit does not wait on the file server's clock (no utimensat, no sleep)" \
		sh -c "grep -q 'exited with 0' '$M/$UB/strace2.txt' && ! grep -Eq '^[0-9]* *(utimensat|nanosleep|clock_nanosleep)\(' '$M/$UB/strace2.txt'"
	check "  ... its record (still in incoming/: spoold is stopped) carries its client and seq" \
		sh -c "grep -q '^client ' '$S/incoming/$(cat "$T/probe.out").job' && grep -Eq '^seq [0-9]+\$' '$S/incoming/$(cat "$T/probe.out").job'"
	kill -CONT "$SPOOLD_PID"
else
	skip "strace cannot trace here: the submit-versus-ingest race is not checked"
fi

# ===== 2. a submitter with no account on the node =====
nouid=4242
while getent passwd "$nouid" >/dev/null; do nouid=$((nouid + 1)); done
# A valid record made by spool submit in a spool with no controller, then given to the uid.
spool init "$T/scratch" >/dev/null
jn=$(cd "$M" && spool -d "$T/scratch" submit -- echo should not run)
chown "$nouid" "$T/scratch/incoming/$jn.job"
mv "$T/scratch/incoming/$jn.job" "$S/incoming/$jn.job"
run nouid spool collect --timeout 20 "$jn"
check_eq "uid $nouid (no passwd entry): collect exits 1" 1 "$RC"
check "  ... the reason says it has no account on node" has nouid "uid $nouid, has no account on node"
check_eq "  ... the job is $nouid's" "$nouid" "$(spool collect --json "$jn" 2>/dev/null | json_field owner)"
check_eq "  ... its task never ran: no output" "" "$(cat "$T/nouid.out")"
check "  ... nor an output directory made as anyone" test ! -e "$M/spool-$jn"

# ===== 3. a symlink planted beside the data =====
echo precious >"$M/precious"
chmod 644 "$M/precious"
# (--output DIR: the files go to DIR/spool-JOB; the job waits behind a blocker of B's while the
# link is planted there)
b_blocked() { # FLAG ARGS...: B's job behind a blocker of B's that ends once FLAG exists
	local flag=$1 b; shift
	b=$(as "$UB" "$SP" -d "$S" submit -- sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done' "$flag") || return 1
	as "$UB" "$SP" -d "$S" submit --after "$b" "$@"
}
j3=$(b_blocked "$M/$UB/go3" --output "$M/$UB/out3" -- echo overwritten)
as "$UB" mkdir -p "$M/$UB/out3/spool-$j3"
as "$UB" ln -s "$M/precious" "$M/$UB/out3/spool-$j3/1.1.out"
as "$UB" touch "$M/$UB/go3"
run sym as "$UB" "$SP" -d "$S" collect --timeout 20 "$j3"
check_eq "B: a task whose 1.1.out is a symlink to a root file fails (collect exits 1)" 1 "$RC"
check "  ... the reason says it is a symbolic link, not followed" has sym "$M/$UB/out3/spool-$j3/1.1.out on node"
check "  ... 'is a symbolic link (refused, not followed)'" has sym "is a symbolic link (refused, not followed)"
check_eq "  ... the root-owned target is unchanged" "root precious" "$(stat -c %U "$M/precious") $(cat "$M/precious")"
check "  ... and the link is still a link" test -L "$M/$UB/out3/spool-$j3/1.1.out"
# A symlink planted as the result file is replaced by the atomic rename, never written through.
echo precious >"$M/precious2"
j3b=$(b_blocked "$M/$UB/go3b" --output "$M/$UB/out3b" -- echo fine)
as "$UB" mkdir -p "$M/$UB/out3b/spool-$j3b"
as "$UB" ln -s "$M/precious2" "$M/$UB/out3b/spool-$j3b/1.1.res"
as "$UB" touch "$M/$UB/go3b"
run symres as "$UB" "$SP" -d "$S" collect --timeout 20 "$j3b"
check_eq "B: a task whose 1.1.res was a symlink still succeeds" 0 "$RC"
check_eq "  ... the link's target is unchanged" "root precious" "$(stat -c %U "$M/precious2") $(cat "$M/precious2")"
check "  ... and 1.1.res is now B's own plain file" sh -c "[ ! -L '$M/$UB/out3b/spool-$j3b/1.1.res' ] && [ \"\$(stat -c %U '$M/$UB/out3b/spool-$j3b/1.1.res')\" = $UB ]"

# ===== 4. a spool, controller and worker run by A (not root) =====
AS="$M/$UA/spool"
run a-init as "$UA" "$SP" init --group "$G" "$AS"
check_eq "A: spool init --group $G on a directory A owns exits 0" 0 "$RC"
fast_conf "$AS/spool.conf" as "$UA" # as A: a spool.conf root rewrote would be root's, and refused
check_eq "  ... the spool and its key are A's" "$UA $UA" "$(stat -c %U "$AS" "$AS/key" | xargs)"
(cd "$M/$UA" && exec setpriv --reuid "$UA" --regid "$(id -g "$UA")" --init-groups -- "$SPOOL_BIN/spoold" -f -d "$AS") \
	2>>"$T/a-spoold.log" &
a_spoold=$!
(cd "$M/$UA" && exec setpriv --reuid "$UA" --regid "$(id -g "$UA")" --init-groups -- "$SPOOL_BIN/spool-worker" -f -d "$AS" -n 1 --name anode) \
	2>>"$T/a-worker.log" &
a_worker=$!
A_PIDS="$a_spoold $a_worker"
a_engines() { as "$UA" "$SP" -d "$AS" workers 2>/dev/null | awk 'NR > 1 && $4 != "dead"' | grep -q .; }
for i in $(seq 200); do a_engines && break; sleep 0.1; done
check "A's worker registers with A's spoold" a_engines
check_eq "A's spoold and spool-worker run as A" "$uid_a $uid_a" \
	"$(awk '/^Uid:/ { print $3 }' "/proc/$a_spoold/status" "/proc/$a_worker/status" | xargs)"
j4b=$(as "$UB" "$SP" -d "$AS" submit -- id -u)
check "B can submit to A's spool" test -n "$j4b"
run a-b as "$UB" "$SP" -d "$AS" collect --timeout 20 "$j4b"
check_eq "B: collect of B's task on A's worker exits 1" 1 "$RC"
check "  ... refused: this worker runs as $UA and runs only that user's tasks" \
	sh -c "grep -q 'refused: this worker on node anode runs as $UA (uid $uid_a) and runs only that user.s tasks' '$T/a-b.err'"
check_eq "  ... and B's command never ran" "" "$(cat "$T/a-b.out")"
j4a=$(as "$UA" "$SP" -d "$AS" submit -- id -u)
run a-a as "$UA" "$SP" -d "$AS" collect --timeout 20 "$j4a"
check_eq "A: A's own task on A's worker succeeds" 0 "$RC"
check_eq "  ... as A" "$uid_a" "$(cat "$T/a-a.out")"
kill -TERM $A_PIDS
for p in $A_PIDS; do wait "$p" 2>/dev/null; done
check "A's spoold and spool-worker are stopped (gone from /proc)" sh -c "[ ! -e /proc/$a_spoold ] && [ ! -e /proc/$a_worker ]"
A_PIDS=""

# ===== 4b. a root controller the file server does not let chown (NFS root_squash) =====
# A preloaded fchown that fails with EPERM stands in for the server. The controller must still
# publish each job's state (readable by all, and say so once), not stop publishing.
RS="$M/squash"
printf '#include <errno.h>\n#include <sys/types.h>\nint fchown(int f, uid_t u, gid_t g) { (void)f; (void)u; (void)g; errno = EPERM; return -1; }\n' \
	>"$M/nochown.c"
if ! cc -shared -fPIC -o "$M/nochown.so" "$M/nochown.c" 2>"$T/nochown.err"; then
	fail "root_squash: cannot build the fchown shim: $(cat "$T/nochown.err")"
else
	"$SP" init --group "$G" "$RS" >/dev/null
	fast_conf "$RS/spool.conf"
	LD_PRELOAD="$M/nochown.so" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		"$SPOOL_BIN/spoold" -f -d "$RS" 2>>"$T/squash-spoold.log" &
	rs_spoold=$!
	"$SPOOL_BIN/spool-worker" -f -d "$RS" -n 1 --name squash 2>>"$T/squash-worker.log" &
	rs_worker=$!
	A_PIDS="$rs_spoold $rs_worker"
	jsq=$(as "$UA" "$SP" -d "$RS" submit -- echo squashed)
	run sq as "$UA" "$SP" -d "$RS" collect --timeout 20 "$jsq"
	check_eq "root_squash: A's job is collected all the same" "0 squashed" "$RC $(cat "$T/sq.out")"
	check_eq "  ... its state is published readable by all (it could not be given to A)" "644 root" \
		"$(stat -c '%a %U' "$RS/ctl/jobs/$jsq.state")"
	check "  ... and spoold said why, once" sh -c \
		"[ \$(grep -c 'cannot give job states to their owners.*root_squash' '$T/squash-spoold.log') = 1 ]"
	kill -TERM $A_PIDS
	for p in $A_PIDS; do wait "$p" 2>/dev/null; done
	A_PIDS=""
fi

# ===== 4c. a root worker the file server treats as nobody (NFS root_squash) =====
# A worker without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH stands in for root on such an export:
# it can read a user's 0700 directory only as that user. A's task, under umask 077, sets a
# variable through $SPOOL_VARS: the worker must read the file as A to merge it.
VS="$M/vsquash"
"$SP" init --group "$G" "$VS" >/dev/null
fast_conf "$VS/spool.conf"
"$SPOOL_BIN/spoold" -f -d "$VS" 2>>"$T/vsquash-spoold.log" &
vs_spoold=$!
setpriv --bounding-set -dac_override,-dac_read_search -- \
	"$SPOOL_BIN/spool-worker" -f -d "$VS" -n 1 --name vsquash 2>>"$T/vsquash-worker.log" &
vs_worker=$!
A_PIDS="$vs_spoold $vs_worker"
jvs=$(as "$UA" sh -c "umask 077; exec '$SP' -d '$VS' submit -- sh -c 'echo squashvar=7 >\"\$SPOOL_VARS\"'")
run vsq as "$UA" "$SP" -d "$VS" collect --timeout 20 "$jvs"
check_eq "root_squash worker: A's task setting \$SPOOL_VARS under umask 077 succeeds" 0 "$RC"
check_eq "  ... its output directory was A's alone (0700)" "700 $UA" \
	"$(stat -c '%a %U' "$M/$UA/spool-$jvs" 2>/dev/null)"
run vsq-pull as "$UA" "$SP" -d "$VS" pull --wait squashvar
check_eq "  ... and the variable was merged: the worker read the file as A (pull prints 7)" "0 7" "$RC $(cat "$T/vsq-pull.out")"
kill -TERM $A_PIDS
for p in $A_PIDS; do wait "$p" 2>/dev/null; done
A_PIDS=""

# ===== 5. programs refuse a spool with unsafe owners or modes =====
U="$M/unsafe"
spool init "$U" >/dev/null
refused() { # LABEL TEXT...: status, spoold -f and spool-worker -f each exit 3 naming every TEXT
	local label=$1 p t ok; shift
	for p in spool spoold spool-worker; do
		case $p in spool) run "u-$p" spool -d "$U" status ;; *) run "u-$p" timeout 10 "$p" -f -d "$U" ;; esac
		ok=1
		for t in "unsafe" "$@"; do has "u-$p" "$t" || ok=0; done
		check "$label: $p exits 3 (got $RC) and says $(printf "'%s' " unsafe "$@")" sh -c "[ $RC = 3 ] && [ $ok = 1 ]"
	done
}
chmod 644 "$U/key"
refused "key mode 0644" "$U/key" "chmod 600"
chmod 600 "$U/key"
run u-ok spool -d "$U" status
check_eq "key restored to 0600: status exits 0" 0 "$RC"
chmod o+w "$U/ctl"
refused "ctl/ writable by others" "$U/ctl has owner uid 0 and mode 0757" "chmod go-w $U/ctl"
chmod o-w "$U/ctl"
chmod 0733 "$U/incoming"
refused "incoming/ 0733 without the sticky bit" "$U/incoming has owner uid 0 and mode 0733" "sticky" "chmod 3733"
chmod 0700 "$U/incoming"
chown "$UA" "$U/key"
refused "a key owned by $UA" "$U/key has owner uid $uid_a" "chown 0 $U/key"
chown root "$U/key"
chmod o+w "$U"
refused "the spool directory writable by others" "$U has owner uid 0 and mode 0702" "chmod go-w $U"
chmod 0700 "$U"
run u-ok2 spool -d "$U" status
check_eq "with every mode restored, status exits 0" 0 "$RC"
