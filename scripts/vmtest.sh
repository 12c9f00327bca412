#!/usr/bin/env bash
# The kernel matrix: boots Debian's own kernel packages under qemu and runs
# recapi's privileged checks inside each one, one VM after another.
#
#   sudo scripts/vmtest.sh [SUITE...]     (default: every suite in KERNELS)
#
# For each suite it fetches linux-image-amd64's kernel with apt (signed
# Release, hashed Packages) into a cache, checks each .deb is the package and
# version the index names and that vmlinuz carries the same release, builds a
# small initramfs (busybox-static and the package's own virtio, 9p and
# overlay modules) and boots it with 2 vCPUs and 4 GiB. The guest mounts the
# host's / read-only over virtio 9p with a tmpfs overlay on top, so the
# repository, Go, the interpreters, pyenv and the test roots are all there,
# and writes its results to a second, writable 9p share. The test binaries
# are compiled on the host (go test -c) and run as root in the guest with
# RECAPI_PRIVILEGED_TESTS=1, so a skipped privileged test fails.
#
# A kernel that cannot be fetched, booted or that lacks BTF or uprobes fails
# the run; so does any failing test. Exit status: 0 when everything passed.
#
# Environment:
#   RECAPI_KERNEL_CACHE     where kernels are kept (default /var/cache/recapi/kernels);
#                           a cached kernel is used without network access
#   RECAPI_VMTEST_REFRESH=1 resolve and fetch each suite's newest kernel again
#   RECAPI_VMTEST_TIMEOUT   seconds one VM may run before it fails (default 600)
#   RECAPI_VMTEST_MEMORY    guest memory (default 4G); RECAPI_VMTEST_CPUS (default 2)
#   RECAPI_VMTEST_KEEP=1    keep the run directory (logs, console) even on success
#   RECAPI_DEBIAN_MIRROR, RECAPI_DEBIAN_SECURITY_MIRROR   the Debian archive to use
set -euo pipefail

# Debian suites whose linux-image-amd64 is booted, oldest first: bookworm
# 6.1 (the oldest kernel recapid supports, bpf.MinKernel), trixie 6.12, sid's
# newest. Bullseye's 5.10 boots too (sudo scripts/vmtest.sh bullseye), but its
# verifier takes no pointer arguments in global functions (5.12) and its
# uprobes no attach cookies (5.15): recapid refuses it with the verifier's
# reason.
KERNELS=(bookworm trixie sid)
# Extra kernel command line per suite. sid's kernel boots with full
# preemption, so that a uprobe program can be preempted half way (Debian's
# default, voluntary, never preempts kernel code): TestPreemptedRunsKeepTheirCalls
# checks that two processes' program runs on one CPU never mix their calls.
declare -A BOOT_ARGS=([sid]="preempt=full")

# The checks each VM runs, in order, one test binary run each:
# "PACKAGE  -test.run PATTERN", PACKAGE a directory of the repository (its
# test binary is PACKAGE.test with / as -). Subtest patterns keep the
# tracing tests to Debian's stripped 3.11, the interpreter make demo uses.
TESTS=(
	"bpf          ^TestLoad$"
	"cmd/recapid  ^TestDemoExact$"
	"cmd/recapid  ^TestExactKnownCounts$/^debian-3.11$"
	"cmd/recapid  ^TestErrors$"
	"cmd/recapid  ^TestUnsupportedVersion$"
	"cmd/recapid  ^TestUnprobeableInterpreter$"
	"cmd/recapid  ^TestNotRoot$"
	"cmd/recapid  ^TestPreemptedRunsKeepTheirCalls$"
)

# Modules the initramfs loads (with what they depend on) to reach the host's
# files: virtio PCI transport, 9p over virtio, and overlayfs for a writable /.
MODULES=(virtio_pci 9pnet_virtio 9p overlay)

