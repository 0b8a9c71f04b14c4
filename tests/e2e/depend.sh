#!/bin/bash
# depend.sh - dependencies between jobs (spool-layout.md 5.5) with a real spoold and worker:
# --after waits for the end of a job however it ended, and on one task with JOB.TASK; --afterok
# skips when a dependency failed (with the reason naming its task) and the skip cascades;
# --after-each pairs task i of two maps (a pipeline over 20 items); a dependency on a job that does
# not exist is refused at submit; a restart of spoold and a rebuild of its database keep the
# dependencies; another user's job cannot be depended on (as root: two test users).
# Waiting is never a fixed sleep: jobs are held by gate files and states are polled.
# checks: 44
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2
wait_engines 2 || exit 1
cd "$T"

state_of() { spool status "$1" 2>/dev/null | awk -v t="${2:-1}" '$1 == t { print $2 }'; } # JOB [TASK]
reason_of() { spool status --json "$1" | python3 -c 'import json,sys; t=json.load(sys.stdin)["tasks"]; print(t[int(sys.argv[1])-1]["reason"])' "${2:-1}"; }
waiting_of() { spool status --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["waiting_on"])'; }
is_state() { [ "$(state_of "$1" "$2")" = "$3" ]; } # JOB TASK STATE
waits_on() { [ "$(waiting_of "$1")" = "$2" ]; }    # JOB DEPENDENCY
# A gated job: runs until the file $T/$1 exists, then writes $T/$1.done and exits with $2.
gated() { spool submit -- sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done; echo done >"$0.done"; exit "$1"' "$T/$1" "$2"; }

# ===== --after: B starts only once A ended =====
a=$(gated gate-a 0)
b=$(spool submit --after "$a" -- cat "$T/gate-a.done")
wait_until "A running" 60 is_state "$a" 1 running
wait_until "B published as waiting on A" 60 waits_on "$b" "$a"
# An independent job submitted after B runs on the engine B cannot have: by the time it is done,
# the scheduler has passed over B with a free engine.
x=$(spool submit -- echo free)
run x spool collect --timeout 60 "$x"
check_eq "an independent job runs meanwhile" "free" "$(cat "$T/x.out")"
check_eq "B is still queued while A runs" queued "$(state_of "$b")"
run st env COLUMNS=300 spool status # wide enough for the whole line (80: cut with "...")
check "spool status lists B as 'waiting on A'" grep -q "^$b .*waiting on $a" "$T/st.out"
run stb spool status "$b"
check "spool status B says 'waiting on A'" grep -qx "waiting on $a" "$T/stb.out"
touch "$T/gate-a"
run b spool collect --timeout 60 "$b"
check_eq "B succeeds once A ended" 0 "$RC"
check_eq "  ... and it ran after A: it read A's last file" done "$(cat "$T/b.out")"
check_eq "  ... and no longer waits on anything" None "$(waiting_of "$b")"

# ===== --after on a failed job still runs; --afterok skips, and the skip cascades =====
f=$(gated gate-f 1)
ok=$(spool submit --afterok "$f" -- echo never)
ok2=$(spool submit --afterok "$ok" -- echo never)
any=$(spool submit --afterany "$f" -- echo ran-anyway)
wait_until "the afterok job published as waiting on F" 60 waits_on "$ok" "$f"
check_eq "  ... and queued" queued "$(state_of "$ok")"
touch "$T/gate-f"
run ok spool collect --timeout 60 "$ok"
check_eq "collect of the afterok job exits 1 (a task did not succeed)" 1 "$RC"
check_eq "its task ended skipped" skipped "$(state_of "$ok")"
check_eq "  ... with the reason naming F's task" "dependency $f.1 failed: exited with status 1" "$(reason_of "$ok")"
check "  ... which collect reports" grep -q "skipped: dependency $f.1 failed: exited with status 1" "$T/ok.err"
run ok2 spool collect --timeout 60 "$ok2"
check_eq "its own afterok dependent is skipped too (exit 1)" "1 skipped" "$RC $(state_of "$ok2")"
check_eq "  ... naming the skipped task" "dependency $ok.1 was skipped: dependency $f.1 failed: exited with status 1" \
	"$(reason_of "$ok2")"
run any spool collect --timeout 60 "$any"
check_eq "--afterany on the failed job runs anyway" "0 ran-anyway" "$RC $(cat "$T/any.out")"
late=$(spool submit --afterok "$f" -- echo never)
run late spool collect --timeout 60 "$late"
check_eq "--afterok on a job that already failed: skipped at once" "1 skipped" "$RC $(state_of "$late")"
check_eq "  ... with the same reason" "dependency $f.1 failed: exited with status 1" "$(reason_of "$late")"
n=$(spool status --json "$late" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["skipped"])')
check_eq "status --json counts the skipped task" 1 "$n"

# ===== JOB.TASK: waits on that task only =====
m=$(spool map -- sh -c '[ "$1" = slow ] || exit 0; while [ ! -e "$0" ]; do sleep 0.05; done' "$T/gate-m" ::: slow quick)
t2=$(spool submit --after "$m.2" -- echo after-task-2)
run t2 spool collect --timeout 60 "$t2"
check_eq "--after JOB.2 runs once task 2 ended" "0 after-task-2" "$RC $(cat "$T/t2.out")"
check "  ... while task 1 of that job has not ended ($(state_of "$m" 1))" sh -c "case '$(state_of "$m" 1)' in assigned|running) exit 0;; *) exit 1;; esac"
touch "$T/gate-m"
run m spool collect --timeout 60 "$m"

# ===== --after-each: a two-stage pipeline over 20 items =====
P="$T/pipe"
mkdir -p "$P"
s1=$(spool map -- sh -c 'sleep 0.$(($1 % 4)); [ "$1" -ne 7 ] || exit 3; echo "s1-$1" >"$0/$1.s1"' "$P" {} ::: $(seq 20))
s2=$(spool map --after-each "$s1" -- sh -c 'cat "$0/$1.s1" >"$0/$1.s2"' "$P" {} ::: $(seq 20))
run s2 spool collect --timeout 120 "$s2"
check_eq "stage 2: collect exits 1 (one task skipped)" 1 "$RC"
n=$(spool status --json "$s2" | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print(c["succeeded"], c["skipped"], c["failed"])')
check_eq "stage 2: 19 tasks succeeded, 1 skipped, none failed" "19 1 0" "$n"
check_eq "stage 2 task 7 skipped: stage 1 task 7 failed" "skipped dependency $s1.7 failed: exited with status 3" \
	"$(state_of "$s2" 7) $(reason_of "$s2" 7)"
good=0
for i in $(seq 20); do [ "$i" = 7 ] || [ "$(cat "$P/$i.s2" 2>/dev/null)" != "s1-$i" ] || good=$((good + 1)); done
check_eq "every other stage 2 task read its stage 1 task's file" 19 "$good"
check "  ... and task 7 wrote nothing" test ! -e "$P/7.s2"
run each-submit spool submit --after-each "$s1" -- true
check_eq "--after-each on a submit is a usage error (exit 2)" 2 "$RC"
run each-size spool map --after-each "$s1" -- true ::: 1 2 3
check_eq "--after-each with another number of items is a usage error (exit 2)" 2 "$RC"
check "  ... saying both need as many tasks" grep -q "both need as many" "$T/each-size.err"

# ===== refused at submit =====
run unknown spool submit --after zzzzzzzzzz -- true
check_eq "a dependency on a job that does not exist: exit 4" 4 "$RC"
check "  ... saying there is no such job" grep -q "no job 'zzzzzzzzzz'" "$T/unknown.err"
run notask spool submit --afterok "$a.5" -- true
check_eq "a dependency on a task the job does not have: exit 4" 4 "$RC"
run bad spool submit --after 'x/y' -- true
check_eq "a malformed dependency: exit 2" 2 "$RC"

# ===== a restart of spoold, then a rebuild of its database, keep the dependencies =====
r=$(gated gate-r 0)
rb=$(spool submit --afterok "$r" -- cat "$T/gate-r.done")
re=$(spool map --after-each "$rb" -- echo each ::: 1)
wait_until "R running" 60 is_state "$r" 1 running
wait_until "RB waiting on R" 60 waits_on "$rb" "$r"
kill -TERM "$SPOOLD_PID"; wait "$SPOOLD_PID" 2>/dev/null
start_spoold
y=$(spool submit -- echo free)
run y spool collect --timeout 60 "$y"
check_eq "after a restart: a new job runs" "free" "$(cat "$T/y.out")"
check_eq "  ... and RB still waits" "queued $r" "$(state_of "$rb") $(waiting_of "$rb")"
kill -TERM "$SPOOLD_PID"; wait "$SPOOLD_PID" 2>/dev/null
db="$SPOOL_DIR/ctl/queue.db"
rm -f "$db" "$db-wal" "$db-shm"
start_spoold
wait_until "spoold rebuilt its database" 60 grep -q "rebuilding the queue from the spool" "$T/spoold.log"
wait_engines 2
z=$(spool submit -- echo free)
run z spool collect --timeout 60 "$z"
check_eq "after the rebuild: a new job runs" "free" "$(cat "$T/z.out")"
check_eq "  ... and RB still waits on R, queued" "queued $r" "$(state_of "$rb") $(waiting_of "$rb")"
check_eq "  ... and so does the after-each job on RB" "queued $rb" "$(state_of "$re") $(waiting_of "$re")"
touch "$T/gate-r"
run rb spool collect --timeout 120 "$rb"
check_eq "once R ended, RB runs and succeeds (it read R's last file)" "0 done" "$RC $(cat "$T/rb.out")"
run re spool collect --timeout 60 "$re"
check_eq "  ... then the after-each job" "0 each 1" "$RC $(cat "$T/re.out")"

# ===== another user's job (a shared spool, as root with two test users) =====
UA=sptest_a UB=sptest_b G=sptest_g
test_users "dependencies on another user's job" "$UA" "$UB"
uid_a=$(id -u "$UA")
M=$(mktemp -d /tmp/spool-dep.XXXXXX)
chmod 755 "$M"
trap 'cleanup; rm -rf "$M"' EXIT
for u in "$UA" "$UB"; do install -d -o "$u" -g "$(id -g "$u")" -m 755 "$M/$u"; done
S="$M/spool"
SP="$SPOOL_BIN/spool"
run init spool init --group "$G" "$S"
sed -i -e 's/^rescan_interval.*/rescan_interval = 0.2;/' -e 's/^heartbeat_interval.*/heartbeat_interval = 0.2;/' "$S/spool.conf"
export SPOOL_DIR="$S"
start_spoold
start_worker 1
wait_engines 1 || exit 1
ja=$(as "$UA" "$SP" -d "$S" submit -- true)
run dep-b as "$UB" "$SP" -d "$S" submit --after "$ja" -- true
check_eq "B: --after A's job is refused at submit: exit 4" 4 "$RC"
check "  ... saying it is not B's" grep -q "belongs to uid $uid_a, not to you" "$T/dep-b.err"
# A record B writes straight into incoming/, past the client's check: the controller refuses it.
jf=forgedjob1
run forge as "$UB" sh -c 'printf "spool-record 1 job\nid %s\ncwd %s\narg true\nafter %s\nend\n" "$1" "$2" "$3" >"$4/.tmp.f" && mv "$4/.tmp.f" "$4/$1.job"' \
	sh "$jf" "$M/$UB" "$ja" "$S/incoming"
check_eq "B can still drop a job record naming A's job into incoming/" 0 "$RC"
wait_until "the forged job gets a state" 60 test -e "$S/ctl/jobs/$jf.state"
run fst as "$UB" "$SP" -d "$S" status "$jf"
check "  ... its one task failed: refused, depending on a job of uid $uid_a" \
	grep -q "failed .*job refused: it depends on job $ja of uid $uid_a" "$T/fst.out"
check "  ... and the record is in quarantine with that reason" \
	sh -c "grep -q 'of uid $uid_a' $S/quarantine/*.$jf.job.reason"
