#!/bin/bash
# vars.sh - per-engine variables: ordered with the engine's other work under load; what a
# task writes to $SPOOL_VARS is merged when it ends (also when it fails), bad lines are
# reported and ignored; pull of a missing variable fails with a reason; and a worker
# restarted with the same --name and engine count finds its variables again.
# checks: 44
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2 nodeA
W=$WORKER_PID
wait_engines 2 || exit 1
cd "$T"
ids=($(spool workers | awk 'NR > 1 { print $1 }' | sort -n))
e=${ids[0]} o=${ids[1]}

# --- ordering: push, 30 increments as separate apply jobs, pull, all aimed at one engine ---
# The controller is paused meanwhile, so it takes all 31 records in one pass: only their
# mtimes, and where those tie their client and seq fields, can order them (the client does
# not wait for the file server's clock to move between records any more).
kill -STOP "$SPOOLD_PID"
spool push --targets "$e" x=1 >"$T/jobs"
for k in $(seq 30); do
	spool apply --targets "$e" -- sh -c 'echo "x=$((x + 1))" >"$SPOOL_VARS"; echo $x' >>"$T/jobs"
done
for j in $(cat "$T/jobs"); do sed -n 's/^seq //p' "$SPOOL_DIR/incoming/$j.job"; done >"$T/seqs"
for j in $(cat "$T/jobs"); do sed -n 's/^client //p' "$SPOOL_DIR/incoming/$j.job"; done | sort -u >"$T/clients"
# One mtime for all 31 (as on a file server whose timestamps tick coarsely): only client and
# seq can order them now; by their random names they would almost surely run out of order.
(cd "$SPOOL_DIR/incoming" && touch -m -d @1700000000 $(sed 's/$/.job/' "$T/jobs"))
kill -CONT "$SPOOLD_PID"
check_eq "records submitted back to back have strictly increasing seq fields" "$(cat "$T/seqs")" \
	"$(sort -n -u "$T/seqs")"
check_eq "  ... 31 of them, all from one client (this kernel's boot id)" "31 $(cat /proc/sys/kernel/random/boot_id)" \
	"$(wc -l <"$T/seqs") $(cat "$T/clients")"
out=$(spool pull --wait --targets "$e" x 2>"$T/e"); rc=$?
check_eq "pull after 30 back-to-back increments prints 31" 31 "$out"
check_eq "pull --wait exits 0" 0 "$rc"
# Each increment saw the value left by the one submitted before it.
seen=""
for j in $(sed -n '2,31p' "$T/jobs"); do seen="$seen $(spool collect "$j" 2>/dev/null)"; done
check_eq "the increments ran in submission order (each saw 1..30)" "$(echo $(seq 30))" "$(echo $seen)"
check_eq "the controller accepted the 31 jobs in submission order" "$(cat "$T/jobs")" \
	"$(grep -o 'accepted job [a-z0-9]*' "$T/spoold.log" | awk '{ print $3 }' | head -31)"
out=$(spool pull --wait --targets "$o" x 2>"$T/e"); rc=$?
check_eq "the other engine has no x: pull exits 1" 1 "$rc"
check "the other engine has no x: the reason names the variable and the engine" \
	grep -q "no variable 'x' on engine $o" "$T/e"
check_eq "and prints nothing on stdout" "" "$out"

