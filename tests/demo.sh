#!/bin/sh
# demo.sh - the walkthrough of the IPython parallel notes on a local spool: a controller and a
# worker with 2 engines on this machine, real tasks, real results, from the shell and then from
# Python (import spool as ipp). The results stay in the demo's directory, which it names.
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
PATH="${SPOOL_BIN:-$here/bin}:$PATH"
d=$(mktemp -d /tmp/spool-demo.XXXXXX)
export SPOOL_DIR="$d/spool"
stop() {
	[ -n "${wpid:-}" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
	[ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
	echo "(the demo's spool, logs and results stay in $d: rm -rf $d when done)"
}
trap stop EXIT INT TERM
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

say "spool init $SPOOL_DIR"
spool init "$SPOOL_DIR" >/dev/null && echo "created spool $SPOOL_DIR"
spoold -f 2>"$d/spoold.log" & cpid=$!
spool-worker -f -n 2 2>"$d/worker.log" & wpid=$!
say "spool workers                       # ipyparallel: c.ids"
for i in $(seq 1200); do # up to 2 minutes on a loaded machine
	[ "$(spool workers | awk 'NR>1' | wc -l)" -ge 2 ] && break
	sleep 0.1
done
spool workers

mkdir -p "$d/data" && cd "$d/data"
say "spool apply --wait --tag -- hostname                         # dview.apply_sync(get_hostname)"
spool apply --wait --tag -- hostname 2>/dev/null

say "spool apply --wait -- awk 'BEGIN { print (2+3+5+7+9)/5 }'     # dview.apply_sync(get_average, ...)"
spool apply --wait -- awk 'BEGIN { print (2+3+5+7+9)/5 }' 2>/dev/null

say "spool map --wait -- sh -c 'echo \$(( {} * {} ))' ::: 2 3 5 7 9   # dview.map(get_squared, ...)"
spool map --wait -- sh -c 'echo $(( {} * {} ))' ::: 2 3 5 7 9 2>/dev/null

say "spool push counter=0; spool apply --wait -- sh -c 'echo counter=\$((counter+1)) >\$SPOOL_VARS'; spool pull --wait counter"
spool push counter=0 >/dev/null
spool apply --wait -- sh -c 'echo counter=$((counter + 1)) >"$SPOOL_VARS"' 2>/dev/null
spool pull --wait --tag counter 2>/dev/null
echo "and here, the submitter's own counter is ${counter:-still unset}"

say "spool status"
spool status

# The same cells in Python, on the same engines (an interpreter that has cloudpickle).
py=""
for p in python3 /usr/bin/python3; do
	command -v "$p" >/dev/null 2>&1 && "$p" -c 'import cloudpickle' 2>/dev/null && { py=$p; break; }
done
if [ -n "$py" ]; then
	cp "$here/tests/demo_notes.py" "$d/data/notes.py"
	say "PYTHONPATH=$here/python $py notes.py      # the notes' cells, import spool as ipp"
	PYTHONPATH="$here/python" "$py" notes.py
else
	echo
	echo "(no python3 with cloudpickle here: apt-get install python3-cloudpickle to run the notes from Python)"
fi
echo
echo "results were written beside the data: $d/data/spool-JOBID/ (shell jobs) and"
echo "$d/data/spool-python/JOBID/ (Python calls); stopping the controller and the worker"
