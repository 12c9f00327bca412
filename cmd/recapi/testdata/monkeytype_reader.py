"""Reads a MonkeyType trace database the way MonkeyType does, with the stdlib.

    python3 monkeytype_reader.py FILE

Checks that monkeytype_call_traces has MonkeyType's columns
(monkeytype/db/sqlite.py), decodes every row with MonkeyType's documented
encoding (monkeytype/encoding.py: arg_types is a JSON object of name ->
type dict; a type dict is {"module", "qualname"} plus "elem_types" for
generics and unions; NoneType is builtins.NoneType) and prints one JSON
object: {"modules": [...], "traces": [[module, qualname, {arg: type}, return], ...]}
with types rendered as "module.qualname[elem, ...]".
"""

import json
import sqlite3
import sys

COLUMNS = ["created_at", "module", "qualname", "arg_types", "return_type", "yield_type"]


def render(d):
    if set(d) - {"module", "qualname", "elem_types"}:
        raise ValueError("unknown keys in type dict: %r" % d)
    name = d["module"] + "." + d["qualname"]
    if "elem_types" in d:
        name += "[" + ", ".join(render(e) for e in d["elem_types"]) + "]"
    return name


def main():
    conn = sqlite3.connect(sys.argv[1])
    cols = [r[1] for r in conn.execute("PRAGMA table_info(monkeytype_call_traces)")]
    if cols != COLUMNS:
        raise SystemExit("columns %r, want %r" % (cols, COLUMNS))
    # monkeytype list-modules: SELECT module FROM monkeytype_call_traces GROUP BY module
    modules = [r[0] for r in conn.execute("SELECT module FROM monkeytype_call_traces GROUP BY module")]
    traces = []
    for created, module, qualname, arg_types, return_type, yield_type in conn.execute(
        "SELECT created_at, module, qualname, arg_types, return_type, yield_type FROM monkeytype_call_traces"
    ):
        args = {name: render(d) for name, d in json.loads(arg_types).items()}
        ret = None if return_type in (None, "null") else render(json.loads(return_type))
        if yield_type is not None:
            raise SystemExit("unexpected yield_type %r" % yield_type)
        traces.append([module, qualname, args, ret])
    traces.sort(key=json.dumps)
    print(json.dumps({"modules": modules, "traces": traces}, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
