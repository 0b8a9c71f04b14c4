#!/bin/sh
# install-deps.sh - install the Debian packages spool needs to build and test, if missing.
# Run as root (apt-get); as another user it says what to install and stops.
# Extra package names may be given as arguments (make sanitize adds clang's).
set -e
need="gcc make libc6-dev pkgconf libconfig-dev libsqlite3-dev libsodium-dev python3 procps $*"
missing=""
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "spool: missing Debian packages:$missing" >&2
	echo "spool: install them as root: apt-get install$missing" >&2
	exit 1
fi
echo "spool: installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 $missing >/dev/null
