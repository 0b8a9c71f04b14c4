#!/bin/bash
# acct.sh - `spool acct` (like sacct) with real spoold and workers: per job its tasks, failures,
# cancelled and skipped tasks, CPU time (user+sys) > 0 for a busy shell loop, max RSS > 0, the
# tasks' wall time and the job's elapsed time, each equal to what collect --json reports task by
# task; the per-user total; every attempt of a --retry-on-failure task counted; a job of more
# than one chunk of tasks (1,024) read whole; --user, --since and JOB arguments; a result record
# that cannot be read counted as such with a warning.
# Never a fixed sleep: collect waits for each job.
# checks: 31
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2
wait_engines 2 || exit 1
cd "$T"
me=$(id -un)
spin='i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exit $0'

s=$(spool map -- sh -c "$spin" ::: 0 1)
spool collect --timeout 300 "$s" >/dev/null 2>&1
k=$(spool submit --afterok "$s" -- echo never)
spool collect --timeout 120 "$k" >/dev/null 2>&1
x=$(spool submit -- sleep 1800)
spool cancel "$x" >/dev/null
spool collect --timeout 120 "$x" >/dev/null 2>&1
r=$(spool submit --retries 2 --retry-on-failure -- sh -c "$spin" 1)
spool collect --timeout 300 "$r" >/dev/null 2>&1
for j in $s $k $x $r; do spool collect --json "$j" >"$T/$j.json" 2>/dev/null; done

spool acct --json >"$T/a.json" 2>"$T/a.err"; rc=$?
check_eq "acct --json exits 0, no warning" "0:" "$rc:$(cat "$T/a.err")"
# What collect --json says of a job's tasks, added up as acct should: every attempt's result.
expect() { # JOB: "tasks failed cancelled skipped attempts cpu_ms user_ms sys_ms maxrss wall"
	python3 - "$T/$1.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
att = cpu = usr = sysm = wall = 0
rss = None
def res(path):
    f = {}
    for line in open(path):
        k, _, v = line.rstrip("\n").partition(" ")
        f[k] = v
    return f
for t in d["tasks"]:
    if t["attempt"] == 0:
        continue
    paths = [t["result"]] + ["%s/%d.%d.res" % (d["outdir"], t["task"], a["attempt"]) for a in t["duplicates"]]
    for i, p in enumerate(paths):
        f = res(p)
        att += 1
        usr += int(f["user_ms"]); sysm += int(f["sys_ms"])
        rss = max(rss or 0, int(f["maxrss_kb"]))
        wall += t["wall_ms"] if i == 0 else int(f["end_ms"]) - int(f["start_ms"])
c = d["counts"]
print(d["ntasks"], c["failed"] + c["timedout"] + c["abandoned"], c["cancelled"], c["skipped"], att, usr + sysm, usr, sysm, rss, wall)
EOF
}
got() { # JOB: the same fields from acct --json
	python3 -c '
import json, sys
x = [x for x in json.load(open(sys.argv[1]))["jobs"] if x["job"] == sys.argv[2]][0]
print(*(x[k] for k in ["tasks", "failed", "cancelled", "skipped", "attempts", "cpu_ms", "user_ms", "sys_ms", "maxrss_kb", "wall_ms"]))' "$T/a.json" "$1"
}
field() { python3 -c 'import json,sys; x = [x for x in json.load(open(sys.argv[1]))["jobs"] if x["job"] == sys.argv[2]][0]; print(x[sys.argv[3]])' "$T/a.json" "$1" "$2"; }

check_eq "the spin map: its tasks, failures, attempts, CPU, max RSS and wall as the result records say" "$(expect "$s")" "$(got "$s")"
check "the spin map: CPU time of the busy loops > 0" test "$(field "$s" cpu_ms)" -gt 0
check "the spin map: user CPU time > 0" test "$(field "$s" user_ms)" -gt 0
check "the spin map: max RSS > 0" test "$(field "$s" maxrss_kb)" -gt 0
check_eq "the spin map: 2 tasks, 1 succeeded, 1 failed, 2 ended, none unreadable" "2 1 1 2 0" \
	"$(echo $(for f in tasks succeeded failed ended unreadable; do field "$s" $f; done))"
check_eq "the spin map: elapsed = finished - submitted" \
	"$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(d["finished_ms"] - d["submitted_ms"])' "$T/$s.json")" \
	"$(field "$s" elapsed_ms)"
check_eq "the skipped job: 1 task skipped, never ran: no attempt, no CPU, max RSS null" "1 0 0 1 0 0 0 0 None 0" "$(got "$k")"
check_eq "the cancelled job: 1 task cancelled" "1 0 1 0" "$(got "$x" | cut -d' ' -f1-4)"
check_eq "the retried job: every attempt's result counted, as collect's duplicates say" "$(expect "$r")" "$(got "$r")"
check "the retried job: more than one attempt" test "$(field "$r" attempts)" -gt 1
check_eq "the per-user total: one user, 4 jobs, the sums and the largest RSS" ok "$(python3 -c "
import json, sys
d = json.load(open('$T/a.json'))
bad = []
if len(d['users']) != 1: bad.append('users %r' % d['users'])
u = d['users'][0]
if u['user'] != '$me' or u['owner'] != $(id -u) or u['jobs'] != 4: bad.append('user %r' % u)
for k in ['tasks', 'failed', 'cancelled', 'skipped', 'attempts', 'cpu_ms', 'user_ms', 'sys_ms', 'wall_ms', 'elapsed_ms']:
    if u[k] != sum(x[k] for x in d['jobs']): bad.append('%s %r' % (k, u[k]))
