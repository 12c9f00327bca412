#!/usr/bin/env python3
"""Check testdata/groundtruth.py against the workloads' expected-call tables.

    scripts/verify-groundtruth.py [--python PATH]... [WORKLOAD.py]...

For every interpreter (default: /usr/bin/python3.11 and every pyenv 3.8+
build) and every workload (default: all in testdata/workloads/), it runs the
workload plainly (exit 0, last stdout line is JSON, wall time), then under
groundtruth.py, and compares the records of the workload's own file with the
table in the workload's docstring: every record must be listed and every row
must be seen, with the same counts. On 3.11+ it also checks that the
qualnames groundtruth.py rebuilds for 3.8-3.10 equal co_qualname.
Prints a matrix and exits 1 on any difference.

The table format is described in testdata/workloads/calls.py.
"""

import argparse
import ast
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTDATA = os.path.join(ROOT, "testdata")
GROUNDTRUTH = os.path.join(TESTDATA, "groundtruth.py")

KINDS = {
    "p": "positional_or_keyword",
    "po": "positional_only",
    "ko": "keyword_only",
    "vp": "var_positional",
    "vk": "var_keyword",
}


def interpreters():
    found = []
    if os.path.exists("/usr/bin/python3.11"):
        found.append("/usr/bin/python3.11")
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for path in sorted(glob.glob(os.path.join(pyenv, "versions", "3.*", "bin", "python3"))):
        minor = int(path.split(os.sep)[-3].split(".")[1])
        if minor >= 8:
            found.append(path)
    return sorted(found, key=lambda p: (version_of(p), p))


