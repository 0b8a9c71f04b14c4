#!/bin/bash
# badinput.sh - spoold and the workers survive hostile and garbage input. Every bad record is
# refused precisely: it leaves incoming/ for quarantine/RAND.NAME, kept as it was, with a
# one-line RAND.NAME.reason naming the problem; spoold logs one line for it; nothing of it
# runs (no job state, no output, no marker its command would have written). Covered: broken
# encodings, every size limit (refused, never truncated), wrong types, ids and file names
# that try to leave the spool, links, FIFOs and directories in incoming/, a symlink or hard
# link planted where a task's output goes, huge argv/environment at `spool submit`, a
# flood of 10,000 bad records, and records whose tasks would expand past the limits ({} with long
# items, too many arguments, output paths past 4,096 bytes). spoold stays up and later good jobs complete throughout.
# The last section: MACs on assignments (forged and missing MACs refused), records of another
# user (skipped, and only that, when not root).
# checks: 292
. "$(dirname "$0")/../lib.sh"
make_spool
IN=$SPOOL_DIR/incoming
Q=$SPOOL_DIR/quarantine
W=$T/work # every record below runs here: its command would leave ran.JOBID here
mkdir -p "$W" "$T/cases"
cd "$W"

# sp ARGS...: a spool command that waits, bounded: a controller gone must fail the test, not hang it
sp() { spool "$@"; } # (lib.sh gives every client call a deadline)
has() { grep -qF -- "$2" "$T/$1.err"; }
incoming_empty() { [ -z "$(ls -A "$IN")" ]; }
# qfile NAME: the quarantined copy of NAME (quarantine/RAND.NAME)
eventually() { # CMD...: true within 20 s (state is published a little after the event)
	local i
	for i in $(seq 200); do "$@" && return 0; sleep 0.1; done
	return 1
}
qfile() {
	local f
	for f in "$Q"/????????."$1"; do
		if [ -e "$f" ] || [ -L "$f" ]; then printf '%s' "$f"; return 0; fi
	done
	return 1
}
# in_q NAME: NAME is in quarantine/ with its .reason (spoold moves the record, then writes that)
in_q() { local f; f=$(qfile "$1") && [ -e "$f.reason" ]; }
wait_q() { # NAME: quarantined within 60 s (generous: the machine may be busy)
	local end=$(( $(date +%s) + 60 ))
	while [ "$(date +%s)" -le "$end" ]; do in_q "$1" && return 0; sleep 0.05; done
	return 1
}

# --- the template: a real record written by `spool submit` while no controller runs ---
# Its command leaves a marker, so a record derived from it that ran by mistake shows.
tid=$(spool submit --no-env -- sh -c 'echo ran >>"ran.$SPOOL_JOB"')
if ! mv "$IN/$tid.job" "$T/template" 2>/dev/null || ! grep -qx "id $tid" "$T/template"; then
	fail "spool submit did not leave a job record to derive the cases from"; exit 1
fi
pass "spool submit wrote a job record (the template every case is derived from)"
END=$(wc -l <"$T/template") # the line number of "end", and of a line inserted before it
# rec ID [LINE...]: the template as job ID, with LINEs (printf %b escapes) inserted before "end"
rec() {
	local id=$1 l; shift
	sed -e "s/^id $tid\$/id $id/" -e '$d' "$T/template"
	for l in "$@"; do printf '%b\n' "$l"; done
	echo end
}
# long N: N bytes of 'a'
long() { head -c "$1" /dev/zero | tr '\0' a; }

# --- huge argv and environment at `spool submit`: refused by the client, nothing written ---
# (A single argument or variable over 128 KiB cannot reach spool through exec at all: the
# kernel's own limit per string is 128 KiB with its NUL. Counts can, and a map item can.)
run manyargs spool submit -- true $(seq 4096)
check_eq "submit with 4,097 arguments exits 3" 3 "$RC"
check "  ... saying '4097 arguments, limit 4096'" has manyargs "4097 arguments, limit 4096"
run manyenv env $(seq -f 'BADV%g=x' 4100) spool submit -- true
check_eq "submit from an environment of over 4,096 variables exits 3 (not dropped silently)" 3 "$RC"
check "  ... saying 'environment variables, limit 4096'" has manyenv "environment variables, limit 4096"
run manyenv2 spool submit --no-env $(seq -f '--env=BADV%g=x' 4100) -- true
check_eq "submit with 4,100 --env exits 3" 3 "$RC"
check "  ... saying 'environment variables, limit 4096'" has manyenv2 "environment variables, limit 4096"
long 65537 >"$T/bigitem.txt"
run bigitem spool map --input "$T/bigitem.txt" -- echo
check_eq "map with a 65,537-byte item exits 3" 3 "$RC"
check "  ... saying 'input item 1 is longer than 65536 bytes'" has bigitem "input item 1 is longer than 65536 bytes"
run bigname spool submit --name "$(long 129)" -- true
check_eq "submit with a 129-byte --name exits 3" 3 "$RC"
check "  ... saying 'at most 128 printable characters'" has bigname "at most 128 printable characters"
run bigcwd spool submit --cwd "/$(long 4096)" -- true
check_eq "submit with a 4,097-byte --cwd exits 3" 3 "$RC"
check "  ... saying the path is longer than 4096 bytes" has bigcwd "working directory path is longer than 4096 bytes"
check_eq "the refused submits printed no job id" "" "$(cat "$T"/many*.out "$T"/big*.out)"
check "  ... and wrote nothing into incoming/" incoming_empty

start_spoold
start_worker 1
wait_engines 1 || exit 1

# Positive control: the template under a new id is a valid record and runs.
rec goodtmpl1 >"$T/rec" && cp "$T/rec" "$IN/.tmp.goodtmpl1" && mv "$IN/.tmp.goodtmpl1" "$IN/goodtmpl1.job"
sp collect goodtmpl1 >/dev/null 2>&1; rc=$?
check_eq "the template under a new id is accepted and succeeds" 0 "$rc"
check "  ... and its command ran (left its marker)" test -s "$W/ran.goodtmpl1"

