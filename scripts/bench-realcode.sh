#!/usr/bin/env bash
# Times the real-code suite (CPython's own test modules, as in
# TestRealSuiteMatchesInProcessProfiler) untraced, under the in-process
# recorders and under recapid, idle and with a CPU hog on every core; the
# table "Real code" of BENCHMARKS.md comes from it. Run as root after make build:
#   sudo scripts/bench-realcode.sh [PYTHON]      (default /usr/bin/python3.11)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
py=${1:-/usr/bin/python3.11}
modules=(test_argparse test_dataclasses test_configparser test_difflib test_csv test_pprint test_shlex test_string test_textwrap test_fractions)
work=$(mktemp -d)
trap 'rm -rf "$work"; [[ -n ${hogs:-} ]] && kill $hogs 2>/dev/null || true' EXIT
cd "$work"

# The C profile function, built against the interpreter's headers.
include=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
cc -shared -fPIC -O2 -I"$include" "$repo/testdata/realcode/gtprofile.c" -o "_gtprofile$suffix"

seconds() { # seconds COMMAND...: its wall time; fails with it
	local start end
	start=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	end=$(date +%s.%N)
	echo "$end - $start" | bc
}
run_all() {
	echo "untraced: $(seconds "$py" -m test "${modules[@]}")"
	echo "C profile function: $(echo go | PYTHONPATH=$work seconds "$py" "$repo/testdata/realcode/gtrun.py" gt.marshal -m test "${modules[@]}")"
	echo "Python recorder: $(seconds "$py" "$repo/testdata/groundtruth.py" gt.json -m test "${modules[@]}")"
	for returns in off auto always; do
		echo "recapid --returns $returns: $(seconds "$repo/bin/recapid" --returns "$returns" -o run.recapi.zst --summary=false -- "$py" -m test "${modules[@]}")"
	done
}
echo "== idle"
run_all
echo "== busy: a CPU hog on each of $(nproc) cores"
hogs=
for _ in $(seq "$(nproc)"); do
	sh -c 'while :; do :; done' &
	hogs="$hogs $!"
done
run_all
