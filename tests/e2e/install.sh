#!/bin/bash
# install.sh - an installation an admin and a packager accept: `make install` to a DESTDIR puts
# exactly the expected files there and `make uninstall` removes them; the build honours CPPFLAGS,
# LDFLAGS and WERROR and `make install` builds no test or fuzz program; every man page is
# `mandoc -Tlint` clean, renders under `man -l` without warnings and covers every subcommand,
# option and setting; `systemd-analyze verify` accepts the units; the bash completion completes
# subcommands, options and job ids, and knows every option; a Debian package built with
# `dpkg-buildpackage -us -uc -b` installs with dpkg -i, and its programs run a task from a
# directory with no build tree, then `dpkg -r` removes it (root only).
# (pkg-config build and link of the example against an install: capi.sh.)
# checks: 42
# deadline: 600
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")/../.." && pwd)
export LC_ALL=C # man renders plain ASCII hyphens
D=$T/dest

# --- make install / uninstall to a DESTDIR ---------------------------------------------------
make -s -C "$here" install PREFIX=/usr DESTDIR="$D" >/dev/null 2>"$T/install.log" ||
	{ fail "make install PREFIX=/usr DESTDIR=..."; cat "$T/install.log"; exit 1; }
# The list, computed from the tree's own sources for the Python package (it may be absent).
{
	printf '%s\n' /etc/default/spool /usr/bin/spool /usr/sbin/spoold /usr/sbin/spool-worker \
		/usr/include/spool.h /usr/lib/libspool.a /usr/lib/libspool.so.0 /usr/lib/libspool.so \
		/usr/lib/pkgconfig/spool.pc /usr/share/man/man1/spool.1 /usr/share/man/man5/spool.conf.5 \
		/usr/share/man/man7/spool-layout.7 /usr/share/man/man8/spoold.8 /usr/share/man/man8/spool-worker.8 \
		/usr/share/doc/spool/spool-layout.md /usr/share/bash-completion/completions/spool \
		/usr/share/bash-completion/completions/spoold /usr/share/bash-completion/completions/spool-worker \
		/usr/lib/systemd/system/spoold.service /usr/lib/systemd/system/spool-worker.service
	if ls "$here"/python/spool/*.py >/dev/null 2>&1; then
		for f in "$here"/python/spool/*.py; do echo "/usr/lib/python3/dist-packages/spool/${f##*/}"; done
		echo /usr/lib/python3/dist-packages/spool/_install.py
		echo /usr/share/spool/python/spool/_engine.py
	fi
} | sort -u >"$T/want"
(cd "$D" && find . ! -type d | sed 's|^\.||' | sort) >"$T/got"
if cmp -s "$T/want" "$T/got"; then
	pass "make install to a DESTDIR installs exactly the expected $(wc -l <"$T/want") files"
else
	fail "make install to a DESTDIR: the file list differs (- expected, + installed):"
	diff "$T/want" "$T/got" | grep '^[<>]' | sed 's/^</-/; s/^>/+/; s/^/#   /'
fi
check "spoold and spool-worker are in sbin, spool in bin, all executable" \
	test -x "$D/usr/sbin/spoold" -a -x "$D/usr/sbin/spool-worker" -a -x "$D/usr/bin/spool" -a ! -e "$D/usr/bin/spoold"
check_eq "libspool.so links to libspool.so.0" "libspool.so.0" "$(readlink "$D/usr/lib/libspool.so")"
check "position independent: libspool.so.0 has no text relocations, the programs are PIE (ELF type DYN)" \
	sh -c "readelf -d '$D/usr/lib/libspool.so.0' | grep -q SONAME && ! readelf -d '$D/usr/lib/libspool.so.0' | grep -q TEXTREL &&
		for p in '$D/usr/bin/spool' '$D/usr/sbin/spoold' '$D/usr/sbin/spool-worker'; do
			readelf -h \"\$p\" | grep -q 'Type: *DYN' || exit 1; done"

