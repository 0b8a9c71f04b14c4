#!/bin/bash
# stumbles.sh - the stumbles of a new user's first hour (issue 14), each with real processes and,
# where it matters, a real terminal (script(1) gives the command a pty):
#  9. with no controller and no engine, a waiting submit/map/collect says so after a few seconds,
#     once; spool doctor reports it, the inotify limits, and an unsafe key as findings;
#  4. the progress line fits the terminal, counts only started tasks, and rates what this client
#     saw done (a job joined half-way shows no huge rate);
#  5. Ctrl-C (SIGINT) while waiting clears the line, says the job goes on and how to cancel it,
#     exits 130; --cancel-on-interrupt cancels it;
#  6. two jobs given the same --output DIR keep their own results (DIR/spool-JOB);
# 10. a cancelled map of 20,000 tasks: collect prints counts per state and at most 10 lines;
# 11. job ids in any case, spool help CMD, one-line unknown options, -d and exit codes in every
#     help, cancelling a finished job;
#  7. spool map --input - on a terminal says it reads standard input.
# checks: 60
. "$(dirname "$0")/../lib.sh"
command -v script >/dev/null || { skip "script(1) (Debian package bsdutils) is not installed: a terminal cannot be simulated"; exit 0; }
make_spool
cd "$T"

# tty CMD: run the shell command CMD on a pseudo-terminal 80 columns wide (COLUMNS set too:
# what a terminal says wins), its output (stdout and stderr mixed, as a terminal shows them)
# on stdout. The exit status is CMD's.
tty_run() {
	script -qec "stty cols ${COLS:-80} 2>/dev/null; $1" /dev/null
}
# The progress lines a terminal was given: each piece between carriage returns, erase codes out.
progress_pieces() {
	tr '\r' '\n' <"$1" | sed 's/\x1b\[K//g' | grep -a '^spool: [a-z0-9]*: done\|^done ' || true
}
has() { grep -qaF -- "$2" "$1" 2>/dev/null; }
task_state() { # JOB TASK
	spool status --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tasks"][int(sys.argv[1]) - 1]["state"])' "$2"
}
job_count() { # JOB STATE
	spool status --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"][sys.argv[1]])' "$2"
}
count() { grep -caF -- "$2" "$1"; }

