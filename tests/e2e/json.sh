#!/bin/bash
# json.sh - the --json output of status (all jobs and one job), workers and collect, read
# with python3's json module: field names, types and values, and the paths it gives. With no
# engine left: apply fails at once with its reason, static map waits as balanced. At the end:
# submit, map and apply --json (the job id, kind, tasks, output directory) and doctor --json
# (each check and its outcome; the controller stopped; no spool).
# checks: 41
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2 nodeA
wait_engines 2 || exit 1
cd "$T"

# Run python3 on stdin's JSON with the program in $1; it prints problems, one per line, or
# "ok" when there are none. Anything else fails the check: empty input (a command that printed
# nothing), input that is not JSON, or an exception in the program (its traceback is printed).
pycheck() {
	python3 -c "
import json, sys
raw = sys.stdin.read()
if not raw.strip():
    sys.exit('no JSON at all: the command printed nothing')
d = json.loads(raw)
bad = []
def want(cond, what):
    if not cond: bad.append(what)
def typ(o, k, *types):
    want(k in o, 'missing field %s' % k)
    if k in o: want(type(o[k]) in types, 'field %s is %r' % (k, type(o[k]).__name__))
$1
print('\n'.join(bad) if bad else 'ok')" 2>&1 || echo "python3 could not read the JSON (exit $?): an empty or broken output is a failure"
}

j=$(spool map -- sh -c 'echo "out $0"; echo "err $0" >&2; exit $(( $0 == 2 ))' {} ::: 1 2)
spool collect "$j" >/dev/null 2>&1

# --- collect --json ---
spool collect --json "$j" >"$T/c.json" 2>"$T/e"; rc=$?
check_eq "collect --json exits 1 (task 2 exited 1)" 1 "$rc"
check "collect --json is one JSON document" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/c.json"
check_eq "collect --json: job fields and types" ok "$(pycheck '
typ(d, "job", str); typ(d, "name", type(None)); typ(d, "owner", int); typ(d, "state", str)
typ(d, "cwd", str); typ(d, "outdir", str); typ(d, "ntasks", int); typ(d, "counts", dict); typ(d, "tasks", list)
want(d["state"] == "done", "state %r" % d["state"])
want(d["ntasks"] == 2 and len(d["tasks"]) == 2, "two tasks")
want(d["counts"] == {"queued": 0, "assigned": 0, "running": 0, "succeeded": 1, "failed": 1, "timedout": 0,
    "cancelled": 0, "abandoned": 0, "skipped": 0}, "counts %r" % d["counts"])
' <"$T/c.json")"
check_eq "collect --json: every task has exactly the documented fields" ok "$(pycheck '
keys = ["task", "state", "exit_code", "signal", "engine", "node", "attempt", "wall_ms", "start_ms", "end_ms",
        "user_ms", "sys_ms", "maxrss_kb", "reason", "stdout", "stderr", "result", "duplicates", "item", "values"]
want([(t["item"], t["values"]) for t in d["tasks"]] == [("1", ["1"]), ("2", ["2"])], "items %r" % d["tasks"])
for t in d["tasks"]:
    want(sorted(t) == sorted(keys), "task fields %r" % sorted(t))
    want(t["duplicates"] == [], "no duplicate attempts here %r" % t["duplicates"])
    for k in ["task", "exit_code", "engine", "attempt", "wall_ms", "start_ms", "end_ms", "user_ms", "sys_ms", "maxrss_kb"]:
        typ(t, k, int)
    for k in ["state", "node", "stdout", "stderr", "result"]:
        typ(t, k, str)
    typ(t, "signal", type(None))
    want(t["end_ms"] >= t["start_ms"], "end before start")
    want(t["end_ms"] - t["start_ms"] < 60000, "a task of 60 s or more")
    want(t["node"] == "nodeA", "node %r" % t["node"])
    want(t["attempt"] == 1, "attempt")
t1, t2 = d["tasks"]
want([t1["task"], t2["task"]] == [1, 2], "task numbers")
want(t1["state"] == "succeeded" and t1["exit_code"] == 0, "task 1 %r %r" % (t1["state"], t1["exit_code"]))
want(t2["state"] == "failed" and t2["exit_code"] == 1, "task 2 %r %r" % (t2["state"], t2["exit_code"]))
want(t1["reason"] is None, "task 1 reason %r" % t1["reason"])
' <"$T/c.json")"
py() { python3 -c "import json,sys; d = json.load(open(sys.argv[1])); print($1)" "$T/c.json"; }
check_eq "collect --json: the job id, owner, cwd and outdir" "$j $(id -u) $T $T/spool-$j" \
	"$(py "d['job'], d['owner'], d['cwd'], d['outdir']")"
