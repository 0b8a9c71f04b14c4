#!/bin/bash
# checks: 48
# guarantees.sh - guarantees that must hold whatever else changes, each checked so that the
# check FAILS when the guarantee is removed from the code (tests/README.md, "Guarantees and the
# tests that hold them", says how to break each one and watch this script fail):
#   1. assignments carry a MAC under the spool key, and a worker refuses (quarantines, never
#      runs, answers with an error result) one whose MAC is wrong, made with another key, or
#      missing; the records here are built by hand, so nothing depends on another suite's state;
#   2. a timeout and a cancel reach EVERY process of the task with SIGTERM first (a child in
#      the task's process group and one in its own session trap TERM and leave a marker);
#   3. engine ids are never reused after the queue database is lost, with no engine row and no
#      AUTOINCREMENT sequence left in it: only ctl/engine-seq remembers them;
#   4. worker records (hello, done) written by a uid that is neither the spool's owner nor root
#      are refused (quarantined) even when the workers/ modes were loosened (needs root);
#   5. `spool status --json JOB` prints one JSON object for that job (an empty output fails).
# Every wait has a deadline and says what it waited for; no check depends on how fast
# something happened.
. "$(dirname "$0")/../lib.sh"
# prefetch 0: tasks queued behind a blocker stay in spoold's queue, not in the worker's inbox.
# kill_grace 5: room for the TERM traps below to run before the KILL (the check is that they ran).
make_spool "prefetch = 0" "prefetch_short = 0" "kill_grace = 5.0"
start_spoold
start_worker 1 gnode
wait_engines 1 || exit 1
cd "$T"