# ===== 9. no controller, no engine =====
spool submit --wait -- echo waited >"$T/w9.out" 2>"$T/w9.err" &
w9=$!
"$SPOOL_BIN/spool" apply --wait -- true >/dev/null 2>"$T/a9.err" &
a9=$!
wait_until "the waiting submit says the controller is not running" 60 has "$T/w9.err" "the controller is not running: start 'spoold"
check "  ... and that no engine is up, naming spool-worker" has "$T/w9.err" "no engine is up: start one with 'spool-worker'"
wait_until "the waiting apply says the controller is not running" 60 has "$T/a9.err" "the controller is not running: start 'spoold"
j9=$(sed -n 's/^spool: job \([a-z0-9]*\) submitted.*/\1/p' "$T/w9.err")
spool doctor >"$T/doc1" 2>&1; rc=$?
check_eq "spool doctor with no controller and no engine exits 3" 3 "$rc"
check "  ... a PROBLEM line for the controller" grep -q "^PROBLEM controller NOT RUNNING" "$T/doc1"
check "  ... a PROBLEM line for the engines" grep -q "^PROBLEM no live engine" "$T/doc1"
check "  ... and a line for inotify's limits" grep -Eq "^(ok|PROBLEM) +inotify on this node: .*max_user|^ok +inotify on this node: uid [0-9]+ holds [0-9]+ of [0-9]+ instances" "$T/doc1"
start_spoold
wait "$a9"; rc=$?
check_eq "once spoold runs, the waiting apply ends with 1: no engine to run on" 1 "$rc"
check "  ... saying to start spool-worker" grep -q "task 1: failed: no live engines (start spool-worker)" "$T/a9.err"
wait_until "spoold accepts the waiting job" 60 sh -c "spool status $j9 2>/dev/null | grep -q queued"
spool map --wait -- echo ::: m >"$T/m9.out" 2>"$T/m9.err" &
m9=$!
spool collect --follow "$j9" >"$T/f9.out" 2>"$T/f9.err" &
f9=$!
wait_until "the waiting map says no engine is up" 60 has "$T/m9.err" "no engine is up"
check "  ... but not that the controller is down (it runs)" sh -c "! grep -q 'controller is not running' '$T/m9.err'"
wait_until "collect --follow says no engine is up" 60 has "$T/f9.err" "no engine is up"
start_worker 1
wait "$w9"; rc=$?
check_eq "once a worker runs, the waiting submit ends with 0" 0 "$rc"
check_eq "  ... printing its result" waited "$(cat "$T/w9.out")"
check_eq "  ... having said each thing once" "1 1" "$(count "$T/w9.err" "controller is not running") $(count "$T/w9.err" "no engine is up")"
wait "$m9"; check_eq "the waiting map ends with 0" 0 "$?"
wait "$f9"; check_eq "collect --follow ends with 0" 0 "$?"
spool doctor >"$T/doc2" 2>&1; rc=$?
check "spool doctor with a controller and an engine: the controller ok" grep -q "^ok      controller running" "$T/doc2"
check "  ... and the engine ok" grep -q "^ok      1 live engine" "$T/doc2"
chmod 644 "$SPOOL_DIR/key"
spool doctor >"$T/doc3" 2>&1; rc=$?
check_eq "spool doctor on a spool whose key others may read runs, and exits 3" 3 "$rc"
check "  ... reporting the key's mode as a PROBLEM" grep -q "^PROBLEM owners and modes: .*/key has owner uid [0-9]* and mode 0644" "$T/doc3"
check "  ... and still checks the controller" grep -q "^ok      controller running" "$T/doc3"
spool status >/dev/null 2>&1; rc=$?
check_eq "  ... while other commands still refuse that spool (exit 3)" 3 "$rc"
chmod 600 "$SPOOL_DIR/key"
stop_workers() { kill -TERM "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null; }
stop_workers
start_worker 2
wait_engines 2 || exit 1

# ===== 4. the progress line =====
# A map joined half-way: 40 tasks of 0.3 s on 2 engines; collect starts once 12 are done.
j4=$(spool map --no-env -- sh -c 'sleep 0.3' ::: $(seq 40))
wait_until "12 tasks of the map are done" 120 sh -c "[ \"\$(spool status --json $j4 | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"counts\"][\"succeeded\"])')\" -ge 12 ]"
COLS=200 tty_run "$SPOOL_BIN/spool collect $j4" >"$T/p4.tty"; rc=$?
check_eq "collect on a terminal of a map joined half-way exits 0" 0 "$rc"
progress_pieces "$T/p4.tty" >"$T/p4.lines"
check "  ... it showed progress lines" test -s "$T/p4.lines"
maxrate=$(grep -o ', [0-9.]*/s' "$T/p4.lines" | tr -dc '0-9.\n' | sort -g | tail -1)
check "  ... whose rate never exceeds what 2 engines of 0.3 s tasks do (about 6.7/s; got ${maxrate:-none})" \
	awk -v r="${maxrate:-0}" 'BEGIN { exit !(r < 12) }'
check "  ... a rate was shown at all" test -n "$maxrate"
maxrun=$(grep -o 'running [0-9]*' "$T/p4.lines" | awk '{ print $2 }' | sort -n | tail -1)
check "  ... running never counts more tasks than the 2 engines run (prefetched ones are queued; got $maxrun)" test "${maxrun:-9}" -le 2
# A narrow terminal: the line must never reach its last column.
j4b=$(spool map --no-env -- sh -c 'sleep 0.2' ::: $(seq 20))
COLS=45 tty_run "$SPOOL_BIN/spool collect $j4b" >"$T/p4b.tty"
progress_pieces "$T/p4b.tty" >"$T/p4b.lines"
longest=$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$T/p4b.lines")
check "on a 45-column terminal progress lines were shown" test -s "$T/p4b.lines"
check "  ... none longer than 44 characters (longest $longest)" test "$longest" -le 44
check "  ... each still says how many are done" sh -c "! grep -v 'done [0-9]*/20' '$T/p4b.lines' | grep -q ."

# ===== 5. Ctrl-C while waiting =====
j5=$(spool submit --no-env -- sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done' "$T/rel5")
tty_run "sh -c 'echo \$\$ >$T/pid5; exec $SPOOL_BIN/spool collect $j5'" >"$T/i5.tty" &
s5=$!
wait_until "the blocker runs" 60 eval '[ "$(job_count "$j5" running)" = 1 ]'
wait_until "the collect shows its progress line" 60 grep -qa "$j5: done 0/1" "$T/i5.tty"
kill -INT "$(cat "$T/pid5")"
wait "$s5"; rc=$?
check_eq "Ctrl-C in a waiting collect exits 130" 130 "$rc"
check "  ... erasing the progress line first" grep -qaF $'\r\e[Kspool: interrupted' "$T/i5.tty"
check "  ... saying the job goes on and how to cancel it" has "$T/i5.tty" "spool: interrupted: job $j5 goes on (see it with 'spool collect $j5'; stop it with 'spool cancel $j5')"
check_eq "  ... and the job is still running" running "$(task_state "$j5" 1)"
tty_run "sh -c 'echo \$\$ >$T/pid5b; exec $SPOOL_BIN/spool map --wait --cancel-on-interrupt -- sh -c \"sleep 60\" ::: a b c'" >"$T/i5b.tty" &
s5=$!
wait_until "the map --wait shows its progress line" 60 grep -qa ": done 0/3" "$T/i5b.tty"
j5b=$(sed -n 's/.*spool: job \([a-z0-9]*\) submitted.*/\1/p' "$T/i5b.tty" | head -1)
kill -INT "$(cat "$T/pid5b")"
wait "$s5"; rc=$?
check_eq "Ctrl-C in map --wait --cancel-on-interrupt exits 130" 130 "$rc"
check "  ... saying the job is cancelled" has "$T/i5b.tty" "interrupted: cancel of job $j5b requested (--cancel-on-interrupt)"
wait_until "the interrupted map's tasks are all cancelled" 60 eval '[ "$(job_count "$j5b" cancelled)" = 3 ]'
"$SPOOL_BIN/spool" submit --wait --no-env -- sh -c 'sleep 60' >/dev/null 2>"$T/i5c.err" &
s5=$!
wait_until "a submit --wait off a terminal has submitted" 60 grep -q "submitted, waiting" "$T/i5c.err"
kill -INT "$s5"
wait "$s5"; rc=$?
check_eq "SIGINT to submit --wait off a terminal exits 130 too" 130 "$rc"
check "  ... and says the job goes on" grep -q "goes on .*spool cancel" "$T/i5c.err"
spool cancel "$(sed -n 's/^spool: job \([a-z0-9]*\) submitted.*/\1/p' "$T/i5c.err")" >/dev/null
touch "$T/rel5"

# ===== 6. one --output DIR for two jobs =====
a6=$(spool submit --no-env --output "$T/shared" -- echo first)
b6=$(spool submit --no-env --output "$T/shared" -- echo second)
spool collect "$b6" >/dev/null 2>&1
check_eq "two jobs with the same --output: the first collects its own result" first "$(spool collect "$a6" 2>/dev/null)"
check_eq "  ... and the second its own" second "$(spool collect "$b6" 2>/dev/null)"
check "  ... each under DIR/spool-JOB" test -f "$T/shared/spool-$a6/1.1.out" -a -f "$T/shared/spool-$b6/1.1.out"
check_eq "  ... which collect --json names as the output directory" "$T/shared/spool-$a6" \
	"$(spool collect --json "$a6" | python3 -c 'import json,sys; print(json.load(sys.stdin)["outdir"])')"

# ===== 10. a cancelled map of 20,000 tasks =====
seq 20000 >"$T/items10"
j10=$(spool map --no-env --input "$T/items10" -- sh -c 'sleep 0.2')
spool cancel "$j10" >/dev/null
spool collect --timeout 240 "$j10" >"$T/c10.out" 2>"$T/c10.err"; rc=$?
check_eq "collect of a cancelled 20,000-task map exits 1" 1 "$rc"
check "  ... its summary counts the tasks per state" grep -Eq "^spool: job $j10: [0-9]+ of 20000 tasks did not succeed \(([0-9]+ succeeded, )?[0-9]+ cancelled\):" "$T/c10.err"
check_eq "  ... lists 10 of them" 10 "$(grep -c '^  task [0-9]* (item [0-9]*): cancelled' "$T/c10.err")"
check "  ... and says how many more, and how to see them all" grep -Eq "^  \.\.\. and [0-9]+ more \('spool collect --all $j10' or '--json' for every task\)" "$T/c10.err"
check "  ... in at most 15 lines" test "$(wc -l <"$T/c10.err")" -le 15
ncancel=$(sed -n "s/.*[ (]\([0-9]*\) cancelled):$/\1/p" "$T/c10.err")
spool collect --all "$j10" 2>"$T/c10all.err" >/dev/null
check_eq "collect --all lists every cancelled task" "$ncancel" "$(grep -c '^  task [0-9]* (item [0-9]*): cancelled' "$T/c10all.err")"

# ===== 11. ids, help, options, cancel =====
J=$(echo "$a6" | tr a-z A-Z)
check_eq "a job id in upper case: collect finds the job" first "$(spool collect "$J" 2>/dev/null)"
check "  ... and so does status" sh -c "spool status $J >/dev/null 2>&1"
spool cancel "$J" >"$T/k11.out" 2>"$T/k11.err"; rc=$?
check_eq "cancelling a finished job (upper case id) exits 0, as its help says" 0 "$rc"
check "  ... saying it had already finished" grep -q "job $a6 had already finished: nothing to cancel (1 of 1 task succeeded; exit code 0)" "$T/k11.err"
check "  ... which the help documents" sh -c "spool cancel --help | tr '\n' ' ' | grep -q 'already finished is left as it is: said on stderr, exit code 0'"
check "spool help collect prints collect's help" cmp -s <(spool help collect) <(spool collect --help)
check "spool help prints spool --help" cmp -s <(spool help) <(spool --help)
spool collect --bogus "$a6" >"$T/u11.out" 2>"$T/u11.err"; rc=$?
check_eq "an unknown option exits 2" 2 "$rc"
check_eq "  ... with one line naming it and a hint" "spool collect: unknown option '--bogus' (see 'spool collect --help')" "$(cat "$T/u11.err")"
spool map --timeout 2>"$T/u11b.err"; rc=$?
check_eq "an option without its value: one line saying so" "2 spool map: option '--timeout' needs a value (see 'spool map --help')" "$rc $(cat "$T/u11b.err")"
missing=""
for c in $(spool --help | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1} /^$/ && on>1{exit} on{on++}') ""; do
	h=$(spool $c --help)
	for want in "-d, --dir DIR" "exit codes:" "  130  interrupted" "  4    no such job"; do
		grep -qF -- "$want" <<<"$h" || missing="$missing ${c:-spool}:'$want'"
	done
done
check_eq "every help text lists -d and the same exit codes" "" "$missing"

# ===== 7. map --input - on a terminal =====
(
	wait_for 60 grep -qa "reading items from standard input" "$T/t7.tty" || exit 1
	printf 'x7\ny7\n\004'
) | tty_run "stty -echo; $SPOOL_BIN/spool map --wait --no-env --input - -- echo" >"$T/t7.tty"
rc=$?
check_eq "map --input - on a terminal: ends with 0 once the items are typed" 0 "$rc"
check "  ... having said it reads them from standard input, until Ctrl-D" \
	has "$T/t7.tty" "spool: reading items from standard input (one per line; end with Ctrl-D)"
check_eq "  ... and printed both tasks' output" "x7 y7" "$(tr '\r' '\n' <"$T/t7.tty" | sed 's/\x1b\[K//g' | grep -x '[xy]7' | xargs)"
printf 'p\n' | spool map --no-env --input - -- echo >/dev/null 2>"$T/t7b.err"
check "  ... but not when standard input is a pipe" sh -c "! grep -q 'reading items' '$T/t7b.err'"
