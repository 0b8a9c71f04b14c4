#!/bin/bash
# pipeline.sh - what issue 13 asks a user to be able to do with spool alone: a three-stage
# pipeline over 10,000 files with a retry of the failures, with real spoold and workers.
#   stage 1: a map over the files; one in 100 fails on its first attempt (a transient error),
#            and --retries 1 --retry-on-failure runs it again;
#   stage 2: --after-each stage 1: its task i starts once task i of stage 1 ended, without
#            waiting for the whole of stage 1;
#   stage 3: --afterok stage 2: one task that sums what stage 2 wrote.
# Checks: every file went through both stages exactly once with a result, the failed ones were
# run again (attempt 2), no task of stage 2 started before its pair of stage 1 ended, and the sum
# is right; then `spool acct` says who used what. PIPELINE_FILES=N for another size. Never a fixed sleep: results are waited for.
# checks: 11
# deadline: 900
. "$(dirname "$0")/../lib.sh"
N=${PIPELINE_FILES:-10000}
make_spool
start_spoold
start_worker 2
wait_engines 2 || exit 1
cd "$T"
mkdir data out1 out2
python3 -c '
import sys
for i in range(1, int(sys.argv[1]) + 1):
    with open("data/f%05d" % i, "w") as f:
        f.write("%d\n" % i)' "$N"

# Stage 1: doubles the number in each file; files whose number ends in 00 fail once.
s1=$(ls data | spool map --input - --retries 1 --retry-on-failure -- sh -c '
	f=$1
	case $f in *00) [ -e "out1/$f.tried" ] || { : >"out1/$f.tried"; echo "transient error on $f" >&2; exit 3; } ;; esac
	echo $(( $(cat "data/$f") * 2 )) >"out1/$f"' sh {})
# Stage 2: adds one to stage 1's result for the same file.
s2=$(ls data | spool map --input - --after-each "$s1" -- sh -c 'echo $(( $(cat "out1/$1") + 1 )) >"out2/$1"' sh {})
# Stage 3: the sum.
s3=$(spool submit --afterok "$s2" -- sh -c 'cat out2/f* | awk "{ s += \$1 } END { print s }"')
check "the three stages were accepted" test -n "$s1" -a -n "$s2" -a -n "$s3"

run s3 spool collect --timeout 800 "$s3"
check_eq "stage 3 ran once stage 2 had succeeded, and its sum is right" "0 $((N * (N + 1) + N))" "$RC $(cat "$T/s3.out")"

# One `spool status --json` per stage: counts, attempts, and the times the workers recorded (one
# node here, so one clock).
spool status --json "$s1" >"$T/s1.json"
spool status --json "$s2" >"$T/s2.json"
python3 - "$T/s1.json" "$T/s2.json" "$N" >"$T/report" <<'EOF'
import json, sys
s1, s2, n = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
print("s1_succeeded", s1["counts"]["succeeded"])
print("s2_succeeded", s2["counts"]["succeeded"])
print("s1_retried", sum(1 for t in s1["tasks"] if t["attempt"] == 2))
print("s1_retried_right", all((t["attempt"] == 2) == t["item"].endswith("00") for t in s1["tasks"]))
ends = {t["task"]: t["end_ms"] for t in s1["tasks"]}
print("s2_early", sum(1 for t in s2["tasks"] if t["start_ms"] < ends[t["task"]]))
# Some stage-2 tasks ran before stage 1 had ended: the pipeline did not wait for the whole map.
last1 = max(ends.values())
print("s2_overlap", sum(1 for t in s2["tasks"] if t["start_ms"] < last1))
EOF
val() { awk -v k="$1" '$1 == k { print $2 }' "$T/report"; }
check_eq "stage 1: every one of the $N files succeeded" "$N" "$(val s1_succeeded)"
check_eq "  ... the $((N / 100)) that failed once ran a second attempt" "$((N / 100))" "$(val s1_retried)"
check_eq "  ... exactly those (files ending in 00)" True "$(val s1_retried_right)"
check_eq "stage 2: every file succeeded" "$N" "$(val s2_succeeded)"
check_eq "  ... and none of its tasks started before its pair of stage 1 ended" 0 "$(val s2_early)"
echo "# $(val s2_overlap) tasks of stage 2 started before the last of stage 1 ended"

# Who used what: spool acct over the three stages.
spool acct --json "$s1" "$s2" "$s3" >"$T/acct.json"
python3 - "$T/acct.json" "$s1" "$s2" "$s3" "$N" "$(id -un)" >"$T/acct.report" <<'EOF2'
import json, sys
a = json.load(open(sys.argv[1]))
jobs = {j["job"]: j for j in a["jobs"]}
s1, s2, s3, n, me = jobs[sys.argv[2]], jobs[sys.argv[3]], jobs[sys.argv[4]], int(sys.argv[5]), sys.argv[6]
print("tasks", s1["tasks"], s2["tasks"], s3["tasks"])
print("attempts", s1["attempts"], s2["attempts"], s3["attempts"])
print("failed", s1["failed"] + s2["failed"] + s3["failed"])
u = [x for x in a["users"] if x["user"] == me]
print("user", len(u), u[0]["cpu_ms"] >= s1["cpu_ms"] if u else False)
EOF2
ar() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$T/acct.report"; }
check_eq "spool acct: the tasks of the three stages" "$N $N 1" "$(ar tasks)"
check_eq "  ... the attempts that ran (stage 1's retries too)" "$((N + N / 100)) $N 1" "$(ar attempts)"
check_eq "  ... none failed in the end" 0 "$(ar failed)"
check_eq "  ... and one total line for this user, summing the stages' CPU time" "1 True" "$(ar user)"