# The paths it gives hold the task's output and result.
for k in 1 2; do
	check_eq "task $k: the stdout path holds its output" "out $k" "$(cat "$(py "d['tasks'][$k - 1]['stdout']")")"
	check_eq "task $k: the stderr path holds its error output" "err $k" "$(cat "$(py "d['tasks'][$k - 1]['stderr']")")"
	check "task $k: the result path holds its exit status" \
		grep -qx "exit $((k - 1))" "$(py "d['tasks'][$k - 1]['result']")"
done
check_eq "the stdout path is beside the data" "$T/spool-$j/1.1.out" "$(py "d['tasks'][0]['stdout']")"
check_eq "engine matches spool status" "$(spool status "$j" | awk '$1 == 1 { print $4 }')" "$(py "d['tasks'][0]['engine']")"

# A killed task: signal is an int, exit_code null.
k=$(spool submit -- sh -c 'kill -9 $$')
spool collect --json "$k" >"$T/k.json" 2>/dev/null
check_eq "a task killed by a signal: signal 9, exit_code null, state failed" "9 None failed" \
	"$(python3 -c 'import json,sys; t = json.load(sys.stdin)["tasks"][0]; print(t["signal"], t["exit_code"], t["state"])' <"$T/k.json")"
# A job still running: null where nothing is known yet.
r=$(spool submit --name slowjob -- sleep 1800) # cancelled below
for i in $(seq 600); do spool status "$r" 2>/dev/null | grep -q ' running ' && break; sleep 0.1; done
spool collect --no-wait --json "$r" >"$T/r.json" 2>/dev/null; rc=$?
check_eq "collect --no-wait --json of a running job exits 5" 5 "$rc"
check_eq "a running task: state running, nulls for what is not known yet" ok "$(pycheck '
t = d["tasks"][0]
want(d["state"] == "active", "job state %r" % d["state"])
want(d["name"] == "slowjob", "name %r" % d["name"])
want(t["state"] == "running", "state %r" % t["state"])
for k in ["exit_code", "signal", "wall_ms", "end_ms"]:
    want(t[k] is None, "%s is %r" % (k, t[k]))
typ(t, "engine", int)
' <"$T/r.json")"

# --- status --json (one job) ---
spool status --json "$j" >"$T/s1.json"; rc=$?
check_eq "status --json JOB exits 0" 0 "$rc"
check_eq "status --json JOB: the same job and tasks as collect --json" ok "$(pycheck "
c = json.load(open('$T/c.json'))
want(d == c, 'differs from collect --json')
" <"$T/s1.json")"

# --- status --json (every job) ---
spool status --json >"$T/s.json"; rc=$?
check_eq "status --json exits 0" 0 "$rc"
check_eq "status --json: spool, controller and the 3 jobs with their counts" ok "$(pycheck "
typ(d, 'spool', str); typ(d, 'filesystem', str); typ(d, 'relies_on_rescans', bool)
typ(d, 'controller', dict); typ(d, 'jobs', list)
want(d['spool'] == '$SPOOL_DIR', 'spool %r' % d['spool'])
typ(d['controller'], 'running', bool); typ(d['controller'], 'status', str)
want(d['controller']['running'] is True, 'controller not running')
ids = sorted(x['job'] for x in d['jobs'])
want(ids == sorted(['$j', '$k', '$r']), 'jobs %r' % ids)
for x in d['jobs']:
    want('tasks' not in x, 'tasks listed without JOB')
    typ(x, 'ntasks', int); typ(x, 'counts', dict); typ(x, 'state', str); typ(x, 'owner', int)
    want(sum(x['counts'].values()) == x['ntasks'], 'counts do not add up for %s' % x['job'])
