#!/bin/bash
# attacks_limits.sh - no submitter can make a record expand beyond the limits, stall or starve the
# controller, or leave a task assigned for ever (issue 9, classes 2 and 4, controller side):
#  - a map whose argv holds thousands of {} and whose items are long is refused whole when it is
#    accepted (reason in its state and in quarantine/), and no oversized assignment is written;
#  - a job already queued whose assignment would be too big (accepted by an older spoold) is
#    failed with a reason, never built, also at start-up;
#  - a job that was being handled when spoold died three times in a row is failed, not retried;
#  - an output directory at the path limit is refused when the job is accepted;
#  - an assignment a worker cannot take (too big, a link) is answered with a refused result;
#  - tasks restricted (--targets) to busy engines do not keep an idle engine from other work;
#  - 100,000 bad names and a 25,000-level directory in incoming/ do not stall spoold.
# checks: 36
. "$(dirname "$0")/../lib.sh"
make_spool
IN=$SPOOL_DIR/incoming
Q=$SPOOL_DIR/quarantine
cd "$T"
sp() { spool "$@"; } # (lib.sh gives every client call a deadline)
eventually() { # CMD...: true within 120 s (generous: the machine may be busy)
	local end=$(( $(date +%s) + 120 ))
	while [ "$(date +%s)" -le "$end" ]; do "$@" && return 0; sleep 0.1; done
	return 1
}
# qreason NAME: the .reason of the quarantined NAME (quarantine/RAND.NAME.reason)
qreason() { local f; for f in "$Q"/????????."$1".reason; do [ -f "$f" ] && cat "$f" && return 0; done; return 1; }
in_q() { qreason "$1" >/dev/null; }
# task1 JOB FIELD: a field of task 1 of JOB from collect --json
task1() {
	spool collect --json --no-wait "$1" 2>/dev/null | python3 -c '
import json, sys
t = json.load(sys.stdin)["tasks"]
print(t[0][sys.argv[1]] if t else "")' "$2"
}
state_is() { [ "$(task1 "$1" state)" = "$2" ]; }
# The largest assignment file any worker's inbox ever held, sampled while the test runs.
max_inbox() { find "$SPOOL_DIR/ctl/w" -path '*/inbox/*' -type f -printf '%s\n' 2>/dev/null | sort -n | tail -1; }
inbox_ok() { local m; m=$(max_inbox); [ -z "$m" ] || [ "$m" -le 4194304 ]; }
long() { head -c "$1" /dev/zero | tr '\0' a; }
# No assertion depends on the address space of an ASan or valgrind run; others get a 1 GiB cap, so that
# a controller that tried to build a multi-gigabyte assignment dies instead of taking the machine.
# 512 descriptors, as a daemon may well have: far fewer than the levels of the deep directory below.
if [ -n "$VG" ] || grep -q AddressSanitizer "$SPOOL_BIN/spoold" 2>/dev/null; then CAP=unlimited; else CAP=1048576; fi
start_capped_spoold() {
	(ulimit -v "$CAP"; ulimit -n 512; exec $VG spoold -f -d "$SPOOL_DIR" 2>>"$T/spoold.log") &
	SPOOLD_PID=$!
	PIDS="$PIDS $SPOOLD_PID"
}
stop_spoold() { kill -TERM "$SPOOLD_PID" 2>/dev/null; wait "$SPOOLD_PID" 2>/dev/null; }

start_capped_spoold
start_worker 1
W1=$WORKER_PID
wait_engines 1 || exit 1

# --- 1. amplification: 2,000 {} in one argument, two items of 64 KiB: 131 MB per task ---
{ long 65536; echo; long 65536; echo; } >"$T/items"
ph=$(printf '{}%.0s' $(seq 2000))
j=$(spool map --no-env --input "$T/items" -- echo "$ph")
sp collect "$j" >/dev/null 2>"$T/amp.err"; rc=$?
check_eq "a map expanding to 131 MB per task ends (collect exits 1: refused)" 1 "$rc"
check "  ... its published state gives the reason (argument too long after {} is replaced)" \
	sh -c "spool collect --json --no-wait $j | grep -q 'job refused: argument 2 of a task would be 131072000 bytes'"
