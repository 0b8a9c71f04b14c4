# lib.sh - helpers for end-to-end tests: a private spool, real spoold and spool-worker
# processes, and checks that print PASS/FAIL lines. Source it from bash.
set -u
SPOOL_BIN="${SPOOL_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bin}"
export PATH="$SPOOL_BIN:$PATH"
TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d /tmp/spool-e2e.XXXXXX)
export SPOOL_DIR="$T/spool"
PIDS=""
VG=""
[ -n "${SPOOL_VALGRIND:-}" ] && VG="valgrind -q --error-exitcode=99 --leak-check=full --log-file=$T/vg.%p"

cleanup() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	if grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T"/*.log >/dev/null 2>&1; then
		echo "FAIL: $TEST_NAME: a sanitizer reported errors:"; grep -h -A15 -E 'ERROR: |runtime error:' "$T"/*.log | head -60
	fi
	if [ -n "$VG" ] && cat "$T"/vg.* 2>/dev/null | grep -q .; then
		echo "FAIL: $TEST_NAME: valgrind reported errors:"; cat "$T"/vg.*
	fi
	rm -rf "$T"
}
trap cleanup EXIT

pass() { echo "PASS: $TEST_NAME: $*"; }
fail() { echo "FAIL: $TEST_NAME: $*"; }
skip() { echo "SKIP: $TEST_NAME: $*"; }
check() { # description, then a command that must succeed
	local d=$1; shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
check_eq() { # description, expected, actual
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (expected '$2', got '$3')"; fi
}

# A fresh spool with fast timers for tests; extra "name = value;" lines may follow.
make_spool() {
	spool init "$SPOOL_DIR" >/dev/null || { fail "spool init"; exit 1; }
	sed -i -e 's/^rescan_interval.*/rescan_interval = 0.2;/' -e 's/^heartbeat_interval.*/heartbeat_interval = 0.2;/' \
		-e 's/^dead_timeout.*/dead_timeout = 3.0;/' -e 's/^kill_grace.*/kill_grace = 1.0;/' "$SPOOL_DIR/spool.conf"
	for kv in "$@"; do
		local k=${kv%%=*}
		sed -i "/^$k *=/d" "$SPOOL_DIR/spool.conf"
		echo "$kv;" >>"$SPOOL_DIR/spool.conf"
	done
}

start_spoold() {
	$VG spoold -f -d "$SPOOL_DIR" 2>>"$T/spoold.log" &
	SPOOLD_PID=$!
	PIDS="$PIDS $SPOOLD_PID"
}

start_worker() { # N [name]
	local name=${2:-}
	$VG spool-worker -f -d "$SPOOL_DIR" -n "$1" ${name:+--name "$name"} 2>>"$T/worker.log" &
	WORKER_PID=$!
	PIDS="$PIDS $WORKER_PID"
}

# Wait until `spool workers` lists at least N live engines (or fail after ~20 s).
wait_engines() {
	local n=$1 i
	for i in $(seq 200); do
		[ "$(spool workers 2>/dev/null | awk 'NR>1 && $4 != "dead"' | wc -l)" -ge "$n" ] && return 0
		sleep 0.1
	done
	fail "no $n engines came up"; cat "$T/spoold.log" "$T/worker.log" | tail -20; return 1
}

# test_users WHAT USER...: the accounts of the multi-user tests. Skips WHAT (and ends the script)
# unless it runs as root with useradd, groupadd, usermod and setpriv; creates each USER, a member
# of the group sptest_g, if missing. They are LEFT IN PLACE, so the tests are idempotent and other
# checkouts running them at the same time share them.
test_users() {
	local what=$1 u c; shift
	if [ "$(id -u)" != 0 ]; then
		skip "$what: needs root to create users and act as them (uid $(id -u) here)"
		exit 0
	fi
	for c in useradd groupadd usermod setpriv; do
		command -v "$c" >/dev/null || { skip "$what: $c is missing: cannot create users or act as them"; exit 0; }
	done
	getent group sptest_g >/dev/null || groupadd sptest_g 2>/dev/null || getent group sptest_g >/dev/null ||
		{ fail "cannot create group sptest_g"; exit 1; }
	for u in "$@"; do
		id "$u" >/dev/null 2>&1 || useradd -m -s /bin/sh -G sptest_g "$u" 2>/dev/null || id "$u" >/dev/null 2>&1 ||
			{ fail "cannot create user $u"; exit 1; }
		id -nG "$u" | tr ' ' '\n' | grep -qx sptest_g || usermod -aG sptest_g "$u"
	done
}
