#!/usr/bin/env bash
# Reports whether this machine can run recapid and its privileged tests:
# kernel, BTF, uprobes, the CPython interpreters present and the BPF compiler.
# Exits non-zero when BTF or uprobes are missing (recapid cannot work then);
# everything else is informational.
set -uo pipefail

fail=0
row() { printf '%-12s %s\n' "$1" "$2"; }

row kernel "$(uname -r) ($(uname -m))"

if [[ -r /sys/kernel/btf/vmlinux ]]; then
	row BTF "yes (/sys/kernel/btf/vmlinux)"
else
	row BTF "MISSING: /sys/kernel/btf/vmlinux not found; recapid needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian 11+ kernels have it)"
	fail=1
fi

if [[ -e /sys/bus/event_source/devices/uprobe ]]; then
	row uprobes "yes (/sys/bus/event_source/devices/uprobe)"
else
	row uprobes "MISSING: /sys/bus/event_source/devices/uprobe not found; recapid needs a kernel with CONFIG_UPROBE_EVENTS=y"
	fail=1
fi

if [[ $(id -u) -eq 0 ]]; then
	row root "yes"
else
	row root "no (recapid and the privileged tests need root: sudo -E make test-privileged)"
fi

# The binary that holds the eval loop: libpython when the executable links it
# (pyenv --enable-shared builds), else the executable itself (Debian's
# /usr/bin/python3.11 is static even though Debian also ships libpython).
describe_python() {
	local py=$1 version exe elf note=""
	version=$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null) || return 1
	exe=$(readlink -f "$py")
	elf=$exe
	if command -v readelf >/dev/null; then
		if readelf -d -W "$exe" 2>/dev/null | grep -q 'NEEDED.*libpython'; then
			elf=$("$py" -c 'import os, sysconfig as s; print(os.path.join(s.get_config_var("LIBDIR"), s.get_config_var("INSTSONAME")))' 2>/dev/null)
		fi
		if readelf -S -W "$elf" 2>/dev/null | grep -q '[.]debug_info'; then
			note=", debug info"
		else
			note=", stripped"
		fi
	fi
	case $version in 2.* | 3.[0-7].*) note+=", unsupported (recapi needs 3.8+)" ;; esac
	row "" "$version  $py  ($elf$note)"
}

row python "interpreters found:"
found=0
for py in /usr/bin/python3.[0-9]*; do
	[[ $py =~ /python3\.[0-9]+$ && -x $py ]] || continue
	describe_python "$py" && found=1
done
pyenv_root=${PYENV_ROOT:-}
if [[ -z $pyenv_root ]]; then
	for dir in "$HOME/.pyenv" /root/.pyenv; do
		[[ -d $dir/versions ]] && pyenv_root=$dir && break
	done
fi
if [[ -n $pyenv_root && -d $pyenv_root/versions ]]; then
	while read -r dir; do
		[[ -x $dir/bin/python3 ]] || continue
		describe_python "$dir/bin/python3" && found=1
	done < <(printf '%s\n' "$pyenv_root"/versions/3.* | sort -V)
fi
((found)) || row "" "none"
if [[ ! -x /usr/bin/python3.11 ]]; then
	row "" "note: /usr/bin/python3.11 (required by the privileged tests) is missing: run scripts/install-deps.sh"
fi

if command -v clang-16 >/dev/null; then
	row clang "$(clang-16 --version | head -n 1)"
elif command -v clang >/dev/null; then
	row clang "$(clang --version | head -n 1) (make generate wants clang-16: run scripts/install-deps.sh)"
else
	row clang "not found (only make generate needs it: run scripts/install-deps.sh)"
fi

if ((fail)); then
	echo "check-env: this kernel cannot run recapid (see MISSING above)" >&2
fi
exit "$fail"
