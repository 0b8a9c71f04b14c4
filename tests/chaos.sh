#!/bin/bash
# chaos.sh - one big map on simulated nodes while things go wrong, each in turn:
#   (a) spoold killed with SIGKILL at random moments and restarted,
#   (b) a worker killed with SIGKILL and a new one started on the same node,
#   (c) a worker stopped (SIGSTOP) past dead_timeout, then continued: it must find out it was
#       declared dead, kill its tasks and register again with new engine ids,
#   (d) a worker restarted under a wall clock an hour off (libfaketime).
# Beside that map, submitted before it, two smaller maps A and B (B with --after-each A, both with
# --retry-on-failure) whose tasks fail once each now and then, run through (a) and (b): each of
# their tasks must end with exactly one accepted result, and no task of B may start before its
# paired task of A ended (the tasks leave markers in a directory on the server's disk, outside
# the simulated nodes' caches).
# spoold runs on node 1, workers on nodes 2, 3 and 4, each through its own FUSE mount of the
# share (../shared/tools/fake-nodes.sh). At the end every task must be accounted for exactly
# once: one accepted result (its .res beside the data says exit 0), complete output in order.
#
#   bash tests/chaos.sh            short form (1,500 tasks; the suite runs it: tests/e2e/chaos.sh)
#   bash tests/chaos.sh --long     10,000 tasks, the scenarios spread over the run
#   CHAOS_TASKS=N CHAOS_SEED=S     override the number of tasks, seed the random moments
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/multinode.sh"

LONG=0
[ "${1:-}" = --long ] && LONG=1
if [ $LONG = 1 ]; then
	N=${CHAOS_TASKS:-10000}
	KILLS=3
	SLEEPY=4      # every 4th task sleeps
	NAP=0.2
	AT_A=5 AT_B=35 AT_C=55 AT_D=75    # percent done before each scenario starts
	GAP=$((N / 50))                   # (a): at least this many tasks done between kills
	NP=${CHAOS_PAIRS:-100}            # tasks of A and of B
else
	N=${CHAOS_TASKS:-1500}
	KILLS=2
	SLEEPY=2
	NAP=0.25
	AT_A=2 AT_B=4 AT_C=6 AT_D=8
	GAP=10
	NP=${CHAOS_PAIRS:-40}
fi
PNAP=0.6     # each task of A and B naps this long: together they run through (a) and (b)
RANDOM=${CHAOS_SEED:-$$}
ENGINES=2 # per worker
DEAD=6    # dead_timeout (s), as make_shared_spool sets it

need_fake_nodes
trap 'nodes_down; cleanup' EXIT
T0=$(date +%s.%N)
now() { awk -v t0="$T0" -v t="$(date +%s.%N)" 'BEGIN { printf "%.1f", t - t0 }'; }
note() { echo "# [$(now)s] $*" >&2; }
# The simulated nodes' FUSE daemons (libfuse's passthrough_ll) keep a descriptor open for every
# file their node has looked up until the kernel forgets it: a 10,000-task map's 30,000 result
# files exceed a limit of 20,000 (the reader gets EMFILE; real NFS clients have no such limit).
# The daemons inherit our limit: raise it if we may; otherwise, when the map is that big, make
# the kernel forget unused inodes every 2 s (machine-wide, costs only cache).
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ $((N * 5)) -gt $(($(ulimit -n) / 2)) ]; then
	if echo 2 2>/dev/null >/proc/sys/vm/drop_caches; then
		(while sleep 2; do echo 2 >/proc/sys/vm/drop_caches; done) &
		PIDS="$PIDS $!"
		note "open files limited to $(ulimit -n): dropping cached inodes every 2 s for the FUSE daemons"
	else
		note "warning: open files limited to $(ulimit -n) and /proc/sys/vm/drop_caches not writable: the FUSE daemons may run out"
	fi
fi

nodes_up 4
make_shared_spool
B="$F/backing"                # the server's view of the share
HOSTSPOOL="$B/spool"
RF=$(realpath "$F")
EV="$T/events"                # one line per event: SCENARIO KIND TIME DETAIL...
: >"$EV"
event() { echo "$1 $2 $(date +%s.%N) ${3:-}" >>"$EV"; }
# What the controller had given worker WID (its inbox on the server's disk): JOB.TASK.ATTEMPT ...
held() { echo "$1 held $(date +%s.%N) $(ls "$HOSTSPOOL/ctl/w/$2/inbox" 2>/dev/null | tr '\n' ' ')" >>"$EV"; }