# (The state is published before the record moves to quarantine/: wait for the move.)
check "  ... quarantine/ holds its record with the same reason" \
	eventually sh -c "cat $Q/????????.$j.job.reason 2>/dev/null | grep -q 'argument 2 of a task would be 131072000 bytes'"
check "  ... no assignment over 4 MiB was ever written" inbox_ok
check "  ... spoold is still running" test -d "/proc/$SPOOLD_PID"

# A whole-record amplification: 50 arguments of 120 {} with 1 KiB items: 6 MB, every argument
# under 128 KiB.
long 1024 >"$T/items2"; echo >>"$T/items2"
ph3=$(printf '{}%.0s' $(seq 120))
args=(); for k in $(seq 50); do args+=("$ph3"); done
j2=$(spool map --no-env --input "$T/items2" -- echo "${args[@]}")
sp collect "$j2" >/dev/null 2>&1; rc=$?
check_eq "a map whose 50 arguments expand to 6 MB in all is refused (collect exits 1)" 1 "$rc"
check "  ... its reason names the assignment size and the limit" \
	sh -c "spool collect --json --no-wait $j2 | grep -q 'would expand to an assignment of [0-9]* bytes.*limit 4194304'"
check "  ... no assignment over 4 MiB was ever written" inbox_ok
check_eq "a good map after them completes" "x y" "$(sp map --wait --no-env -- echo ::: x y 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"