def version_of(python):
    out = subprocess.run(
        [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        check=True, stdout=subprocess.PIPE, universal_newlines=True,
    ).stdout.strip()
    return tuple(int(x) for x in out.split("."))


def workload_args(name, tmpdir):
    """Arguments each workload needs to run to completion on its own."""
    if name == "attach.py":
        trigger = os.path.join(tmpdir, "attach.trigger")
        open(trigger, "w").close()  # phase 1 ends at its first check
        return [trigger, "500"]
    if name == "bench.py":
        return ["20000"]
    return []


def parse_tables(path):
    """The expected-call table and the kinds table of a workload docstring."""
    with open(path) as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    tables, current = [], []
    for line in doc.splitlines() + [""]:
        if line.startswith("|"):
            current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    calls, kinds = None, {}
    for table in tables:
        header, rows = table[0], [r for r in table[1:] if not set("".join(r)) <= set("-")]
        if header == ["function", "caller", "arguments", "calls", "resumptions"]:
            calls = rows
        elif header == ["function", "kinds"]:
            for fn, spec in rows:
                kinds[fn] = [tuple(tok.split("=")) for tok in spec.split()]
        else:
            raise SystemExit("%s: docstring table with unknown header %s (a blank line inside a table?)" % (path, header))
    if calls is None:
        raise SystemExit("%s: no expected-call table in the docstring" % path)
    return calls, kinds


def count(cell, argv):
    """None means any positive count."""
    if cell == "*":
        return None
    if cell.startswith("argv[") and cell.endswith("]"):
        return int(argv[int(cell[5:-1]) - 1])
    return int(cell)


def short(type_name):
    return type_name[len("builtins."):] if type_name.startswith("builtins.") else type_name


def compare(records, script, rows, kinds, argv):
    """Differences between groundtruth records of `script` and the table."""
    expected = {}
    for fn, caller, args, calls, resumptions in rows:
        key = (fn, caller, " ".join(args.split()))
        c, r = count(calls, argv), count(resumptions, argv)
        old = expected.get(key, (0, 0))
        expected[key] = (None if c is None else old[0] + c, None if r is None else old[1] + r)

    actual, problems = {}, []
    for rec in records:
        fn = rec["function"]
        if fn["file"] != script:
            continue
        c = rec["caller"]
        if c is None:
            caller = "-"
        elif c["file"] == script:
            caller = c["qualname"]
        else:
            caller = "%s.%s" % (c["module"], c["qualname"])
        if rec["params"] is None:
            args = "~"
        else:
            args = " ".join("%s=%s" % (p["name"], short(p["type"])) for p in rec["params"])
            want = kinds.get(fn["qualname"])
            got = [(p["name"], p["kind"]) for p in rec["params"]]
            if want is not None and got != [(n, KINDS[k]) for n, k in want]:
                problems.append("%s: kinds %s, want %s" % (fn["qualname"], got, want))
        key = (fn["qualname"], caller, args)
        old = actual.get(key, (0, 0))
        actual[key] = (old[0] + rec["calls"], old[1] + rec["resumptions"])

    for key in sorted(set(expected) | set(actual)):
        want, got = expected.get(key), actual.get(key)
        label = "%s <- %s (%s)" % key
        if want is None:
            problems.append("unexpected %s: calls %d, resumptions %d" % ((label,) + got))
        elif got is None:
            problems.append("missing %s" % label)
        else:
            for what, w, g in zip(("calls", "resumptions"), want, got):
                if (w is None and g < 1) or (w is not None and w != g):
                    problems.append("%s: %s %d, want %s" % (label, what, g, "any" if w is None else w))
    return problems


QUALNAME_CHECK = r"""
import runpy, sys, threading
sys.path.insert(0, %(testdata)r)
import groundtruth as gt
script = %(script)r
sys.argv = [script] + %(argv)r
rec = gt.Recorder()
threading.setprofile(rec.profile)
sys.setprofile(rec.profile)
try:
    runpy.run_path(script, run_name="__main__")
finally:
    sys.setprofile(None)
    threading.setprofile(None)
codes = [i[0] for i in rec.infos.values() if i is not gt._IGNORED]
codes += [c for c, _ in rec.callers.values()]
rebuilt = gt._Qualnames(rec.module_codes, codes, rebuild=True)
bad = sorted({(c.co_filename, c.co_qualname, rebuilt.get(c)) for c in codes if rebuilt.get(c) != c.co_qualname})
print("QUALNAMES", len(set(codes)), len([b for b in bad if b[0] == script]), bad[:5])
"""


def check_qualnames(python, script, argv):
    """On 3.11+: the 3.8-3.10 qualname rebuild must equal co_qualname."""
    src = QUALNAME_CHECK % {"testdata": TESTDATA, "script": script, "argv": argv}
    out = subprocess.run([python, "-B", "-c", src], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    line = [l for l in out.stdout.splitlines() if l.startswith("QUALNAMES")]
    if out.returncode != 0 or not line:
        return ["qualname check failed: %s" % out.stderr.strip()[-500:]], ""
    _, total, bad_here, sample = line[0].split(" ", 3)
    problems = []
    if int(bad_here):
        problems.append("rebuilt qualnames differ from co_qualname in the workload: %s" % sample)
    return problems, "qualnames ok (%s codes; elsewhere %s)" % (total, sample)


def run_one(python, script, tmpdir):
    name = os.path.basename(script)
    argv = workload_args(name, tmpdir)
    problems = []

    start = time.monotonic()
    plain = subprocess.run([python, script] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    elapsed = time.monotonic() - start
    if plain.returncode != 0:
        problems.append("plain run exited %d: %s" % (plain.returncode, plain.stderr.strip()[-500:]))
    else:
        try:
            json.loads(plain.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            problems.append("last stdout line is not JSON: %r" % plain.stdout[-200:])

    out = os.path.join(tmpdir, name + ".json")
    argv = workload_args(name, tmpdir)
    traced = subprocess.run([python, GROUNDTRUTH, out, script] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if traced.returncode != 0:
        problems.append("groundtruth exited %d: %s" % (traced.returncode, traced.stderr.strip()[-500:]))
        return elapsed, problems, ""
    with open(out) as f:
        result = json.load(f)
    rows, kinds = parse_tables(script)
    problems += compare(result["records"], script, rows, kinds, argv)

    note = ""
    if version_of(python) >= (3, 11):
        more, note = check_qualnames(python, script, workload_args(name, tmpdir))
        problems += more
    return elapsed, problems, note


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", help="interpreter to check (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print notes from the qualname check")
    ap.add_argument("workloads", nargs="*")
    opts = ap.parse_args()
    pythons = opts.python or interpreters()
    scripts = [os.path.abspath(w) for w in opts.workloads] or sorted(glob.glob(os.path.join(TESTDATA, "workloads", "*.py")))

    failed = False
    with tempfile.TemporaryDirectory(prefix="recapi-gt-") as tmpdir:
        for python in pythons:
            version = ".".join(map(str, version_of(python)))
            for script in scripts:
                elapsed, problems, note = run_one(python, script, tmpdir)
                status = "ok" if not problems else "FAIL"
                print("%-4s %-7s %-45s %-13s plain %.2fs" % (status, version, python, os.path.basename(script), elapsed))
                if opts.verbose and note:
                    print("       " + note)
                for p in problems:
                    print("       " + p)
                failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