# The real pid (host's view) of NAME running as pid 1 of a node's namespace. `on` wraps the
# command in fake-nodes' run, so $! is only the wrapper's.
node_pid() { # I NAME
	local p e
	for p in $(pgrep -x "$2"); do
		e=$( { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null)
		grep -qx "FAKE_NODES_DIR=$RF" <<<"$e" && grep -qx "FAKE_NODE=$1" <<<"$e" || continue
		[ "$(awk '/^NSpid:/ { print $NF }' "/proc/$p/status" 2>/dev/null)" = 1 ] || continue
		echo "$p"
		return 0
	done
	return 1
}
alive() { # PID: exists and is not a zombie
	local s
	s=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) && [ -n "$s" ] && [ "$s" != Z ]
}
wait_gone() { # PID [tenths]
	local i
	for i in $(seq "${2:-50}"); do
		alive "$1" || return 0
		sleep 0.1
	done
	return 1
}
wait_node_pid() { # I NAME: wait until it runs, print its pid
	local i p
	for i in $(seq 600); do
		p=$(node_pid "$1" "$2") && { echo "$p"; return 0; }
		sleep 0.1
	done
	return 1
}
# A worker on node I under a skewed wall clock.
SKEW_WORKER=spool-worker
start_worker_skewed() { # I N SKEW
	bash "$FAKE_NODES" run "$F" "$1" --skew "$3" -- env PATH="$PATH" SPOOL_DIR="$SPOOL_DIR" \
		"$SKEW_WORKER" -f -n "$2" 2>>"$T/worker-node$1.log" &
	PIDS="$PIDS $!"
}
# Tasks that reached a terminal state, from the published job summary on the server's disk.
ndone() {
	awk '$1 == "count" && $2 ~ /^(succeeded|failed|timedout|cancelled|abandoned)$/ { n += $3 } END { print n + 0 }' \
		"$HOSTSPOOL/ctl/jobs/$J.state" 2>/dev/null || echo 0
}
wait_done() { # COUNT: until that many tasks are done (5 min), else a failure saying so
	local i
	for i in $(seq 3000); do
		[ "$(ndone)" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "waited 300 s for $1 of $N tasks to be done: only $(ndone) are (tasks lost? workers stuck?)"
	return 1
}
# The live worker (WID) on node I and its engine ids, from the published engine table.
engines_json() { SPOOL_DIR="$HOSTSPOOL" spool workers --all --json 2>/dev/null; }
live_wid() { # I
	engines_json | python3 -c 'import json, sys
e = [x for x in json.load(sys.stdin) if x["node"] == sys.argv[1] and x["state"] != "dead"]
print(e[0]["worker"] if e else "")' "node$1"
}
wid_ids() { # WID: its engine ids, ascending
	engines_json | python3 -c 'import json, sys
print(" ".join(str(x["id"]) for x in sorted(json.load(sys.stdin), key=lambda x: x["id"]) if x["worker"] == sys.argv[1]))' "$1"
}
wait_new_wid() { # I OLDWID: until node I has a live worker other than OLDWID; print it
	local i w
	for i in $(seq 1200); do
		w=$(live_wid "$1")
		[ -n "$w" ] && [ "$w" != "$2" ] && { echo "$w"; return 0; }
		sleep 0.1
	done
	return 1
}
wait_log() { # FILE PATTERN SECONDS
	local i
	for i in $(seq $(($3 * 10))); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

start_spoold_on 1
for i in 2 3 4; do start_worker_on $i $ENGINES; done
wait_engines_on 2 $((3 * ENGINES)) || exit 1
mkdir -p "$B/data" && chmod 777 "$B/data"
seq 1 "$N" >"$B/data/items"
# --- A and B: a pipeline whose tasks fail once now and then ---------------------------------------
# Task i of A fails its first attempt when i % 3 == 0, task i of B when i % 4 == 0 (a marker says
# it did); on success A leaves a.i.ATTEMPT as its last act. Every attempt of B first lists the
# a.i.* markers it sees into b.i.ATTEMPT.saw: the one of A's accepted attempt must be there.
# Submitted before the big map, at most 2 tasks each at a time: they run beside it, not before it.
# --retries 3: a task that fails once may also be on the worker killed in (b) and on the one
# stopped in (c), each a lost node (seen: with 2 such a task of B ends abandoned, as it should).
MK="$T/marks"
mkdir -p "$MK" && chmod 777 "$MK"
seq 1 "$NP" >"$B/data/pairs"
cat >"$MK/a.sh" <<EOF2
i=\$1
if [ \$((i % 3)) -eq 0 ] && [ ! -e $MK/failed.a.\$i ]; then : >$MK/failed.a.\$i; exit 1; fi
sleep $PNAP
echo \$i
: >$MK/a.\$i.\$SPOOL_ATTEMPT
EOF2
cat >"$MK/b.sh" <<EOF2
i=\$1
(cd $MK && ls | grep "^a\\.\$i\\." | tr '\\n' ' ') >$MK/b.\$i.\$SPOOL_ATTEMPT.saw
if [ \$((i % 4)) -eq 0 ] && [ ! -e $MK/failed.b.\$i ]; then : >$MK/failed.b.\$i; exit 1; fi
sleep $PNAP
echo \$i
EOF2
JA=$(on 2 sh -c "cd $SHARED/data && spool map --name chaos-a --retries 3 --retry-on-failure --max-running 2 --input pairs -- sh $MK/a.sh {}" 2>"$T/submit-a.err")
JB=$(on 2 sh -c "cd $SHARED/data && spool map --name chaos-b --after-each $JA --retries 3 --retry-on-failure --max-running 2 --input pairs -- sh $MK/b.sh {}" 2>"$T/submit-b.err")
check "maps A ($NP tasks, some failing once) and B (--after-each A, --retries 3 --retry-on-failure) are submitted" \
	test -n "$JA" -a -n "$JB"
[ -n "$JA" ] && [ -n "$JB" ] || { cat "$T/submit-a.err" "$T/submit-b.err"; exit 1; }
event all pairs "$JA $JB"
# Tasks of job $1 that reached a terminal state, from its summary on the server's disk.
ndone_of() {
	awk '$1 == "count" && $2 ~ /^(succeeded|failed|timedout|cancelled|abandoned|skipped)$/ { n += $3 } END { print n + 0 }' \
		"$HOSTSPOOL/ctl/jobs/$1.state" 2>/dev/null || echo 0
}
# Every task prints its item (collect checks order), names who ran it on stderr, and every
# SLEEPY-th one naps a little.
TASK="echo {}; echo \"\$SPOOL_NODE \$SPOOL_ENGINE \$SPOOL_ATTEMPT\" >&2; [ \$(({} % $SLEEPY)) -ne 0 ] || sleep $NAP"
J=$(on 2 sh -c "cd $SHARED/data && spool map --name chaos --input items -- sh -c '$TASK'" 2>"$T/submit.err")
check "a map of $N tasks is submitted on node 2" test -n "$J"
[ -n "$J" ] || { cat "$T/submit.err"; exit 1; }
event all submit "$J"
note "map $J of $N tasks submitted"
pct() { echo $(($1 * N / 100)); }

# --- (a) spoold killed with SIGKILL at random moments, restarted after a random pause -------
wait_done "$(pct $AT_A)"
event a start
for k in $(seq $KILLS); do
	sleep "0.$((RANDOM % 10))"
	d0=$(ndone)
	p=$(node_pid 1 spoold)
	check "(a) kill $k: spoold found on node 1 (pid ${p:-none})" test -n "$p"
	[ -n "$p" ] || break
	[ "$k" = 1 ] && b_at_kill=$(ndone_of "$JB")
	kill -KILL "$p"
	event a kill "$p"
	check "(a) kill $k: spoold (pid $p) died of SIGKILL after $d0 of $N tasks" wait_gone "$p"
	sleep "$((RANDOM % 2)).$((RANDOM % 10))"
	start_spoold_on 1
	np=$(wait_node_pid 1 spoold)
	check "(a) kill $k: spoold restarted (pid ${np:-none})" test -n "$np"
	event a restart "$np"
	note "(a) kill $k of spoold at $d0 done; restarted"
	# Progress under the new controller before the next blow.
	wait_done $(($(ndone) + GAP + RANDOM % (3 * GAP)))
done
event a end

# --- (b) a worker killed with SIGKILL, a new one on the same node -----------------------------
wait_done "$(pct $AT_B)"
event b start
old_b=$(live_wid 2)
old_b_ids=$(wid_ids "$old_b")
p=$(node_pid 2 spool-worker)
pairs_at_b=$(( $(ndone_of "$JA") + $(ndone_of "$JB") ))
check "(b) the worker on node 2 ($old_b) is found (pid ${p:-none})" test -n "$p" -a -n "$old_b"
d0=$(ndone)
held b "$old_b"
kill -KILL "$p"
event b kill "$old_b"
check "(b) worker $old_b died of SIGKILL after $d0 of $N tasks" wait_gone "$p"
start_worker_on 2 $ENGINES
new_b=$(wait_new_wid 2 "$old_b")
check "(b) a new worker registered on node 2 ($new_b)" test -n "$new_b"
new_b_ids=$(wid_ids "$new_b")
check "(b) its engine ids ($new_b_ids) are new (old: $old_b_ids)" \
	test "${new_b_ids%% *}" -gt "${old_b_ids##* }"
check "(b) the controller declared $old_b dead (waited dead_timeout + 120 s)" \
	wait_log "$T/spoold.log" "worker $old_b on node2 is dead" $((DEAD + 120))
event b end
note "(b) worker on node 2 killed and replaced"

# --- (c) a worker stopped past dead_timeout, then continued -----------------------------------
wait_done "$(pct $AT_C)"
event c start
old_c=$(live_wid 3)
old_c_ids=$(wid_ids "$old_c")
p=$(node_pid 3 spool-worker)
check "(c) the worker on node 3 ($old_c) is found (pid ${p:-none})" test -n "$p" -a -n "$old_c"
d0=$(ndone)
held c "$old_c"
kill -STOP "$p"
event c stop "$old_c"
stopped() { grep -q '^State:.*T' "/proc/$1/status"; }
check "(c) worker $old_c is stopped (after $d0 of $N tasks)" wait_for 60 stopped "$p"
check "(c) the controller declared the stopped worker dead" \
	wait_log "$T/spoold.log" "worker $old_c on node3 is dead" $((DEAD + 120))
sleep 0.5
kill -CONT "$p"
event c cont "$old_c"
check "(c) after SIGCONT the worker says it was declared dead and kills its tasks" \
	wait_log "$T/worker-node3.log" "worker $old_c was declared dead by the controller: killing its tasks" 120
new_c=$(wait_new_wid 3 "$old_c")
check "(c) the same process registered again under a new id ($new_c)" test -n "$new_c"
check_eq "(c) it is the same process (pid unchanged)" "$p" "$(node_pid 3 spool-worker)"
new_c_ids=$(wid_ids "$new_c")
check "(c) with new engine ids ($new_c_ids; old: $old_c_ids)" test "${new_c_ids%% *}" -gt "${old_c_ids##* }"
event c end
note "(c) worker on node 3 stopped, declared dead, back as $new_c"

# --- (d) a worker under a clock an hour off ---------------------------------------------------
wait_done "$(pct $AT_D)"
FT=$(ls /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 2>/dev/null | head -1)
new_d=""
if [ -z "$FT" ]; then
	skip "(d) a worker with a skewed clock: libfaketime is not installed (apt-get install faketime)"
elif grep -q __asan_init "$(command -v spool-worker)" &&
	! { SKEW_WORKER=$(cd "$SPOOL_BIN/.." && pwd)/bin/spool-worker; [ -x "$SKEW_WORKER" ] && ! grep -q __asan_init "$SKEW_WORKER"; }; then
	# Measured: an ASan-instrumented program preloaded with libfaketime hangs before main.
	skip "(d) a worker with a skewed clock: libfaketime hangs ASan-instrumented programs and no uninstrumented build is in ../bin (run make all first)"
else
	# Under ASan (make sanitize) the reduced variant: the skewed worker is the uninstrumented
	# build from bin/ (libfaketime hangs an instrumented one); the controller and the other
	# workers stay instrumented.
	[ "$SKEW_WORKER" = spool-worker ] || note "(d) reduced variant: the skewed worker is $SKEW_WORKER (uninstrumented)"
	event d start
	old_d=$(live_wid 4)
	p=$(node_pid 4 spool-worker)
	held d "$old_d"
	event d old "$old_d"
	kill -TERM "$p"
	check "(d) the worker on node 4 stops on SIGTERM" wait_gone "$p" 100
	start_worker_skewed 4 $ENGINES +3600
	new_d=$(wait_new_wid 4 "$old_d")
	check "(d) a worker with its clock an hour ahead registered on node 4 ($new_d)" test -n "$new_d"
	event d skew "$new_d"
	d0=$(ndone)
	sk=0
	touch "$T/skew-start"
	for i in $(seq 600); do
		sk=$(find "$B/data/spool-$J" -name '*.res' -newer "$T/skew-start" -exec grep -l "^wid $new_d\$" {} + 2>/dev/null | wc -l)
		[ "$sk" -ge 20 ] && break
		sleep 0.1
	done
	check "(d) the skewed worker completes tasks ($sk results so far)" test "$sk" -ge 1
	event d end
	note "(d) skewed worker on node 4: $sk results"
fi
d_end=$(ndone)
check "every scenario ran while the map was still running ($d_end of $N done after the last)" test "$d_end" -lt "$N"

# --- the end: collect, then account for every task ---------------------------------------------
on 3 spool collect --timeout 600 "$J" >"$T/out" 2>"$T/collect.err"; rc=$?
check_eq "collect (on node 3) exits 0" 0 "$rc"
event all collected
# Late duplicates reach the database: wait until no result waits in workers/*/done/.
done_empty() { [ -z "$(ls "$HOSTSPOOL"/workers/*/done/ 2>/dev/null | grep -v ':$' | grep .)" ]; }
wait_for 60 done_empty || fail "results still unconsumed in workers/*/done/ 60 s after collect"
on 3 spool collect --json "$J" >"$T/json" 2>>"$T/collect.err"
on 3 spool collect --timeout 300 --json "$JA" >"$T/json-a" 2>"$T/collect-a.err"
on 3 spool collect --timeout 300 --json "$JB" >"$T/json-b" 2>"$T/collect-b.err"; rc=$?
check_eq "collect of B (on node 3) exits 0: every task of B succeeded" 0 "$rc"
engines_json >"$T/engines.json"
[ -z "$new_d" ] || check_eq "(d) the skewed worker was never declared dead" 0 \
	"$(grep -c "worker $new_d on node4 is dead" "$T/spoold.log")"
# The controller is stopped cleanly so its database can be read.
p=$(node_pid 1 spoold) && kill -TERM "$p" && wait_gone "$p" 100
if seq 1 "$N" | cmp -s - "$T/out"; then
	pass "collect prints every task's output once, in order ($N lines)"
else
	fail "collect output differs ($(wc -l <"$T/out") lines):"; seq 1 "$N" | diff - "$T/out" | head -5
	grep -v '^node[0-9]' "$T/collect.err" | head -5
fi

cat >"$T/account.py" <<'EOF'
import json, os, re, sqlite3, sys
jfile, shared, backing, n, events, engfile, db, grace = sys.argv[1:9]
n = int(n)
grace = float(grace)
job = json.load(open(jfile))
engines = {e["id"]: e for e in json.load(open(engfile))}
def rec(path):
    d = {}
    try:
        for line in open(path):
            k, _, v = line.rstrip("\n").partition(" ")
            d[k] = v
    except OSError:
        return None
    return d
od = job["outdir"].replace(shared, backing, 1)
# Every attempt that left a trace beside the data: T.A.out (started), T.A.res (ended).
att = {}
for f in os.listdir(od):
    m = re.fullmatch(r"(\d+)\.(\d+)\.(out|err|res)", f)
    if m:
        a = att.setdefault((int(m[1]), int(m[2])), {})
        a[m[3]] = os.path.join(od, f)
def who(t, a):
    """The worker (WID) that ran attempt a of task t."""
    x = att.get((t, a), {})
    if "res" in x:
        r = rec(x["res"])
        if r and "wid" in r:
            return r["wid"]
    if "err" in x:
        try:
            eng = int(open(x["err"]).read().split()[1])
            return engines.get(eng, {}).get("worker")
        except (OSError, IndexError, ValueError):
            pass
    return None
# Events: the scenarios' victims and windows.
ev = [l.split(None, 3) for l in open(events)]
kills = [float(e[2]) for e in ev if e[:2] == ["a", "kill"]]
restarts = [float(e[2]) for e in ev if e[:2] == ["a", "restart"]]
down = list(zip(kills, restarts))
victim = {"b": [e[3].strip() for e in ev if e[:2] == ["b", "kill"]],
          "c": [e[3].strip() for e in ev if e[:2] == ["c", "stop"]],
          "d": [e[3].strip() for e in ev if e[:2] == ["d", "skew"]]}
tasks = {t["task"]: t for t in job["tasks"]}
terminal = {"succeeded", "failed", "timedout", "cancelled", "abandoned"}
bad = []
per = {}   # task -> its verdicts
accepted_db = {}
try:
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    rid = con.execute("SELECT rid FROM jobs WHERE id = ?", (job["job"],)).fetchone()[0]
    for idx, cnt in con.execute("SELECT idx, count(*) FROM attempts WHERE rid = ? AND accepted = 1 GROUP BY idx", (rid,)):
        accepted_db[idx] = cnt
    con.close()
except Exception as ex:
    # Not a reason to drop the check: an unreadable database is a failure.
    bad.append("cannot read the database %s (one accepted attempt per task unchecked): %s" % (db, ex))
    accepted_db = None
for i in range(1, n + 1):
    t = tasks.get(i)
    v = {"lost": 0, "dupacc": 0, "dups": 0, "state": None}
    per[i] = v
    if t is None or t["state"] not in terminal:
        v["lost"] = 1
        bad.append("task %d: %s" % (i, "missing" if t is None else t["state"]))
        continue
    v["state"] = t["state"]
    v["dups"] = len(t["duplicates"])
    a = t["attempt"]
    dup_attempts = [d["attempt"] for d in t["duplicates"]]
    problems = []
    if a in dup_attempts:
        problems.append("accepted attempt %d also listed as a duplicate" % a)
    if len(set(dup_attempts)) != len(dup_attempts):
        problems.append("a duplicate listed twice")
    if accepted_db is not None and accepted_db.get(i, 0) != 1:
        problems.append("%d accepted attempts in the database" % accepted_db.get(i, 0))
    if t["state"] == "succeeded":
        r = rec(att.get((i, a), {}).get("res", "/nonexistent"))
        if r is None:
            problems.append("no %d.%d.res beside the data" % (i, a))
        elif r.get("status") != "exited" or r.get("exit") != "0":
            problems.append("%d.%d.res says %s %s" % (i, a, r.get("status"), r.get("exit")))
        elif r.get("engine") != str(t["engine"]):
            problems.append("%d.%d.res names engine %s, the job state %s" % (i, a, r.get("engine"), t["engine"]))
        try:
            if open(att[(i, a)]["out"]).read() != "%d\n" % i:
                problems.append("%d.%d.out is not its item" % (i, a))
        except (KeyError, OSError):
            problems.append("no %d.%d.out" % (i, a))
    if problems:
        v["dupacc"] = 1
        bad.append("task %d: %s" % (i, "; ".join(problems)))
extra = [t for t in tasks if not 1 <= t <= n]
if extra or len(job["tasks"]) != len(tasks):
    bad.append("tasks outside 1..%d or listed twice: %s" % (n, extra[:5]))

# Which tasks each scenario touched: those the victim held (its inbox when it was hit), those it
# ran without the result being accepted, and for (a) those whose run ended while the
# controller was down (or within a few seconds of its restart).
held = {s: set() for s in "bcd"}
for e in ev:
    if len(e) > 3 and e[1] == "held":
        for name in e[3].split():
            jb, tk, _ = name.rsplit(".", 2)
            if jb == job["job"]:
                held[e[0]].add(int(tk))
touched = {s: set(held.get(s, ())) for s in "abcd"}
interrupted = {s: 0 for s in "bc"}
late_acc = 0
skew_ms = []
for (i, a), x in att.items():
    t = tasks.get(i)
    acc = t["attempt"] if t else None
    w = who(i, a)
    if "res" in x and any(k <= os.stat(x["res"]).st_mtime <= r + grace for k, r in down):
        touched["a"].add(i)
    for s in "bc":
        if w in victim[s] and a != acc:
            touched[s].add(i)
            interrupted[s] += "res" not in x
    if w in victim["c"] and a == acc and i in held["c"]:
        late_acc += 1
    if w in victim["d"] and a == acc:
        touched["d"].add(i)
        r = rec(x.get("res", "/nonexistent"))
        if r and r.get("end_ms"):
            skew_ms.append(int(r["end_ms"]) - os.stat(x["res"]).st_mtime * 1000)
skew_ms.sort()
skew_s = skew_ms[len(skew_ms) // 2] / 1000 if skew_ms else 0
log = open(os.path.join(os.path.dirname(events), "spoold.log")).read()
def requeued(wids):
    n = 0
    for w in wids:
        for m in re.finditer(r"worker %s on \S+ is .*?: (\d+) tasks? requeued" % re.escape(w), log):
            n += int(m[1])
    return n
cdups = sum(1 for t in job["tasks"] for d in t["duplicates"] if d["worker"] in victim["c"])
notes = {
    "a": "%d kills, down %.1f s in all, %d assignment files rewritten" % (
        len(kills), sum(r - k for k, r in down),
        sum(int(m) for m in re.findall(r"rewriting (\d+) assignment files?", log))),
    "b": "it held %d, %d requeued, %d runs cut short" % (len(held["b"]), requeued(victim["b"]), interrupted["b"]),
    "c": "it held %d, %d requeued; its late results: %d accepted, %d kept aside" % (
        len(held["c"]), requeued(victim["c"]), late_acc, cdups),
    "d": "%d requeued at the clean stop; the skewed worker: %d results, clock %+.0f s" % (
        requeued([e[3].strip() for e in ev if e[:2] == ["d", "old"]]), len(touched["d"] - held["d"]), skew_s),
}
names = {"a": "(a) spoold SIGKILL+restart", "b": "(b) worker SIGKILL+new", "c": "(c) worker SIGSTOP/SIGCONT",
         "d": "(d) worker clock +1 h"}
def row(label, ts, note=""):
    ts = sorted(ts)
    c = lambda k: sum(per[i][k] for i in ts)
    st = lambda s: sum(1 for i in ts if per[i]["state"] == s)
    fail = sum(1 for i in ts if per[i]["state"] not in (None, "succeeded"))
    return "%-28s %9d %9d %6d %9d %9d %5d  %s" % (label, len(ts), st("succeeded"), fail, c("dups"), c("dupacc"),
                                                 c("lost"), note)
hdr = "%-28s %9s %9s %6s %9s %9s %5s  %s" % ("scenario", "tasks", "succeeded", "failed", "dups kept",
                                            "dups acc.", "lost", "events")
print(hdr)
print("-" * len(hdr))
for s in "abcd":
    print(row(names[s], touched[s], notes[s]))
print(row("whole run (submitted)", range(1, n + 1),
          "%d runs never reported (killed, revoked, or ended after their worker was declared dead)" % sum(
              1 for (t, a), x in att.items() if a != (tasks[t]["attempt"] if t in tasks else None)
              and not any(d["attempt"] == a for d in tasks.get(t, {"duplicates": []})["duplicates"]))))
total = {k: sum(v[k] for v in per.values()) for k in ("lost", "dupacc", "dups")}
failed = sum(1 for v in per.values() if v["state"] not in (None, "succeeded"))
touched_n = {s: len(touched[s]) for s in "abcd"}
for b in bad[:10]:
    print("# " + b, file=sys.stderr)
json.dump({"lost": total["lost"], "dupacc": total["dupacc"], "dups": total["dups"], "failed": failed,
           "bad": len(bad), "touched": touched_n,
           "cdups": cdups, "skew": skew_s},
          open(os.path.join(os.path.dirname(events), "summary.json"), "w"))
EOF
python3 "$T/account.py" "$T/json" "$SHARED" "$B" "$N" "$EV" "$T/engines.json" "$T/db/queue.db" 3 \
	>"$T/table" 2>"$T/account.err"
check_eq "the accounting ran" 0 "$?"
echo "chaos: map $J, $N tasks, $([ $LONG = 1 ] && echo long || echo short) form, $(now) s so far"
cat "$T/table"
cat "$T/account.err" >&2
sum() { python3 -c 'import json, sys; print(eval(sys.argv[2], {}, json.load(open(sys.argv[1]))))' "$T/summary.json" "$1"; }
check_eq "no task lost: every task 1..$N present and terminal" 0 "$(sum lost)"
check_eq "no duplicate result accepted: one accepted result per task, its .res says exit 0" 0 "$(sum dupacc)"
check_eq "every task succeeded" 0 "$(sum failed)"
check_eq "nothing else is wrong with any task" 0 "$(sum bad)"
check "(a) some results ended while the controller was down or catching up" test "$(sum "touched['a']")" -ge 1
check "(b) tasks were interrupted on the killed worker and run again" test "$(sum "touched['b']")" -ge 1
check "(c) tasks of the stopped worker were run elsewhere" test "$(sum "touched['c']")" -ge 1
[ -z "$new_d" ] || check "(d) the skewed worker's results carry its clock, an hour ahead ($(sum skew) s)" \
	test "$(sum 'int(3500 < skew < 3700)')" = 1
check_eq "nothing was quarantined" "" "$(ls "$HOSTSPOOL/quarantine")"
check_eq "spoold logged no error" "" "$(grep -m3 '^spoold: error' "$T/spoold.log")"
check_eq "no result stays unconsumed in workers/*/done" "" "$(ls "$HOSTSPOOL"/workers/*/done/ 2>/dev/null | grep -v ':$' | grep .)"
# --- A and B: one accepted result each, and B's task i started only after A's task i ended --------
cat >"$T/pairs.py" <<'EOF2'
import json, os, sqlite3, sys
ja, jb, shared, backing, np_, marks, db = sys.argv[1:8]
np_ = int(np_)
bad = []
jobs = {"A": json.load(open(ja)), "B": json.load(open(jb))}
con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
retried = {"A": 0, "B": 0}
for name, job in jobs.items():
    tasks = {t["task"]: t for t in job["tasks"]}
    rid = con.execute("SELECT rid FROM jobs WHERE id = ?", (job["job"],)).fetchone()[0]
    acc = dict(con.execute("SELECT idx, count(*) FROM attempts WHERE rid = ? AND accepted = 1 GROUP BY idx", (rid,)))
    od = job["outdir"].replace(shared, backing, 1)
    for i in range(1, np_ + 1):
        t = tasks.get(i)
        if t is None or t["state"] != "succeeded":
            bad.append("%s task %d: %s" % (name, i, "missing" if t is None else t["state"] + " " + str(t["reason"])))
            continue
        if acc.get(i, 0) != 1:
            bad.append("%s task %d: %d accepted attempts in the database" % (name, i, acc.get(i, 0)))
        res = {}
        try:
            for line in open(os.path.join(od, "%d.%d.res" % (i, t["attempt"]))):
                k, _, v = line.rstrip("\n").partition(" ")
                res[k] = v
        except OSError as ex:
            bad.append("%s task %d: no result beside the data: %s" % (name, i, ex))
        if res and (res.get("status") != "exited" or res.get("exit") != "0"):
            bad.append("%s task %d: its accepted result says %s %s" % (name, i, res.get("status"), res.get("exit")))
        if i % (3 if name == "A" else 4) == 0:
            if t["attempt"] < 2:
                bad.append("%s task %d: failed once by design, yet accepted at attempt %d" % (name, i, t["attempt"]))
            retried[name] += any(d["status"] == "exited" and d["exit_code"] == 1 for d in t["duplicates"])
    jobs[name] = tasks
saw = 0
for f in sorted(os.listdir(marks)):
    if not f.startswith("b.") or not f.endswith(".saw"):
        continue
    saw += 1
    _, i, att, _ = f.split(".")
    a = jobs["A"].get(int(i))
    if a is None or a["state"] != "succeeded":
        continue
    seen = open(os.path.join(marks, f)).read().split()
    if "a.%s.%d" % (i, a["attempt"]) not in seen:
        bad.append("B task %s attempt %s started before task %s of A ended (it saw %s, A's accepted attempt is %d)"
                   % (i, att, i, seen or "no marker", a["attempt"]))
if saw < np_:
    bad.append("only %d attempts of B left their b.I.ATTEMPT.saw (%d tasks)" % (saw, np_))
for name in "AB":
    if not retried[name]:
        bad.append("no task of %s shows its failed first attempt among its duplicates" % name)
for b in bad[:10]:
    print("# " + b, file=sys.stderr)
print(len(bad), saw, retried["A"], retried["B"])
EOF2
read -r pbad psaw pra prb < <(python3 "$T/pairs.py" "$T/json-a" "$T/json-b" "$SHARED" "$B" "$NP" "$MK" "$T/db/queue.db" 2>"$T/pairs.err")
cat "$T/pairs.err" >&2
echo "# A and B: $psaw starts of B checked against A's markers; failed first attempts run again: $pra of A, $prb of B" >&2
check_eq "A and B: every task succeeded once, with one accepted result, and no task of B started before its task of A ended" 0 "${pbad:-unknown}"
check "A and B were still running when spoold was first killed ($b_at_kill of $NP tasks of B done)" \
	test "${b_at_kill:-$NP}" -lt "$NP"
if [ "${pairs_at_b:-0}" -lt $((2 * NP)) ]; then
	echo "# A and B: $pairs_at_b of $((2 * NP)) tasks done when the worker on node 2 was killed" >&2
else
	echo "# A and B had ended before the worker on node 2 was killed (the machine is slow: raise CHAOS_PAIRS)" >&2
fi
if [ -n "${CHAOS_KEEP:-}" ]; then # keep what the accounting read, for a closer look
	mkdir -p "$CHAOS_KEEP" && cp -a "$T"/*.log "$T"/collect.err "$T"/out "$T"/json "$T"/events "$T"/engines.json "$T"/db "$B/data" "$CHAOS_KEEP"/
fi
nodes_down
check_eq "every process is stopped at the end" "" \
	"$(for p in $(pgrep -x spoold; pgrep -x spool-worker; pgrep -x unshare); do { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qx "FAKE_NODES_DIR=$RF" && echo "$p"; done)"
echo "# chaos took $(now) s" >&2