# A long task holds the only engine meanwhile: bad cancels below aim at it. It lives until the
# test cancels it (or releases it through $T/release: never, but bounded at 30 min regardless).
blocker() { spool submit "$@" -- sh -c 'n=0; while [ ! -e "$0" ] && [ $n -lt 9000 ]; do sleep 0.2; n=$((n + 1)); done' "$T/release"; }
L=$(blocker)
# wait_running JOB: its task 1 is published as running (60 s), else the test cannot go on
wait_running() {
	local i
	for i in $(seq 600); do spool status "$1" 2>/dev/null | grep -Eq '^ +1  running ' && return 0; sleep 0.1; done
	fail "job $1 (the blocker) was not published as running within 60 s: $(spool status "$1" 2>&1 | tail -3)"
	return 1
}
wait_running "$L" || exit 1
cp "$SPOOL_DIR"/ctl/w/*/inbox/"$L.1.1" "$T/assign.sample" 2>/dev/null # for the MAC section

# --- the cases: each written to $T/cases/NAME, all dropped at once, then checked ---
NAMES=() REASONS=() DESCS=()
# add NAME REASON DESC: $T/rec becomes a case; it must be quarantined with REASON in its .reason
add() { mv "$T/rec" "$T/cases/$1"; NAMES+=("$1"); REASONS+=("$2"); DESCS+=("$3"); }

# broken encodings
rec trunc1 | sed '$d' >"$T/rec"
add trunc1.job "truncated record: missing 'end' line" "a record without its 'end' line"
rec trunc2 | head -c -12 >"$T/rec"
add trunc2.job "has no newline and there is no 'end'" "a record cut in the middle of a line"
: >"$T/rec"
add empty1.job "truncated record: no complete first line" "an empty file"
printf '\xff\xfe\x80\x01garbage \xc3\x28\n\x9b[2J\n' >"$T/rec"
add garbage2.job "not a spool record" "garbage bytes (no NUL)"
rec garbage3 '\xff\xfe\x01 junk' >"$T/rec"
add garbage3.job "bad field name on line $END" "a garbage line inside a record"
{ rec trailing1; echo "arg extra"; } >"$T/rec"
add trailing1.job "data after the 'end' line" "a line after 'end'"
rec crlf1 | sed 's/$/\r/' >"$T/rec"
add crlf1.job "bad record header: invalid record type" "a record with CRLF line ends"
rec nulval1 'arg ec\0ho' >"$T/rec"
add nulval1.job "record contains a NUL byte" "a NUL byte inside a value"
rec nulline1 '\0' >"$T/rec"
add nulline1.job "record contains a NUL byte" "a line that is a raw NUL"
rec ctl1 'arg echo\001x' >"$T/rec"
add ctl1.job "bad value for field 'arg' on line $END (raw control byte" "a raw control byte (0x01) in a value"
rec ctl2 'arg echo\033[2Jx' >"$T/rec"
add ctl2.job "bad value for field 'arg' on line $END" "a raw ESC in a value"
rec del1 'arg x\177y' >"$T/rec"
add del1.job "bad value for field 'arg' on line $END" "a raw DEL (0x7f) in a value"
rec ctlkey1 'ar\001g x' >"$T/rec"
add ctlkey1.job "bad field name on line $END" "a control byte in a field name"
rec esc1 'arg %G1' >"$T/rec"
add esc1.job "bad value for field 'arg' on line $END" "a bad %XX escape (%G1)"
rec esc2 'arg ab%4' >"$T/rec"
add esc2.job "bad value for field 'arg' on line $END" "a %XX escape cut short at the end of a value"
rec esc3 'arg ab%' >"$T/rec"
add esc3.job "bad value for field 'arg' on line $END" "a lone % at the end of a value"
rec pct00 'arg a%00b' >"$T/rec"
add pct00.job "bad value for field 'arg' on line $END" "%00 in a value"

# size limits: refused whole, never truncated (each would run its marker command if accepted)
rec bigarg "arg $(long 131073)" >"$T/rec"
add bigarg.job "field 'arg' is 131073 bytes in job record (line $END), limit 131072" "an argument over MAX_ARG_LEN"
{ rec manyargs | sed '$d'; yes 'arg x' | head -n $((4097 - $(grep -c '^arg ' "$T/template"))); echo end; } >"$T/rec"
add manyargs.job "too many 'arg' fields in job record (limit 4096)" "more than MAX_ARGS arguments"
rec bigenv "env BIG=$(long 131069)" >"$T/rec"
add bigenv.job "field 'env' is 131073 bytes in job record (line $END), limit 131072" "an environment entry over MAX_ENV_LEN"
{ rec manyenv | sed '$d'; seq -f 'env V%g=x' $((4097 - $(grep -c '^env ' "$T/template"))); echo end; } >"$T/rec"
add manyenv.job "too many 'env' fields in job record (limit 4096)" "more than MAX_ENV environment entries"
rec bigitem 'map 1' "item $(long 65537)" >"$T/rec"
add bigitem.job "field 'item' is 65537 bytes in job record (line $((END + 1))), limit 65536" "a map item over MAX_ITEM_LEN"
rec bigname "name $(long 129)" >"$T/rec"
add bigname.job "field 'name' is 129 bytes in job record (line $END), limit 128" "a job name over MAX_LABEL_LEN"
rec bigcwd | sed "s|^cwd .*|cwd /$(long 4096)|" >"$T/rec"
add bigcwd.job "field 'cwd' is 4097 bytes in job record (line 3), limit 4096" "a cwd over MAX_PATH_LEN"
rec bigout "outdir /$(long 4096)" >"$T/rec"
add bigout.job "field 'outdir' is 4097 bytes in job record (line $END), limit 4096" "an outdir over MAX_PATH_LEN"
rec bigid1 | sed "s/^id .*/id $(long 65)/" >"$T/rec"
add bigid1.job "field 'id' is 65 bytes in job record (line 2), limit 64" "a job id over 64 bytes"
{ printf 'spool-record 1 cancel\njob %s\n' "$L"; yes 'task 1' | head -n 10000; echo end; } >"$T/rec"
add "$L.bigcncl.cancel" "bytes, limit 65536: refused" "a cancel record over its 64 KiB limit"