if u['maxrss_kb'] != max(x['maxrss_kb'] or 0 for x in d['jobs']): bad.append('maxrss %r' % u['maxrss_kb'])
print('\n'.join(bad) or 'ok')")"

# --- the table ---
spool acct >"$T/t.out" 2>"$T/t.err"; rc=$?
check_eq "acct exits 0" 0 "$rc"
check_eq "the header" "JOB USER TASKS FAILED CPU USRCPU SYSCPU MAXRSS WALL ELAPSED" "$(sed -n 1p "$T/t.out" | tr -s ' ')"
check_eq "one line per job, then the total of $me" "$s $k $x $r total" "$(echo $(awk 'NR > 1 { print $1 }' "$T/t.out"))"
check_eq "the spin map's line: user, 2 tasks, 1 failed" "$me 2 1" "$(awk -v j="$s" '$1 == j { print $2, $3, $4 }' "$T/t.out")"
check "the spin map's CPU and max RSS are shown (not 0.0s, not -)" \
	sh -c "awk -v j=$s '\$1 == j { print \$5, \$8 }' '$T/t.out' | grep -v -q -E '^0\\.0s |-\$'"
check_eq "the total line: $me, $(($(field "$s" tasks) + 2 + $(field "$r" tasks))) tasks, $(($(field "$s" failed) + $(field "$r" failed))) failed" \
	"$me $(($(field "$s" tasks) + 2 + $(field "$r" tasks))) $(($(field "$s" failed) + $(field "$r" failed)))" \
	"$(awk '$1 == "total" { print $2, $3, $4 }' "$T/t.out")"
check_eq "no line longer than 80 columns" "" "$(awk 'length > 80' "$T/t.out")"

# --- which jobs ---
jobs_of() { spool acct --json "$@" 2>/dev/null | python3 -c 'import json,sys; d = json.load(sys.stdin); print(" ".join(x["job"] for x in d["jobs"]), len(d["users"]))'; }
check_eq "acct JOB JOB: those two, one user total" "$x $s 1" "$(jobs_of "$x" "$s")"
run nojob spool acct nosuchjob1
check_eq "acct of no such job: exit 4" 4 "$RC"
check_eq "--user $me: every job" "$s $k $x $r 1" "$(jobs_of --user "$me")"
other=$(getent passwd | awk -F: -v me="$(id -u)" '$3 != me { print $1; exit }')
check_eq "--user $other: none, no total" " 0" "$(jobs_of --user "$other")"
check_eq "--since 1d: every job" "$s $k $x $r 1" "$(jobs_of --since 1d)"
check_eq "--since 2099-01-01: none (all over before)" " 0" "$(jobs_of --since 2099-01-01)"
run badsince spool acct --since soon
check_eq "--since soon: exit 2" 2 "$RC"

# --- more than one chunk: 1,100 tasks read a chunk at a time, every one counted ---
big=$(spool map --input <(seq 1100) -- true)
spool collect --timeout 600 "$big" >/dev/null 2>&1
spool acct --json "$big" >"$T/big.json"
check_eq "a job of 1,100 tasks (two chunks): 1,100 tasks, 1,100 attempts read, all ended" "1100 1100 1100 0" \
	"$(python3 -c 'import json,sys; x = json.load(sys.stdin)["jobs"][0]; print(x["tasks"], x["attempts"], x["ended"], x["unreadable"])' <"$T/big.json")"
check "its wall time is the sum of its tasks' (collect --json)" test \
	"$(spool collect --json "$big" 2>/dev/null | python3 -c 'import json,sys; print(sum(t["wall_ms"] for t in json.load(sys.stdin)["tasks"]))')" = \
	"$(python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["wall_ms"])' <"$T/big.json")"

# --- a result record gone: counted as unreadable, named in a warning, its wall time kept ---
wall1=$(field "$s" wall_ms)
rm "$T/spool-$s/1.1.res"
spool acct --json "$s" >"$T/gone.json" 2>"$T/gone.err"; rc=$?
check_eq "a missing result record: exit 0" 0 "$rc"
check_eq "  ... 1 unreadable, 1 attempt read, the wall time still summed" "1 1 $wall1" \
	"$(python3 -c 'import json,sys; x = json.load(sys.stdin)["jobs"][0]; print(x["unreadable"], x["attempts"], x["wall_ms"])' <"$T/gone.json")"
check "  ... and a warning names the record" grep -q "warning: 1 result record of job $s could not be read.*$T/spool-$s/1.1.res" "$T/gone.err"
