#!/bin/sh
# bench-python.sh - spool's Python engines against ipyparallel 7 (issue 12, "Speed"), in one run
# on this machine, one after the other, each with 2 engines and nothing of the other running:
#
#   1. ipyparallel (Debian python3-ipyparallel): one ipcontroller and 2 ipengine on localhost,
#      with a private profile under a temporary IPYTHONDIR, stopped before spool starts;
#   2. spool: a private spool (spool init's defaults), spoold -f and spool-worker -f -n 2, as
#      bench.sh starts them, driven through `import spool as ipp` (PYTHONPATH=python).
#
# On each: 2,000 calls of a no-op through lview.map (ipyparallel's default chunksize, 1; spool's
# default chunksize, and chunksize=1) and dview.map, block=True, each map 3 times (the median
# counts); the median latency of 200 apply_sync calls of the no-op on one engine after a warm-up
# (bench/bench_python.py measures).
# One table: calls/s and ms side by side, the ratio spool/ipyparallel, PASS/MISS against the
# targets of issue 12 (throughput ratio >= 1, latency ratio <= 1). The targets never fail the
# run (machines are noisy); the exit status is 1 only if something broke (a call failed or gave
# a wrong result, a daemon died or hung). A side that cannot run here (a package missing, no
# python/spool in this tree) says why in its column and does not fail the run.
#   BENCH_PY_CALLS, BENCH_PY_TRIES, BENCH_PY_WARM, BENCH_PY_REPEAT: see bench_python.py
#   BENCH_PY_DEADLINE=S  each side's whole run (default 900 s)
#   PYTHON=PATH     the client's interpreter (default /usr/bin/python3, the Debian packages' one)
#   BENCH_DIR=DIR   where the temporary spool and profile go (default build/bench/ in this clone)
#   SPOOL_BIN=DIR   the programs to measure (default ./bin)
if [ -z "${BASH_VERSION:-}" ]; then
	command -v bash >/dev/null 2>&1 || { echo "bench: needs bash" >&2; exit 1; }
	exec bash "$0" "$@"
fi
set -u
. "$(dirname "$0")/common.sh"
# The Debian interpreter, which the Debian packages (python3-ipyparallel, python3-cloudpickle) are
# installed for; a python3 found first on PATH (pyenv, a virtualenv) may not see them.
PY=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
bench_tmpdir spool-pybench
EPIDS="" CPID="" PYPID=""
# The whole Python run has a deadline: a hung client would otherwise hang make bench.
PY_DEADLINE=${BENCH_PY_DEADLINE:-900}

stop_ipp() { # [SECONDS]: bench_python.py shut the cluster down, wait that long for it, then TERM what is left,
	# the engines first, then the controller
	local p end=$((SECONDS + ${1:-0}))
	while ipp_any && [ $SECONDS -lt $end ]; do sleep 0.1; done
	for p in $EPIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $EPIDS; do wait "$p" 2>/dev/null; done
	# the controller's schedulers are its children, in the process group setsid gave it: they
	# go with it, even when the controller itself died first
	[ -n "$CPID" ] && kill -TERM -- "-$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null
	EPIDS="" CPID=""
}
stop_py() {
	[ -n "$PYPID" ] || return 0
	kill -TERM "$PYPID" 2>/dev/null
	wait "$PYPID" 2>/dev/null
	PYPID=""
}
bench_stop_extra() { stop_py; stop_ipp; }

# run_py OUT ARGS...: bench_python.py ARGS in the background under the deadline, while this
# shell watches ALIVE (a command: are the services it needs still up?). Its exit status: 0 ok,
# 1 a measurement broke, 124 the deadline passed, 2 a service died under it.
run_py() {
	local alive=$1 rc; shift
	timeout --kill-after=10 "$PY_DEADLINE" "$PY" "$bench_here/bench/bench_python.py" "$@" 2>>"$B/python.err" &
	PYPID=$!
	while kill -0 "$PYPID" 2>/dev/null; do
		if ! $alive; then
			# bench_python.py shuts ipyparallel down itself at its end: a service gone while it
			# finishes is no death; one gone while it still waits 20 s more is.
			local end=$((SECONDS + 20))
			while kill -0 "$PYPID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
			kill -0 "$PYPID" 2>/dev/null && { stop_py; return 2; }
			break
		fi
		sleep 0.2
	done
	wait "$PYPID"
	rc=$?
	PYPID=""
	return $rc
}
ipp_any() {
	local p
	for p in $CPID $EPIDS; do kill -0 "$p" 2>/dev/null && return 0; done
	return 1
}
ipp_alive() {
	local p
	for p in $CPID $EPIDS; do kill -0 "$p" 2>/dev/null || return 1; done
}
no_side() { # OUT.json SENTENCE: a side that was not measured, and why
	"$PY" -c 'import json, sys; json.dump({"version": None, "error": sys.argv[2], "broken": [], "runs": {}, "latency_us": []}, open(sys.argv[1], "w"))' "$1" "$2"
}

