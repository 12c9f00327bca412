#!/usr/bin/env bash
# Unpacks Debian's own builds of newer CPython into test roots, for the
# privileged tests: trixie's python3.13 (stripped, a distribution build with
# the PGO/LTO layout users run) and sid's python3.14 and python3.15 (GCC 16
# builds, stripped, with the JIT built in but off), with their debug builds
# python3.14d and python3.15d, whose DWARF `make update-layouts` checks the
# 3.14/3.15 layouts against. The tests run them under chroot, which also
# exercises recapid's /proc/PID/root path, as for containers.
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

# make_root SUITE PYTHON [PACKAGE...]: unpack SUITE with PYTHON and the
# packages into $dir/SUITE. A complete root that lacks some of the packages
# (made by an older version of this script) gets them with apt-get inside it.
make_root() {
	local suite=$1 python=$2 root=$dir/$1
	shift 2
	local pkgs=("$python" "$@")
	if [[ -x $root/usr/bin/$python && -f $root/.recapi-complete ]]; then
		local missing=()
		for p in "${pkgs[@]}"; do
			chroot "$root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
		done
		[[ ${#missing[@]} -eq 0 ]] && return
		echo "make-testroots: installing ${missing[*]} into $root"
		chroot "$root" apt-get -q update >/dev/null &&
			DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -q -y install --no-install-recommends "${missing[@]}" >/dev/null ||
			die "apt-get install ${missing[*]} in $root failed: check access to $mirror"
		return
	fi
	rm -rf "$root"
	local log
	log=$(mktemp /tmp/recapi-testroot-"$suite".XXXXXX.log)
	echo "make-testroots: unpacking Debian $suite with $python into $root (log: $log)"
	if ! debootstrap --variant=minbase --include="$(IFS=,; echo "${pkgs[*]}")" "$suite" "$root" "$mirror" >"$log" 2>&1; then
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
make_root sid python3.14 python3.15 python3.14-dbg python3.15-dbg