# until_ok SECS CMD...: poll CMD every 0.1 s until it succeeds; 1 after SECS seconds.
until_ok() {
	local secs=$1 i; shift
	for i in $(seq $((secs * 10))); do "$@" && return 0; sleep 0.1; done
	return 1
}
# task_field JOB PYEXPR: a field of task 1 of JOB from collect --json (t is the task); '' on error
task_field() {
	timeout 60 spool collect --json --no-wait "$1" 2>/dev/null |
		python3 -c "import json,sys; t = json.load(sys.stdin)['tasks'][0]; print($2)" 2>/dev/null
}
task_state_is() { [ "$(task_field "$1" 't["state"]')" = "$2" ]; }
# qfile NAME: the quarantined copy of NAME (quarantine/RAND.NAME), once its .reason is written
qfile() {
	local f
	for f in "$SPOOL_DIR"/quarantine/????????."$1"; do
		[ -e "$f.reason" ] && { printf '%s' "$f"; return 0; }
	done
	return 1
}
WID=$(ls "$SPOOL_DIR/workers")
ENGINE=$(spool workers --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
INBOX=$SPOOL_DIR/ctl/w/$WID/inbox
# blocker NAME: a job whose one task holds the engine until $T/release.NAME exists
blocker() {
	spool submit --no-env -- sh -c 'while [ ! -e "$0" ]; do sleep 0.05; done; echo released' "$T/release.$1"
}
release() { touch "$T/release.$1"; }

# HMAC-SHA-512-256 (libsodium's crypto_auth) computed here, independently of lib/mac.c:
#   mac seal KEYHEX <body   body (a record without its mac and end lines) + "mac HEX" + "end"
#   mac verify KEYHEX <rec  exit 0 when the record ends in a mac line that is right for the key
mac() {
	python3 -c '
import hmac, hashlib, sys
mode, key = sys.argv[1], bytes.fromhex(sys.argv[2])
data = sys.stdin.buffer.read()
tag = lambda body: hmac.new(key, body, hashlib.sha512).hexdigest()[:64].encode()
if mode == "seal":
    sys.stdout.buffer.write(data + b"mac " + tag(data) + b"\nend\n")
    sys.exit(0)
lines = data.split(b"\n")
# ... "mac HEX", "end", "" : the MAC covers every byte before the mac line
if len(lines) < 3 or lines[-1] != b"" or lines[-2] != b"end" or not lines[-3].startswith(b"mac "):
    print("no mac line before end", file=sys.stderr); sys.exit(1)
body = data[: len(data) - len(lines[-3]) - len(b"\nend\n")]
ok = hmac.compare_digest(lines[-3][4:], tag(body))
print("mac verifies" if ok else "mac does not verify", file=sys.stderr)
sys.exit(0 if ok else 1)
' "$@"
}
KEY=$(head -c 64 "$SPOOL_DIR/key")

not() { ! "$@"; }
grep_i() { printf '%s' "$2" | grep -qi -- "$1"; } # PATTERN TEXT

# ==== 1. MACs present and checked ====
echo "# $SECONDS s: 1. MACs present and checked" >&2
B=$(blocker mac)
until_ok 60 test -s "$INBOX/$B.1.1" || fail "MAC: the blocker's assignment never reached $INBOX"
cp "$INBOX/$B.1.1" "$T/assign.sample"
check "MAC: spoold's assignment $B.1.1 ends in a mac line" grep -q '^mac [0-9a-f]\{64\}$' "$T/assign.sample"
check "MAC: ... that verifies under the spool key (HMAC-SHA-512-256 over every byte before it)" \
	mac verify "$KEY" <"$T/assign.sample"
# The same record with a field changed must not verify: the check above can say no.
sed 's/^attempt 1$/attempt 2/' "$T/assign.sample" >"$T/assign.altered"
check "MAC: ... and a copy with one field changed does not verify (the verifier can say no)" \
	not mac verify "$KEY" <"$T/assign.altered"

# Jobs whose task a forged assignment claims; prefetch 0 keeps them queued behind the blocker.
# Their own command leaves real.JOB; the hand-built assignments' commands leave ran.NAME instead,
# which only a hand-built assignment that was run can write.
for n in F1 F2 F3 G; do
	printf -v "$n" '%s' "$(spool submit --no-env -- sh -c 'echo real >"real.$SPOOL_JOB"')"
done
# body JOB SEQ MARKER: the sample as attempt 5 of task 1 of JOB, its command `echo ran >MARKER`,
# without its mac and end lines
body() {
	sed -e "s/^job .*/job $1/" -e 's/^attempt .*/attempt 5/' -e "s/^seq .*/seq $2/" \
		-e "s|^outdir .*|outdir $T/spool-$1|" -e '/^arg /d' -e '/^mac /d' -e '/^end$/d' "$T/assign.sample"
	printf 'arg sh\narg -c\narg echo ran >%s\n' "$3"
}
drop() { cp "$1" "$INBOX/.tmp.$2" && mv "$INBOX/.tmp.$2" "$INBOX/$2"; } # FILE NAME: into the inbox
# F1: sealed with the spool key, then its command swapped for another (a MAC on other bytes)
body "$F1" 0 "$T/ran.F1" | mac seal "$KEY" | sed "s|ran.F1\$|ran.F1x|" >"$T/a.F1"
# F2: sealed with another key (a forger who does not hold the spool key)
body "$F2" 0 "$T/ran.F2" | mac seal "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/a.F2"
# F3: no mac line at all
{ body "$F3" 0 "$T/ran.F3"; echo end; } >"$T/a.F3"
# G: the positive control, sealed right: it is run (after the blocker), so the cases above
# differ from a runnable assignment in their MAC only. Its seq is above the forged ones: were
# they accepted, the engine would run them before it.
body "$G" 1 "$T/ran.G" | mac seal "$KEY" >"$T/a.G"
check "MAC: the hand-built control assignment verifies under the spool key" mac verify "$KEY" <"$T/a.G"
check "MAC: the altered one does not" not mac verify "$KEY" <"$T/a.F1"
check "MAC: the one sealed with another key does not" not mac verify "$KEY" <"$T/a.F2"
check "MAC: the one without a mac line has none" not grep -q '^mac ' "$T/a.F3"
for n in F1 F2 F3 G; do drop "$T/a.$n" "${!n}.1.5"; done

for n in F1 F2 F3; do
	j=${!n}
	case $n in F1) what="an altered record (mac of other bytes)" ;; F2) what="a mac made with another key" ;;
	F3) what="no mac line" ;; esac
	until_ok 60 task_state_is "$j" failed
	check_eq "MAC: $what: the worker answers with an error result (task 1 failed, attempt 5)" "failed 5" \
		"$(task_field "$j" 't["state"], t["attempt"]')"
	check "MAC:   ... whose reason names the MAC" grep_i mac "$(task_field "$j" 't["reason"]')"
	q=$(qfile "$j.1.5")
	check "MAC:   ... a copy is kept in quarantine/ with a .reason naming the MAC" \
		sh -c "[ -n '$q' ] && grep -qi 'mac' '$q.reason' && cmp -s '$q' '$T/a.$n'"