echo "spool bench (Python): ${BENCH_PY_CALLS:-2000} calls per map on 2 engines, ${BENCH_PY_TRIES:-200} apply_sync; $(spool --version) ($(git -C "$bench_here" describe --always --dirty 2>/dev/null || echo "no git")); $("$PY" --version 2>&1); $(nproc) CPUs, $(uname -sr)"
mkdir "$B/data" && cd "$B/data" || exit 1

# --- 1. ipyparallel ------------------------------------------------------------------------
# A private IPYTHONDIR and profile, so that neither a user's profile nor another run's cluster is
# touched; the controller listens on localhost only. Its engine connection file appears when it
# is ready; the engines are started then, and bench_python.py waits for both to register.
export IPYTHONDIR="$B/ipython"
PROF="$IPYTHONDIR/profile_bench"
if ! "$PY" -c 'import ipyparallel' 2>/dev/null; then
	no_side "$B/ipp.json" "not installed: the Debian package python3-ipyparallel is missing (make bench-deps installs it, as root)"
elif ! command -v ipcontroller >/dev/null 2>&1 || ! command -v ipengine >/dev/null 2>&1; then
	no_side "$B/ipp.json" "ipcontroller or ipengine is not on PATH (python3-ipyparallel installs them in /usr/bin)"
else
	mkdir -p "$PROF"
	setsid ipcontroller --profile-dir="$PROF" --ip=127.0.0.1 >"$B/ipcontroller.log" 2>&1 &
	CPID=$!
	end=$((SECONDS + 120))
	until [ -s "$PROF/security/ipcontroller-engine.json" ] && [ -s "$PROF/security/ipcontroller-client.json" ]; do
		if ! ipp_alive || [ $SECONDS -ge $end ]; then break; fi
		sleep 0.1
	done
	if [ -s "$PROF/security/ipcontroller-engine.json" ] && ipp_alive; then
		for i in 1 2; do
			ipengine --profile-dir="$PROF" >"$B/ipengine$i.log" 2>&1 &
			EPIDS="$EPIDS $!"
		done
		run_py ipp_alive ipp "$PROF" "$B/ipp.json"
		rc=$?
		case $rc in
		0) ;;
		1) fail "ipyparallel: a measurement broke (see the table)" ;;
		2) fail "ipyparallel: the controller or an engine died; the end of their logs:"
		   tail -n 15 "$B"/ipcontroller.log "$B"/ipengine*.log >&2 ;;
		*) fail "ipyparallel: bench_python.py ended with status $rc (124: no answer within $PY_DEADLINE s):"
		   tail -n 15 "$B/python.err" >&2 ;;
		esac
	else
		fail "ipcontroller did not write its connection files within 120 s; the end of its log:"
		tail -n 20 "$B/ipcontroller.log" >&2
	fi
	stop_ipp 30
	[ -s "$B/ipp.json" ] || no_side "$B/ipp.json" "no measurements (see BROKEN above)"
fi
unset IPYTHONDIR

# --- 2. spool ------------------------------------------------------------------------------
# The package from the build tree: python/spool, which finds build/libspool.so itself.
export PYTHONPATH="$bench_here/python${PYTHONPATH:+:$PYTHONPATH}"
if [ ! -f "$bench_here/python/spool/__init__.py" ]; then
	no_side "$B/spool.json" "python/spool is not in this tree ($bench_here)"
elif ! "$PY" -c 'import cloudpickle' 2>/dev/null; then
	no_side "$B/spool.json" "not runnable: the Debian package python3-cloudpickle is missing (make bench-deps installs it, as root)"
else
	# The engines' interpreter, when spool.conf names none, is the python3 found along the
	# worker's PATH: the client's own directory first, so both sides are the same Python.
	PATH="${SPOOL_BIN:-$bench_here/bin}:$(dirname "$PY"):$PATH"
	bench_fs_line
	bench_start
	run_py daemons_alive spool "$B/spool.json"
	rc=$?
	case $rc in
	0) ;;
	1) fail "spool: a measurement broke (see the table)" ;;
	2) check_daemons ;;
	*) fail "spool: bench_python.py ended with status $rc (124: no answer within $PY_DEADLINE s):"
	   tail -n 15 "$B/python.err" >&2 ;;
	esac
	check_daemons
	[ -s "$B/spool.json" ] || no_side "$B/spool.json" "no measurements (see BROKEN above)"
fi

echo
"$PY" "$bench_here/bench/bench_python.py" report "$B/ipp.json" "$B/spool.json"
if [ -s "$B/python.err" ]; then
	echo "what the Python side said on stderr (the end):"
	tail -n 20 "$B/python.err"
fi
if [ $broke -ne 0 ]; then
	echo "bench: something broke (see above): exit 1"
	exit 1
fi
exit 0
