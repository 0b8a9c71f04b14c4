#!/bin/bash
# purge.sh - spool purge forgets finished jobs only (their state, record and queue rows), never
# a running or waiting one (naming one is refused; a forged request for one is quarantined);
# --older-than, --dry-run and --json; --results removes each job's spool-JOB/ directory beside
# the data, but not a directory given with --output, not one others may write, and not a
# symbolic link planted in its place (never followed).
# checks: 41
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2
wait_engines 2 || exit 1
cd "$T"

listed() { spool status 2>/dev/null | grep -q "^$1 "; }
gone() { spool status "$1" >/dev/null 2>&1; [ $? -eq 4 ]; }
state_files() { ls "$SPOOL_DIR/ctl/jobs" | grep -c "^$1\." ; }

# Two finished jobs, one running (until $T/release), one waiting on it.
j1=$(spool submit -- echo one); spool collect --timeout 120 "$j1" >/dev/null
j2=$(spool map -- echo ::: a b); spool collect --timeout 120 "$j2" >/dev/null
run=$(spool submit -- sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done' "$T/release")
wt=$(spool submit --after "$run" -- echo waited)
wait_until "the blocker runs" 120 sh -c "spool status $run | grep -q running"
wait_until "the waiting job is accepted" 120 sh -c "spool status $wt | grep -q 'waiting on'"

spool purge "$run" >"$T/o" 2>"$T/e"; rc=$?
check_eq "purge of a running job is refused (exit 2)" 2 "$rc"
check "the refusal names the job and why" grep -q "kept $run: it is still queued or running" "$T/e"
spool purge "$wt" >"$T/o" 2>"$T/e"; rc=$?
check_eq "purge of a waiting job is refused (exit 2)" 2 "$rc"
check "the refusal says it waits" grep -q "kept $wt: it is waiting on a dependency" "$T/e"
spool purge nosuchjob0 >"$T/o" 2>"$T/e"; rc=$?
check_eq "purge of an unknown job exits 4" 4 "$rc"

before="$(state_files "$j1") $(state_files "$j2")"
spool purge --dry-run >"$T/o" 2>"$T/e"; rc=$?
check_eq "--dry-run exits 0" 0 "$rc"
check "--dry-run names the finished jobs" sh -c "grep -q 'would purge $j1' $T/o && grep -q 'would purge $j2' $T/o"
check "--dry-run names neither the running nor the waiting job" sh -c "! grep -q -e $run -e $wt $T/o"
check "--dry-run counts them" grep -qx "would purge [0-9]* jobs" "$T/o"
check "--dry-run removes nothing" sh -c "spool status $j1 >/dev/null && [ '$before' = '$(state_files "$j1") $(state_files "$j2")' ] && [ -f '$SPOOL_DIR/ctl/jobs/$j1.state' ]"

spool purge --older-than 1d >"$T/o" 2>"$T/e"; rc=$?
check_eq "--older-than 1d: nothing that old (exit 0)" "0 purged 0 jobs" "$rc $(cat "$T/o")"
spool purge --older-than 1x >"$T/o" 2>"$T/e"; rc=$?
check_eq "--older-than 1x is a usage error" 2 "$rc"

spool purge >"$T/o" 2>"$T/e"; rc=$?
check_eq "purge of every finished job exits 0" 0 "$rc"
check "it says how many it purged" grep -qx "purged [0-9]* jobs" "$T/o"
check "job 1 is gone (status JOB exits 4)" gone "$j1"
check "the map is gone" gone "$j2"
check "status no longer lists them" sh -c "! spool status | grep -q -e '^$j1 ' -e '^$j2 '"
check_eq "their published state and record are removed from ctl/jobs" "0 0" "$(state_files "$j1") $(state_files "$j2")"
check "the running job is still there" listed "$run"
check "the waiting job is still there" listed "$wt"
check "without --results the output beside the data stays" test -f "$T/spool-$j1/1.1.out"
check "nothing was quarantined" sh -c "[ -z \"\$(ls $SPOOL_DIR/quarantine)\" ]"

# A forged purge request for the running job (bypassing the client's check) is quarantined.
printf 'spool-record 1 purge\njob %s\nend\n' "$run" >"$SPOOL_DIR/incoming/.tmp.f"
mv "$SPOOL_DIR/incoming/.tmp.f" "$SPOOL_DIR/incoming/$run.forged1.purge"
wait_until "the forged request is quarantined" 120 sh -c "cat $SPOOL_DIR/quarantine/*.reason 2>/dev/null | grep -q 'has not finished'"
check "the controller refused to purge the running job" sh -c "cat $SPOOL_DIR/quarantine/*.reason | grep -q \"purge of job $run, which has not finished\""
check "the running job is untouched" sh -c "spool status $run | grep -q running"

# Once they end, they may be purged.
touch "$T/release"
spool collect --timeout 120 "$wt" >/dev/null
spool collect --timeout 120 "$run" >/dev/null
spool purge "$run" "$wt" >"$T/o" 2>"$T/e"; rc=$?
check_eq "the jobs purged by name once finished" "0 purged 2 jobs" "$rc $(cat "$T/o")"
check "both are gone" sh -c "spool status $run >/dev/null 2>&1; [ \$? -eq 4 ] && spool status $wt >/dev/null 2>&1; [ \$? -eq 4 ]"

# --results: the job's own spool-JOB/ goes.
j3=$(spool map -- sh -c 'echo {}; mkdir -p sub; echo x >sub/f' ::: a b c); spool collect --timeout 120 "$j3" >/dev/null
check "job 3 left its outputs" test -f "$T/spool-$j3/3.1.out"
spool purge --results "$j3" >"$T/o" 2>"$T/e"; rc=$?
check_eq "purge --results exits 0" 0 "$rc"
check "its output directory is removed" test ! -e "$T/spool-$j3"
check "it says so, with counts" grep -q "removed $T/spool-$j3 (.* entries)" "$T/o"
check "and the summary counts one directory" grep -q "purged 1 job, removed 1 result directory" "$T/o"
check "job 3 is gone" gone "$j3"

# A link planted in place of spool-JOB/ is not followed: what it points to stays, so does the job.
j4=$(spool submit -- echo four); spool collect --timeout 120 "$j4" >/dev/null
mkdir "$T/victim"; echo precious >"$T/victim/keep"
mv "$T/spool-$j4" "$T/moved-$j4"; ln -s "$T/victim" "$T/spool-$j4"
spool purge --results "$j4" >"$T/o" 2>"$T/e"; rc=$?
check_eq "purge --results over a planted link exits 3" 3 "$rc"
check "the link is refused by name" grep -q "kept $j4: refused $T/spool-$j4: it is a symbolic link" "$T/e"
check "what it points to is untouched" sh -c "[ \"\$(cat $T/victim/keep)\" = precious ] && [ -L $T/spool-$j4 ]"
check "the job is kept, to purge again once fixed" listed "$j4"

# A spool-JOB/ others may write is not believed to be the submitter's alone: refused.
j5=$(spool submit -- echo five); spool collect --timeout 120 "$j5" >/dev/null
chmod 777 "$T/spool-$j5"
spool purge --results "$j5" >"$T/o" 2>"$T/e"; rc=$?
check "a directory others may write is refused (exit 3)" sh -c "[ $rc -eq 3 ] && grep -q 'mode 0777' $T/e && test -f $T/spool-$j5/1.1.out"

# --output DIR: the job's results are in DIR/spool-JOB, its own: removed; DIR and its other
# files stay. --json says it.
mkdir "$T/mine"; echo other >"$T/mine/other"
j6=$(spool submit --output "$T/mine" -- echo six); spool collect --timeout 120 "$j6" >/dev/null
spool purge --results --json "$j6" >"$T/o" 2>"$T/e"; rc=$?
check_eq "purge --results --json of an --output job exits 0" 0 "$rc"
check "--json lists it as purged, with its directory removed" python3 -c "
import json, sys
d = json.load(open('$T/o'))
assert d['purged'] == ['$j6'] and d['result_dirs_removed'] == 1 and d['pending'] == 0 and not d['dry_run'], d"
check "the --output directory and its other file stay, the job's spool-JOB in it goes" \
	test -f "$T/mine/other" -a ! -e "$T/mine/spool-$j6"
check "job 6 is gone" gone "$j6"
