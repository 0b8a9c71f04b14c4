#!/bin/bash
# purge_multiuser.sh - spool purge on a spool shared by two users (root controller and worker):
# a user purges only their own jobs (another's is "no such job", a forged request for it is
# quarantined); --results removes a job's spool-JOB/ only if it is its submitter's, whoever asks
# (a directory another user put in its place in a group-writable data directory is refused, for
# root too); root purges every user's finished jobs.
#
# Needs root (it creates or reuses the users sptest_a and sptest_b of multiuser.sh).
# checks: 16
. "$(dirname "$0")/../lib.sh"

UA=sptest_a UB=sptest_b G=sptest_g
test_users "purge on a spool shared by two users" "$UA" "$UB"
M=$(mktemp -d /tmp/spool-pmu.XXXXXX)
chmod 755 "$M"
for u in "$UA" "$UB"; do install -d -o "$u" -g "$(id -g "$u")" -m 755 "$M/$u"; done
# A project directory both users may write (group sptest_g, no sticky bit): hostile ground.
install -d -o "$UA" -g "$G" -m 2775 "$M/proj"
S="$M/spool"
export SPOOL_DIR="$S"
SP="$SPOOL_BIN/spool"
trap 'cleanup; rm -rf "$M"' EXIT

spool init --group "$G" "$S" >/dev/null || { fail "spool init --group"; exit 1; }
sed -i -e 's/^rescan_interval.*/rescan_interval = 0.2;/' -e 's/^heartbeat_interval.*/heartbeat_interval = 0.2;/' \
	-e 's/^dead_timeout.*/dead_timeout = 3.0;/' "$S/spool.conf"
start_spoold
start_worker 2
wait_engines 2 || exit 1

# One finished job of each user, and one of A's in the shared project directory.
ja=$(as "$UA" "$SP" submit -- echo a); as "$UA" "$SP" collect --timeout 120 "$ja" >/dev/null
jb=$(as "$UB" "$SP" submit -- echo b); as "$UB" "$SP" collect --timeout 120 "$jb" >/dev/null
jp=$(as "$UA" "$SP" submit --cwd "$M/proj" -- echo p); as "$UA" "$SP" collect --timeout 120 "$jp" >/dev/null
check_eq "A's job in the project directory wrote its spool-JOB/ as A" "$UA" "$(stat -c %U "$M/proj/spool-$jp")"

run b-purge-a as "$UB" "$SP" purge "$ja"
check_eq "B cannot purge A's job (exit 3, as for a cancel)" 3 "$RC"
check "A's job is still there" sh -c "spool status '$ja' >/dev/null"
# B forges a purge request for A's job.
as "$UB" sh -c "printf 'spool-record 1 purge\njob %s\nend\n' '$ja' >'$S/incoming/$ja.forged.purge'"
wait_until "the forged purge is quarantined" 120 sh -c "cat '$S'/quarantine/*.reason 2>/dev/null | grep -q 'may not purge job $ja'"
check "the controller refused B's forged purge of A's job" sh -c "cat '$S'/quarantine/*.reason | grep -q 'uid $(id -u "$UB") may not purge job $ja'"
check "A's job is still there after it" sh -c "spool status '$ja' >/dev/null"

# B swaps A's spool-JOB/ in the project directory for a directory of B's own.
as "$UB" sh -c "mv '$M/proj/spool-$jp' '$M/proj/moved' && mkdir '$M/proj/spool-$jp' && echo mine >'$M/proj/spool-$jp/b-file'"
run a-purge-swapped as "$UA" "$SP" purge --results "$jp"
check_eq "A's purge --results over B's planted directory exits 3" 3 "$RC"
check "it names B's directory as not the submitter's" grep -q "belongs to uid $(id -u "$UB")" "$T/a-purge-swapped.err"
run root-purge-swapped spool purge --results "$jp"
check_eq "root's purge --results refuses it too (exit 3)" 3 "$RC"
check "B's file is untouched and A's job kept" sh -c "[ \"\$(cat '$M/proj/spool-$jp/b-file')\" = mine ] && spool status '$jp' >/dev/null"

# Put A's back: root removes it for A.
rm -rf "$M/proj/spool-$jp"; mv "$M/proj/moved" "$M/proj/spool-$jp"
run root-purge-a spool purge --results "$jp"
check_eq "root purges A's job with its results" "0" "$RC"
check "A's spool-JOB/ is gone" test ! -e "$M/proj/spool-$jp"

# A purges all its finished jobs, with results: B's stays.
run a-purge-all as "$UA" "$SP" purge --results
check_eq "A's purge of all its jobs exits 0" 0 "$RC"
check "it purged A's one remaining job and its directory" grep -qE "^purged 1 job, removed 1 result directory \([0-9]+ entries\)$" "$T/a-purge-all.out"
check "A's own spool-JOB/ is gone" test ! -e "$M/$UA/spool-$ja"
check "B's job and its outputs are still there" sh -c "spool status '$jb' >/dev/null && test -f '$M/$UB/spool-$jb/1.1.out'"
run root-purge-all spool purge
check "root's purge takes B's finished job too" sh -c "[ $RC -eq 0 ] && ! spool status '$jb' >/dev/null 2>&1"