done
release mac
until_ok 60 test -e "$T/ran.G" || true
check "MAC: the control assignment (sealed with the spool key) was run after the blocker" test -e "$T/ran.G"
# Its result is recorded: accepted, or a duplicate when the job's own assignment (G.1.1, given
# once the blocker ended) reached spoold in the same pass and was taken first.
g5_done() {
	[ "$(task_field "$G" '(t["state"] == "succeeded" and t["attempt"] == 5) or any(d["attempt"] == 5 and d["status"] == "exited" and d["exit_code"] == 0 for d in t["duplicates"])')" = True ]
}
until_ok 60 g5_done || true
check "MAC:   ... and its result (attempt 5, exit 0) is recorded for the job" g5_done
for n in F1 F2 F3; do
	check "MAC: forged assignment $n never ran (no marker, no output file)" \
		sh -c "test ! -e '$T/ran.$n' && test ! -e '$T/ran.${n}x' && test ! -e '$T/spool-${!n}/1.5.out'"
done
check "MAC: the worker is still running" test -d "/proc/$WORKER_PID"

# ==== 4. worker records from another uid (needs root: users, chown, acting as them) ====
echo "# $SECONDS s: 4. worker records from another uid (needs root: users, chown, acting as them)" >&2
uid_section() {
	local UA=sptest_a G=sptest_g c
	for c in useradd groupadd setpriv; do
		command -v "$c" >/dev/null || { skip "worker records from another uid: $c is missing"; return; }
	done
	# Created as tests/e2e/multiuser.sh does, and left in place as it leaves them.
	getent group "$G" >/dev/null || groupadd "$G" 2>/dev/null || getent group "$G" >/dev/null ||
		{ fail "cannot create group $G"; return; }
	id "$UA" >/dev/null 2>&1 || useradd -m -s /bin/sh -G "$G" "$UA" 2>/dev/null || id "$UA" >/dev/null 2>&1 ||
		{ fail "cannot create user $UA"; return; }
	local uid_a; uid_a=$(id -u "$UA")
	as_a() { setpriv --reuid "$UA" --regid "$(id -g "$UA")" --init-groups -- "$@"; }

	local B3; B3=$(blocker uid)
	until_ok 60 test -s "$INBOX/$B3.1.1" || { fail "uid: the blocker's assignment never reached $INBOX"; return; }
	local W=$SPOOL_DIR/workers EVIL=evilnode-aaaaaaaa CTL=ctlnode-aaaaaaaa
	sed -e "s/^wid .*/wid $EVIL/" -e 's/^node .*/node evilnode/' -e 's/^pid .*/pid 4242/' "$W/$WID/hello" >"$T/hello.evil"
	sed -e "s/^wid .*/wid $CTL/" -e 's/^node .*/node ctlnode/' -e 's/^pid .*/pid 4243/' "$W/$WID/hello" >"$T/hello.ctl"
	# A result for the blocker, which is still running: accepted, it would end the task now.
	printf 'spool-record 1 done\njob %s\ntask 1\nattempt 1\nengine %s\nwid %s\nnode gnode\nstatus exited\nexit 0\nend\n' \
		"$B3" "$ENGINE" "$WID" >"$T/done.forged"
	chmod 644 "$T"/hello.* "$T/done.forged"
	# Loosen the modes on purpose, as an administrator might by mistake while spoold runs (the
	# programs check them only when they start): user A can now write into workers/.
	chmod 755 "$T" "$SPOOL_DIR"
	chmod 777 "$W" "$W/$WID/done"
	as_a sh -c "mkdir '$W/$EVIL' && cp '$T/hello.evil' '$W/$EVIL/.tmp.h' && mv '$W/$EVIL/.tmp.h' '$W/$EVIL/hello'" ||
		fail "uid: user $UA could not write a hello into the loosened workers/"
	as_a sh -c "cp '$T/done.forged' '$W/$WID/done/.tmp.d' && mv '$W/$WID/done/.tmp.d' '$W/$WID/done/$B3.1.1'" ||
		fail "uid: user $UA could not write a done record into the loosened workers/$WID/done/"
	chmod 700 "$W" "$SPOOL_DIR"
	chmod 755 "$W/$WID/done"
	check_eq "uid: the planted hello belongs to $UA" "$uid_a" "$(stat -c %u "$W/$EVIL/hello" 2>/dev/null || stat -c %u "$SPOOL_DIR"/quarantine/????????.hello)"

	local q
	until_ok 60 qfile hello >/dev/null || true
	q=$(qfile hello)
	check "uid: a hello written by uid $uid_a is quarantined, the reason naming the uid" \
		sh -c "[ -n '$q' ] && grep -q 'uid $uid_a' '$q.reason'"
	check "uid:   ... and not registered (no reply in ctl/w/, no engine on node evilnode)" sh -c \
		"test ! -e '$SPOOL_DIR/ctl/w/$EVIL' && ! spool workers --all --json | grep -q evilnode"
	until_ok 60 qfile "$B3.1.1" >/dev/null || true
	q=$(qfile "$B3.1.1")
	check "uid: a done record written by uid $uid_a is quarantined, the reason naming the uid" \
		sh -c "[ -n '$q' ] && grep -q 'uid $uid_a' '$q.reason'"
	# (a job's first state is published up to publish_interval after its acceptance: wait for one)
	local st i
	for i in $(seq 300); do
		st=$(task_field "$B3" 't["state"]')
		[ -n "$st" ] && [ "$st" != queued ] && break
		sleep 0.1
	done
	check "uid:   ... and the task it claims is still running, not ended by it ($st)" \
		sh -c "[ '$st' = running ] || [ '$st' = assigned ]"

	# Positive controls: the same records written by the spool's owner are taken, so the two
	# above were refused for their owner only.
	mkdir "$W/$CTL" && cp "$T/hello.ctl" "$W/$CTL/.tmp.h" && mv "$W/$CTL/.tmp.h" "$W/$CTL/hello"
	until_ok 60 sh -c "spool workers --all --json | grep -q ctlnode" || true
	check "uid: the same hello written by the spool's owner registers a worker" \
		sh -c "spool workers --all --json | grep -q ctlnode"
	cp "$T/done.forged" "$W/$WID/done/.tmp.d" && mv "$W/$WID/done/.tmp.d" "$W/$WID/done/$B3.1.1"
	until_ok 60 task_state_is "$B3" succeeded || true
	check "uid: the same done record written by the spool's owner ends the task" task_state_is "$B3" succeeded
	release uid
	# The control worker never beats: wait for it to be declared dead, so later tasks go to gnode.
	until_ok 60 sh -c "! spool workers --json | grep -q ctlnode" ||
		fail "uid: the control worker ctlnode was not declared dead within 60 s"
}
if [ "$(id -u)" != 0 ]; then
	skip "worker records from another uid: needs root (to create a user and act as them; uid $(id -u) here)"
