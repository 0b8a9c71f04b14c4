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
[ -n "${SPOOL_VALGRIND:-}" ] && VG="valgrind -q --error-exitcode=99 --leak-check=full --suppressions=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)/valgrind.supp --log-file=$T/vg.%p"

cleanup() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	# The programs' logs: $T/*.log and those a test kept per scenario in $T/*/*.log.
	local san='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'
	if find "$T" -maxdepth 2 -name '*.log' -type f -exec grep -l -E "$san" {} + 2>/dev/null | grep -q .; then
		echo "FAIL: $TEST_NAME: a sanitizer reported errors:"
		find "$T" -maxdepth 2 -name '*.log' -type f -exec grep -h -A15 -E 'ERROR: |runtime error:' {} + | head -60
	fi
	if [ -n "$VG" ] && cat "$T"/vg.* 2>/dev/null | grep -q .; then
		echo "FAIL: $TEST_NAME: valgrind reported errors:"; cat "$T"/vg.*
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# Every client call has a deadline (SPOOL_TEST_WAIT seconds, default 300): a lost task or a
# hung client fails the test, naming what it waited for, instead of hanging the suite. The FAIL
# goes to fd 9 (the script's own stdout) so that it is seen even from inside $(...).
SPOOL_TEST_WAIT=${SPOOL_TEST_WAIT:-300}
exec 9>&1
spool() {
	timeout --foreground --kill-after=5 "$SPOOL_TEST_WAIT" "$SPOOL_BIN/spool" "$@"
	local rc=$?
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "FAIL: $TEST_NAME: 'spool $*' still had no answer after $SPOOL_TEST_WAIT s (waiting for its job or engines; killed)" >&9
		timeout 20 "$SPOOL_BIN/spool" status 2>&1 | head -20 | sed 's/^/#   /' >&9
	fi
	return $rc
}

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

# wait_for SECONDS CMD...: poll CMD (every 0.1 s) until it succeeds; 1 when SECONDS of wall
# time pass first. Deadlines are generous: the machine may be shared and loaded.
wait_for() {
	local end=$(( $(date +%s) + $1 )); shift
	while ! "$@"; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# wait_until DESCRIPTION SECONDS CMD...: wait_for, and a FAIL saying what was awaited if it times out.
wait_until() { # description, seconds, command...: the deadline is in seconds, whatever the command costs
	local what=$1 secs=$2 end=$((SECONDS + $2)); shift 2
	until "$@"; do
		if [ "$SECONDS" -ge "$end" ]; then
			fail "timed out after ${secs}s waiting for: $what"
			return 1
		fi
		sleep 0.1
	done
}

# blocked_submit FLAG ARGS...: `spool submit --after BLOCKER ARGS`, its job id printed; BLOCKER is
# a job (it takes an engine) that ends once the file FLAG exists. A test uses it to act on the
# job's output directory, OUTDIR/spool-JOB, before the task runs.
blocked_submit() {
	local flag=$1 b; shift
	b=$(spool submit --no-env -- sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done' "$flag") || return 1
	spool submit --after "$b" "$@"
}

# Is the build under test instrumented by a sanitizer? (Its memory figures mean nothing then, and
# LeakSanitizer cannot run under strace: traced commands get ASAN_OPTIONS=detect_leaks=0.)
# "local" when DIR is on a filesystem spool takes for local (lib/spooldir.c: ext4, xfs, btrfs,
# tmpfs, overlay), where clients rename a record into place before they fsync it; else "other".
fs_kind() { case $(stat -f -c %T "$1" 2>/dev/null) in ext2/ext3|xfs|btrfs|tmpfs|overlayfs) echo local ;; *) echo other ;; esac; }
sanitized() { nm "$SPOOL_BIN/spoold" 2>/dev/null | grep -q __asan_init; }
# Programs run under valgrind (make valgrind): it too keeps memory of its own in them.
valgrinded() { [ -n "${SPOOL_VALGRIND:-}" ]; }

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

# Wait until `spool workers` lists at least N live engines (or fail after ~120 s).
wait_engines() {
	local n=$1 i
	for i in $(seq 1200); do
		[ "$(spool workers 2>/dev/null | awk 'NR>1 && $4 != "dead"' | wc -l)" -ge "$n" ] && return 0
		sleep 0.1
	done
	fail "no $n engines came up"; cat "$T/spoold.log" "$T/worker.log" | tail -20; return 1
}

# run NAME CMD...: exit code in RC, output in $T/NAME.out and $T/NAME.err.
run() { local n=$1; shift; "$@" >"$T/$n.out" 2>"$T/$n.err"; RC=$?; }

# as USER CMD...: run CMD as USER (uid, primary gid and all groups), in that user's directory
# $M/USER (the multi-user tests make one for each user).
as() {
	local u=$1; shift
	(cd "$M/$u" && setpriv --reuid "$u" --regid "$(id -g "$u")" --init-groups -- "$@")
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
