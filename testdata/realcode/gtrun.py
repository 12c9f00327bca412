"""Run a module as `python -m MODULE ARGS...` would, under the C profiler of
gtprofile.c, for recapi's real-code tests.

    python gtrun.py OUT -m MODULE [ARGS...]

Starts counting, prints "ready" and waits for a line on stdin (so that
recapid attaches to a process whose Python-level calls are all counted from
then on, and none before), runs MODULE as __main__, stops counting and writes
OUT with marshal: {"exit_code": int, "errors": int, "calls": [...],
"resumptions": [...], "returns": [...]}, where a function is (co_filename,
co_firstlineno, co_name), a type is "module.qualname" ("None" for NoneType):

    calls:       [(function, caller function or None, (type, ...), n), ...]
    resumptions: [(function, n), ...]
    returns:     [(function, type, n), ...]

Nothing here runs as Python code while counting but this file's own
functions (runpy and the module aside): attribute reads, marshal and file
writes are C. The _gtprofile extension must be importable (PYTHONPATH).
"""

import dis
import marshal
import runpy
import sys

import _gtprofile

_RETURN_OPS = [dis.opmap[n] for n in ("RETURN_VALUE", "RETURN_CONST") if n in dis.opmap]
_RESUME = dis.opmap.get("RESUME", -1)


def type_name(t, names):
    name = names.get(t)
    if name is None:
        name = "None" if t is type(None) else "%s.%s" % (t.__module__, t.__qualname__)
        names[t] = name
    return name


def fn(code):
    return (code.co_filename, code.co_firstlineno, code.co_name)


def main(argv):
    if len(argv) < 3 or argv[1] != "-m":
        sys.stderr.write("usage: gtrun.py OUT -m MODULE [ARGS...]\n")
        return 2
    out, module = argv[0], argv[2]
    sys.argv = [module] + argv[3:]
    exit_code = 0
    _gtprofile.start(_RETURN_OPS, _RESUME)
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        exit_code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        calls, resumptions, returns, errors = _gtprofile.stop()
    names = {}
    result = {
        "exit_code": exit_code,
        "errors": errors,
        "calls": [
            (fn(code), None if caller is None else fn(caller), tuple(type_name(t, names) for t in types), n)
            for (code, caller, types), n in calls.items()
        ],
        "resumptions": [(fn(code), n) for code, n in resumptions.items()],
        "returns": [(fn(code), type_name(t, names), n) for (code, t), n in returns.items()],
    }
    with open(out, "wb") as f:
        marshal.dump(result, f)
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
