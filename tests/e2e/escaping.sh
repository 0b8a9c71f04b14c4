#!/bin/bash
# escaping.sh - what a user puts in a name, a path or a reason never forges a log line or drives
# a terminal (issue 9, section 5): a working directory named with a newline, "FORGED" and an
# escape sequence leaves no log line of spoold or the worker starting with FORGED and no raw ESC
# byte in the logs, in `spool status` or around the task's output in `spool collect`. And a job
# state is believed only as written by the controller (spool-layout.md 12): a submitter who
# rewrites their own state to claim another uid does not get it into that user's `spool status`,
# and every reader refuses it, naming the file.
#
# Part 2 needs root (it uses the users sptest_a and sptest_b of multiuser.sh, creating them if
# missing and leaving them in place); it is skipped, with the reason, otherwise.
# checks: 51
. "$(dirname "$0")/../lib.sh"

has() { grep -qF -- "$2" "$T/$1.err"; } # NAME TEXT: does its stderr contain TEXT?
ESC=$(printf '\033')
# clean FILE...: no raw ESC byte and no line starting with FORGED in any of them
clean() { ! grep -q "$ESC" "$@" && ! grep -q '^FORGED' "$@"; }
# no_raw_ctl FILE...: no byte below 0x20 but newline, and no DEL, in any of them
no_raw_ctl() { ! LC_ALL=C grep -q "$(printf '[\001-\011\013-\037\177]')" "$@"; }