# --- 2. output directory at the path limit: refused at accept, never assigned for ever ---
# (--output DIR: the job's directory is DIR/spool-JOB, 17 bytes more)
o=$T/o; while [ ${#o} -lt 3900 ]; do o=$o/$(long 200); done
o=$o/$(long $((4089 - 17 - ${#o})))
j3=$(spool submit --no-env --output "$o" -- echo hi)
sp collect "$j3" >/dev/null 2>&1; rc=$?
check_eq "an output directory of 4,090 bytes (its files' paths past 4,096) fails the job (collect exits 1)" 1 "$rc"
check "  ... saying the output directory is too long" \
	sh -c "spool collect --json --no-wait $j3 | grep -q 'output directory is 4090 bytes, limit 4048'"
o2=${o:0:$((4048 - 17))}
j4=$(spool submit --no-env --output "$o2" -- echo at the limit)
check_eq "an output directory of exactly 4,048 bytes works" "at the limit" "$(sp collect "$j4" 2>/dev/null)"

# --- 3. a job queued by an older spoold whose tasks would be too big: failed, never built ---
stop_spoold
j5=$(spool map --no-env -- echo ::: a b)
start_capped_spoold
eventually sh -c "[ -f $SPOOL_DIR/ctl/jobs/$j5.state ] && grep -q '^state done' $SPOOL_DIR/ctl/jobs/$j5.state"
stop_spoold
# Now make it a poisoned job as an old controller would have queued it: 60,000 {} per task, and
# items of 64 KiB (3.9 GB per assignment). Its tasks are queued again.
python3 - "$SPOOL_DIR/ctl/queue.db" "$j5" <<'EOF' || fail "could not poison the queue"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
item = "a" * 65536
db.execute("UPDATE jobs SET argv = ?, nterminal = 0 WHERE id = ?", (b"echo\0" + b"{}" * 60000 + b"\0", sys.argv[2]))
db.execute("UPDATE tasks SET state = 0, item = ?, exit = NULL, reason = NULL WHERE rid = (SELECT rid FROM jobs WHERE id = ?)", (item, sys.argv[2]))
# A database of an older spoold has no per-job counts yet: spoold counts every job at start-up.
db.execute("DELETE FROM meta WHERE k = 'publish_format'")
db.commit()
EOF
start_capped_spoold
eventually state_is "$j5" failed
check "a queued job whose tasks would expand to 3.9 GB each is failed at assign time" state_is "$j5" failed
check "  ... with the reason" sh -c "spool collect --json --no-wait $j5 | grep -q 'refused: task $j5.1: argument 2 of a task would be'"
check "  ... spoold is still running" test -d "/proc/$SPOOLD_PID"
check_eq "  ... and a good job after it completes" "fine" "$(sp submit --wait --no-env -- echo fine 2>/dev/null)"

# --- 4. a job that was being handled when spoold died: counted, failed on the third death ---
stop_spoold
j6=$(spool submit --no-env -- echo six)
start_capped_spoold
eventually state_is "$j6" succeeded
stop_spoold
rid6=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT rid FROM jobs WHERE id=?", (sys.argv[2],)).fetchone()[0])' "$SPOOL_DIR/ctl/queue.db" "$j6")
# As if spoold had died twice while writing its assignments: the task is queued again.
python3 - "$SPOOL_DIR/ctl/queue.db" "$j6" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE tasks SET state = 0, exit = NULL WHERE rid = (SELECT rid FROM jobs WHERE id = ?)", (sys.argv[2],))
db.execute("UPDATE jobs SET nterminal = 0 WHERE id = ?", (sys.argv[2],))
db.commit()
EOF
printf 'spool-record 1 inflight\nstep assign\njob %s\ncount 2\nend\n' "$j6" >"$SPOOL_DIR/ctl/inflight"
start_capped_spoold
eventually state_is "$j6" failed
check "a job being assigned when spoold died for the third time is failed, not retried" state_is "$j6" failed
check "  ... with the reason" sh -c "spool collect --json --no-wait $j6 | grep -q 'spoold stopped 3 times in a row while writing the assignments of this job'"
check "  ... and spoold said so in its log" grep -q "stopped 3 times in a row while writing the assignments of job $j6" "$T/spoold.log"
# (emptied: its first byte is NUL, spool-layout.md 7)
inflight_empty() { [ "$(head -c 1 "$SPOOL_DIR/ctl/inflight" | od -An -tx1 | tr -d ' \n')" = 00 ]; }
check "  ... the marker is emptied once handled" eventually inflight_empty
stop_spoold
j7=$(spool submit --no-env -- echo seven)
printf 'spool-record 1 inflight\nstep ingest\njob %s\ncount 0\nend\n' "$j7" >"$SPOOL_DIR/ctl/inflight"
start_capped_spoold
check_eq "one death while ingesting a job is not enough to refuse it: it runs" "seven" "$(sp collect "$j7" 2>/dev/null)"
stop_spoold
j8=$(spool submit --no-env -- echo eight)
printf 'spool-record 1 inflight\nstep ingest\njob %s\ncount 2\nend\n' "$j8" >"$SPOOL_DIR/ctl/inflight"
start_capped_spoold
eventually in_q "$j8.job"
check "a job record being ingested when spoold died for the third time is quarantined" in_q "$j8.job"
check "  ... with the reason" sh -c "cat $Q/????????.$j8.job.reason | grep -q 'spoold stopped 3 times in a row while ingesting'"
check "  ... and it never ran" test ! -e "$T/spool-$j8/1.1.out"

# --- 5. an assignment a worker cannot take is answered, not skipped ---
wid=$(ls "$SPOOL_DIR/workers" | head -n 1)
ib=$SPOOL_DIR/ctl/w/$wid/inbox
head -c 5000000 /dev/zero | tr '\0' x >"$ib/.tmp.big" && mv "$ib/.tmp.big" "$ib/zzbigassn1.1.1"
ln -s /etc/passwd "$ib/.tmp.lnk" && mv "$ib/.tmp.lnk" "$ib/zzlinkassn.1.1"
answered() { [ -e "$SPOOL_DIR/workers/$wid/done/$1" ] || in_q "$1"; }
eventually answered zzbigassn1.1.1
check "an assignment over 4 MiB is answered with a refused result" answered zzbigassn1.1.1
eventually answered zzlinkassn.1.1
check "an assignment that is a symbolic link is answered with a refused result" answered zzlinkassn.1.1
check "  ... saying why" sh -c "cat $Q/????????.zzbigassn1.1.1 $SPOOL_DIR/workers/$wid/done/zzbigassn1.1.1 2>/dev/null | grep -q 'refused the assignment'"
# Ten heartbeats later (the worker rescans its inbox at each), it has not been read again.
beat() { sed -n 's/^count //p' "$SPOOL_DIR/workers/$wid/beat" 2>/dev/null; }
b0=$(beat); b0=${b0:-0}
eventually sh -c "[ \"\$(sed -n 's/^count //p' $SPOOL_DIR/workers/$wid/beat)\" -ge $((b0 + 10)) ]"
check_eq "  ... and the worker logged it once, not at every scan" 1 "$(grep -c 'zzbigassn1' "$T/worker.log")"
check_eq "a good job after them completes" "after" "$(sp submit --wait --no-env -- echo after 2>/dev/null)"
kill -TERM "$W1"; wait "$W1" 2>/dev/null

# --- 6. tasks restricted to busy engines do not starve an idle one ---
start_worker 3 nodeT
wait_engines 3 || exit 1
ids=($(spool workers | awk 'NR > 1 && $4 != "dead" { print $1 }' | sort -n))
jt=$(spool map --no-env --targets "${ids[0]},${ids[1]}" -- sleep 60 ::: $(seq 300))
busy() {
	spool collect --json --no-wait "$jt" 2>/dev/null |
		python3 -c 'import json, sys; c = json.load(sys.stdin)["counts"]; sys.exit(c["running"] + c["assigned"] < 2)'
}
eventually busy
s=$(date +%s%N)
out=$(timeout 30 spool submit --wait --no-env -- echo idle engine 2>/dev/null)
e=$(date +%s%N)
echo "# a job behind 300 tasks restricted to two busy engines completed in $(( (e - s) / 1000000 )) ms"
check_eq "a job queued behind 300 tasks restricted to two busy engines runs on the idle third" "idle engine" "$out"
spool cancel "$jt" >/dev/null 2>&1

# --- 7. 100,000 bad names and a 25,000-level directory in incoming/ ---
# Planted while spoold is stopped, so that it meets them all at once when it starts: the bad names
# sort first and fill quarantine/, so the deep directory must be removed, not just moved.
stop_spoold
python3 - "$IN" <<'EOF' || fail "could not plant the junk"
import os, sys
inc = sys.argv[1]
st = os.path.join(inc, ".tmp.junk")
os.mkdir(st)
for i in range(100000):
    open(os.path.join(st, "bad name %06d" % i), "w").close()
d = os.path.join(inc, ".tmp.deep")
os.mkdir(d)
fd = os.open(d, os.O_RDONLY)
for i in range(25000):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = nfd
os.close(fd)
for n in os.listdir(st):
    os.rename(os.path.join(st, n), os.path.join(inc, n))
os.rmdir(st)
os.rename(d, os.path.join(inc, "zzdeep"))
EOF
start_capped_spoold
s=$(date +%s%N)
out=$(timeout 120 spool submit --wait --no-env -- echo through the junk 2>/dev/null)
e=$(date +%s%N)
echo "# submit-to-collect of a good job during the junk: $(( (e - s) / 1000000 )) ms"
check_eq "a good job submitted during the junk completes" "through the junk" "$out"
junk_gone() { [ "$(ls -U "$IN" | wc -l)" = 0 ]; }
# A deadline, not a count of tries: under valgrind on a busy machine spoold takes minutes here.
wait_for 900 junk_gone
check "the 100,000 bad names and the deep directory all left incoming/" junk_gone
check "spoold is still running" test -d "/proc/$SPOOLD_PID"
check "  ... the deep directory was deleted (quarantine/ was full)" grep -q "deleting zzdeep instead of keeping it" "$T/spoold.log"
trash_gone() { ! ls -A "$Q" | grep -q '^\.trash\.'; }
check "  ... and removed whole, with 512 descriptors (nothing left in quarantine/.trash.*)" eventually trash_gone
check_eq "a good job after the junk completes" "after junk" "$(sp submit --wait --no-env -- echo after junk 2>/dev/null)"
