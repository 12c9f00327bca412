#!/usr/bin/env bash
# Installs the Debian 12 (bookworm) packages recapi's build and tests need:
#   clang-16, llvm-16 (llvm-strip-16)  make generate (BPF objects)
#   zstd                               reading snapshots by hand (zstdcat)
#   python3.11                         Debian's stripped interpreter, required by the privileged tests
#   libpython3.11-testsuite,           the real-code test: CPython's own test modules on Debian's
#   python3.11-dev, gcc                3.11, under a profiler in C built against its headers
#   make, gdb                          build; offsets and TLS checks against running interpreters
#   postgresql                         PostgreSQL store tests (scripts/start-postgres.sh)
#   qemu-system-x86, busybox-static,   the kernel matrix (scripts/vmtest.sh): qemu boots Debian's
#   cpio, xz-utils, kmod               kernels, busybox and cpio make their initramfs, xz unpacks
#                                      .ko.xz modules, depmod orders them
#
# Idempotent and non-interactive. Runs apt-get only when a package is missing,
# so it takes a fraction of a second when everything is there. Run as root:
#   sudo scripts/install-deps.sh
set -euo pipefail

PACKAGES=(clang-16 llvm-16 zstd python3.11 libpython3.11-testsuite python3.11-dev gcc make gdb mypy postgresql qemu-system-x86 busybox-static cpio xz-utils kmod)
# What each package must provide afterwards (a command, or a file by its path): a
# missing one means a broken install.
COMMANDS=(clang-16 llvm-strip-16 zstd /usr/bin/python3.11 /usr/lib/python3.11/test/test_argparse.py
	/usr/include/python3.11/Python.h gcc make gdb mypy /usr/lib/postgresql/15/bin/initdb
	qemu-system-x86_64 /bin/busybox cpio xz depmod)

die() {
	echo "install-deps: $*" >&2
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root: sudo $0"
command -v apt-get >/dev/null && command -v dpkg-query >/dev/null ||
	die "apt-get/dpkg-query not found: this script supports Debian 12 (bookworm) only; install ${PACKAGES[*]} by hand"

if [[ -r /etc/os-release ]]; then
	# shellcheck disable=SC1091
	. /etc/os-release
	if [[ ${ID:-} != debian || ${VERSION_ID:-} != 12 ]]; then
		echo "install-deps: warning: written for Debian 12, this is ${PRETTY_NAME:-unknown}; trying anyway" >&2
	fi
fi

# One dpkg-query for all packages; unknown packages print nothing on stdout.
missing=()
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
for pkg in "${PACKAGES[@]}"; do
	if ! grep -q "^${pkg} ii" <<<"$installed"; then
		missing+=("$pkg")
	fi
done

if ((${#missing[@]})); then
	log=$(mktemp /tmp/recapi-install-deps.XXXXXX.log)
	echo "install-deps: installing ${missing[*]} (log: $log)"
	export DEBIAN_FRONTEND=noninteractive
	apt_opts=(-q -y -o Dpkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confold)
	if ! apt-get "${apt_opts[@]}" update >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		die "apt-get update failed (full log: $log): check the network, proxy and /etc/apt/sources.list"
	fi
	if ! apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
		tail -n 20 "$log" >&2
		die "apt-get install ${missing[*]} failed (full log: $log): clang-16 and llvm-16 come from bookworm's main component; check that it is in /etc/apt/sources.list, then rerun"
	fi
	rm -f "$log"
fi

for cmd in "${COMMANDS[@]}"; do
	if [[ $cmd == /* ]]; then [[ -e $cmd ]]; else command -v "$cmd" >/dev/null; fi ||
		die "$cmd is still missing after installing ${PACKAGES[*]}: reinstall its package with apt-get install --reinstall"
done
if ((${#missing[@]})); then
	echo "install-deps: done"
fi