# wrong types, versions and fields
rec tmoalpha 'timeout_ms abc' >"$T/rec"
add tmoalpha.job "field 'timeout_ms' in job record (line $END) is not an unsigned integer" "a non-numeric timeout_ms"
rec tmoneg 'timeout_ms -5' >"$T/rec"
add tmoneg.job "field 'timeout_ms' in job record (line $END) is not an unsigned integer" "a negative timeout_ms"
rec retneg 'retries -1' >"$T/rec"
add retneg.job "field 'retries' in job record (line $END) is not an unsigned integer" "a negative retries"
rec retalpha 'retries two' >"$T/rec"
add retalpha.job "field 'retries' in job record (line $END) is not an unsigned integer" "a non-numeric retries"
rec tmo2p64 'timeout_ms 18446744073709551616' >"$T/rec"
add tmo2p64.job "field 'timeout_ms' in job record (line $END) is not an unsigned integer" "a timeout_ms of 2^64 (overflows 64 bits)"
rec ret23dig 'retries 99999999999999999999999' >"$T/rec"
add ret23dig.job "field 'retries' is 23 bytes in job record (line $END), limit 20" "a 23-digit retries"
rec tmo2p63 'timeout_ms 9223372036854775808' >"$T/rec"
add tmo2p63.job "field 'timeout_ms' is larger than 9223372036854775807" "a timeout_ms of 2^63 (would turn negative in the queue)"
rec ret2p63 'retries 18446744073709551615' >"$T/rec"
add ret2p63.job "field 'retries' is larger than 9223372036854775807" "a retries of 2^64-1 (would turn negative in the queue)"
rec memsmall 'mem 5' >"$T/rec"
add memsmall.job "memory limit '5' is not a number of bytes from 1048576 to 1125899906842624" "a memory limit below 1M"
rec memhuge 'mem 2000000000000000' >"$T/rec"
add memhuge.job "memory limit '2000000000000000' is not a number of bytes from 1048576" "a memory limit above 1P"
rec mem17dig 'mem 99999999999999999' >"$T/rec"
add mem17dig.job "field 'mem' is 17 bytes in job record (line $END), limit 16" "a 17-digit memory limit"
rec memalpha 'mem 50M' >"$T/rec"
add memalpha.job "field 'mem' in job record (line $END) is not an unsigned integer" "a memory limit with a unit (the record holds bytes)"
rec membuiltin 'mem 1048576' 'builtin python' >"$T/rec"
add membuiltin.job "a memory limit on a builtin job" "a memory limit on a Python call"
rec mapalpha 'map x' >"$T/rec"
add mapalpha.job "field 'map' in job record (line $END) is not an unsigned integer" "a non-numeric map flag"
rec fmt99 | sed '1s/.*/spool-record 99 job/' >"$T/rec"
add fmt99.job "record format 99, this program reads up to 1: upgrade spool on this node" "an unknown format version (99)"
rec fmt0 | sed '1s/.*/spool-record 0 job/' >"$T/rec"
add fmt0.job "format 0 does not exist" "format version 0"
rec fmthuge | sed '1s/.*/spool-record 99999999999999999999999 job/' >"$T/rec"
add fmthuge.job "format number too large" "a format version overflowing 64 bits"
rec unktype | sed '1s/.*/spool-record 1 frob/' >"$T/rec"
add unktype.job "expected a job record, found a frob record" "an unknown record type"
printf 'spool-record 1 done\njob donetype\ntask 1\nattempt 1\nengine 1\nwid x-1\nnode x\nstatus exited\nexit 0\nend\n' >"$T/rec"
add donetype.job "expected a job record, found a done record" "a done record named X.job"
rec unkkey 'frob 1' >"$T/rec"
add unkkey.job "unknown field 'frob' in job record (line $END)" "an unknown field"
rec dupcwd "cwd $W" >"$T/rec"
add dupcwd.job "field 'cwd' appears twice in job record (line $END)" "two cwd fields"
rec dupid 'id dupid' >"$T/rec"
add dupid.job "field 'id' appears twice in job record (line $END)" "two id fields"
rec dupname 'name a' 'name b' >"$T/rec"
add dupname.job "field 'name' appears twice in job record (line $((END + 1)))" "two name fields"
rec nocwd | sed '/^cwd /d' >"$T/rec"
add nocwd.job "required field 'cwd' missing from job record" "a record without cwd"
rec noarg | sed '/^arg /d' >"$T/rec"
add noarg.job "required field 'arg' missing from job record" "a record without arg"
rec noid | sed '/^id /d' >"$T/rec"
add noid.job "required field 'id' missing from job record" "a record without id"
rec emptycmd | sed 's/^arg sh$/arg /' >"$T/rec"
add emptycmd.job "empty command name" "an empty command name"
rec itemnomap 'item x' >"$T/rec"
add itemnomap.job "items given for a job that is not a map" "items in a job that is not a map"
rec badenv 'env NOEQUALS' >"$T/rec"
add badenv.job "environment entry on line $END is not NAME=VALUE" "an environment entry without '='"
rec relcwd | sed 's|^cwd .*|cwd rel/dir|' >"$T/rec"
add relcwd.job "working directory 'rel/dir' is not absolute" "a relative cwd"
rec emptycwd | sed 's|^cwd .*|cwd |' >"$T/rec"
add emptycwd.job "working directory '' is not absolute" "an empty cwd"
rec relout 'outdir out' >"$T/rec"
add relout.job "output directory 'out' is not absolute" "a relative outdir"