cache=${RECAPI_KERNEL_CACHE:-/var/cache/recapi/kernels}
# TestDemoExact's rounds of app.py (make demo runs 15000): its ground truth
# alone takes over two minutes at 15000 under software emulation.
demo_rounds=${RECAPI_DEMO_ROUNDS:-1500}
timeout_s=${RECAPI_VMTEST_TIMEOUT:-600}
memory=${RECAPI_VMTEST_MEMORY:-4G}
cpus=${RECAPI_VMTEST_CPUS:-2}
mirror=${RECAPI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${RECAPI_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# Where the guest mounts the results share.
guest_out=/run/recapi-vmtest

die() {
	echo "vmtest: $*" >&2
	exit 1
}

now() { date +%s.%N; }
# seconds START [END]: elapsed seconds, one decimal.
seconds() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------
# Guest side: runs inside the VM as PID 1's child, chrooted into the overlay.

guest_main() {
	local out=$1 start fails=0 i=0 entry pkg pattern log t0 rc verdict
	start=$(now)
	# shellcheck disable=SC1091
	. "$out/env"
	export HOME=/root PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	export RECAPI_PRIVILEGED_TESTS=1 GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=mod
	export GOCACHE GOMODCACHE GOPATH RECAPI_TEST_RECAPID RECAPI_DEMO_ROUNDS

	{
		echo "release $(uname -r)"
		echo "boot $(cut -d' ' -f1 /proc/uptime)"
	} >"$out/kernel"
	if [[ ! -r /sys/kernel/btf/vmlinux ]]; then
		echo "FAIL 0.0 kernel: no BTF (/sys/kernel/btf/vmlinux)" >>"$out/verdicts"
		fails=$((fails + 1))
	fi
	if [[ ! -e /sys/bus/event_source/devices/uprobe ]]; then
		echo "FAIL 0.0 kernel: no uprobes (/sys/bus/event_source/devices/uprobe)" >>"$out/verdicts"
		fails=$((fails + 1))
	fi

	for entry in "${TESTS[@]}"; do
		read -r pkg pattern <<<"$entry"
		i=$((i + 1))
		log=$out/test-$i.log
		t0=$(now)
		rc=0
		(cd "$REPO/$pkg" && "$BINDIR/${pkg//\//-}.test" -test.v -test.count=1 -test.timeout="$TEST_TIMEOUT" -test.run "$pattern") >"$log" 2>&1 || rc=$?
		# recapid writes a rejected program's whole verifier log to /tmp.
		for f in /tmp/recapid-verifier-*.log; do
			[[ -f $f ]] || continue
			mv "$f" "$out/test-$i.$(basename "$f")"
			echo "vmtest: the verifier log is test-$i.$(basename "$f"), next to this log" >>"$log"
		done
		verdict=PASS
		if ((rc != 0)); then
			verdict=FAIL
		elif grep -q '^testing: warning: no tests to run' "$log"; then
			verdict=FAIL
			echo "vmtest: -test.run '$pattern' matched no test in $pkg" >>"$log"
		fi
		[[ $verdict == PASS ]] || fails=$((fails + 1))
		echo "$verdict $(seconds "$t0") $pkg $pattern" >>"$out/verdicts"
	done
	echo "tests $(seconds "$start")" >>"$out/kernel"
	echo "$fails" >"$out/status"
}

if [[ ${1:-} == --guest ]]; then
	guest_main "$2"
	exit 0
fi

# ---------------------------------------------------------------------------
# Host side.

[[ $(id -u) -eq 0 ]] || die "must run as root (qemu's 9p share of / and apt): sudo $0"
cd "$(dirname "$0")/.."
repo=$(pwd -P)
command -v go >/dev/null || PATH=/usr/local/go/bin:$PATH
for cmd in qemu-system-x86_64 cpio depmod xz zstd dpkg-deb apt-get go timeout; do
	command -v "$cmd" >/dev/null || die "$cmd not found: run scripts/install-deps.sh"
done
[[ -x /bin/busybox && $(dpkg-query -W -f='${db:Status-Abbrev}' busybox-static 2>/dev/null) == "ii " ]] ||
	die "/bin/busybox is missing or not static: run scripts/install-deps.sh (busybox-static)"

if (($#)); then
	KERNELS=("$@")
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock -n 9 || die "another vmtest.sh holds $cache/.lock"

# apt_suite SUITE ARGS...: runs ARGS (apt-get or apt-cache) against a private
# sources.list and state for SUITE under the cache: the host's own apt state
# is neither read nor changed.
apt_suite() {
	local suite=$1 d=$cache/apt/$1
	shift
	"$@" -q -o Dir::State="$d/state" -o Dir::State::status="$d/state/status" \
		-o Dir::Cache="$d/cache" -o Dir::Etc::SourceList="$d/sources.list" \
		-o Dir::Etc::SourceParts="$d/empty" -o Dir::Etc::Preferences="$d/empty/none" \
		-o Dir::Etc::PreferencesParts="$d/empty" -o APT::Architecture=amd64 \
		-o APT::Architectures::=amd64 -o Acquire::Languages=none \
		-o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
		-o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false \
		-o Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false \
		-o Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false \
		-o APT::Sandbox::User=root
}

# field FILE FIELD: one field of a deb822 stanza.
field() { awk -v f="$2:" '$1 == f { print $2; exit }' "$1"; }
# value FILE KEY: the value of KEY in a file of "KEY VALUE" lines (info, kernel).
value() { awk -v k="$2" '$1 == k { sub(/^[^ ]+ /, ""); print; exit }' "$1" 2>/dev/null; }

# bzimage_version FILE: the version string the kernel image embeds
# (kernel_version in the x86 boot header, Documentation/arch/x86/boot.rst).
bzimage_version() {
	local off
	off=$(od -An -t u2 -j 526 -N 2 "$1" | tr -d ' ')
	dd if="$1" bs=1 skip=$((off + 512)) count=200 status=none | tr '\0' '\n' | head -n 1
}

# fetch_kernel SUITE: makes $cache/SUITE hold vmlinuz, the decompressed
# modules MODULES needs, modules/order (load order) and info. Uses what is
# cached unless RECAPI_VMTEST_REFRESH=1.
fetch_kernel() {
	local suite=$1 kdir=$cache/$1 d=$cache/apt/$1 log t0
	if [[ -f $kdir/complete && ${RECAPI_VMTEST_REFRESH:-0} != 1 ]]; then
		# The .debs' hashes are the signed index's; vmlinuz and the modules
		# were unpacked from them. Check nothing changed since.
		(cd "$kdir" && sha256sum --quiet --strict -c SHA256SUMS) >&2 || {
			echo "vmtest: the cached $suite kernel in $kdir does not match its SHA256SUMS: rerun with RECAPI_VMTEST_REFRESH=1" >&2
			return 1
		}
		return
	fi
	t0=$(now)
	rm -rf "$kdir" "$d"
	mkdir -p "$d/state/lists/partial" "$d/cache/archives/partial" "$d/empty" "$kdir/debs"
	: >"$d/state/status"
	{
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main"
		[[ $suite == sid || $suite == unstable ]] ||
			echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $security_mirror $suite-security main"
	} >"$d/sources.list"
	log=$kdir/fetch.log
	apt_suite "$suite" apt-get update >"$log" 2>&1 || {
		tail -n 15 "$log" >&2
		echo "vmtest: apt-get update for $suite failed (log: $log): check access to $mirror" >&2
		return 1
	}
	local image pkgs=() p version sha file got
	image=$(apt_suite "$suite" apt-cache depends linux-image-amd64 2>>"$log" | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
	[[ -n $image ]] || {
		echo "vmtest: $suite has no linux-image-amd64 depending on a kernel image (log: $log)" >&2
		return 1
	}
	# sid splits the image into linux-binary (vmlinuz), linux-modules and linux-base.
	pkgs=("$image")
	while read -r p; do pkgs+=("$p"); done < <(apt_suite "$suite" apt-cache depends "$image" 2>>"$log" |
		awk '$1 == "Depends:" && $2 ~ /^linux-(binary|modules|base)-/ { print $2 }')
	echo "vmtest: $suite: fetching ${pkgs[*]}"
	for p in "${pkgs[@]}"; do
		apt_suite "$suite" apt-cache show --no-all-versions "$p" >"$d/$p.stanza" 2>>"$log"
		version=$(field "$d/$p.stanza" Version)
		sha=$(field "$d/$p.stanza" SHA256)
		(cd "$kdir/debs" && apt_suite "$suite" apt-get download "$p=$version") >>"$log" 2>&1 || {
			tail -n 15 "$log" >&2
			echo "vmtest: apt-get download $p=$version failed (log: $log)" >&2
			return 1
		}
		file=$(ls "$kdir/debs/${p}_"*.deb)
		# apt checked the hash against the signed index; check it again, and
		# that the file is the package and version it is named for.
		got=$(sha256sum "$file" | cut -d' ' -f1)
		if [[ $got != "$sha" || $(dpkg-deb -f "$file" Package) != "$p" || $(dpkg-deb -f "$file" Version) != "$version" ]]; then
			echo "vmtest: $file is not $p $version with SHA256 $sha (got $got)" >&2
			return 1
		fi
		echo "package $p $version sha256:$sha" >>"$kdir/info.new"
	done

	echo "vmtest: $suite: fetched $(du -cm "$kdir"/debs/*.deb | tail -n 1 | cut -f1) MB in $(seconds "$t0")s; unpacking"
	t0=$(now)
	local tree vmlinuz release embedded
	tree=$(mktemp -d "$cache/extract.XXXXXX")
	for file in "$kdir"/debs/*.deb; do dpkg-deb -x "$file" "$tree"; done
	# bookworm and older ship /lib/modules, newer suites /usr/lib/modules.
	if [[ -d $tree/usr/lib/modules ]]; then
		mkdir -p "$tree/lib"
		mv "$tree/usr/lib/modules" "$tree/lib/modules"
	fi
	vmlinuz=$(find "$tree/boot" "$tree/lib/modules" -maxdepth 2 -name 'vmlinuz*' -type f 2>/dev/null | head -n 1)
	[[ -n $vmlinuz ]] || {
		rm -rf "$tree"
		echo "vmtest: no vmlinuz in ${pkgs[*]}" >&2
		return 1
	}
	release=$(basename "$(ls -d "$tree"/lib/modules/*)")
	embedded=$(bzimage_version "$vmlinuz")
	version=$(dpkg-deb -f "$(ls "$kdir"/debs/linux-image-*.deb)" Version)
	if [[ $embedded != "$release "* || $embedded != *"Debian $version"* ]]; then
		rm -rf "$tree"
		echo "vmtest: $vmlinuz says \"$embedded\", not release $release and Debian $version" >&2
		return 1
	fi
	cp "$vmlinuz" "$kdir/vmlinuz"

	depmod -b "$tree" "$release"
	# Load order: each module after what it depends on (modules.dep lists
	# every module's dependencies, transitively).
	local -A deps=() seen=()
	local order=() m path rest
	while IFS=: read -r path rest; do
		m=${path##*/}
		deps[${m%%.ko*}]="$path:$rest"
	done <"$tree/lib/modules/$release/modules.dep"
	visit() {
		local m=$1 entry path dep
		[[ -z ${seen[$m]:-} ]] || return 0
		seen[$m]=1
		entry=${deps[$m]:-}
		if [[ -z $entry ]]; then
			grep -q "/${m}.ko" "$tree/lib/modules/$release/modules.builtin" 2>/dev/null && return 0
			echo "vmtest: $release has no module $m, built in or not" >&2
			return 1
		fi
		for dep in ${entry#*:}; do
			dep=${dep##*/}
			visit "${dep%%.ko*}" || return 1
		done
		order+=("${entry%%:*}")
	}
	mkdir -p "$kdir/modules"
	for m in "${MODULES[@]}"; do
		visit "$m" || {
			rm -rf "$tree"
			return 1
		}
	done
	for path in "${order[@]}"; do
		m=$(basename "$path")
		case $m in
		*.ko.xz) xz -dc "$tree/lib/modules/$release/$path" >"$kdir/modules/${m%.xz}" ;;
		*.ko.zst) zstd -qdc "$tree/lib/modules/$release/$path" >"$kdir/modules/${m%.zst}" ;;
		*.ko) cp "$tree/lib/modules/$release/$path" "$kdir/modules/$m" ;;
		*) echo "vmtest: unknown module format $m" >&2 && rm -rf "$tree" && return 1 ;;
		esac
		m=${m%.xz}
		echo "${m%.zst}" >>"$kdir/modules/order"
	done
	rm -rf "$tree"
	{
		echo "suite $suite"
		echo "release $release"
		echo "version $version"
		echo "vmlinuz $embedded"
		cat "$kdir/info.new"
	} >"$kdir/info"
	rm -f "$kdir/info.new"
	(cd "$kdir" && sha256sum debs/*.deb vmlinuz modules/*) >"$kdir/SHA256SUMS"
	touch "$kdir/complete"
	echo "vmtest: $suite: kernel $release unpacked, modules ordered in $(seconds "$t0")s"
}

# make_initramfs SUITE DIR: writes DIR/initramfs.gz with busybox, the suite's
# modules and an /init that mounts the host's / and runs the guest side.
make_initramfs() {
	local kdir=$cache/$1 dir=$2 root
	root=$dir/initramfs
	mkdir -p "$root"/{bin,dev,proc,sys,lower,rw,newroot,modules}
	cp /bin/busybox "$root/bin/busybox"
	cp "$kdir"/modules/*.ko "$kdir/modules/order" "$root/modules/"
	cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
halt() {
	echo "vmtest-init: \$*"
	reboot -f
	sleep 60
}
for m in \$(cat /modules/order); do
	insmod /modules/\$m || halt "insmod \$m failed"
done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /lower ||
	halt "mount of the host's / (9p tag hostroot) failed"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	halt "overlay mount on the host's / failed"
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
# /tmp stays the overlay's, not a fresh tmpfs: the checkout under test may
# live there (CI clones into a folder of its choosing), and writes land in
# the overlay's tmpfs anyway.
mount -t tmpfs tmpfs /newroot/run
mkdir -p /newroot$guest_out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results /newroot$guest_out ||
	halt "mount of the results share failed"
mount -t debugfs debugfs /newroot/sys/kernel/debug
mount -t tracefs tracefs /newroot/sys/kernel/tracing 2>/dev/null || mount -t tracefs tracefs /newroot/sys/kernel/debug/tracing
mount -t bpf bpf /newroot/sys/fs/bpf
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup 2>/dev/null
echo "vmtest-init: running the checks"
chroot /newroot /bin/bash $repo/scripts/vmtest.sh --guest $guest_out
echo "vmtest-init: checks done (\$?)"
sync
reboot -f
EOF
	chmod 755 "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$dir/initramfs.gz"
	rm -rf "$root"
}

# accel: KVM when /dev/kvm is usable (qemu falls back to TCG if it is not),
# else TCG. Single-threaded TCG (both vCPUs on one host thread): with
# thread=multi a trixie guest died of "Oops: int3" in __schedule, a vCPU
# running the int3 of the kernel's text patching (jump labels, flipped when
# perf events for uprobes come and go) after the other had patched it away;
# on this 2-core machine thread=single is no slower.
if [[ -r /dev/kvm && -w /dev/kvm ]]; then
	accel=(-accel kvm -accel tcg,thread=single -cpu max)
	accel_name="kvm (tcg if kvm fails)"
else
	accel=(-accel tcg,thread=single,tb-size=512 -cpu max)
	accel_name="tcg (no usable /dev/kvm: software emulation)"
fi

run=$(mktemp -d /var/tmp/recapi-vmtest.XXXXXX)
chmod 755 "$run"
mkdir -p "$run/bin"
echo "vmtest: run directory $run; accel $accel_name; ${cpus} vCPUs, $memory; ${timeout_s}s per VM"

# Test binaries and recapid, built on the host. The guest's cmd/recapid
# tests run this recapid (RECAPI_TEST_RECAPID) rather than build their own.
t0=$(now)
for entry in "${TESTS[@]}"; do
	read -r pkg _ <<<"$entry"
	[[ -x $run/bin/${pkg//\//-}.test ]] || go test -c -o "$run/bin/${pkg//\//-}.test" "./$pkg"
done
go build -o "$run/bin/recapid" ./cmd/recapid
echo "vmtest: test binaries built in $(seconds "$t0")s"

declare -A summary=()
passed=0
failed=0

# run_vm SUITE: boots SUITE's kernel and prints what the guest reported.
run_vm() {
	local suite=$1 dir=$run/$1 out start rc=0 line verdict secs pkg pattern i=0 release boot
	out=$dir/out
	mkdir -p "$out"
	start=$(now)
	if ! fetch_kernel "$suite"; then
		echo "FAIL  $suite: could not fetch its kernel"
		failed=$((failed + 1))
		summary[$suite]="-|-|0/${#TESTS[@]}|$(seconds "$start")s|FAIL (fetch)"
		return
	fi
	local kdir=$cache/$suite want
	want=$(value "$kdir/info" release)
	echo "== $suite: $(grep '^package' "$kdir/info" | cut -d' ' -f2,3 | paste -sd' ')"
	make_initramfs "$suite" "$dir"
	{
		echo "REPO=$repo"
		echo "BINDIR=$run/bin"
		echo "GOCACHE=$(go env GOCACHE)"
		echo "GOMODCACHE=$(go env GOMODCACHE)"
		echo "GOPATH=$(go env GOPATH)"
		echo "RECAPI_TEST_RECAPID=$run/bin/recapid"
		echo "RECAPI_DEMO_ROUNDS=$demo_rounds"
		# A hung test fails on its own and leaves time for the others.
		echo "TEST_TIMEOUT=$((timeout_s / 2))s"
	} >"$out/env"
	local boot_start
	boot_start=$(now)
	timeout -k 10 "$timeout_s" qemu-system-x86_64 -nodefaults -no-user-config -nographic -no-reboot \
		"${accel[@]}" -smp "$cpus" -m "$memory" \
		-kernel "$kdir/vmlinuz" -initrd "$dir/initramfs.gz" \
		-append "console=ttyS0 panic=-1 rdinit=/init random.trust_cpu=on ${BOOT_ARGS[$suite]:-}" \
		-serial "file:$dir/console.log" -monitor none \
		-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
		-virtfs "local,path=$out,mount_tag=results,security_model=none" \
		>"$dir/qemu.log" 2>&1 || rc=$?
	local vm_secs
	vm_secs=$(seconds "$boot_start")
	release=$(value "$out/kernel" release)
	boot=$(value "$out/kernel" boot)
	if ((rc == 124 || rc == 137)); then
		echo "FAIL  $suite: the VM did not finish within ${timeout_s}s (RECAPI_VMTEST_TIMEOUT); console tail ($dir/console.log):"
	elif [[ ! -s $out/status ]]; then
		echo "FAIL  $suite: the VM stopped (qemu exit $rc) without reporting results; console tail ($dir/console.log):"
	fi
	if ((rc == 124 || rc == 137)) || [[ ! -s $out/status ]]; then
		tail -n 25 "$dir/console.log" | sed 's/^/      /'
		[[ ! -s $dir/qemu.log ]] || sed 's/^/      qemu: /' "$dir/qemu.log" | tail -n 5
	fi
	if [[ -n $release ]]; then
		echo "      kernel $release, booted in ${boot}s (guest uptime when the checks start)"
		if [[ $release != "$want" ]]; then
			echo "FAIL  $suite: the guest runs $release, not the package's $want"
			failed=$((failed + 1))
		fi
	fi
	local tests_pass=0 tests_fail=0
	if [[ -f $out/verdicts ]]; then
		while read -r verdict secs pkg pattern; do
			if [[ $pkg == kernel: ]]; then
				echo "$verdict  $pkg $pattern"
			else
				i=$((i + 1))
				printf '%s  %-12s %-45s %6ss\n' "$verdict" "$pkg" "$pattern" "$secs"
				if [[ $verdict == FAIL ]]; then
					# The first failure's message, as testify prints it.
					awk '/Error Trace:|^panic:|^vmtest:|^--- FAIL/ { p = 1 } p && n < 12 { print; n++ }' "$out/test-$i.log" | cut -c1-200 | sed 's/^/      /'
					echo "      (full log: $out/test-$i.log)"
				fi
			fi
			if [[ $verdict == PASS ]]; then tests_pass=$((tests_pass + 1)); else tests_fail=$((tests_fail + 1)); fi
		done <"$out/verdicts"
	fi
	local result=PASS note=""
	if [[ ! -s $out/status ]] || ((rc == 124 || rc == 137)); then
		tests_fail=$((tests_fail + 1)) # the VM itself
		note=", the VM failed, $((${#TESTS[@]} - i)) not run"
		result=FAIL
	fi
	((tests_fail == 0)) || result=FAIL
	[[ -z $release || $release == "$want" ]] || result=FAIL
	passed=$((passed + tests_pass))
	failed=$((failed + tests_fail))
	echo "      $suite: $tests_pass of ${#TESTS[@]} checks passed$note; ${vm_secs}s in the VM, $(seconds "$start")s in all"
	summary[$suite]="${release:-$want}|${boot:--}s|$tests_pass/${#TESTS[@]}|$(seconds "$start")s|$result"
}

matrix_start=$(now)
for suite in "${KERNELS[@]}"; do
	run_vm "$suite"
done

echo
printf '%-10s %-26s %-7s %-8s %-8s %s\n' SUITE KERNEL BOOT PASSED TIME RESULT
for suite in "${KERNELS[@]}"; do
	IFS='|' read -r release boot ratio secs result <<<"${summary[$suite]}"
	printf '%-10s %-26s %-7s %-8s %-8s %s\n' "$suite" "$release" "$boot" "$ratio" "$secs" "$result"
done
echo "$passed passed, $failed failed (${#KERNELS[@]} kernels in $(seconds "$matrix_start")s, accel $accel_name)"
if ((failed)); then
	echo "vmtest: logs and consoles kept in $run"
	exit 1
fi
[[ ${RECAPI_VMTEST_KEEP:-0} == 1 ]] || rm -rf "$run"
