#!/bin/bash
# parallel_syntax.sh - GNU parallel's syntax in 'spool map': each replacement string ({} {.} {/}
# {//} {/.} {#} {N} {N.}...) gives what GNU parallel's own gives for the same items (when it is
# installed), ::: sources multiply and :::+ links them, :::: reads files; {%} is the engine id;
# what spool does not support is refused naming it and nothing is ever taken as an item; and
# --stdin gives a task a file (or the submitter's standard input) on its standard input.
# checks: 32
. "$(dirname "$0")/../lib.sh"
make_spool
start_spoold
start_worker 2 nodeA
wait_engines 2 || exit 1
cd "$T"

items=('a/b.c' 'a.' '.bashrc' 'abc' '/abc' 'a/b/' '/' 'x.d/y' 'a/b.tar.gz' 'a//b' 'sp ace.txt' "it's" 'd.x/')
have_parallel=0
parallel --version 2>/dev/null | grep -q 'GNU parallel' && have_parallel=1

# same DESCRIPTION ARGS...: spool map --wait and parallel -k -q run the same command line.
same() {
	local what=$1
	shift
	local sp gp
	sp=$(spool map --wait -- "$@" 2>"$T/same.err")
	if [ $have_parallel = 0 ]; then
		skip "$what: GNU parallel is not installed (Debian package parallel)"
		return
	fi
	gp=$(parallel -k -q "$@" 2>&1 </dev/null)
	check_eq "$what: spool's output is GNU parallel's" "$gp" "$sp"
}

for r in '{}' '{.}' '{/}' '{//}' '{/.}' '{#}'; do
	same "$r" printf '<%s>\n' "x$r|$r" ::: "${items[@]}"
done
same "no replacement string: the item is the last argument" printf '<%s>\n' ::: "${items[@]}"
same "::: A ::: B is their product, {1} {2} name the sources" printf '%s\n' '{2}-{1}' ::: a b c ::: x y
same "... {} is every value joined by spaces" printf '<%s>\n' '{}' ::: a b ::: x y
same "... without replacement strings each value is an argument" printf '<%s>\n' ::: a b ::: x y
same ":::+ links a source to the previous one, value by value" printf '%s\n' '{1}{2}{3}' ::: a b ::: 1 2 :::+ x y
same "{N.} {N/} {N//} {N/.} on each source" printf '%s\n' '{1.}|{2/}|{2//}|{1/.}' ::: d/a.c b ::: x/y z
printf 'one.c\ntwo/t.h\n' >"$T/f1"
printf 'p\nq\n' >"$T/f2"
same ":::: FILE reads a source from the file's lines; two files are two sources" printf '%s\n' '{1.}:{2}' :::: "$T/f1" "$T/f2"
same "::: and ::::+ mix" printf '%s\n' '{1}{2}{3}' ::: X Y :::: "$T/f1" ::::+ "$T/f2"

# {%}: GNU parallel's job slot is 1..N; spool gives the engine id that ran the task.
out=$(spool map --wait --tag -- printf '%s\n' '{%}' ::: 1 2 3 4 2>/dev/null)
bad=$(echo "$out" | awk '{ e = $1; sub(/^\[/, "", e); if (e != $3) print }')
check_eq "{%} is the id of the engine that ran the task (as --tag shows it)" "4 " "$(echo "$out" | wc -l) $bad"

# --- refusals: named, and nothing taken as an item ---
refused() { # description, text the message must hold, args...
	local what=$1 text=$2
	shift 2
	# (accepted records of earlier jobs may still wait in incoming/ for their move: only a new
	# name there would be a submit)
	ls "$SPOOL_DIR/incoming" | sort >"$T/in.before"
	run r spool map "$@"
	ls "$SPOOL_DIR/incoming" | sort >"$T/in.after"
	check "$what is refused (exit 2) naming '$text', nothing submitted" \
		test "$RC" = 2 -a -z "$(cat "$T/r.out")" -a -z "$(comm -13 "$T/in.before" "$T/in.after")"
	check "  ... the message names it" grep -qF -- "$text" "$T/r.err"
}
refused "a Perl expression {= =}" "{= s/a/b/ =}" -- echo '{= s/a/b/ =}' ::: a
refused "{##} (not supported)" "{##}" -- echo '{##}' ::: a
refused "{3} with two sources" "{3}" -- echo '{3}' ::: a ::: b
refused "an unknown separator ':::::'" ":::::" -- echo ::: a ::::: b
refused ":::+ of another length" "linked" -- echo ::: a b :::+ x
run r spool submit -- echo ::: a
check "'spool submit -- echo ::: a' is refused: ':::' belongs to spool map" \
	test "$RC" = 2 -a -n "$(grep -F "belongs to 'spool map'" "$T/r.err")"
j=$(spool map -- echo '{print $1}' '{x}' ::: a 2>/dev/null)
check_eq "braces that are no replacement string stay literal" "{print \$1} {x} a" \
	"$(spool collect --timeout 60 "$j" 2>/dev/null)"

# --- standard input ---
printf 'line1\nline2\n' >"$T/in"
check_eq "--stdin FILE: every task reads the file on its standard input" "$(printf 'a line1\nb line1')" \
	"$(spool map --wait --stdin "$T/in" -- sh -c 'read l; echo "$0 $l"' ::: a b 2>/dev/null)"
check_eq "--stdin -: the submitter's standard input reaches the task" "hi there" \
	"$(echo hi there | spool submit --wait --stdin - -- cat 2>/dev/null)"
out=$(echo hi | spool submit --wait -- cat 2>"$T/nostdin.err")
check "without --stdin, piped input is not sent, and stderr says so" \
	test -z "$out" -a -n "$(grep -F 'standard input is not sent to the task: use --stdin - to send it' "$T/nostdin.err")"
run r spool map --stdin - -- cat ::: a b
check "--stdin - on a map (several tasks) is refused" test "$RC" = 2 -a -n "$(grep -F -- '--stdin -' "$T/r.err")"
run r spool submit --wait --stdin "$T/nonexistent" -- cat
check "--stdin FILE that does not exist: the task fails naming the file" grep -qF "$T/nonexistent" "$T/r.out" "$T/r.err"
