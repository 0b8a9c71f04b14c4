#!/bin/bash
# multinode.sh - spoold on node 1, workers on nodes 2 and 3, each through its own FUSE mount
# of the share: inotify is blind across mounts and new files appear late, as on NFS. Every
# task must still complete, with inotify on and with it switched off.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../multinode.sh"
need_fake_nodes
trap 'nodes_down; cleanup' EXIT

scenario() { # label, extra spool.conf settings...
	local label=$1; shift
	nodes_up 3
	make_shared_spool "$@"
	start_spoold_on 1
	start_worker_on 2 2
	start_worker_on 3 2
	wait_engines_on 1 4 || { nodes_down; return; }
	mkdir -p "$F/backing/data" && chmod 777 "$F/backing/data"
	local t0=$(date +%s.%N)
	out=$(on 2 sh -c "cd $SHARED/data && spool map --wait -- sh -c 'echo {} \$SPOOL_NODE' ::: \$(seq 1 40)" 2>"$T/map.err")
	rc=$?
	local t1=$(date +%s.%N)
	check_eq "$label: a 40-task map submitted on node 2 succeeds" 0 "$rc"
	check_eq "$label: results in input order" "$(seq 1 40 | tr '\n' ' ')" "$(echo "$out" | awk '{printf "%s ", $1}')"
	nodes=$(echo "$out" | awk '{print $2}' | sort -u | tr '\n' ' ')
	check_eq "$label: tasks ran on both worker nodes" "node2 node3 " "$nodes"
	echo "# $label: 40 tasks in $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s" >&2
	st=$(on 3 spool status 2>&1)
	check "$label: status from node 3 says the spool relies on rescans" grep -q "relies on rescans" <<<"$st"
	check "$label: spoold logged that it relies on rescans on fuse" grep -q "relying on rescans" "$T/spoold.log"
	nodes_down
	rm -f "$T"/*.log
}

scenario "inotify on (blind across mounts)"
scenario "inotify off" "inotify = false"
