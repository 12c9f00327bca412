#!/usr/bin/env bash
# Unpacks Debian's own builds of newer CPython into test roots, for the
# privileged tests: trixie's python3.13 (stripped, a distribution build with
# the PGO/LTO layout users run) and sid's python3.14 (a version recapid must
# refuse by name). The tests run them under chroot, which also exercises
# recapid's /proc/PID/root path, as for containers.
#
#   sudo scripts/make-testroots.sh [DIR]      (default /var/cache/recapi/testroots)
#
# Idempotent: a root that is already complete is left alone. Needs network
# access to deb.debian.org (the Debian package registry) the first time.
set -euo pipefail

dir=${1:-/var/cache/recapi/testroots}
mirror=${RECAPI_DEBIAN_MIRROR:-http://deb.debian.org/debian}

die() {
	echo "make-testroots: $*" >&2
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root: sudo $0"
if ! command -v debootstrap >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends debootstrap >/dev/null ||
		die "could not install debootstrap: apt-get install debootstrap"
fi
mkdir -p "$dir"

# make_root SUITE PYTHON: unpack SUITE with PYTHON into $dir/SUITE.
make_root() {
	local suite=$1 python=$2 root=$dir/$1
	if [[ -x $root/usr/bin/$python && -f $root/.recapi-complete ]]; then
		return
	fi
	rm -rf "$root"
	local log
	log=$(mktemp /tmp/recapi-testroot-"$suite".XXXXXX.log)
	echo "make-testroots: unpacking Debian $suite with $python into $root (log: $log)"
	if ! debootstrap --variant=minbase --include="$python" "$suite" "$root" "$mirror" >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		rm -rf "$root"
		die "debootstrap $suite failed (log: $log): check access to $mirror"
	fi
	"$root/usr/bin/$python" --version >/dev/null 2>&1 || chroot "$root" "/usr/bin/$python" --version >/dev/null ||
		die "$root/usr/bin/$python does not run"
	touch "$root/.recapi-complete"
	rm -f "$log"
}

make_root trixie python3.13
make_root sid python3.14