by = {x['job']: x for x in d['jobs']}
want(by['$r']['counts']['running'] == 1 and by['$r']['state'] == 'active', 'running job %r' % by['$r'])
want(by['$j']['counts']['failed'] == 1 and by['$j']['state'] == 'done', 'finished job %r' % by['$j'])
" <"$T/s.json")"
# A job not yet accepted (controller paused) is listed as submitted.
kill -STOP "$SPOOLD_PID"
p=$(spool submit -- true)
spool status --json >"$T/s2.json"
kill -CONT "$SPOOLD_PID"
check_eq "status --json: a job not yet accepted has state submitted and no owner" "submitted None 0" \
	"$(python3 -c 'import json,sys; d = json.load(sys.stdin); x = [x for x in d["jobs"] if x["job"] == sys.argv[1]][0]; print(x["state"], x["owner"], x["ntasks"])' "$p" <"$T/s2.json")"

# --- workers --json ---
# The engine table is republished at most every publish_interval: let the short job's engine
# show idle again before looking.
spool collect "$p" >/dev/null 2>&1
for i in $(seq 600); do
	[ "$(spool workers | awk 'NR > 1 && $4 == "busy"' | wc -l)" -eq 1 ] && break
	sleep 0.1
done
spool workers --json >"$T/w.json"; rc=$?
check_eq "workers --json exits 0" 0 "$rc"
ids=$(spool workers | awk 'NR > 1 { print $1 }' | sort -n | tr '\n' ' ')
check_eq "workers --json: one object per engine with the documented fields" ok "$(pycheck "
want(type(d) is list and len(d) == 2, 'not a list of 2')
for e in d:
    want(sorted(e) == sorted(['id', 'node', 'pid', 'worker', 'state', 'task', 'heartbeat_age_s']), 'fields %r' % sorted(e))
    typ(e, 'id', int); typ(e, 'node', str); typ(e, 'pid', int); typ(e, 'worker', str); typ(e, 'state', str)
    typ(e, 'task', str, type(None)); typ(e, 'heartbeat_age_s', float, int)
    want(e['node'] == 'nodeA' and e['pid'] == $WORKER_PID, 'node/pid %r %r' % (e['node'], e['pid']))
    want(e['worker'].startswith('nodeA-'), 'worker %r' % e['worker'])
    want(0 <= e['heartbeat_age_s'] < 5, 'heartbeat age %r' % e['heartbeat_age_s'])
want(' '.join(str(e['id']) for e in d) + ' ' == '$ids', 'ids %r' % [e['id'] for e in d])
busy = [e for e in d if e['state'] == 'busy']
want(len(busy) == 1 and busy[0]['task'] == '$r.1', 'busy engines %r' % busy)
idle = [e for e in d if e['state'] == 'idle']
want(len(idle) == 1 and idle[0]['task'] is None, 'idle engines %r' % idle)
" <"$T/w.json")"
spool cancel "$r"
kill -TERM "$WORKER_PID"; wait "$WORKER_PID"
for i in $(seq 100); do [ -z "$(spool workers | awk 'NR > 1')" ] && break; sleep 0.05; done
check_eq "workers --json with no live engine is an empty list" "[]" "$(spool workers --json)"
check_eq "workers --all --json lists the dead engines with a null heartbeat age" "dead None
dead None" "$(spool workers --all --json | python3 -c 'import json,sys
for e in json.load(sys.stdin): print(e["state"], e["heartbeat_age_s"])')"

# --- no live engine: apply fails at once with its reason; a static map waits (as balanced) ---
spool apply --wait -- true >/dev/null 2>"$T/e"; rc=$?
check_eq "apply with no live engine: collect exits 1" 1 "$rc"
check "it says there is no live engine" grep -q "task 1: failed: no live engines" "$T/e"
a=$(spool apply --targets 1 -- true)
check_eq "apply --targets of a dead engine: failed, reason in --json" "failed none of the target engines is alive" \
	"$(spool collect --json "$a" 2>/dev/null | python3 -c 'import json,sys; t = json.load(sys.stdin)["tasks"][0]; print(t["state"], t["reason"])')"
m=$(spool map --schedule static -- sh -c 'echo $0' {} ::: 1 2 3)
spool collect --timeout 1 "$m" >/dev/null 2>&1; rc=$?
check_eq "a static map with no live engine waits (collect --timeout exits 5)" 5 "$rc"
start_worker 1 nodeZ
out=$(spool collect --timeout 10 "$m" 2>/dev/null)
check_eq "and runs on the engine that comes later" "1 2 3" "$(echo $out)"

# --- submit, map and apply --json: the job id and what a script needs to follow it ---
spool submit --json --name sj -- echo sj >"$T/sj.json"; rc=$?
check_eq "submit --json exits 0" 0 "$rc"
check_eq "submit --json: job, kind, name, ntasks, cwd and the default outdir" ok "$(pycheck "
want(sorted(d) == sorted(['job', 'kind', 'name', 'ntasks', 'cwd', 'outdir']), 'fields %r' % sorted(d))
typ(d, 'job', str)
want(d['kind'] == 'submit' and d['name'] == 'sj' and d['ntasks'] == 1, 'values %r' % d)
want(d['cwd'] == '$T' and d['outdir'] == '$T/spool-' + d['job'], 'paths %r' % d)
" <"$T/sj.json")"
sj=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["job"])' <"$T/sj.json")
check_eq "its job id is the job's: collect prints its output" "sj" "$(spool collect --timeout 60 "$sj" 2>/dev/null)"
spool map --json --output "$T/mo" -- echo {1}{2} ::: a b ::: 1 2 3 >"$T/mj.json"
check_eq "map --json: kind map, 6 tasks (two sources' product), under the --output directory" "map 6 $T/mo/spool-JOB None" \
	"$(python3 -c 'import json,sys; d = json.load(sys.stdin); print(d["kind"], d["ntasks"], d["outdir"].replace(d["job"], "JOB"), d["name"])' <"$T/mj.json")"
