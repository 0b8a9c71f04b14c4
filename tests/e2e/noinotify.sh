#!/bin/bash
# noinotify.sh - with inotify = false (as on NFS, where it is blind to other nodes) every
# watcher relies on rescans alone, and work still completes correctly.
. "$(dirname "$0")/../lib.sh"
make_spool "inotify=false"
check "spool.conf says inotify = false" grep -qx "inotify=false;" "$SPOOL_DIR/spool.conf"
start_spoold
start_worker 2
wait_engines 2 || exit 1
cd "$T"

j=$(spool map -- sh -c 'echo "$SPOOL_TASK {}"' ::: $(seq 101 150))
spool collect --timeout 60 "$j" >"$T/out" 2>"$T/err"; rc=$?
check_eq "map of 50 tasks: collect exits 0" 0 "$rc"
check_eq "map of 50 tasks: every output in order" "$(seq 50 | awk '{ print $1, $1 + 100 }')" "$(cat "$T/out")"
check_eq "map of 50 tasks: status shows 50 succeeded" 50 "$(spool status "$j" | awk '$2 == "succeeded"' | wc -l)"
check_eq "both engines took tasks" 2 "$(spool status "$j" | awk '$2 == "succeeded" { print $4 }' | sort -u | wc -l)"
check "spoold logged that inotify is off" grep -q "inotify is off in spool.conf" "$T/spoold.log"

# A cancel also goes through by rescans, and kills the running task.
# Live "sleep 30" processes of job $1 (the worker puts SPOOL_JOB in their environment).
job_sleeps() {
	local p
	for p in $(pgrep -fx 'sleep 30'); do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SPOOL_JOB=$1" && echo "$p"
	done
}
j=$(spool submit -- sleep 30)
for i in $(seq 100); do [ -n "$(job_sleeps "$j")" ] && break; sleep 0.05; done
check "a long task starts" test -n "$(job_sleeps "$j")"
check "  ... and shows as assigned" sh -c "spool status $j | grep -q '^ *1  assigned '"
spool cancel "$j" >/dev/null
spool collect --timeout 20 "$j" >/dev/null 2>"$T/err"; rc=$?
check_eq "a cancelled task: collect exits 1" 1 "$rc"
check "a cancelled task: status says cancelled" sh -c "spool status $j | grep -q '^ *1  cancelled '"
# The cancel is final at once; the worker kills the process when its next rescan sees it.
for i in $(seq 50); do [ -z "$(job_sleeps "$j")" ] && break; sleep 0.1; done
check_eq "a cancelled task: its sleep 30 is gone within 5 s" "" "$(job_sleeps "$j")"
check_eq "a task after the cancel still runs" "after" "$(spool submit --wait -- echo after 2>/dev/null)"