# An admin's edit of the environment file survives uninstall; everything else goes.
echo "SPOOL_DIR=/srv/edited" >>"$D/etc/default/spool"
make -s -C "$here" uninstall PREFIX=/usr DESTDIR="$D" >/dev/null 2>"$T/uninstall.log" ||
	{ fail "make uninstall"; cat "$T/uninstall.log"; }
left=$(cd "$D" && find . ! -type d | sed 's|^\.||' | sort | tr '\n' ' ')
check_eq "make uninstall removes every file it installed (keeping an edited /etc/default/spool)" \
	"/etc/default/spool " "$left"
rm -f "$D/etc/default/spool"
make -s -C "$here" install PREFIX=/usr DESTDIR="$D" >/dev/null 2>>"$T/install.log" &&
	make -s -C "$here" uninstall PREFIX=/usr DESTDIR="$D" >/dev/null 2>>"$T/install.log"
check_eq "install then uninstall leaves no file (an unchanged /etc/default/spool is removed too)" "" \
	"$(cd "$D" && find . ! -type d)"

# --- what the build does, from a dry run of a fresh build directory --------------------------
nb=(BUILD="$T/nb" BIN="$T/nbin")
make -n -C "$here" "${nb[@]}" PREFIX="$T/nowhere" install >"$T/dry" 2>&1
check "make install builds no test, fuzz or shim program" \
	sh -c "grep -q -- '-o $T/nbin/spoold' '$T/dry' && ! grep -E 'tests/|fuzz/|preload' '$T/dry'"
make -n -C "$here" "${nb[@]}" CPPFLAGS=-DSPOOL_CPP_MARK LDFLAGS=-Wl,-O1,--spool-ld-mark WERROR= programs >"$T/dry2" 2>&1
cc_lines=$(grep -c -- ' -c -o ' "$T/dry2"); ld_lines=$(grep -c -- ' -o [^ ]*\(bin/spool\|bin/spoold\|bin/spool-worker\|libspool.so.0\) ' "$T/dry2")
check "a packager's build: CPPFLAGS on all $cc_lines compile lines, LDFLAGS on all $ld_lines link lines, no -Werror" \
	sh -c "[ $cc_lines -gt 20 ] && [ $ld_lines -eq 4 ] && [ \$(grep -- ' -c -o ' '$T/dry2' | grep -c -- -DSPOOL_CPP_MARK) -eq $cc_lines ] &&
		[ \$(grep -c -- '--spool-ld-mark' '$T/dry2') -eq $ld_lines ] && ! grep -q -- -Werror '$T/dry2'"
# The suite keeps -Werror even when the environment drops it (as a packager's shell might).
# shellcheck disable=SC1007 # an empty WERROR in the environment, on purpose
WERROR= make -n -C "$here" "${nb[@]}" check >"$T/dry3" 2>&1
check "make check compiles with -Werror even with WERROR= in the environment" \
	sh -c "grep -- ' -c -o ' '$T/dry3' | grep -q -- -Werror && ! grep -- ' -c -o ' '$T/dry3' | grep -v -q -- -Werror"
check ".ci/run runs make check (which forces -Werror)" grep -q '^make check' "$here/.ci/run"

# --- man pages -------------------------------------------------------------------------------
make -s -C "$here" install PREFIX="$T/prefix" >/dev/null 2>>"$T/install.log" ||
	{ fail "make install PREFIX=$T/prefix"; cat "$T/install.log"; exit 1; }