# ids that try to leave the spool, and file names that are not ID.job / ID.RAND.cancel
rec idtrav | sed 's|^id .*|id ../x|' >"$T/rec"
add idtrav.job "job id '../x' is invalid or does not match the file name" "job id ../x"
rec iddots | sed 's|^id .*|id ..|' >"$T/rec"
add iddots.job "job id '..' is invalid or does not match the file name" "job id .."
rec idslash | sed 's|^id .*|id a/b|' >"$T/rec"
add idslash.job "job id 'a/b' is invalid or does not match the file name" "a job id with /"
rec idabs | sed 's|^id .*|id /etc/passwd|' >"$T/rec"
add idabs.job "job id '/etc/passwd' is invalid or does not match the file name" "an absolute path as job id"
rec idnl | sed 's|^id .*|id id%0Anl|' >"$T/rec"
add idnl.job "job id 'id%0Anl' is invalid" "a job id with a newline (%0A), shown escaped"
rec idesc | sed 's|^id .*|id id%1B[2J|' >"$T/rec"
add idesc.job "job id 'id%1B[2J' is invalid" "a job id with an escape sequence (%1B), shown escaped"
rec idmism | sed 's|^id .*|id someother|' >"$T/rec"
add idmism.job "job id 'someother' is invalid or does not match the file name" "a job id that is not its file name's stem"
rec goodtmpl1 >"$T/rec"
add goodtmpl1.job "a job with this id already exists" "a second record reusing an accepted job's id"
rec x >"$T/rec"; add notes.txt "unexpected file name in incoming/" "a file name without .job"
rec x >"$T/rec"; add UPPER.JOB "unexpected file name in incoming/" "a file name ending in .JOB"
rec x >"$T/rec"; add x.job.bak "unexpected file name in incoming/" "a file name ending in .job.bak"
rec x >"$T/rec"; add job "unexpected file name in incoming/" "a file named just 'job'"
rec a.b >"$T/rec"; add a.b.job "unexpected file name in incoming/" "a job file name with two dots"
rec 'sp ace' >"$T/rec"; add 'sp ace.job' "unexpected file name in incoming/" "a job file name with a space"
rec -dash >"$T/rec"; add -dash.job "unexpected file name in incoming/" "a job file name starting with -"
rec "$(long 65)" >"$T/rec"; add "$(long 65).job" "unexpected file name in incoming/" "a job file name over 64 bytes"
rec x >"$T/rec"; add $'nl\nname.job' "unexpected file name in incoming/" "a file name with a newline"
rec x >"$T/rec"; add $'esc\e[2J.job' "unexpected file name in incoming/" "a file name with an escape sequence"
printf 'spool-record 1 cancel\njob %s\nend\n' "$L" >"$T/rec"
add "$L.cancel" "unexpected file name in incoming/" "a cancel file name without its random part"
printf 'spool-record 1 cancel\njob %s\nend\n' "$L" >"$T/rec"
add "$L.a.b.cancel" "unexpected file name in incoming/" "a cancel file name with three parts"

# cancel records: traversal ids, wrong names and types (the running job L stays untouched)
printf 'spool-record 1 cancel\njob ../x\nend\n' >"$T/rec"
add ctrav.aaaaaaaa.cancel "cancel of job '../x', which does not exist" "a cancel naming job ../x"
printf 'spool-record 1 cancel\njob ..\nend\n' >"$T/rec"
add cdots.aaaaaaaa.cancel "cancel of job '..', which does not exist" "a cancel naming job .."
printf 'spool-record 1 cancel\njob /etc/passwd\nend\n' >"$T/rec"
add cabs.aaaaaaaa.cancel "cancel of job '/etc/passwd', which does not exist" "a cancel naming an absolute path"
printf 'spool-record 1 cancel\njob nosuchjob1\nend\n' >"$T/rec"
add nosuchjob1.aaaaaaaa.cancel "cancel of job 'nosuchjob1', which does not exist" "a cancel of a job that does not exist"
printf 'spool-record 1 cancel\njob %s\nend\n' "$L" >"$T/rec"
add other.aaaaaaaa.cancel "cancel of job '$L' filed under another job's name" "a cancel filed under another job's name"
printf 'spool-record 1 cancel\njob %s\ntask abc\nend\n' "$L" >"$T/rec"
add "$L.ctask.cancel" "field 'task' in cancel record (line 3) is not an unsigned integer" "a cancel with a non-numeric task"
rec x >"$T/rec"
add "$L.ctype.cancel" "expected a cancel record, found a job record" "a job record named X.RAND.cancel"
printf 'spool-record 1 cancel\njob %s\njob %s\nend\n' "$L" "$L" >"$T/rec"
add "$L.cdup.cancel" "field 'job' appears twice in cancel record (line 3)" "a cancel with two job fields"

# Drop them all, each as a client would (a temporary, then a rename).
for n in "${NAMES[@]}"; do
	cp "$T/cases/$n" "$IN/.tmp.case" && mv "$IN/.tmp.case" "$IN/$n"
