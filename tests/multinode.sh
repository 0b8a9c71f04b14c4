# multinode.sh - helpers for tests on simulated nodes: one backing directory seen through
# several FUSE mounts (../shared/tools/fake-nodes.sh), each blind to the others' inotify
# events and with NFS-like cache delays. Source after lib.sh.
FAKE_NODES="${FAKE_NODES:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared/tools/fake-nodes.sh}"

# Skip (not pass) the whole test when simulated nodes cannot run here, saying why.
need_fake_nodes() {
	local why=""
	if [ "$(id -u)" != 0 ]; then why="it needs root (FUSE mounts and namespaces)"
	elif [ ! -x "$FAKE_NODES" ] && [ ! -f "$FAKE_NODES" ]; then why="$FAKE_NODES is missing"
	elif [ ! -e /dev/fuse ]; then why="/dev/fuse is missing"
	elif ! command -v fusermount3 >/dev/null 2>&1; then why="fuse3 is not installed (make check installs it as root)"
	elif ! pkg-config --exists fuse3 2>/dev/null; then why="libfuse3-dev is not installed"
	fi
	if [ -n "$why" ]; then
		skip "simulated nodes unavailable: $why"
		exit 0
	fi
}

# DIR/backing is the "server's disk"; DIR/nodeI node I's mount; inside `on I`, $SHARED is
# node I's view of the share at one path for all nodes.
nodes_up() { # N
	F="$T/fn"
	SHARED="$F/shared"
	FAKE_NODES_TIMEOUT=${FAKE_NODES_TIMEOUT:-1} FAKE_NODES_NEGATIVE_TIMEOUT=${FAKE_NODES_NEGATIVE_TIMEOUT:-1} \
		bash "$FAKE_NODES" up "$F" "$1" >"$T/fake-nodes.log" 2>&1 || { fail "fake-nodes up"; cat "$T/fake-nodes.log"; exit 1; }
	NODES_UP=1
	export SPOOL_DIR="$SHARED/spool"
}

nodes_down() {
	[ -n "${NODES_UP:-}" ] && bash "$FAKE_NODES" down "$F" >>"$T/fake-nodes.log" 2>&1
	NODES_UP=""
}

# Run a command on node I (own hostname, mount, pid namespace).
on() { # I CMD...
	local i=$1; shift
	bash "$FAKE_NODES" run "$F" "$i" -- env PATH="$PATH" SPOOL_DIR="$SPOOL_DIR" "$@"
}

# The spool, created on the server's disk, with its database outside the share.
make_shared_spool() { # extra "name = value" settings
	spool init "$F/backing/spool" >/dev/null || { fail "spool init"; exit 1; }
	local conf="$F/backing/spool/spool.conf"
	mkdir -p "$T/db"
	sed -i -e 's/^rescan_interval.*/rescan_interval = 0.2;/' -e 's/^heartbeat_interval.*/heartbeat_interval = 0.2;/' \
		-e 's/^dead_timeout.*/dead_timeout = 6.0;/' -e 's/^kill_grace.*/kill_grace = 1.0;/' \
		-e "s|^database.*|database = \"$T/db/queue.db\";|" -e 's/^prefetch =.*/prefetch = 4;/' \
		-e 's/^visibility_deadline.*/visibility_deadline = 2.0;/' "$conf"
	for kv in "$@"; do
		local k=${kv%%=*}
		sed -i "/^$k *=/d" "$conf"
		echo "$kv;" >>"$conf"
	done
}

start_spoold_on() { # I
	on "$1" spoold -f 2>>"$T/spoold.log" &
	PIDS="$PIDS $!"
}

start_worker_on() { # I N
	on "$1" spool-worker -f -n "$2" 2>>"$T/worker-node$1.log" &
	PIDS="$PIDS $!"
}

# Wait for N live engines as seen from node I.
wait_engines_on() { # I N
	if ! on "$1" spool workers --wait "$2" --timeout 30 >/dev/null 2>"$T/wait.err"; then
		fail "$2 engines did not come up"; cat "$T/wait.err" "$T"/spoold.log "$T"/worker-*.log | tail -20
		return 1
	fi
}