# ===== 1. a working directory whose name carries a newline and an escape sequence =====
make_spool
start_spoold
bad="$T/data/d
FORGED ${ESC}[31mred
FORGED tab	bell$(printf '\a') del$(printf '\177')"
mkdir -p "$bad/gone"

# A job whose working directory is gone when it runs: its reason names the path, in the
# worker's log, in its state and in what collect prints. The worker starts after the rmdir.
jgone=$(cd "$bad/gone" && spool submit -- echo never)
check "a job submitted from the hostile directory is accepted ($jgone)" test -n "$jgone"
rmdir "$bad/gone"
# ... and one whose directory stays: it runs, and collect prints its output plainly.
jok=$(cd "$bad" && spool submit -- echo task-output)
start_worker 1
wait_engines 1 || exit 1
run gone spool collect --timeout 30 "$jgone"
check_eq "the job in the removed directory fails (collect exits 1)" 1 "$RC"
check "  ... with a reason naming its working directory (escaped: %0A for the newline)" \
	has gone "$T/data/d%0AFORGED %1B[31mred%0AFORGED tab%09bell%07 del%7F"
check "  ... collect's summary has no raw ESC and no line starting with FORGED" clean "$T/gone.out" "$T/gone.err"
check "  ... nor any other raw control byte" no_raw_ctl "$T/gone.err"
run ok spool collect --timeout 30 "$jok"
check_eq "the job in the hostile directory runs (collect exits 0)" 0 "$RC"
check_eq "  ... and collect prints its output" task-output "$(cat "$T/ok.out")"
check "  ... its output directory is beside the data, under the hostile name" test -f "$bad/spool-$jok/1.1.out"
run followed spool collect --follow --tag "$jgone"
check "collect --follow --tag (headers, tags, summary): no raw ESC, no line starting with FORGED" \
	clean "$T/followed.out" "$T/followed.err"
run st1 spool status "$jgone"
check_eq "spool status JOB exits 0" 0 "$RC"
check "  ... shows the reason, escaped" grep -qF "d%0AFORGED %1B[31mred" "$T/st1.out"
check "  ... with no raw ESC and no line starting with FORGED" clean "$T/st1.out" "$T/st1.err"
run stall spool status
check "spool status (every job): no raw ESC, no line starting with FORGED" clean "$T/stall.out" "$T/stall.err"
run stjson spool status --json "$jgone"
check "spool status --json JOB: no raw ESC (JSON escapes it)" clean "$T/stjson.out"

# A record named with a newline and an escape sequence: rejected, logged as one line.
qname="bad
FORGED ${ESC}[31m.job"
printf 'spool-record 1 job\nend\n' >"$SPOOL_DIR/incoming/$qname"
for i in $(seq 200); do compgen -G "$SPOOL_DIR/quarantine/*.reason" >/dev/null && break; sleep 0.05; done
check "a record with a hostile name is quarantined with a .reason" sh -c "ls '$SPOOL_DIR'/quarantine/*.reason >/dev/null"
check "  ... whose .reason is one line" sh -c "[ \$(cat '$SPOOL_DIR'/quarantine/*.reason | wc -l) = 1 ]"
check "  ... with no raw control byte" no_raw_ctl "$SPOOL_DIR"/quarantine/*.reason

# Submitting from a directory that does not exist: the client's own error is escaped too.
run nodir spool submit --cwd "$T/data/missing
FORGED ${ESC}[31m" -- true
check_eq "a submit with a hostile missing --cwd exits 3" 3 "$RC"
check "  ... saying the directory does not exist, escaped" has nodir "missing%0AFORGED %1B[31m does not exist"
check "  ... with no raw ESC and no line starting with FORGED" clean "$T/nodir.err"

check "no line of spoold's log starts with FORGED, none holds a raw ESC" clean "$T/spoold.log"
check "no line of the worker's log starts with FORGED, none holds a raw ESC" clean "$T/worker.log"
check "  ... the worker did log the failure (so the check above saw the path)" \
	grep -qF "d%0AFORGED %1B[31mred" "$T/worker.log"
check "no raw control byte (but newlines) in either log" no_raw_ctl "$T/spoold.log" "$T/worker.log"
for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
for p in $PIDS; do wait "$p" 2>/dev/null; done
PIDS=""

# ===== 2. a state file rewritten by its owner (root controller, shared spool) =====
# (A root controller gives states to their owners.)
UA=sptest_a UB=sptest_b G=sptest_g
test_users "forged job states" "$UA" "$UB"
uid_a=$(id -u "$UA") uid_b=$(id -u "$UB")
M=$(mktemp -d /tmp/spool-esc.XXXXXX)
chmod 755 "$M"
for u in "$UA" "$UB"; do install -d -o "$u" -g "$(id -g "$u")" -m 755 "$M/$u"; done
trap 'cleanup; rm -rf "$M"' EXIT
S="$M/spool"
export SPOOL_DIR="$S"
SP="$SPOOL_BIN/spool"
ids_of() { awk '{ print $1 }' "$T/$1.out" | grep -E '^[0-9a-z]{10}$' | sort | xargs; }

spool init --group "$G" "$S" >/dev/null || { fail "spool init --group $G"; exit 1; }
sed -i -e 's/^rescan_interval.*/rescan_interval = 0.2;/' -e 's/^heartbeat_interval.*/heartbeat_interval = 0.2;/' \
	-e 's/^dead_timeout.*/dead_timeout = 3.0;/' -e 's/^kill_grace.*/kill_grace = 1.0;/' "$S/spool.conf"
start_spoold
start_worker 1
wait_engines 1 || exit 1
ja=$(as "$UA" "$SP" -d "$S" submit -- echo from-a)
jb=$(as "$UB" "$SP" -d "$S" submit -- echo from-b)
run co-a as "$UA" "$SP" -d "$S" collect --timeout 30 "$ja"
check_eq "A's job runs" "0 from-a" "$RC $(cat "$T/co-a.out")"
run co-b as "$UB" "$SP" -d "$S" collect --timeout 30 "$jb"
check_eq "B's job runs" "0 from-b" "$RC $(cat "$T/co-b.out")"
f="$S/ctl/jobs/$ja.state"
check_eq "A's finished state is A's, 0600" "$UA 600" "$(stat -c '%U %a' "$f")"

# A rewrites the content of the file it owns (it cannot replace it: ctl/jobs/ is root's 0755),
# claiming B as the owner, and lets everyone read it.
run forge as "$UA" sh -c 'sed "s/^owner .*/owner $1/" "$2" >"$3" && cat "$3" >"$2" && chmod 644 "$2"' \
	sh "$uid_b" "$f" "$M/$UA/forged"
check_eq "A can rewrite its own state to claim uid $uid_b (the attack)" 0 "$RC"
check "  ... the file now says 'owner $uid_b' and is still A's" \
	sh -c "grep -qx 'owner $uid_b' '$f' && [ \"\$(stat -c %U '$f')\" = $UA ]"
run new as "$UA" touch "$S/ctl/jobs/$jb.state"
run repl as "$UA" sh -c 'cp "$1" "$2" 2>/dev/null || mv "$1" "$2"' sh "$M/$UA/forged" "$S/ctl/jobs/zzzzzzzzzz.state"
check "A can neither create nor replace a state file (ctl/jobs/ is root's 0755)" \
	sh -c "[ ! -e '$S/ctl/jobs/zzzzzzzzzz.state' ] && [ \"\$(stat -c %U '$S/ctl/jobs/$jb.state')\" = $UB ]"

run ls-b as "$UB" "$SP" -d "$S" status
check_eq "B: spool status exits 0" 0 "$RC"
check_eq "B: spool status lists B's job only, not A's forged one" "$jb" "$(ids_of ls-b)"
run st-b as "$UB" "$SP" -d "$S" status "$ja"
check_eq "B: spool status FORGED exits 3" 3 "$RC"
check "  ... it is A's job, not B's (the owner is the file's owner)" has st-b "job $ja belongs to uid $uid_a, not to you"
check_eq "  ... and prints nothing of it" "" "$(cat "$T/st-b.out")"
run co-b2 as "$UB" timeout 30 "$SP" -d "$S" collect --no-wait "$ja"
check_eq "B: spool collect FORGED exits 3" 3 "$RC"
check_eq "  ... and prints none of A's output" "" "$(cat "$T/co-b2.out")"
run js-b as "$UB" "$SP" -d "$S" collect --json --no-wait "$ja"
check_eq "B: spool collect --json FORGED exits 3" 3 "$RC"
run st-r spool status "$ja"
check_eq "root: spool status FORGED exits 3 (refused)" 3 "$RC"
check "  ... naming the file" has st-r "$S/ctl/jobs/$ja.state"
check "  ... which belongs to uid $uid_a but says owner $uid_b" has st-r "belongs to uid $uid_a but says its owner is uid $uid_b"
run st-a as "$UA" "$SP" -d "$S" status "$ja"
check_eq "A: spool status of A's own forged state exits 3 (refused)" 3 "$RC"
run ls-r spool status
check "root: spool status does not list the forged job" sh -c "! grep -q '^$ja' '$T/ls-r.out'"
check "  ... but says on stderr that it ignored it" has ls-r "$S/ctl/jobs/$ja.state"
check "  ... and still lists B's job" grep -q "^$jb" "$T/ls-r.out"

# A controller that rebuilds a lost database does not take the forged state for its own.
kill -TERM "$SPOOLD_PID"; wait "$SPOOLD_PID" 2>/dev/null
db="$S/ctl/queue.db"
rm -f "$db" "$db-wal" "$db-shm"
start_spoold
for i in $(seq 300); do grep -q "rebuild: ignoring ctl/jobs/$ja.state" "$T/spoold.log" && break; sleep 0.1; done
check "rebuild: spoold ignores the forged state of $ja, saying so" grep -q "rebuild: ignoring ctl/jobs/$ja.state" "$T/spoold.log"
check "  ... but takes B's own state as it is" sh -c "! grep -q 'ignoring ctl/jobs/$jb.state' '$T/spoold.log'"
# (until its job is done: a state still to be republished would undo the tampering below; its
# summary says "state done")
for i in $(seq 1200); do
	[ "$(stat -c %U "$f")" = "$UA" ] && grep -qx "owner $uid_a" "$f" && grep -qx 'state done' "$f" && break
	sleep 0.1
done
check "  ... runs A's task again and publishes A's state anew (owner $uid_a, A's file, 0600)" \
	sh -c "grep -qx 'owner $uid_a' '$f' && [ \"\$(stat -c '%U %a' '$f')\" = '$UA 600' ]"
as "$UA" sh -c 'sed "s/^owner .*/owner $1/" "$2" >"$3" && cat "$3" >"$2" && chmod 644 "$2"' sh "$uid_b" "$f" "$M/$UA/forged"

# A state made writable by others is not believed either, whatever it says.
as "$UA" sh -c 'sed "s/^owner .*/owner $1/" "$2" >"$3" && cat "$3" >"$2" && chmod 666 "$2"' sh "$uid_a" "$f" "$M/$UA/honest"
run st-w spool status "$ja"
check_eq "root: a state writable by others is refused (exit 3)" 3 "$RC"
check "  ... saying so and naming the file" has st-w "$S/ctl/jobs/$ja.state"
as "$UA" chmod 600 "$f"
run st-h as "$UA" "$SP" -d "$S" status "$ja"
check_eq "A: once the state says A again and is 0600, A sees it (exit 0)" 0 "$RC"