done
ncases=${#NAMES[@]}

# Things that are not plain files with one link. Their targets are valid records that would run.
spec() { NAMES+=("$1"); REASONS+=("$2"); DESCS+=("$3"); }
rec lnk1 >"$T/lnk1.target"; cp "$T/lnk1.target" "$T/lnk1.saved"
ln -s "$T/lnk1.target" "$IN/.tmp.lnk" && mv "$IN/.tmp.lnk" "$IN/lnk1.job"
spec lnk1.job "lnk1.job is a symbolic link: refused" "a symlink to a valid record"
ln -s /nonexistent/x "$IN/.tmp.lnk" && mv "$IN/.tmp.lnk" "$IN/lnk2.job"
spec lnk2.job "lnk2.job is a symbolic link: refused" "a dangling symlink"
ln -s "$T/cases" "$IN/.tmp.lnk" && mv "$IN/.tmp.lnk" "$IN/lnk3.job"
spec lnk3.job "lnk3.job is a symbolic link: refused" "a symlink to a directory"
rec hardl1 >"$T/hardl1.orig"; cp "$T/hardl1.orig" "$T/hardl1.saved"
ln "$T/hardl1.orig" "$IN/.tmp.hl" && mv "$IN/.tmp.hl" "$IN/hardl1.job"
spec hardl1.job "hardl1.job has 2 hard links (expected 1): refused" "a second hard link to a valid record"
mkfifo "$IN/.tmp.fifo" && mv "$IN/.tmp.fifo" "$IN/fifo2.job"
spec fifo2.job "fifo2.job is not a regular file: refused" "a FIFO named X.job"
mkdir "$IN/.tmp.dir" && rec dir2 >"$IN/.tmp.dir/dir2.job" && mv "$IN/.tmp.dir" "$IN/dir2.job"
spec dir2.job "dir2.job is not a regular file: refused" "a directory named X.job"
if mknod "$IN/.tmp.dev" c 1 5 2>/dev/null; then
	mv "$IN/.tmp.dev" "$IN/dev1.job"
	spec dev1.job "dev1.job is not a regular file: refused" "a character device (/dev/zero's) named X.job"
else
	skip "a character device named X.job: mknod needs root"
fi
truncate -s 300M "$IN/.tmp.huge" && mv "$IN/.tmp.huge" "$IN/huge1.job"
spec huge1.job "huge1.job is 314572800 bytes, limit 268435456: refused" "a 300 MiB (sparse) record, over MAX_JOB_RECORD"

all_gone() {
	local n
	for n in "${NAMES[@]}"; do
		[ -e "$IN/$n" ] || [ -L "$IN/$n" ] || ! in_q "$n" && return 1
	done
	return 0
}
for i in $(seq 200); do all_gone && break; sleep 0.05; done
check "all ${#NAMES[@]} bad records left incoming/ for quarantine/" all_gone

# The name as spoold logs it: control bytes as %XX.
logname() {
	if [[ $1 != *[[:cntrl:]]* ]]; then printf '%s' "$1"; return; fi
	python3 -c 'import os, sys; sys.stdout.write("".join("%%%02X" % b if b < 32 or b == 127 else chr(b) for b in os.fsencode(sys.argv[1])))' "$1"
}
check_case() { # NAME REASON DESC
	local n=$1 why=$2 d=$3 f lines ln
	f=$(qfile "$n")
	if [ -z "$f" ]; then fail "$d: not found in quarantine/"; return; fi
	if [ -f "$f.reason" ] && [ "$(wc -l <"$f.reason")" = 1 ] && grep -qF -- "$why" "$f.reason" &&
		! tr -d '\n' <"$f.reason" | LC_ALL=C grep -q '[[:cntrl:]]'; then
		pass "$d: quarantined, its one-line .reason says '$why'"
	else
		fail "$d: quarantined, its one-line .reason says '$why' (it says: $(cat -v "$f.reason" 2>/dev/null))"
	fi
	ln=$(logname "$n")
	lines=$(grep -aF -- "rejected incoming/$ln: " "$T/spoold.log")
	if [ "$(printf '%s' "$lines" | grep -c '^')" = 1 ] && printf '%s' "$lines" | grep -qF -- "$why"; then
		pass "$d: spoold logged it in one line"
	else
		fail "$d: spoold logged it in one line (log: $(printf '%s' "$lines" | head -c 300 | cat -v))"
	fi
}
for i in "${!NAMES[@]}"; do
	check_case "${NAMES[$i]}" "${REASONS[$i]}" "${DESCS[$i]}"
done

# The quarantined records are the records as dropped, for the administrator to read.
kept_as_is() {
	local i
	for ((i = 0; i < ncases; i++)); do cmp -s "$T/cases/${NAMES[$i]}" "$(qfile "${NAMES[$i]}")" || return 1; done
}
check "every quarantined regular file is byte for byte the record that was dropped" kept_as_is
check "the symlink was moved to quarantine as a link, never followed" test -L "$(qfile lnk1.job)"
check "  ... its target is unchanged" cmp -s "$T/lnk1.target" "$T/lnk1.saved"
check "the hard link was moved to quarantine; the other link is unchanged" cmp -s "$T/hardl1.orig" "$T/hardl1.saved"
check "the FIFO was moved to quarantine (spoold did not block on it)" test -p "$(qfile fifo2.job)"
check "the directory was moved to quarantine whole" test -f "$(qfile dir2.job)/dir2.job"
check_eq "spoold logged exactly one rejection per bad record, no more" "${#NAMES[@]}" \
	"$(grep -ac 'rejected incoming/' "$T/spoold.log")"
check "spoold is still running" test -d "/proc/$SPOOLD_PID"

# None of it was accepted: no job state, nothing in ctl/jobs/, not in `spool status`.
stems() { local n; for n in "${NAMES[@]}"; do [[ $n == *.job ]] && printf '%s\n' "${n%.job}"; done; }
no_state() {
	local s
	while IFS= read -r s; do
		[ -e "$SPOOL_DIR/ctl/jobs/$s.job" ] || [ -e "$SPOOL_DIR/ctl/jobs/$s.state" ] && [ "$s" != goodtmpl1 ] && return 1
	done < <(stems)
	return 0
}
check "no bad job record reached ctl/jobs/ (no job, no state)" no_state
status_ids() { spool status | awk 'NR > 3 { print $1 }' | sort | tr '\n' ' '; }
check_eq "spool status lists only the good jobs" "$(printf '%s\n' goodtmpl1 "$L" | sort | tr '\n' ' ')" "$(status_ids)"
run st1 spool status trunc1
check_eq "spool status of a quarantined job exits 4 (no such job)" 4 "$RC"

# The bad cancels did not touch L; a real one still works.
check "the running job is untouched by the bad cancel records" sh -c "spool status $L | grep -Eq '^ +1  (running|assigned) '"
spool cancel "$L" >/dev/null 2>&1
sp collect "$L" >/dev/null 2>&1; rc=$?
check "a real cancel of it is still honoured" sh -c "[ $rc = 1 ] && spool status $L | grep -q '^ *1  cancelled '"

# A good job submitted afterwards completes. Anything bad that was accepted would have been
# queued before it on the only engine, and would have run by now.
check_eq "a good job submitted after the bad records completes with the right output" "still ok" \
	"$(sp submit --wait -- echo still ok 2>/dev/null)"
check_eq "no bad record ran: the only marker is the template's" "ran.goodtmpl1" "$(cd "$W" && ls -d ran.* 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
no_outdir() {
	local s
	while IFS= read -r s; do [ "$s" != goodtmpl1 ] && [ -e "$W/spool-$s" ] && return 1; done < <(stems)
	return 0
}
check "no bad record got an output directory (CWD/spool-ID)" no_outdir

# Positive controls at the limits: whole values go through exactly.
a=$(long 131071) # the longest argument exec can pass (128 KiB with its NUL)
check_eq "an argument of 131,071 bytes reaches the task whole" 131071 \
	"$(sp submit --wait --no-env -- sh -c 'printf %s "$1" | wc -c' sh "$a" 2>/dev/null)"
long 65536 >"$T/item64k"
check_eq "a map item of exactly 65,536 bytes reaches the task whole" 65536 \
	"$(sp map --wait --no-env --input "$T/item64k" -- sh -c 'printf %s "$1" | wc -c' sh 2>/dev/null)"

# A cwd with '..' in it is an absolute path the submitter could name anyway: accepted as given,
# and the worker's chdir resolves it like any path (spool confines nothing to a directory).
mkdir -p "$T/work2"
j=$(spool submit --no-env --cwd "$T/work/../work2" -- sh -c 'pwd -P')
check_eq "a cwd with '..' is accepted and runs where the path leads" "$T/work2" "$(sp collect "$j" 2>/dev/null)"
check "  ... its results are beside the data there" test -f "$T/work2/spool-$j/1.1.res"

# --- bad records from a worker's side: done records in workers/WID/done/ ---
wid=$(ls "$SPOOL_DIR/workers" | head -n 1)
D=$SPOOL_DIR/workers/$wid/done
printf '\x01\x02garbage\n' >"$D/.tmp.d" && mv "$D/.tmp.d" "$D/zzgarb.1.1"
printf 'spool-record 1 done\njob nosuchjob2\ntask 1\nattempt 1\nengine 1\nwid %s\nnode x\nstatus exited\nexit 0\nend\n' \
	"$wid" >"$D/.tmp.d" && mv "$D/.tmp.d" "$D/nosuchjob2.1.1"
printf 'spool-record 1 done\njob %s\ntask 1\nattempt 9\nengine 1\nwid other-worker\nnode x\nstatus exited\nexit 0\nend\n' \
	"$L" >"$D/.tmp.d" && mv "$D/.tmp.d" "$D/$L.1.9"
for n in zzgarb.1.1 nosuchjob2.1.1 "$L.1.9"; do wait_q "$n"; done
check "a garbage done record is quarantined" grep -qF "not a spool record" "$(qfile zzgarb.1.1).reason"
check "a done record for a job that does not exist is quarantined" \
	grep -qF "done record for job 'nosuchjob2', which does not exist" "$(qfile nosuchjob2.1.1).reason"
check "a done record naming another worker is quarantined" \
	grep -qF "done record names worker 'other-worker' but sits in the directory of $wid" "$(qfile "$L.1.9").reason"
check "  ... and did not change the task's state" sh -c "spool status $L | grep -q '^ *1  cancelled '"

# --- a symlink or hard link planted where a task's output will be written ---
# The task's files are OUTDIR/spool-JOB/TASK.ATTEMPT.{out,err,res}: the job waits behind a
# blocker while the link is planted there.
echo "victim: must not change" >"$T/victim"
cp "$T/victim" "$T/victim.saved"
plant() { # DIR FILE KIND: DIR/FILE made a symlink (s) or hard link (h) to $T/victim
	mkdir -p "$1"
	if [ "$3" = s ]; then ln -s "$T/victim" "$1/$2"; else ln "$T/victim" "$1/$2"; fi
}
j=$(blocked_submit "$T/go-out" --no-env --output "$T/o-out" -- sh -c 'echo OVERWRITTEN; echo ran >"$0"' "$T/o-out.ran")
plant "$T/o-out/spool-$j" 1.1.out s; touch "$T/go-out"
sp collect "$j" >/dev/null 2>"$T/o-out.err"; rc=$?
check_eq "symlink at TASK.ATTEMPT.out: the task fails (collect exits 1)" 1 "$rc"
check "  ... saying its output file could not be created" grep -qF "cannot create $T/o-out/spool-$j/1.1.out" "$T/o-out.err"
check "  ... the link's target is unchanged" cmp -s "$T/victim" "$T/victim.saved"
check "  ... the link is still a link (not written through, not replaced)" test -L "$T/o-out/spool-$j/1.1.out"
check "  ... and the command never ran" test ! -e "$T/o-out.ran"
j=$(blocked_submit "$T/go-err" --no-env --output "$T/o-err" -- sh -c 'echo OVERWRITTEN >&2; echo ran >"$0"' "$T/o-err.ran")
plant "$T/o-err/spool-$j" 1.1.err s; touch "$T/go-err"
sp collect "$j" >/dev/null 2>"$T/o-err.err"; rc=$?
check_eq "symlink at TASK.ATTEMPT.err: the task fails (collect exits 1)" 1 "$rc"
check "  ... the link's target is unchanged" cmp -s "$T/victim" "$T/victim.saved"
check "  ... and the command never ran" test ! -e "$T/o-err.ran"
j=$(blocked_submit "$T/go-res" --no-env --output "$T/o-res" -- echo res ok)
plant "$T/o-res/spool-$j" 1.1.res s; touch "$T/go-res"
check_eq "symlink at TASK.ATTEMPT.res: the task runs" "res ok" "$(sp collect "$j" 2>/dev/null)"
check "  ... the link's target is unchanged" cmp -s "$T/victim" "$T/victim.saved"
check "  ... the result replaced the link with a regular file" sh -c "test -f '$T/o-res/spool-$j/1.1.res' && ! test -L '$T/o-res/spool-$j/1.1.res'"
# A hard link cannot be told by O_NOFOLLOW: opening the existing name with O_TRUNC writes into
# the victim. Safe behaviour: the output goes to a fresh file (or the task fails); the victim
# is never written.
j=$(blocked_submit "$T/go-hard" --no-env --output "$T/o-hard" -- echo OVERWRITTEN)
plant "$T/o-hard/spool-$j" 1.1.out h; touch "$T/go-hard"
sp collect "$j" >/dev/null 2>&1
check "hard link at TASK.ATTEMPT.out: its other name (the victim) is unchanged" cmp -s "$T/victim" "$T/victim.saved"
check_eq "a good job after the planted links completes" "links ok" "$(sp submit --wait -- echo links ok 2>/dev/null)"

# --- a flood of 10,000 bad records dropped at once ---
# Five kinds, 2,000 each: truncated jobs, unexpected names, bad cancels, mismatched ids, empty files.
# Counted by glob, not ls: a few quarantined names hold newlines.
count_q() { # records | reasons
	local f n=0
	for f in "$Q"/*; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		if [ "$1" = reasons ]; then [[ $f == *.reason ]] && n=$((n + 1)); else [[ $f == *.reason ]] || n=$((n + 1)); fi
	done
	echo "$n"
}
before=$(count_q records)
S=$IN/.tmp.flood
mkdir "$S"
for ((i = 10000; i < 20000; i++)); do
	case $((i % 5)) in
	0) printf 'spool-record 1 job\nid fl%d\n' $i >"$S/fl$i.job" ;;
	1) printf 'x\n' >"$S/fl$i.txt" ;;
	2) printf 'spool-record 1 cancel\njob ../x\nend\n' >"$S/fl$i.aaaaaaaa.cancel" ;;
	3) printf 'spool-record 1 job\nid zz\ncwd /\narg true\nend\n' >"$S/fl$i.job" ;;
	4) : >"$S/fl$i.job" ;;
	esac
done
start=$(date +%s)
# One rename each, back to back (mv would stat each name after spoold may have taken it).
python3 -c 'import os, sys
s, d = sys.argv[1:]
for n in os.listdir(s): os.rename(os.path.join(s, n), os.path.join(d, n))
os.rmdir(s)' "$S" "$IN" || fail "could not drop the flood into incoming/"
timeout 120 spool submit --wait -- echo during flood >"$T/flood.out" 2>/dev/null &
fpid=$!
flood_gone() { ! ls "$IN" | grep -q '^fl'; }
for i in $(seq 1200); do flood_gone && break; sleep 0.05; done
echo "# the flood left incoming/ in $(( $(date +%s) - start )) s"
check "the 10,000 flood records all left incoming/" flood_gone
wait "$fpid"
check_eq "a good job submitted during the flood completes with the right output" "during flood" "$(cat "$T/flood.out")"
check "spoold is still running after the flood" test -d "/proc/$SPOOLD_PID"
kept=$(count_q records)
check_eq "quarantine is bounded: it holds 1,000 records" 1000 "$kept"
check_eq "  ... each with its .reason" "$kept" "$(count_q reasons)"
check_eq "spoold logged each of the 10,000 rejections" 10000 "$(grep -ac '^spoold: warning: rejected incoming/fl' "$T/spoold.log")"
check_eq "  ... and the deletion of the $((10000 - 1000 + before)) that did not fit" $((10000 - 1000 + before)) \
	"$(grep -ac 'quarantine holds 1000 records already: deleting fl' "$T/spoold.log")"
check_eq "a good job after the flood completes with the right output" "after flood" \
	"$(sp submit --wait -- echo after flood 2>/dev/null)"
# The administrator empties quarantine/ as the log says: rejected records are kept again.
find "$Q" -mindepth 1 -delete
sleep 1.1 # spoold lists quarantine/ again at most once a second while it is full
rec x >"$IN/.tmp.after" && mv "$IN/.tmp.after" "$IN/after.txt"
wait_q after.txt
check "once quarantine/ is emptied, a rejected record is kept there again" grep -qF "unexpected file name" "$(qfile after.txt).reason"

# --- amplification and output paths: records within every field limit whose tasks would not be ---
# Refused whole when accepted: the record goes to quarantine/ with the reason, the job gets a
# state (one task failed with "job refused: " and the reason), nothing of it runs, and no
# assignment is ever built for it (a 30,000-{} map would be 1.9 GB per task).
AMP=() AMPWHY=() AMPDESC=()
amp() { mv "$T/rec" "$T/cases/$1.job"; AMP+=("$1"); AMPWHY+=("$2"); AMPDESC+=("$3"); }
rec ampl1 'map 1' "arg $(printf '{}%.0s' $(seq 30000))" "item $(long 65536)" >"$T/rec"
amp ampl1 "argument 4 of a task would be 1966080000 bytes after {} and {#} are replaced" \
	"30,000 {} in one argument with a 64 KiB item (1.9 GB per task)"
ph=$(printf '{}%.0s' $(seq 60))
lines=(); for k in $(seq 40); do lines+=("arg $ph"); done
rec ampl2 'map 1' "${lines[@]}" "item $(long 2048)" >"$T/rec"
amp ampl2 "a task would expand to an assignment of" "40 arguments of 60 {} with a 2 KiB item (4.9 MB per task, each argument under 128 KiB)"
{ rec ampl4 'map 1' 'item x' | sed '$d'; yes 'arg x' | head -n $((4096 - $(grep -c '^arg ' "$T/template"))); echo end; } >"$T/rec"
amp ampl4 "its tasks would have 4097 arguments" "a map of 4,096 arguments without {} (the item makes 4,097)"
rec outl1 "outdir /$(long 4048)" >"$T/rec"
amp outl1 "output directory is 4049 bytes, limit 4048" "an output directory one byte past 4,048 (its files' paths past 4,096)"
rec outl2 | sed "s|^cwd .*|cwd /$(long 4080)|" >"$T/rec"
amp outl2 "output directory is 4093 bytes, limit 4048" "a 4,081-byte cwd, so that the default CWD/spool-ID is too long"
# GNU parallel's strings spool does not support, in a record the client would have refused.
rec repl1 'map 1' 'arg {##}' 'item x' >"$T/rec"
amp repl1 "holds '{##}', a replacement string of GNU parallel's that spool does not support" \
	"a map whose argument holds {##} (refused by the client; the controller checks again)"
rec repl2 'map 1' 'arg {3}' 'item a%1Fb' >"$T/rec"
amp repl2 "holds '{3}' but the map has 2 input sources" "a map naming {3} with items of two values"
for n in "${AMP[@]}"; do cp "$T/cases/$n.job" "$IN/.tmp.case" && mv "$IN/.tmp.case" "$IN/$n.job"; done
for n in "${AMP[@]}"; do wait_q "$n.job"; done
refused_reason() { # ID: the reason of task 1 in the job's published state
	spool collect --json --no-wait "$1" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["tasks"][0]["reason"] or "")'
}
for i in "${!AMP[@]}"; do
	n=${AMP[$i]} why=${AMPWHY[$i]} d=${AMPDESC[$i]}
	check "$d: quarantined with a .reason saying '$why'" grep -qF -- "$why" "$(qfile "$n.job").reason"
	r=$(refused_reason "$n")
	case $r in "job refused: "*"$why"*) pass "  ... its published state gives the reason";; *) fail "  ... its published state gives the reason (got '$r')";; esac
	sp collect "$n" >/dev/null 2>&1; rc=$?
	check_eq "  ... collect exits 1 (its one task failed)" 1 "$rc"
	check "  ... and nothing of it ran (no marker, no output directory)" sh -c "test ! -e '$W/ran.$n' && test ! -e '$W/spool-$n'"
done
no_big_inbox() { ! find "$SPOOL_DIR/ctl/w" -path '*/inbox/*' -type f -size +4096k | grep -q .; }
check "no assignment over 4 MiB was written for them" no_big_inbox
check "spoold is still running after the amplification cases" test -d "/proc/$SPOOLD_PID"
check_eq "a good job after them completes" "amp ok" "$(sp submit --wait -- echo amp ok 2>/dev/null)"


# --- MACs on assignments (issue 5): a worker refuses an assignment whose mac is missing or wrong ---
if [ ! -s "$T/assign.sample" ]; then
	fail "MAC: could not capture an assignment file from ctl/w/*/inbox/ to test against"
elif ! grep -q '^mac ' "$T/assign.sample"; then
	fail "MAC: the assignment sent to the worker carries no 'mac' line: forged and missing MACs would not be refused"
else
	# The worker's current id: on a busy machine it may have been declared dead (missed
	# heartbeats) and registered again under a new one since $wid was read.
	wid=$(sed -n 's/.*worker \([^ ]*\) registered: .*/\1/p' "$T/worker.log" | tail -n 1)
	inbox=$SPOOL_DIR/ctl/w/$wid/inbox
	outdir=$(sed -n 's/^outdir //p' "$T/assign.sample")
	forge() { # ATTEMPT SED: the sample as attempt ATTEMPT of its task, its command a marker, then SED
		sed -e "s/^attempt .*/attempt $1/" -e '/^arg /d' -e '$d' "$T/assign.sample" | sed "$2"
		printf 'arg sh\narg -c\narg echo forged >%s/forged.%s\nend\n' "$T" "$1"
	}
	forge 7 '' >"$inbox/.tmp.f7" && mv "$inbox/.tmp.f7" "$inbox/$L.1.7"   # content changed: mac wrong
	forge 8 '/^mac /d' >"$inbox/.tmp.f8" && mv "$inbox/.tmp.f8" "$inbox/$L.1.8"   # no mac at all
	for a in 7 8; do
		wait_q "$L.1.$a"
		what=$([ $a = 7 ] && echo "a wrong mac" || echo "no mac")
		check "MAC: an assignment with $what is copied to quarantine/" test -n "$(qfile "$L.1.$a")"
		check "  ... with a .reason mentioning the MAC" grep -qi 'mac' "$(qfile "$L.1.$a").reason"
		check "  ... and logged by the worker" grep -q "$L\.1\.$a.*[Mm][Aa][Cc]" "$T/worker.log"
		check "  ... and never run (no marker, no output file)" \
			sh -c "test ! -e '$T/forged.$a' && test ! -e '$outdir/1.$a.out'"
		# The refusal reaches the job's published state a moment after the quarantine copy.
		check "  ... and the task is reported refused (attempt $a: status error)" eventually sh -c \
			"spool collect --json --no-wait $L | python3 -c 'import json,sys; t=json.load(sys.stdin)[\"tasks\"][0]; sys.exit(not any(d[\"attempt\"] == $a and d[\"status\"] == \"error\" for d in t[\"duplicates\"]))'"
	done
	check "MAC: spoold and the worker are still running" sh -c "test -d /proc/$SPOOLD_PID && test -d /proc/$WORKER_PID"
fi

# --- records owned by another user ---
if [ "$(id -u)" != 0 ] || ! getent passwd nobody >/dev/null; then
	skip "records of another user: need root (to chown records) and a 'nobody' user"
else
	nob=$(id -u nobody)
	chmod 755 "$T"
	mkdir -m 777 "$T/shared"
	j=$(blocker --no-env --cwd "$T/shared")
	printf 'spool-record 1 cancel\njob %s\nend\n' "$j" >"$IN/.tmp.oc" && chown nobody "$IN/.tmp.oc" &&
		mv "$IN/.tmp.oc" "$IN/$j.nobody01.cancel"
	wait_q "$j.nobody01.cancel"
	check "a cancel record owned by another user is quarantined" \
		grep -qF "uid $nob may not cancel job $j of uid 0" "$(qfile "$j.nobody01.cancel").reason"
	check "  ... and the job is not cancelled" sh -c "! spool status $j | grep -q ' cancelled '"
	spool cancel "$j" >/dev/null
	sp collect "$j" >/dev/null 2>&1
	# A job record owned by another user is that user's job (the owner is the file's).
	rec ojob | sed -e "s|^cwd .*|cwd $T/shared|" -e '/^arg /d' -e '$d' >"$IN/.tmp.oj"
	printf 'arg id\narg -u\nend\n' >>"$IN/.tmp.oj"
	chown nobody "$IN/.tmp.oj" && mv "$IN/.tmp.oj" "$IN/ojob.job"
	out=$(sp collect ojob 2>/dev/null)
	check "a job record owned by another user is accepted as that user's job" \
		sh -c "spool status ojob | grep -q 'owner uid $nob '"
	check_eq "  ... and its task runs as that user" "$nob" "$out"
fi

check "spoold is still running at the end" test -d "/proc/$SPOOLD_PID"
check_eq "and a last good job completes with the right output" "the end" "$(sp submit --wait -- echo the end 2>/dev/null)"
