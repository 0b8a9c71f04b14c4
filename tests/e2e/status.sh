#!/bin/bash
# status.sh - `spool status` of every job with real spoold and workers: the user, submit and end
# times (or +elapsed while it runs), the counts with separate cancelled and skipped columns, the
# state, the command cut with "..." to the terminal's width (COLUMNS, or the tty's size, which
# wins), never wrapped; the filters --user, --state (job states, task states, held, waiting) and
# --since (a duration or a date); and the same jobs and new fields in --json.
# Jobs: A a map with a failing task, B skipped (--afterok A), C cancelled, D running (held by a
# gate file), E waiting on D. Never a fixed sleep: the published states are polled.
# checks: 40
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2
wait_engines 2 || exit 1
cd "$T"
me=$(id -un)

state_of() { spool status "$1" 2>/dev/null | awk -v t="${2:-1}" '$1 == t { print $2 }'; } # JOB [TASK]
is_state() { [ "$(state_of "$1" "$2")" = "$3" ]; }
a=$(spool map --name maps -- sh -c 'exit $0' ::: 0 1 0)
spool collect --timeout 120 "$a" >/dev/null 2>&1
b=$(spool submit --afterok "$a" -- echo never)
spool collect --timeout 120 "$b" >/dev/null 2>&1
c=$(spool submit -- sleep 1800)
wait_until "C running" 120 is_state "$c" 1 running
spool cancel "$c" >/dev/null
spool collect --timeout 120 "$c" >/dev/null 2>&1
# D: a long command line (cut at 80 columns), running until the gate exists.
d=$(spool submit -- sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done # a long comment to make this command longer than any terminal line of eighty columns' "$T/gate")
wait_until "D running" 120 is_state "$d" 1 running
e=$(spool submit --afterok "$d" -- true)
wait_until "E published as waiting on D" 120 sh -c "[ \"\$(spool status --json $e | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"waiting_on\"])')\" = $d ]"

# --- the table ---
COLUMNS=300 spool status >"$T/wide.out"; rc=$?
check_eq "spool status exits 0" 0 "$rc"
check_eq "the header names the columns, CANC and SKIP beside the other counts" \
	"JOB USER SUBMIT ENDED TASKS QUEUED RUN OK FAIL CANC SKIP STATE COMMAND" "$(sed -n 3p "$T/wide.out" | tr -s ' ')"
row() { awk -v j="$1" '$1 == j' "$T/wide.out"; }
cols() { row "$1" | awk '{ print $2, $5, $6, $7, $8, $9, $10, $11, $12 }'; } # USER TASKS..SKIP STATE
check_eq "A: its user, 3 tasks, 2 ok, 1 failed, none cancelled or skipped, done" "$me 3 0 0 2 1 0 0 done" "$(cols "$a")"
check_eq "B: 1 task skipped, done" "$me 1 0 0 0 0 0 1 done" "$(cols "$b")"
check_eq "C: 1 task cancelled, done" "$me 1 0 0 0 0 1 0 done" "$(cols "$c")"
check_eq "D: 1 task running, active" "$me 1 0 1 0 0 0 0 active" "$(cols "$d")"
check "E: queued, active, waiting on D" sh -c "awk -v j=$e '\$1 == j' '$T/wide.out' | grep -q ' 1 \+0 \+0 \+0 \+0 \+0 active, waiting on $d '"
check "SUBMIT is the time of day (HH:MM) for every job" \
	test "$(for j in $a $b $c $d $e; do row "$j" | awk '{ print $3 }'; done | grep -c -E '^[0-2][0-9]:[0-5][0-9]$')" = 5
check "ENDED is the time of day for the done jobs A, B, C" \
	test "$(for j in $a $b $c; do row "$j" | awk '{ print $4 }'; done | grep -c -E '^[0-2][0-9]:[0-5][0-9]$')" = 3
check "ENDED is +elapsed for the running D (+1.2s, +12s, +3m02s)" \
	sh -c "awk -v j=$d '\$1 == j { print \$4 }' '$T/wide.out' | grep -q -E '^\\+([0-9]+\\.[0-9]s|[0-9]+s|[0-9]+m[0-9][0-9]s)\$'"
check "the command comes last, the job's name in brackets before it (A)" grep -q "^$a .* done \+\[maps\] sh -c exit \$0\$" "$T/wide.out"
check "D's whole command at 300 columns" grep -q "^$d .*any terminal line of eighty columns $T/gate\$" "$T/wide.out"
# At 80 columns (COLUMNS, not a terminal) nothing wraps: D's command is cut with "...".
COLUMNS=80 spool status >"$T/c80.out"
check_eq "COLUMNS=80: no line is longer than 80 columns" "" "$(awk 'length > 80' "$T/c80.out")"
check "COLUMNS=80: D's line is exactly 80 columns and ends in '...'" \
	sh -c "awk -v j=$d '\$1 == j' '$T/c80.out' | awk 'length == 80 && /\\.\\.\\.\$/' | grep -q ."
check_eq "COLUMNS=80: the same jobs and cells before the command" "$(awk 'NR > 2 { print $1, $5, $11 }' "$T/wide.out")" \
	"$(awk 'NR > 2 { print $1, $5, $11 }' "$T/c80.out")"
COLUMNS=40 spool status >"$T/c40.out"
check_eq "COLUMNS=40: narrower than the counts: lines cut at 40, none longer" "" "$(awk 'length > 40' "$T/c40.out")"
check "COLUMNS=40: still one line per job" test "$(awk 'NR > 3' "$T/c40.out" | wc -l)" = 5
env -u COLUMNS "$SPOOL_BIN/spool" status >"$T/c0.out"
check_eq "no COLUMNS and not a terminal: 80 columns" "" "$(awk 'length > 80' "$T/c0.out")"
# On a terminal its size wins over COLUMNS.
if command -v script >/dev/null && command -v stty >/dev/null; then
	script -qec "stty cols 60 rows 30; COLUMNS=300 $SPOOL_BIN/spool status" /dev/null | tr -d '\r' >"$T/tty.out"
	check "on a 60-column terminal: D's line is 60 columns (the tty's size, not COLUMNS=300)" \
		sh -c "awk -v j=$d '\$1 == j' '$T/tty.out' | awk 'length == 60' | grep -q ."
	check_eq "on a 60-column terminal: no line longer" "" "$(awk 'length > 60' "$T/tty.out")"
else
	skip "the terminal's width: script(1) or stty missing (Debian package util-linux, coreutils)"
fi

# --- the filters ---
ids() { spool status "$@" 2>/dev/null | awk 'NR > 3 { print $1 }' | sort | tr '\n' ' '; }
srt() { printf '%s\n' "$@" | sort | tr '\n' ' '; }
check_eq "--state failed: the job with a failed task" "$(srt $a)" "$(ids --state failed)"
check_eq "--state skipped,cancelled: B and C" "$(srt $b $c)" "$(ids --state skipped,cancelled)"
check_eq "--state done: A, B, C" "$(srt $a $b $c)" "$(ids --state done)"
check_eq "--state active: D and E" "$(srt $d $e)" "$(ids --state active)"
check_eq "--state waiting: E" "$(srt $e)" "$(ids --state waiting)"
check_eq "--state running,skipped: D and B" "$(srt $d $b)" "$(ids --state running,skipped)"
check_eq "--state held: none" "" "$(ids --state held)"
run badstate spool status --state finished
check_eq "--state finished (no such state): exit 2" 2 "$RC"
check "  ... and it lists the states it knows" grep -q "submitted, active, done, held, waiting.*cancelled" "$T/badstate.err"
check_eq "--user $me: every job" "$(srt $a $b $c $d $e)" "$(ids --user "$me")"
check_eq "--user $(id -u) (a uid): every job" "$(srt $a $b $c $d $e)" "$(ids --user "$(id -u)")"
other=$(getent passwd | awk -F: -v me="$(id -u)" '$3 != me { print $1; exit }')
check_eq "--user $other (another user): none of these jobs" "" "$(ids --user "$other")"
run baduser spool status --user no_such_user_xq
check_eq "--user of no user: exit 2, named" "2 1" "$RC $(grep -c no_such_user_xq "$T/baduser.err")"
check_eq "--since 1h: every job" "$(srt $a $b $c $d $e)" "$(ids --since 1h)"
check_eq "--since 2000-01-01: every job" "$(srt $a $b $c $d $e)" "$(ids --since 2000-01-01)"
check_eq "--since 2099-01-01T00:00: only those not over before then (D, E)" "$(srt $d $e)" "$(ids --since 2099-01-01T00:00)"
check_eq "--since and --state together: done since 2099: none" "" "$(ids --since 2099-01-01 --state done)"
run badsince spool status --since yesterday
check_eq "--since yesterday (neither): exit 2" 2 "$RC"
run jobfilter spool status --state done "$a"
check_eq "a filter with JOB: exit 2 (filters choose among all jobs)" 2 "$RC"

# --- --json: the same selection, and the new fields ---
spool status --json --state failed,cancelled >"$T/s.json"
check_eq "status --json --state failed,cancelled: A and C" "$(srt $a $c)" \
	"$(python3 -c 'import json,sys; print(" ".join(sorted(x["job"] for x in json.load(sys.stdin)["jobs"])) + " ")' <"$T/s.json")"
spool status --json >"$T/all.json"
check_eq "status --json: user, elapsed_ms, cancelled and skipped counts" ok "$(python3 -c "
import json, sys
d = {x['job']: x for x in json.load(sys.stdin)['jobs']}
bad = []
for j, x in d.items():
    if x['user'] != '$me': bad.append('user of %s: %r' % (j, x['user']))
    if type(x['elapsed_ms']) is not int or x['elapsed_ms'] < 0: bad.append('elapsed_ms of %s: %r' % (j, x['elapsed_ms']))
a = d['$a']
if a['elapsed_ms'] != a['finished_ms'] - a['submitted_ms']: bad.append('A elapsed %r' % a['elapsed_ms'])
if d['$b']['counts']['skipped'] != 1 or d['$c']['counts']['cancelled'] != 1: bad.append('counts')
if d['$d']['finished_ms'] is not None or d['$d']['state'] != 'active': bad.append('D %r' % d['$d'])
print('\n'.join(bad) or 'ok')" <"$T/all.json")"

touch "$T/gate"
spool collect --timeout 120 "$e" >/dev/null 2>&1
check_eq "once D ended, E ran: --state active lists none" "" "$(ids --state active)"
