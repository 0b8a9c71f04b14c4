#!/bin/bash
# noinotify.sh - with inotify = false (as on NFS, where it is blind to other nodes) every
# watcher relies on rescans alone, and work still completes correctly.
# checks: 12
. "$(dirname "$0")/../lib.sh"
make_spool "inotify=false"
start_spoold
start_worker 2
wait_engines 2 || exit 1
# Inotify descriptors held by process $1 (an inotify instance is an anon_inode:inotify link).
# Each link is read on its own: a descriptor closed meanwhile is skipped (`ls -l` of the whole
# directory failed on one that vanished between its listing and its stat).
inotify_fds() {
	local f n=0
	[ -r "/proc/$1/fd" ] || { echo "unreadable"; return; }
	for f in /proc/"$1"/fd/*; do
		[ "$(readlink "$f" 2>/dev/null)" = "anon_inode:inotify" ] && n=$((n + 1))
	done
	echo "$n"
}
check_eq "inotify = false: spoold holds no inotify descriptor" 0 "$(inotify_fds "$SPOOLD_PID")"
check_eq "inotify = false: the worker holds no inotify descriptor" 0 "$(inotify_fds "$WORKER_PID")"
cd "$T"

j=$(spool map -- sh -c 'echo "$SPOOL_TASK {}"' ::: $(seq 101 150))
spool collect --timeout 300 "$j" >"$T/out" 2>"$T/err"; rc=$?
check_eq "map of 50 tasks: collect exits 0" 0 "$rc"
check_eq "map of 50 tasks: every output in order" "$(seq 50 | awk '{ print $1, $1 + 100 }')" "$(cat "$T/out")"
check_eq "map of 50 tasks: status shows 50 succeeded" 50 "$(spool status "$j" | awk '$2 == "succeeded"' | wc -l)"
check_eq "both engines took tasks" 2 "$(spool status "$j" | awk '$2 == "succeeded" { print $4 }' | sort -u | wc -l)"

# A cancel also goes through by rescans, and kills the running task.
# Live "sleep 1800" processes of job $1 (the worker puts SPOOL_JOB in their environment).
job_sleeps() {
	local p
	for p in $(pgrep -fx 'sleep 1800'); do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SPOOL_JOB=$1" && echo "$p"
	done
}
j=$(spool submit -- sleep 1800)
for i in $(seq 600); do [ -n "$(job_sleeps "$j")" ] && break; sleep 0.1; done
before=$(job_sleeps "$j")
check "a long task starts (its sleep 1800 runs: ${before:-none})" test -n "$before"
# (its state is published up to publish_interval after its acceptance: wait for it to leave queued)
for i in $(seq 300); do spool status "$j" | grep -E '^ *1  [a-z]+ ' | grep -vq ' queued ' && break; sleep 0.1; done
check "  ... and shows as assigned or running" sh -c "spool status $j | grep -Eq '^ *1  (assigned|running) '"
spool cancel "$j" >/dev/null
spool collect --timeout 120 "$j" >/dev/null 2>"$T/err"; rc=$?
check_eq "a cancelled task: collect exits 1" 1 "$rc"
check "a cancelled task: status says cancelled" sh -c "spool status $j | grep -q '^ *1  cancelled '"
# The cancel is final at once; the worker kills the process when its next rescan sees it (the
# sleep would otherwise run for half an hour).
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
check "a cancelled task: the very sleep seen before the cancel is killed (waited 120 s)" wait_for 120 gone "${before:-0}"
check_eq "a task after the cancel still runs" "after" "$(spool submit --wait -- echo after 2>/dev/null)"