P=$T/prefix
pages=$(cd "$P/share/man" && ls man*/*)
if ! command -v mandoc >/dev/null || ! command -v man >/dev/null; then
	sh "$here/tests/install-deps.sh" mandoc man-db >"$T/deps.log" 2>&1 ||
		skip "man pages: mandoc or man missing and not root to install them: $(tail -1 "$T/deps.log")"
fi
# mandoc looks up .Xr targets in the system's /usr/share/man only: a reference to one of spool's
# own pages is accepted here if that page is installed beside it (the package check below runs
# the same lint on the installed pages with no such filter).
lint=""
for p in $pages; do
	out=$(mandoc -Tlint "$P/share/man/$p" 2>&1)
	while IFS= read -r l; do
		[ -n "$l" ] || continue
		# While the package is installed (another suite's dpkg -i below, on this machine), mandoc
		# finds spool's pages in /usr/share/man and notes that Debian's absent mandoc.db lacks them.
		[[ $l =~ ^mandoc:\ outdated\ mandoc.db\ lacks\ (spool|spoold|spool-worker|spool.conf|spool-layout)\([0-9]\)\ entry ]] && continue
		if [[ $l =~ referenced\ manual\ not\ found:\ Xr\ ([a-z.-]+)\ ([0-9]) ]] &&
			[ -f "$P/share/man/man${BASH_REMATCH[2]}/${BASH_REMATCH[1]}.${BASH_REMATCH[2]}" ]; then
			continue
		fi
		lint="$lint$l"$'\n'
	done <<<"$out"
done
check_eq "mandoc -Tlint is clean on the $(echo $pages | wc -w) pages (references to each other resolved)" "" "$lint"
warn=""
for p in $pages; do
	w=$(MANWIDTH=80 man --warnings -l "$P/share/man/$p" 2>&1 >/dev/null)
	[ -z "$w" ] || warn="$warn$p: $w"$'\n'
	MANWIDTH=80 man -l "$P/share/man/$p" 2>/dev/null | grep -q 'SEE ALSO' || warn="$warn$p: renders no SEE ALSO"$'\n'
done
check_eq "man -l renders every page with no warning" "" "$warn"
check "spool-layout.7 names where this installation put spool-layout.md, and spoold.8 its environment file" \
	sh -c "test -f '$P/share/doc/spool/spool-layout.md' &&
		MANWIDTH=200 man -l '$P/share/man/man7/spool-layout.7' 2>/dev/null | grep -q -F '$P/share/doc/spool/spool-layout.md' &&
		MANWIDTH=200 man -l '$P/share/man/man8/spoold.8' 2>/dev/null | grep -q -F '$P/etc/default/spool'"
# Every subcommand, every option of every --help, and every setting of spool init's spool.conf.
spool1=$(MANWIDTH=200 man -l "$P/share/man/man1/spool.1" 2>/dev/null)
cmds=$(spool --help | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1} /^$/ && on>1{exit} on{on++}')
missing=""
for c in $cmds; do
	grep -q -E "^     $c( |$)" <<<"$spool1" || missing="$missing $c"
	for o in $(spool "$c" --help 2>/dev/null | grep -o -E -- '--[a-z][a-z-]*' | sort -u); do
		grep -q -- "$o" <<<"$spool1" || missing="$missing $c:$o"
	done
done
check_eq "spool.1 describes all $(echo $cmds | wc -w) subcommands of spool --help and every option of each" "" "$missing"
check "spool --help lists the 19 subcommands (the list the man page check read)" test "$(echo $cmds | wc -w)" -eq 19
missing=""
for prog in spoold spool-worker; do
	page=$(MANWIDTH=200 man -l "$P/share/man/man8/$prog.8" 2>/dev/null)
	for o in $("$SPOOL_BIN/$prog" --help | grep -o -E -- '(^|[ ,])-(-[a-z][a-z-]*|[a-zA-Z])' | tr -d ' ,' | sort -u); do
		grep -q -- "$o" <<<"$page" || missing="$missing $prog:$o"
	done
done
check_eq "spoold.8 and spool-worker.8 describe every option of their --help" "" "$missing"
make_spool
conf5=$(MANWIDTH=200 man -l "$P/share/man/man5/spool.conf.5" 2>/dev/null)
settings=$(spool init "$T/fresh" >/dev/null && sed -n 's/^\([a-z_]*\) = .*/\1/p' "$T/fresh/spool.conf")
missing=""
for s in $settings; do grep -q -E "^     $s = " <<<"$conf5" || missing="$missing $s"; done
check_eq "spool.conf.5 describes all $(echo $settings | wc -w) settings of the spool.conf that spool init writes" "" "$missing"

# --- systemd units ---------------------------------------------------------------------------
U=$P/lib/systemd/system
for u in spoold spool-worker; do
	f=$U/$u.service
	ok=1
	grep -q '^Type=simple$' "$f" && grep -q '^Restart=on-failure$' "$f" &&
		grep -q "^EnvironmentFile=-$P/etc/default/spool\$" "$f" && grep -q "^ExecStart=$P/sbin/$u -f" "$f" || ok=0
	check "$u.service: Type=simple, Restart=on-failure, EnvironmentFile=-PREFIX/etc/default/spool, ExecStart $u -f" test $ok = 1
done
check "the sample environment file sets SPOOL_DIR" grep -q '^SPOOL_DIR=' "$P/etc/default/spool"
if command -v systemd-analyze >/dev/null; then
	(cd "$T" && MANPATH=$P/share/man systemd-analyze verify "$U/spoold.service" "$U/spool-worker.service") >"$T/verify" 2>&1
	rc=$?
	check_eq "systemd-analyze verify accepts both units (exit 0, no message)" "0:" "$rc:$(cat "$T/verify")"
	# The check can fail: a unit with a wrong directive value is refused.
	sed 's/^Type=simple/Type=bogus/' "$U/spoold.service" >"$T/spoold.service"
	(cd "$T" && MANPATH=$P/share/man systemd-analyze verify "$T/spoold.service") >"$T/verify2" 2>&1
	check "systemd-analyze verify complains about a broken copy (so the check above can fail)" grep -q bogus "$T/verify2"
else
	skip "systemd units: systemd-analyze is not installed here (Debian package systemd)"
fi

# --- bash completion -------------------------------------------------------------------------
job=$(spool submit -- true) # no controller: the job is listed as submitted, which is enough
cat >"$T/comp.bash" <<'EOF'
. "$1"
c() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); "$F" 2>&1; echo "${COMPREPLY[*]}"; }
F=$(complete -p spool | awk '{print $3}')
c spool sub; c spool map --sch; c spool collect ""; c spool -d "$SPOOL_DIR" cancel ""; c spool map --schedule st
for cmd in init submit map apply collect status workers cancel push pull doctor config hold release retry purge tail acct help; do echo "$cmd: $(c spool "$cmd" -)"; done
F=$(complete -p spoold | awk '{print $3}'); echo "spoold: $(c spoold -)"
F=$(complete -p spool-worker | awk '{print $3}'); echo "spool-worker: $(c spool-worker -)"
EOF
bash --norc --noprofile "$T/comp.bash" "$P/share/bash-completion/completions/spool" >"$T/comp.out" 2>&1
check_eq "completion: a subcommand ('spool sub' -> submit)" "submit" "$(sed -n 1p "$T/comp.out")"
check_eq "completion: an option ('spool map --sch' -> --schedule)" "--schedule" "$(sed -n 2p "$T/comp.out")"
check_eq "completion: job ids from spool status --json (collect, and cancel with -d)" "$job|$job" \
	"$(sed -n 3p "$T/comp.out")|$(sed -n 4p "$T/comp.out")"