# --- a submit or map aimed at the engine (--targets ID) is ordered with push and pull too ---
# The engine is busy, so push, the increments and pull all wait for it together.
blk=$(spool submit --targets "$e" -- sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done' "$T/release")
spool push --targets "$e" z=1 >/dev/null
spool submit --targets "$e" -- sh -c 'echo "z=$((z + 1))" >"$SPOOL_VARS"' >/dev/null
spool map --targets "$e" -- sh -c 'echo "z=$((z + $0))" >"$SPOOL_VARS"' ::: 10 >/dev/null
p=$(spool pull --targets "$e" z)
touch "$T/release"
check_eq "pull after push z=1, submit (+1) and map (+10) on the busy engine prints 12" 12 \
	"$(spool collect --timeout 10 "$p" 2>/dev/null)"

# --- bad lines in $SPOOL_VARS: reported, ignored; good lines in the same file apply ---
j=$(spool apply --targets "$e" -- sh -c 'printf "good=yes\n1bad=2\nnoequals\nalso_good=a b=c\n" >"$SPOOL_VARS"')
spool collect "$j" >"$T/o" 2>"$T/e"; rc=$?
check_eq "a task with bad SPOOL_VARS lines still succeeds" 0 "$rc"
check "collect warns about line 2 (1bad=2)" grep -q "warning: .*SPOOL_VARS line 2: '1bad=2'" "$T/e"
check "collect warns about line 3 (noequals)" grep -q "SPOOL_VARS line 3: 'noequals'" "$T/e"
reason=$(spool collect --json "$j" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["tasks"][0]["reason"])')
check "collect --json gives the warning as the task's reason" \
	sh -c "echo \"\$0\" | grep -q 'SPOOL_VARS line 2' && echo \"\$0\" | grep -q 'SPOOL_VARS line 3'" "$reason"
out=$(spool pull --wait --targets "$e" good also_good 2>/dev/null)
check_eq "good lines around the bad ones were merged (a value may hold '=' and spaces)" "yes
a b=c" "$out"
out=$(spool pull --wait --targets "$e" 1bad 2>&1); rc=$?
check_eq "pull of an invalid name is a usage error" 2 "$rc"
check_eq "x is untouched by the bad file" 31 "$(spool pull --wait --targets "$e" x 2>/dev/null)"

# --- a failing task's variables are merged too (documented) ---
j=$(spool apply --targets "$e" -- sh -c 'echo "failed_var=kept" >"$SPOOL_VARS"; echo "x=100" >>"$SPOOL_VARS"; exit 1')
spool collect "$j" >/dev/null 2>&1; rc=$?
check_eq "the failing task fails (collect exits 1)" 1 "$rc"
check_eq "its variables were merged nonetheless" "kept 100" \
	"$(echo $(spool pull --wait --targets "$e" failed_var x 2>/dev/null))"
# A task that only reads does not change anything; a later task sees the merged values.
check_eq "the next task sees failed_var in its environment" kept \
	"$(spool submit --wait --targets "$e" -- sh -c 'echo $failed_var' 2>/dev/null)"

# --- a task that writes nothing to $SPOOL_VARS changes nothing, even where a T.A.vars file of
# the same name was left in its output directory before it ran ---
spool push --wait --targets "$e" stale=0 >/dev/null 2>&1
j=$(blocked_submit "$T/go-stale" --targets "$e" --output "$T/shared" -- true)
mkdir -p "$T/shared/spool-$j" && echo "stale=1" >"$T/shared/spool-$j/1.1.vars" && touch "$T/go-stale"
spool collect "$j" >/dev/null 2>&1
check_eq "a task does not merge a T.A.vars file left in its output directory before it ran" 0 \
	"$(spool pull --wait --targets "$e" stale 2>&1)"

# --- the task makes $SPOOL_VARS itself, so a file put in place whole counts; one that is not
# a plain file of the task's own is refused and named in the reason, and nothing waits on it ---
j=$(spool apply --targets "$e" -- sh -c 'echo "whole=yes" >"$SPOOL_VARS.tmp" && mv "$SPOOL_VARS.tmp" "$SPOOL_VARS"')
spool collect "$j" >/dev/null 2>&1
check_eq "a \$SPOOL_VARS renamed into place is merged" yes "$(spool pull --wait --targets "$e" whole 2>&1)"
kinds="symlink hardlink fifo owner"
if [ "$(id -u)" != 0 ]; then # giving the file away needs root (the task runs as the suite's user)
	kinds="symlink hardlink fifo"
	skip "a \$SPOOL_VARS of another owner: the suite must run as root to chown it"
fi
for kind in $kinds; do
	case $kind in
	symlink) make='echo "via_$0=1" >"$SPOOL_VARS.real" && ln -s "$SPOOL_VARS.real" "$SPOOL_VARS"'; why="symbolic link" ;;
	hardlink) make='echo "via_$0=1" >"$SPOOL_VARS.real" && ln "$SPOOL_VARS.real" "$SPOOL_VARS"'; why="another hard link" ;;
	fifo) make='mkfifo "$SPOOL_VARS"'; why="not a regular file" ;;
	owner) make='echo "via_$0=1" >"$SPOOL_VARS" && chown 1 "$SPOOL_VARS"'; why="belongs to another user" ;;
	esac
	j=$(spool map --targets "$e" -- sh -c "$make" ::: $kind)
	reason=$(spool collect --json "$j" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["tasks"][0].get("reason", ""))')
	check "a \$SPOOL_VARS that is a $kind is not merged, and the reason says so ($reason)" \
		eval "echo \"\$reason\" | grep -q 'SPOOL_VARS not merged: .*1.1.vars: .*$why'"
	check_eq "... and via_$kind stays unset" 1 "$(spool pull --wait --targets "$e" via_$kind >/dev/null 2>&1; echo $?)"
