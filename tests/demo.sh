#!/bin/sh
# demo.sh - the walkthrough of ../shared/seed/ipython-parallel-notes.txt on a local spool:
# a controller and a worker with 2 engines on this machine, real tasks, real results.
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
PATH="$here/bin:$PATH"
d=$(mktemp -d /tmp/spool-demo.XXXXXX)
export SPOOL_DIR="$d/spool"
stop() {
	[ -n "${wpid:-}" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
	[ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
	rm -rf "$d"
}
trap stop EXIT INT TERM
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

say "spool init $SPOOL_DIR"
spool init "$SPOOL_DIR" >/dev/null && echo "created spool $SPOOL_DIR"
spoold -f 2>"$d/spoold.log" & cpid=$!
spool-worker -f -n 2 2>"$d/worker.log" & wpid=$!
say "spool workers                       # ipyparallel: c.ids"
for i in $(seq 100); do
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
echo
echo "results were written beside the data, in $d/data/spool-JOBID/; stopping the controller and the worker"