else
	uid_section
fi

# ==== 2. SIGTERM first, to every process of the task ====
echo "# $SECONDS s: 2. SIGTERM first, to every process of the task" >&2
# The task's first process starts a child in its process group and one in a session of its own
# (setsid); all three trap TERM and leave a marker (then exit), and leave their pid in ready.*.
# The leader waits for the children's markers before it exits, since its end makes the
# shepherd KILL what is left. Only SIGKILL (kill_grace later) would leave no marker.
cat >"$T/termtask.sh" <<'EOF'
d=$1
trap 'echo term >"$d/term.leader"; while [ ! -e "$d/term.sib" ] || [ ! -e "$d/term.detached" ]; do sleep 0.05; done; exit 0' TERM
sh -c 'trap "echo term >\"\$0/term.sib\"; exit 0" TERM; echo $$ >"$0/ready.sib"; while :; do sleep 0.05 & wait $!; done' "$d" &
setsid sh -c 'trap "echo term >\"\$0/term.detached\"; exit 0" TERM; echo $$ >"$0/ready.detached"; while :; do sleep 0.05 & wait $!; done' "$d" &
echo $$ >"$d/ready.leader"
while :; do sleep 0.05 & wait $!; done
EOF
all_ready() { test -s "$1/ready.leader" -a -s "$1/ready.sib" -a -s "$1/ready.detached"; }
none_alive() { local f; for f in "$1"/ready.*; do kill -0 "$(cat "$f")" 2>/dev/null && return 1; done; return 0; }
term_case() { # NAME STATE SUBMIT-OPTIONS...: the task is ended by a cancel or a timeout
	local name=$1 want=$2 d=$T/term.$1 j p; shift 2
	mkdir -p "$d"
	j=$(spool submit --no-env "$@" -- sh "$T/termtask.sh" "$d")
	until_ok 60 all_ready "$d" || fail "TERM ($name): the task's three processes did not start within 60 s"
	[ "$name" = cancel ] && spool cancel "$j" >/dev/null
	timeout 120 spool collect --timeout 90 "$j" >/dev/null 2>&1
	check_eq "TERM ($name): the task ends $want" "$want" "$(task_field "$j" 't["state"]')"
	for p in leader sib detached; do
		case $p in leader) what="its first process" ;; sib) what="a child in its process group" ;;
		detached) what="a child in its own session (setsid)" ;; esac
		check "TERM ($name): $what got SIGTERM before any SIGKILL (its trap ran)" test -e "$d/term.$p"
	done
	until_ok 30 none_alive "$d" || true
	check "TERM ($name): no process of the task is left" none_alive "$d"
}
term_case cancel cancelled
# The three processes start within milliseconds; 8 s leaves room for a loaded machine.
term_case timeout timedout --timeout 8

