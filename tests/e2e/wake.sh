#!/bin/bash
# wake.sh - ctl/wake (spool-layout.md 3.12a): spoold's futex that clients waiting on a job on
# a local spool sleep on. spoold makes it (a regular 64-byte file, 0644), moves its counter when
# it publishes states, replaces whatever else is planted under its name without following it,
# and a client that finds no usable file still gets its result (polling, then inotify).
# checks: 11
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 1
wait_engines 1 || exit 1
cd "$T"
W=$SPOOL_DIR/ctl/wake
counter() { od -An -tu4 -N4 "$W" | tr -d ' '; }
restart_spoold() {
	kill -TERM "$SPOOLD_PID"
	wait "$SPOOLD_PID" 2>/dev/null
	start_spoold
	for i in $(seq 600); do [ -f "$W" ] && [ ! -L "$W" ] && [ "$(stat -c %U "$W")" = root ] && break; sleep 0.1; done
}
check_eq "spoold made ctl/wake: a regular file of 64 bytes, mode 644" "regular file 64 644" \
	"$(stat -c '%F %s %a' "$W")"
before=$(counter)
out=$(spool submit --wait -- echo one 2>/dev/null); rc=$?
check_eq "submit --wait gets its result" "0 one" "$rc $out"
after=$(counter)
check "the counter moved when the state was published ($before -> $after)" test "$after" -gt "$before"

# A file that is not spoold's (here another account's): clients do not use it, and the next
# spoold replaces it.
chown nobody "$W"
j=$(spool submit -- echo two 2>/dev/null)
res=$(spool collect --timeout 120 "$j" 2>/dev/null); rc=$?
check_eq "with ctl/wake not spoold's, collect (waiting) still gets the result" "0 two" "$rc $res"
restart_spoold
check_eq "  ... and a new spoold replaces that file with its own" "root regular file" "$(stat -c '%U %F' "$W")"

# A link planted under the name is removed, never followed.
echo "precious" >"$T/victim"
rm -f "$W"
ln -s "$T/victim" "$W"
restart_spoold
check "a link planted as ctl/wake is replaced by a regular file" sh -c "[ -f '$W' ] && [ ! -L '$W' ]"
check_eq "  ... and what it pointed to is untouched" "precious" "$(cat "$T/victim")"
out=$(spool submit --wait -- echo three 2>/dev/null); rc=$?
check_eq "  ... and submit --wait works with the new file" "0 three" "$rc $out"

# No file at all (as with an older spoold): the wait still ends.
rm -f "$W"
j=$(spool submit -- echo four 2>/dev/null)
res=$(spool collect --timeout 120 "$j" 2>/dev/null); rc=$?
check_eq "with no ctl/wake, collect (waiting) still gets the result" "0 four" "$rc $res"
check_eq "spoold logged no error" "" "$(grep -m3 '^spoold: error' "$T/spoold.log")"
check "the worker logged no error" sh -c "! grep -q '^spool-worker: error' '$T/worker.log'"