check_eq "completion: an option's value (--schedule st -> static)" "static" "$(sed -n 5p "$T/comp.out")"
missing=""
for c in $cmds; do
	have=" $(sed -n "s/^$c: //p" "$T/comp.out") "
	for o in $(spool "$c" --help 2>/dev/null | grep -o -E -- '(^|[ ,])-(-[a-z][a-z-]*|[a-z])' | tr -d ' ,' | sort -u); do
		[[ $have == *" $o "* ]] || missing="$missing $c:$o"
	done
done
for prog in spoold spool-worker; do
	have=" $(sed -n "s/^$prog: //p" "$T/comp.out") "
	for o in $("$SPOOL_BIN/$prog" --help | grep -o -E -- '(^|[ ,])-(-[a-z][a-z-]*|[a-zA-Z])' | tr -d ' ,' | sort -u); do
		[[ $have == *" $o "* ]] || missing="$missing $prog:$o"
	done
done
check_eq "completion offers every option of every subcommand's --help, and of spoold and spool-worker" "" "$missing"

# --- the Debian package ----------------------------------------------------------------------
if ! command -v dpkg-buildpackage >/dev/null || ! dpkg-query -W -f='${Status}' debhelper 2>/dev/null | grep -q 'ok installed'; then
	sh "$here/tests/install-deps.sh" debhelper dpkg-dev build-essential >"$T/deps.log" 2>&1 ||
		{ skip "Debian package: dpkg-buildpackage or debhelper missing and not root to install them: $(tail -1 "$T/deps.log")"; exit 0; }