# ==== 5. status --json JOB is the job, never an empty output ====
echo "# $SECONDS s: 5. status --json JOB is the job, never an empty output" >&2
j=$(spool submit --no-env -- echo json)
timeout 120 spool collect --timeout 90 "$j" >/dev/null 2>&1
spool status --json "$j" >"$T/st.json" 2>"$T/st.err"; rc=$?
check_eq "status --json JOB exits 0" 0 "$rc"
check_eq "status --json JOB prints one object: this job, done, its one task succeeded" "$j done 1 succeeded" \
	"$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(d["job"], d["state"], d["ntasks"], d["tasks"][0]["state"])' "$T/st.json" 2>&1)"

# ==== 3. engine ids never reused after the database is lost ====
echo "# $SECONDS s: 3. engine ids never reused after the database is lost" >&2
stop() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; PIDS=${PIDS/ $1/}; }
max_id() { spool workers --all --json | python3 -c 'import json,sys; print(max([e["id"] for e in json.load(sys.stdin)], default=0))'; }
HIGH=0 # the highest engine id seen so far (ctl/engines forgets the engines of a lost database)
# ids NODE: the ids of the live engines on NODE, sorted, space-separated
ids() { spool workers --json 2>/dev/null | python3 -c 'import json,sys; print(" ".join(str(e["id"]) for e in sorted(json.load(sys.stdin), key=lambda e: e["id"]) if e["node"] == sys.argv[1]))' "$1"; }
has_ids() { [ "$(ids "$1" | wc -w)" -eq "$2" ]; }
db=$SPOOL_DIR/ctl/queue.db
# lose NAME ENGINES FILES...: stop everything, delete the database and FILES, start again with a
# new worker of ENGINES engines on node NAME; its ids must all be above every id handed out.
lose() {
	local name=$1 n=$2 before seq; shift 2
	before=$(max_id)
	[ "$before" -ge "$HIGH" ] || before=$HIGH
	stop "$WORKER_PID"; stop "$SPOOLD_PID"
	seq=$(cat "$SPOOL_DIR/ctl/engine-seq")
	check "engine ids ($name): ctl/engine-seq ($seq) is at least the highest id handed out ($before)" \
		test "$seq" -ge "$before"
	rm -rf "$db" "$db-wal" "$db-shm" "$@"
	check "engine ids ($name): the database is gone" test ! -e "$db"
	# seqA's worker starts first, while spoold is down (it waits for its registration), as
	# "neither side needs the other up to start" allows.
	if [ "$name" = seqA ]; then
		start_worker "$n" "$name"
		until_ok 60 sh -c "ls '$SPOOL_DIR'/workers/$name-*/hello" >/dev/null 2>&1 ||
			fail "engine ids ($name): the worker wrote no hello within 60 s"
		start_spoold
	else
		start_spoold
		start_worker "$n" "$name"
	fi
	until_ok 60 has_ids "$name" "$n" || fail "engine ids ($name): $n engines on $name did not come up"
	local got; got=$(ids "$name")
	check "engine ids ($name): the new engines' ids ($got) are all above $before" \
		sh -c "for i in $got; do [ \$i -gt $before ] || exit 1; done; [ -n '$got' ]"
	for i in $got; do [ "$i" -le "$HIGH" ] || HIGH=$i; done
}
# The database alone lost: spoold rebuilds it from the spool (ctl/db-id says it had one).
lose seqA 2
# The database, ctl/db-id, ctl/engines and every earlier worker's directories lost: a fresh
# start where only ctl/engine-seq remembers (no old hello is registered again to use up ids).
lose seqB 2 "$SPOOL_DIR/ctl/db-id" "$SPOOL_DIR/ctl/engines" "$SPOOL_DIR"/workers/* "$SPOOL_DIR"/ctl/w/*
check_eq "a job runs after the losses" "after" "$(timeout 120 spool submit --wait -- echo after 2>/dev/null)"
