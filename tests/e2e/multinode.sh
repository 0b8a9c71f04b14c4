#!/bin/bash
# multinode.sh - spoold on node 1, workers on nodes 2 and 3, each through its own FUSE mount
# of the share: inotify is blind across mounts and new files appear late, as on NFS. Every
# task must still complete, with inotify on and with it switched off.
# checks: 11
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../multinode.sh"
need_fake_nodes
trap 'nodes_down; cleanup' EXIT

scenario() { # label, extra spool.conf settings...
	local label=$1 label_dir=${1%% *}-$#; shift
	nodes_up 3
	make_shared_spool "$@"
	start_spoold_on 1
	start_worker_on 2 2
	start_worker_on 3 2
	wait_engines_on 1 4 || { nodes_down; return; }
	mkdir -p "$F/backing/data" && chmod 777 "$F/backing/data"
	local t0=$(date +%s.%N)
	j=$(on 2 sh -c "cd $SHARED/data && spool map -- sh -c 'echo {} \$SPOOL_NODE' ::: \$(seq 1 40)" 2>"$T/map.err")
	check "$label: a 40-task map is submitted on node 2" test -n "$j"
	out=$(on 2 spool collect --timeout 300 "$j" 2>>"$T/map.err")
	rc=$?
	local t1=$(date +%s.%N)
	[ $rc -eq 5 ] && fail "$label: the map's tasks were still pending after 300 s: $(on 2 spool status "$j" 2>&1 | tail -5)"
	check_eq "$label: the 40-task map submitted on node 2 succeeds" 0 "$rc"
	check_eq "$label: results in input order" "$(seq 1 40 | tr '\n' ' ')" "$(echo "$out" | awk '{printf "%s ", $1}')"
	nodes=$(echo "$out" | awk '{print $2}' | sort -u | tr '\n' ' ')
	check_eq "$label: tasks ran on both worker nodes" "node2 node3 " "$nodes"
	echo "# $label: 40 tasks in $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s" >&2
	st=$(on 3 spool status 2>&1)
	check "$label: status from node 3 says the spool relies on rescans" grep -q "relies on rescans" <<<"$st"
	if [ -n "${1:-}" ]; then
		# inotify = false: the programs really do without it (no inotify instance open).
		check_eq "$label: spoold and the workers hold no inotify descriptor" "0 3" "$(inotify_count)"
	fi
	nodes_down
	# The logs of every scenario are kept (cleanup scans them for sanitizer reports).
	mkdir -p "$T/$label_dir" && mv "$T"/*.log "$T/$label_dir/" 2>/dev/null
}
# "N P": inotify descriptors held by this test's spoold and spool-worker processes, and P of them
# (an engine's shepherd is a spool-worker too, a child of its worker: not counted, it holds only
# its socket, the cgroup and the node lock).
inotify_count() {
	local rf p n=0 c=0 l
	rf=$(realpath "$F")
	for p in $(pgrep -x spoold; pgrep -x spool-worker); do
		{ tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qx "FAKE_NODES_DIR=$rf" || continue
		[ "$(cat "/proc/$(ps -o ppid= -p "$p" | tr -d ' ')/comm" 2>/dev/null)" = spool-worker ] && continue
		[ -r "/proc/$p/fd" ] || continue
		# (each link read alone: `ls -l` of the whole directory fails on a descriptor closed
		# between its listing and its stat)
		for l in /proc/"$p"/fd/*; do
			[ "$(readlink "$l" 2>/dev/null)" = "anon_inode:inotify" ] && n=$((n + 1))
		done
		c=$((c + 1))
	done
	echo "$n $c"
}

scenario "inotify on (blind across mounts)"
scenario "inotify off" "inotify = false"