fi
check_eq "debian/changelog's version is SPOOL_VERSION of include/spool.h" \
	"$(sed -n 's/^#define SPOOL_VERSION "\(.*\)"/\1/p' "$here/include/spool.h")" \
	"$(sed -n '1s/^spool (\([^)]*\)).*/\1/p' "$here/debian/changelog")"
# A copy of the tree without its builds: the package build cleans and writes beside the tree.
mkdir -p "$T/deb/spool"
tar -C "$here" --exclude=./.git --exclude='./build*' --exclude='./bin*' -cf - . | tar -C "$T/deb/spool" -xf -
start=$SECONDS
(cd "$T/deb/spool" && dpkg-buildpackage -us -uc -b) >"$T/deb/build.log" 2>&1
rc=$?
deb=$(ls "$T"/deb/spool_*.deb 2>/dev/null | head -1)
if [ $rc -eq 0 ] && [ -n "$deb" ]; then
	pass "dpkg-buildpackage -us -uc -b builds $(basename "$deb") ($((SECONDS - start)) s)"
else
	fail "dpkg-buildpackage -us -uc -b (exit $rc)"; tail -30 "$T/deb/build.log" | sed 's/^/#   /'; exit 1
fi
check "the package build compiled no test or fuzz program" sh -c "! grep -E ' -o [^ ]*(tests|fuzz)/' '$T/deb/build.log'"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$T/deb/list"
check "the package holds the programs, man pages, units, completion, library, header and pkg-config file" \
	sh -c "for f in /usr/bin/spool /usr/sbin/spoold /usr/sbin/spool-worker /usr/share/man/man1/spool.1.gz \
		/usr/share/man/man8/spoold.8.gz /lib/systemd/system/spoold.service /etc/default/spool \
		/usr/share/bash-completion/completions/spool /usr/include/spool.h /usr/share/doc/spool/spool-layout.md; do
		grep -qx \"\$f\" '$T/deb/list' || { echo \"missing \$f\"; exit 1; }; done &&
		grep -q '^/usr/lib/.*/libspool.so.0$' '$T/deb/list' && grep -q '^/usr/lib/.*/pkgconfig/spool.pc$' '$T/deb/list'"

if [ "$(id -u)" != 0 ]; then
	skip "Debian package install: dpkg -i and dpkg -r need root (uid $(id -u) here)"
	exit 0
fi
# One package install per machine at a time (two suites may run at once: check-under-load).
exec 8>/var/lock/spool-e2e-install.lock
if ! flock -w 600 8; then fail "another install.sh held /var/lock/spool-e2e-install.lock for 600 s"; exit 1; fi
if dpkg-query -W -f='${Status}' spool 2>/dev/null | grep -q 'ok installed'; then
	skip "Debian package install: a package spool is already installed on this machine; not replacing it (dpkg -r spool first)"
	exit 0
fi
installed=0
pkg_cleanup() {
	[ $installed = 1 ] && dpkg --purge spool >/dev/null 2>&1
	cleanup
}
trap pkg_cleanup EXIT
# dpkg -i, retried while another dpkg or apt-get (another suite's install-deps) holds the lock.
dpkg_i() {
	dpkg -i "$deb" >"$T/deb/install.log" 2>&1 && return 0
	grep -q -i 'lock' "$T/deb/install.log" || return 2
	return 1
}
wait_for 600 dpkg_i; rc=$?
[ $rc -eq 0 ] && installed=1
check_eq "dpkg -i installs the package" "0" "$rc"
[ $installed = 1 ] || { sed 's/^/#   /' "$T/deb/install.log"; exit 1; }