done

# --- pull of an unset variable ---
out=$(spool pull --wait --targets "$e" never_set 2>"$T/e"); rc=$?
check_eq "pull of an unset variable exits 1" 1 "$rc"
check "its reason says which variable is missing on which engine" \
	grep -q "task 1: .*no variable 'never_set' on engine $e" "$T/e"
j=$(spool pull --targets "$e" never_set)
reason=$(spool collect --json "$j" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["tasks"][0]["reason"])')
check_eq "collect --json carries the same reason" "pull: no variable 'never_set' on engine $e" "$reason"

# --- an engine's variables are bounded in all: every task gets them in its environment ---
j=$(spool apply --targets "$e" -- sh -c 'v=$(head -c 60000 /dev/zero | tr "\0" x); i=0
	while [ $i -lt 40 ]; do echo "big$i=$v"; i=$((i + 1)); done >"$SPOOL_VARS"')
spool collect "$j" >/dev/null 2>"$T/e"; rc=$?
check_eq "a task setting 40 variables of 60 KB succeeds" 0 "$rc"
check "it is warned that the engine's variables would grow too big" grep -Eq "SPOOL_VARS line [0-9]+: setting big[0-9]+ would make the engine's variables [0-9]+ bytes in all, more than" "$T/e"
out=$(spool apply --wait --targets "$e" -- sh -c 'echo ${#big0} $x' 2>"$T/e"); rc=$?
check_eq "the next task on the engine still starts, with the variables that fitted" "0 60000 100" "$rc $out"
check "the saved variables stay loadable (under 2 MiB)" test "$(stat -c %s "$SPOOL_DIR/vars/nodeA.0")" -lt 2097152

# --- variables survive a worker restart with the same --name and engine count ---
spool push --wait --targets "$o" y=other >/dev/null 2>&1
kill -TERM "$W"
wait "$W"
for k in $(seq 100); do
	[ -z "$(spool workers | awk 'NR > 1')" ] && break
	sleep 0.05
done
check_eq "the worker's engines are gone" "" "$(spool workers | awk 'NR > 1')"
start_worker 2 nodeA
wait_engines 2 || exit 1
new=($(spool workers | awk 'NR > 1 { print $1 }' | sort -n))
check "the restarted worker has new engine ids (${new[*]} after ${ids[*]})" test "${new[0]}" -gt "${ids[1]}"
out=$(spool pull --wait --tag x 2>"$T/e"); rc=$?
check_eq "pull x on the new engines: slot 0 kept 100, slot 1 has none" "[${new[0]} nodeA] 100" "$out"
check "the new engine of slot 1 has no x" grep -q "no variable 'x' on engine ${new[1]}" "$T/e"
check_eq "slot 1 kept y" other "$(spool pull --wait --targets "${new[1]}" y 2>/dev/null)"
check_eq "slot 0 kept its other variables" "yes kept 60000" \
	"$(echo $(spool pull --wait --targets "${new[0]}" good failed_var big0 2>/dev/null | awk '{ print (length($0) > 100 ? length($0) : $0) }'))"
check_eq "a task on the new engine sees the old value" 100 \
	"$(spool apply --wait --targets "${new[0]}" -- sh -c 'echo $x' 2>/dev/null)"