mj=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["job"])' <"$T/mj.json")
check_eq "  ... and the job has those 6 tasks" 6 "$(spool collect --timeout 60 "$mj" 2>/dev/null | wc -l)"
spool apply --json -- true >"$T/aj.json"
check_eq "apply --json: kind apply, ntasks null (the controller picks the engines)" "apply None" \
	"$(python3 -c 'import json,sys; d = json.load(sys.stdin); print(d["kind"], d["ntasks"])' <"$T/aj.json")"
spool submit --json --wait -- echo waited >"$T/wj.json" 2>/dev/null; rc=$?
check_eq "submit --json --wait: exit 0 and the job with its results, as collect --json" "0 done 1 succeeded" \
	"$rc $(python3 -c 'import json,sys; d = json.load(sys.stdin); print(d["state"], d["ntasks"], d["tasks"][0]["state"])' <"$T/wj.json")"

# --- doctor --json: each check and its outcome ---
spool doctor --json >"$T/dj.json"; rc=$?
check_eq "doctor --json exits 0 on a healthy spool" 0 "$rc"
check_eq "doctor --json: spool, problems 0, checks with check, outcome and message; the controller ok" ok "$(pycheck "
typ(d, 'spool', str); typ(d, 'problems', int); typ(d, 'checks', list)
want(d['spool'] == '$SPOOL_DIR' and d['problems'] == 0, 'spool/problems %r %r' % (d['spool'], d['problems']))
for c in d['checks']:
    want(sorted(c) == ['check', 'message', 'outcome'], 'fields %r' % sorted(c))
    want(c['outcome'] in ('ok', 'info', 'problem'), 'outcome %r' % c['outcome'])
by = {c['check']: c for c in d['checks']}
want(by.get('controller', {}).get('outcome') == 'ok', 'controller %r' % by.get('controller'))
want('layout' in by and 'engines' in by, 'checks %r' % sorted(by))
" <"$T/dj.json")"
kill -TERM "$SPOOLD_PID"; wait "$SPOOLD_PID"
spool doctor --json >"$T/dj2.json"; rc=$?
check_eq "doctor --json with the controller stopped: exit 3, 1 problem: the controller" "3 1 problem" \
	"$rc $(python3 -c 'import json,sys; d = json.load(sys.stdin); print(d["problems"], [c["outcome"] for c in d["checks"] if c["check"] == "controller"][0])' <"$T/dj2.json")"
spool -d "$T/nospool" doctor --json >"$T/dj3.json"; rc=$?
check_eq "doctor --json of no spool: exit 3, JSON with the reason" "3 open problem" \
	"$rc $(python3 -c 'import json,sys; c = json.load(sys.stdin)["checks"][0]; print(c["check"], c["outcome"])' <"$T/dj3.json")"