# From a directory with no build tree, with no path to it: init, spoold, spool-worker, submit.
mkdir -p "$T/away"
cd "$T/away" || exit 1
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export SPOOL_DIR="$T/pkgspool"
check_eq "the programs found are the package's" "/usr/bin/spool /usr/sbin/spoold /usr/sbin/spool-worker" \
	"$(type -P spool) $(type -P spoold) $(type -P spool-worker)"
/usr/bin/spool init "$SPOOL_DIR" >"$T/init.out" 2>&1
check_eq "spool init (installed)" "0" "$?"
spoold -f 2>>"$T/spoold.log" &
PIDS="$PIDS $!"
spool-worker -f -n 1 2>>"$T/worker.log" &
PIDS="$PIDS $!"
timeout 300 /usr/bin/spool workers --wait 1 --timeout 240 >/dev/null 2>"$T/workers.err"
check_eq "spoold and spool-worker (installed) bring up an engine" "0" "$?"
timeout 300 /usr/bin/spool submit --wait -- true >"$T/true.out" 2>&1
check_eq "spool submit --wait -- true (installed, no build tree) exits 0" "0" "$?"
out=$(timeout 300 /usr/bin/spool submit --wait -- echo packaged 2>>"$T/echo.err")
check_eq "a task's output comes back through the installed programs" "packaged" "$out"
# The Python package as installed: found without PYTHONPATH, its library from _install.py, the
# engine script from /usr/share/spool (found by the installed worker from /usr/sbin).
out=$(env -u PYTHONPATH -u SPOOL_LIBRARY timeout 300 /usr/bin/python3 -c '
import spool as ipp
c = ipp.Client()
print(c.load_balanced_view().apply_sync(lambda: 6 * 7))
print(ipp.__file__)' 2>>"$T/py.err")
check_eq "a Python call through the installed package, library and engine script" \
	"42 /usr/lib/python3/dist-packages/spool/__init__.py" "$(echo $out)"
# The installed pages (Debian's mandoc reads no gzip: each is unpacked first), their
# cross-references looked up where they are installed. Debian has no mandoc.db (man-db is its
# man): mandoc finds the pages in the filesystem and says that a database would lack them; that
# note alone is let through.
mkdir -p "$T/pages"
for p in man1/spool.1 man5/spool.conf.5 man7/spool-layout.7 man8/spoold.8 man8/spool-worker.8; do
	zcat "/usr/share/man/$p.gz" >"$T/pages/${p#*/}"
done
lint=$(mandoc -Tlint "$T"/pages/* 2>&1 |
	grep -v -E '^mandoc: outdated mandoc.db lacks (spool|spoold|spool-worker|spool.conf|spool-layout)\([0-9]\) entry')
check_eq "mandoc -Tlint on the installed pages: no message" "" "$lint"
if command -v systemd-analyze >/dev/null; then
	check_eq "systemd-analyze verify accepts the installed units" "0:" \
		"$(systemd-analyze verify /lib/systemd/system/spoold.service /lib/systemd/system/spool-worker.service 2>&1; echo "$?:")"
fi
for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
for p in $PIDS; do wait "$p" 2>/dev/null; done
PIDS=""
dpkg -r spool >"$T/deb/remove.log" 2>&1
check_eq "dpkg -r spool removes it" "0" "$?"
check "after dpkg -r no program, page or unit is left" \
	sh -c '! [ -e /usr/bin/spool ] && ! [ -e /usr/sbin/spoold ] && ! [ -e /usr/sbin/spool-worker ] &&
		! [ -e /usr/share/man/man1/spool.1.gz ] && ! [ -e /lib/systemd/system/spoold.service ]'
dpkg --purge spool >/dev/null 2>&1
installed=0
exit 0
