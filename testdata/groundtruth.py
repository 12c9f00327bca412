"""In-process ground truth for recapi: record every Python-level call of a script.

Usage:
    python groundtruth.py OUT.json SCRIPT [ARGS...]
    python groundtruth.py OUT.json -m MODULE [ARGS...]

Runs SCRIPT as ``__main__`` (``runpy.run_path``, with ``sys.argv`` set to
``[SCRIPT, ARGS...]`` and ``sys.path[0]`` set to the script's directory, as
``python SCRIPT ARGS...`` would), or MODULE as ``python -m MODULE ARGS...``
would (``runpy.run_module``; SCRIPT is then the file that runs as
``__main__``, a package's ``__main__.py``), under ``sys.setprofile`` and
``threading.setprofile``, then writes OUT.json and exits with the script's exit
status. recapid's exact mode must agree with this file for the script's own
functions, and for every function when the whole run is compared: the
profile callback calls no Python function outside this file, so recapid sees
nothing the recorder does not, but this file's own functions.

Output schema (keys sorted, records sorted by function, caller, params,
returns, yields)::

    {"python": "3.11",                 # major.minor of the interpreter
     "version": "3.11.7",              # full version
     "script": "/abs/path/calls.py",   # co_filename of the script's code
     "exit_code": 0,
     "profiler_kept": true,             # false: the profiler was removed early (records incomplete)
     "records": [
       {"function": {"file": ..., "line": co_firstlineno, "name": co_name,
                     "qualname": ..., "module": "__main__"},
        "caller":   {same fields} | null,
        "params":   [{"name": "a", "kind": "positional_or_keyword",
                      "type": "builtins.int"}, ...] | null,
        "returns":  "builtins.list[builtins.int]" | null,
        "yields":   "builtins.int" | null,
        "calls": n, "resumptions": m, "raised": k}, ...]}

What is counted, and the choices made:

* Every ``call`` profiler event, i.e. every Python frame that starts or
  resumes: functions, lambdas, class bodies, module bodies of modules imported
  while the script runs, comprehensions where the interpreter gives them a
  frame (3.8-3.11 list/dict/set comprehensions; 3.12+ inlines them, PEP 709).
  ``c_call`` events (builtins) are not counted.
* A record is one (function, caller, argument types, returned type, yielded
  type) shape. ``calls`` counts fresh starts, ``resumptions`` counts
  re-entries of a suspended generator, coroutine or async generator. A
  resumption carries no argument types (the parameters may have been rebound
  since the start), so resumptions are kept in their own records with
  ``"params": null`` and ``"calls": 0``.
  For generators, a *start* is the first ``next()``/``send()``/await, not the
  call that creates the generator object (no frame runs then, on any version).
  But on 3.8-3.11 a generator or coroutine that never started runs its frame
  when it is closed or garbage-collected, only to raise GeneratorExit: that is
  a start that raised. 3.12+ close it without running the frame.
* Every finished call or resumption ended in exactly one way, matched to it
  through its frame (the ``return`` event of the frame of the ``call``
  event): it *returned* (``"returns"``: the type of the value, ``"yields"``:
  null), it *yielded* when a generator, coroutine or async generator
  suspended (``"yields"``: the type of the value it passed out, ``"returns"``:
  null), or an exception propagated out of it (both null, and counted in
  ``"raised"``). A frame still running when recording stops (a thread) is
  counted in a record with both null but not in ``"raised"``. The ``return``
  event does not say which way it was; the instruction at ``f_lasti`` does
  (see _outcomes, checked on 3.8-3.14). A suspended coroutine yields what the
  innermost awaitable yielded (``None`` for ``asyncio.sleep(0)``, the future
  for ``await future``), the same through every frame of the await chain. An
  async generator's ``yield v`` passes out the interpreter's wrapper,
  ``builtins.async_generator_wrapped_value``, not v.
  Not told apart: an exception thrown in at a bare ``yield`` (``throw()``,
  ``close()``, also the close of a suspended generator that is
  garbage-collected) that the generator does not handle leaves ``f_lasti``
  on the yield on 3.8-3.13, so it counts as yielding ``None``; so does
  ``close()`` of a generator suspended in ``yield from``/``await`` on
  3.8-3.11. Elsewhere (a ``try`` around the yield, 3.12+ ``yield from``,
  3.14) it counts as raised.
* Parameters are listed in ``co_varnames`` order: positional (positional-only
  first), keyword-only, ``*args``, ``**kwargs``. That is the frame layout
  recapid reads, and differs from ``inspect.signature`` order when a function
  has both ``*args`` and keyword-only parameters.
* Type strings (of arguments, returned and yielded values) are
  ``type.__module__ + "." + type.__qualname__`` (``builtins.int``,
  ``collections.OrderedDict``, ``__main__.Outer.Inner``), ``None`` for
  ``NoneType``, plus element types for the exact builtin containers list,
  tuple, dict, set and frozenset (subclasses such as OrderedDict,
  defaultdict or a namedtuple are bare). The rule (describe(), the same in
  recapid): at most two levels of brackets; an empty container is
  ``T[()]``; a tuple of up to 8 items lists every item's type, a longer one
  its first and ``...`` (``builtins.tuple[builtins.int, ...]``), and
  containers inside a top-level tuple are bare; a list, set or frozenset
  gives its first element's type (iteration order), a dict its first key's
  and value's. So ``builtins.dict[builtins.str, builtins.list[builtins.int]]``,
  ``builtins.tuple[builtins.int, builtins.list]``,
  ``builtins.list[builtins.list[builtins.list]]``. ``*args`` and
  ``**kwargs`` are a tuple and a dict like any other. Working out a type
  string runs no code of the traced program. A parameter captured by a
  closure (a cell) reports the type of the value inside the cell.
* ``qualname`` is ``co_qualname`` on 3.11+. 3.8-3.10 have no ``co_qualname``;
  there it is rebuilt the way the compiler builds it (see _Qualnames), which
  gives the same string.
* Recording starts with the script's module body, which is exactly one call
  of ``<module>`` (file = the absolute script path, module ``__main__``) with
  caller ``null``, as in a real ``python SCRIPT`` run, where the module frame
  has no parent. Until then a bootstrap hook ignores everything, so runpy's
  own work (path checks, reading and compiling the file) is not recorded.
  Frames of this file and of ``runpy`` stand in for the interpreter's C entry
  point: they are never recorded as callees, and as callers they become
  ``null``.
* Frames of the import system (importlib, its frozen bootstrap, zipimport) are
  not recorded as callees. As callers they are kept: the body of a module
  imported by the script is called from importlib in a real run too.
* Modules this file imports before the script runs (threading, runpy, dis,
  ...) are already loaded, so their module bodies are not seen, unlike in a
  plain run: compare the script's own functions, not the stdlib's. Calls made
  while runpy tears the script's module down (``__del__``, weakref callbacks)
  are recorded until the profiler is removed.
"""

import dis
import gc
import itertools
import os
import sys
import threading
import types

# Imported for the file-name filters (and by runpy anyway).
import importlib
import importlib.machinery
import importlib.util
import runpy

# co_flags bits, the same on every supported version (Include/cpython/code.h).
CO_OPTIMIZED = 0x1
CO_VARARGS = 0x4
CO_VARKEYWORDS = 0x8
CO_SUSPENDABLE = 0x20 | 0x80 | 0x100 | 0x200  # GENERATOR, COROUTINE, ITERABLE_COROUTINE, ASYNC_GENERATOR

_IGNORED = object()  # code-info sentinel: never record this code as a callee

# How a finished call or resumption ended (Recorder.profile, _outcomes).
RAISED, RETURNED, YIELDED = 0, 1, 2


def _ops(*names):
    return frozenset(dis.opmap[n] for n in names if n in dis.opmap)


_RETURN_OPS = _ops("RETURN_VALUE", "RETURN_CONST", "INSTRUMENTED_RETURN_VALUE", "INSTRUMENTED_RETURN_CONST")
_YIELD_OPS = _ops("YIELD_VALUE", "INSTRUMENTED_YIELD_VALUE")
_YIELD_FROM = dis.opmap.get("YIELD_FROM")  # 3.8-3.10 only
_RESUME = dis.opmap.get("RESUME")  # 3.11+
# 3.13 reports a yield with f_lasti already on the RESUME after YIELD_VALUE;
# 3.11, 3.12 and 3.14 report it on the YIELD_VALUE itself.
_YIELD_LASTI_ON_RESUME = sys.version_info[:2] == (3, 13)


def _outcomes(code):
    """bytes: the outcome (RAISED, RETURNED, YIELDED) of a ``return`` event
    whose frame has f_lasti == offset, for every instruction offset of code.

    co_code is the de-instrumented, de-specialized bytecode on 3.12+, so the
    INSTRUMENTED_ names never show there; they are listed for safety. Checked
    on 3.8-3.14 with a profile function printing f_lasti at every event:

    * RETURN_VALUE, RETURN_CONST (3.12, 3.13): the frame returned.
    * YIELD_VALUE: it yielded (3.11+ compile ``yield from``/``await`` to
      SEND + YIELD_VALUE too).
    * 3.8-3.10 ``yield from``/``await``: a suspension inside YIELD_FROM
      rewinds f_lasti by one instruction, to the LOAD_CONST before it, so it
      is repeated on resumption. An exception thrown in through it is raised
      at the YIELD_FROM itself, which stays "raised".
    * 3.13: f_lasti at a yield is already on the RESUME that follows
      YIELD_VALUE. (3.14 is back to the YIELD_VALUE; there f_lasti is on
      that RESUME when an exception thrown in at the yield propagates.)
    * Anything else is an exception propagating out: RAISE_VARARGS, RERAISE,
      a CALL, CLEANUP_THROW (3.12+), RETURN_GENERATOR (3.11 closing a
      generator that never started), and f_lasti -1 (3.8-3.10, closing a
      generator that never started): the table has one more byte, RAISED,
      which index -1 reads.
    """
    co = code.co_code
    out = bytearray(len(co) + 1)  # out[-1], for f_lasti -1, stays RAISED
    for i in range(0, len(co) - 1, 2):
        op = co[i]
        if op in _RETURN_OPS:
            out[i] = RETURNED
        elif op in _YIELD_OPS:
            out[i] = YIELDED
        elif _YIELD_FROM is not None and i + 2 < len(co) and co[i + 2] == _YIELD_FROM:
            out[i] = YIELDED
        elif _YIELD_LASTI_ON_RESUME and op == _RESUME and i >= 2 and co[i - 2] in _YIELD_OPS:
            out[i] = YIELDED
    return bytes(out)


# Containers whose element types are described. Exact types only: a subclass
# (OrderedDict, defaultdict, Counter, a namedtuple) is reported bare, since
# reading its elements could run its Python code.
_CONTAINERS = frozenset((list, tuple, dict, set, frozenset))
_names = {}  # type -> type_name(type), for element types


def describe(v, depth=0, in_tuple=False):
    """recapi's type string of a value, with element types (module docstring).

    Only C-level operations on exact builtin containers: no code of the
    traced program runs. A list, dict or set another thread changes meanwhile
    gives its then first element, or "[()]" if it became empty.
    """
    t = type(v)
    name = _names.get(t)
    if name is None:
        name = _names[t] = type_name(t)
    if t not in _CONTAINERS or depth == 2 or (depth == 1 and in_tuple):
        return name
    depth += 1
    if t is tuple:
        n = len(v)
        if n == 0:
            return name + "[()]"
        if n <= 8:
            return name + "[" + ", ".join([describe(x, depth, True) for x in v]) + "]"
        return name + "[" + describe(v[0], depth, True) + ", ...]"
    if t is dict:
        for k, x in v.items():
            return name + "[" + describe(k, depth) + ", " + describe(x, depth) + "]"
    else:
        for x in v:
            return name + "[" + describe(x, depth) + "]"
    return name + "[()]"


def _code_files(*modules):
    """The co_filename values a module's frames report.

    Frozen modules (importlib._bootstrap always, runpy and importlib.util on
    3.11+) report "<frozen NAME>" rather than their __file__, so the names are
    taken from the code of functions the module defines.
    """
    files = set()
    for mod in modules:
        path = getattr(mod, "__file__", None)
        if path:
            files.add(path)
        for value in list(vars(mod).values()):
            funcs = [value]
            if isinstance(value, type):
                funcs = list(vars(value).values())
            for func in funcs:
                code = getattr(func, "__code__", None)
                if isinstance(code, types.CodeType) and getattr(func, "__module__", None) == mod.__name__:
                    files.add(code.co_filename)
    return files


def _entry_files():
    """Files whose frames stand in for the interpreter's entry point."""
    return _code_files(sys.modules[__name__], runpy) | {os.path.abspath(__file__)}


def _import_files():
    mods = [importlib, importlib.machinery, importlib.util, importlib._bootstrap, importlib._bootstrap_external]
    if "zipimport" in sys.modules:
        mods.append(sys.modules["zipimport"])
    files = _code_files(*mods)
    files.update("<frozen %s>" % m.__name__ for m in mods)
    return files


def _first_resume_offset(code):
    """Byte offset of the first RESUME: at a start, f_lasti is at or before it.

    On 3.11+ a generator's prologue (COPY_FREE_VARS, MAKE_CELL,
    RETURN_GENERATOR, POP_TOP) runs when the generator object is created; the
    first next() enters at RESUME 0 and the profiler sees f_lasti there. Every
    resumption is after a YIELD_VALUE, so further down the code. A scan of
    co_code's opcode bytes (inline caches are zeros), not dis: the profile
    callback must call no Python function recapid would count.
    """
    co = code.co_code
    for i in range(0, len(co), 2):
        if co[i] == _RESUME:
            return i
    return -1


class Recorder:
    """sys.setprofile callback plus the counts it gathers."""

    def __init__(self):
        self.ignored_files = _entry_files() | _import_files()
        # id(code) -> (code, module, param names, start limit, outcomes) or
        # _IGNORED. Keyed by id because code objects compare by content (not
        # filename) and hash slowly; holding the code keeps its id unique.
        self.infos = {}
        # shape -> ends: a tuple of three {type: itertools.count}, indexed by
        # RAISED, RETURNED, YIELDED. A shape is (id(code), id(caller code) or
        # 0, types tuple or None for a resumption). A type is a type object
        # (named at the end) or, for a container, describe()'s string; the
        # RAISED dict only has NoneType (a raise passes arg None). next() on
        # a count is one C call, so increments from several threads never get
        # lost, without a lock in the hot path.
        self.counters = {}
        # id(frame) -> (the shape's ends dict, outcomes), from a call event
        # to the return event of the same frame. A frame is alive (so its id
        # unique) between the two, and every thread runs its own frames. Left
        # over at the end: calls still running.
        self.pending = {}
        # id -> (code, module) for callers, kept alive for the same reason.
        self.callers = {}
        self.ignored_codes = []  # keeps the ids of _IGNORED entries unique
        self.module_codes = []  # "<module>" code objects seen, for _Qualnames
        # The sys.setprofile callback.
        self.profile = self._make_profile()

    def _code_info(self, frame):
        code = frame.f_code
        if code.co_filename in self.ignored_files:
            self.ignored_codes.append(code)
            return _IGNORED
        flags = code.co_flags
        nparams = code.co_argcount + code.co_kwonlyargcount
        nparams += bool(flags & CO_VARARGS) + bool(flags & CO_VARKEYWORDS)
        names = code.co_varnames[:nparams]
        # A call event with f_lasti above the limit is a resumption.
        limit = None
        if flags & CO_SUSPENDABLE:
            limit = _first_resume_offset(code) if sys.version_info >= (3, 11) else -1
        if code.co_name == "<module>":
            self.module_codes.append(code)
        return (code, frame.f_globals.get("__name__"), names, limit, _outcomes(code))

    def _make_profile(self):
        # The callback is a closure over the recorder's dicts: it runs for
        # every call, return, c_call and c_return of every thread, and local
        # names are the fastest lookups. Keep it short. The profiler is off
        # while it runs, so nothing it calls is recorded.
        infos, pending, counters, callers = self.infos, self.pending, self.counters, self.callers
        code_info, containers, count = self._code_info, _CONTAINERS, itertools.count

        def profile(frame, event, arg):
            if event == "call":
                code = frame.f_code
                info = infos.get(id(code))
                if info is None:
                    info = infos[id(code)] = code_info(frame)
                if info is _IGNORED:
                    return
                back = frame.f_back
                if back is not None:
                    caller = back.f_code
                    caller_id = id(caller)
                    if caller_id not in callers:
                        callers[caller_id] = (caller, back.f_globals.get("__name__"))
                else:
                    caller_id = 0
                limit = info[3]
                if limit is not None and frame.f_lasti > limit:
                    shape = (id(code), caller_id, None)
                else:
                    loc = frame.f_locals
                    names = info[2]
                    typs = [type(loc[n]) for n in names]
                    if not containers.isdisjoint(typs):
                        typs = [describe(loc[n]) if t in containers else t for n, t in zip(names, typs)]
                    shape = (id(code), caller_id, tuple(typs))
                # The shape's counters by outcome: one lookup at the call,
                # a small one at the return.
                ends = counters.get(shape)
                if ends is None:
                    ends = counters.setdefault(shape, ({}, {}, {}))
                pending[id(frame)] = (ends, info[4])
            elif event == "return":
                started = pending.pop(id(frame), None)
                if started is None:  # an ignored frame, or one that began before recording
                    return
                ends, outcomes = started
                # f_lasti -1 (3.8-3.10: no instruction run yet) picks the
                # table's extra last byte, RAISED. When raised, arg is None.
                ends = ends[outcomes[frame.f_lasti]]
                t = type(arg)
                if t in containers:
                    t = describe(arg)
                counter = ends.get(t)
                if counter is None:
                    counter = ends.setdefault(t, count(1))
                next(counter)

        return profile

    def records(self):
        """The counts as JSON-ready records, deterministically sorted."""
        unfinished = {}
        for ends, _ in list(self.pending.values()):
            unfinished[id(ends)] = unfinished.get(id(ends), 0) + 1
        counts = []  # (shape, outcome or None for unfinished, type, n)
        for shape, ends in list(self.counters.items()):
            for outcome in (RAISED, RETURNED, YIELDED):
                for t, counter in list(ends[outcome].items()):
                    counts.append((shape, outcome, t, next(counter) - 1))  # a count starts at 1
            if id(ends) in unfinished:
                counts.append((shape, None, None, unfinished[id(ends)]))

        codes = {}
        for cid, info in list(self.infos.items()):
            if info is not _IGNORED:
                codes[cid] = (info[0], info[1])
        for cid, pair in list(self.callers.items()):
            codes.setdefault(cid, pair)
        qualnames = _Qualnames(self.module_codes, [c for c, _ in codes.values()])
        entry = _entry_files()

        def ident(cid):
            code, module = codes[cid]
            if code.co_filename in entry:
                return None
            return {
                "file": code.co_filename,
                "line": code.co_firstlineno,
                "name": code.co_name,
                "qualname": qualnames.get(code),
                "module": module,
            }

        merged = {}
        for (cid, caller_id, typs), outcome, t, n in counts:
            returned = t if outcome == RETURNED else None
            yielded = t if outcome == YIELDED else None
            code = codes[cid][0]
            if typs is None:
                params = None
            else:
                kinds = _param_kinds(code)
                params = [
                    {"name": name, "kind": kind, "type": _type_string(typ)}
                    for name, kind, typ in zip(code.co_varnames, kinds, typs)
                ]
            caller = ident(caller_id) if caller_id in codes else None
            rec = {
                "function": ident(cid),
                "caller": caller,
                "params": params,
                "returns": _type_string(returned),
                "yields": _type_string(yielded),
                "calls": 0,
                "resumptions": 0,
                "raised": n if outcome == RAISED else 0,
            }
            rec["calls" if typs is not None else "resumptions"] += n
            # Several keys can collapse into one record: callers that differ
            # only by code object identity, entry-point callers mapped to
            # null, raised and unfinished calls, distinct classes of the same
            # name (a class redefined in a loop).
            k = _sort_key(rec)
            if k in merged:
                for field in ("calls", "resumptions", "raised"):
                    merged[k][field] += rec[field]
            else:
                merged[k] = rec
        return [merged[k] for k in sorted(merged)]


def _type_string(t):
    """A type string from a counter key: a type object, a string or None."""
    if t is None or type(t) is str:
        return t
    return type_name(t)


def _param_kinds(code):
    kinds = ["positional_only"] * code.co_posonlyargcount
    kinds += ["positional_or_keyword"] * (code.co_argcount - code.co_posonlyargcount)
    kinds += ["keyword_only"] * code.co_kwonlyargcount
    if code.co_flags & CO_VARARGS:
        kinds.append("var_positional")
    if code.co_flags & CO_VARKEYWORDS:
        kinds.append("var_keyword")
    return kinds


def type_name(t):
    """recapi's type string: module.qualname, None for NoneType."""
    if t is type(None):
        return "None"
    return "%s.%s" % (t.__module__, t.__qualname__)


def _ident_key(ident):
    if ident is None:
        return ("",)
    return (ident["file"], ident["line"], ident["qualname"] or "", ident["name"], ident["module"] or "")


def _sort_key(rec):
    params = rec["params"]
    return (
        _ident_key(rec["function"]),
        _ident_key(rec["caller"]),
        params is None,
        tuple((p["name"], p["kind"], p["type"]) for p in params or ()),
        rec["returns"] is None,
        rec["returns"] or "",
        rec["yields"] is None,
        rec["yields"] or "",
    )


class _Qualnames:
    """Qualified names of code objects, also where co_qualname is missing.

    On 3.8-3.10 the name is rebuilt the way the compiler builds it
    (Python/compile.c, compiler_set_qualname): a child of a module is its bare
    name, a child of a class body gets "Class.", a child of a function,
    lambda or comprehension gets "func.<locals>.". Code objects nest in
    co_consts, so walking every "<module>" code seen while recording names
    all the code the script and the modules it imported define. Code of
    modules loaded earlier is named from live function objects and the code
    nested in them (__qualname__, trusted only when its last part is
    co_name, since functools.wraps copies the wrapped function's name):
    best effort, right for ordinary code. Not handled: names declared
    `global` inside a function (the compiler names those bare).
    """

    def __init__(self, module_codes, wanted, rebuild=sys.version_info < (3, 11)):
        # rebuild=True on 3.11+ checks the rebuilt names against co_qualname
        # (scripts/verify-groundtruth.py does).
        self.rebuild = rebuild
        self.names = {}
        if not rebuild:
            return
        for code in module_codes:
            self._walk(code, None)
        if all(id(c) in self.names for c in wanted):
            return
        # Outermost functions first, so that a nested function's code is
        # named from its live parent rather than from its own __qualname__.
        funcs = [o for o in gc.get_objects() if isinstance(o, types.FunctionType)]
        funcs.sort(key=lambda fn: fn.__qualname__.count("."))
        for fn in funcs:
            code, qualname = fn.__code__, fn.__qualname__
            if id(code) not in self.names and qualname.rsplit(".", 1)[-1] == code.co_name:
                self.names[id(code)] = qualname
                self._walk(code, qualname)

    def _walk(self, code, qualname):
        for const in code.co_consts:
            if not isinstance(const, types.CodeType):
                continue
            if qualname is None:  # code is a module body
                child = const.co_name
            elif code.co_flags & CO_OPTIMIZED:  # function, lambda, comprehension
                child = qualname + ".<locals>." + const.co_name
            else:  # class body
                child = qualname + "." + const.co_name
            self.names.setdefault(id(const), child)
            self._walk(const, child)

    def get(self, code):
        if not self.rebuild:
            return code.co_qualname
        return self.names.get(id(code), code.co_name)


def main(argv):
    if len(argv) < 2 or (argv[1] == "-m" and len(argv) < 3):
        sys.stderr.write("usage: groundtruth.py OUT.json SCRIPT [ARGS...]\n       groundtruth.py OUT.json -m MODULE [ARGS...]\n")
        return 2
    out = argv[0]
    module = None
    if argv[1] == "-m":
        # What `python -m MODULE ARGS` sets up: the current directory first
        # on sys.path, argv[0] the file that runs as __main__.
        module = argv[2]
        sys.path[0] = os.getcwd()
        spec = importlib.util.find_spec(module)
        if spec is None:
            sys.stderr.write("groundtruth.py: no module named %s\n" % module)
            return 2
        if spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(module + ".__main__")
        script = spec.origin
        sys.argv = [script] + argv[3:]
    else:
        script = os.path.abspath(argv[1])
        # What `python SCRIPT ARGS` sets up: argv, and the script's directory
        # first on sys.path. The absolute path is the co_filename a direct run
        # gives on 3.9+; 3.8 keeps the path as typed, so pass it absolute there.
        sys.argv = [script] + argv[2:]
        sys.path[0] = os.path.dirname(script)

    rec = Recorder()

    def bootstrap(frame, event, arg):
        # Ignores runpy's work until the script's module body starts, then
        # hands over. Replacing the profiler from inside its own callback is
        # safe: main()'s frame still references bootstrap, so it is not freed.
        code = frame.f_code
        if event == "call" and code.co_name == "<module>" and code.co_filename == script:
            sys.setprofile(rec.profile)
            rec.profile(frame, event, arg)

    exit_code = 0
    # Whether the recorder was still the profiler when the run ended: an
    # exception raised inside the callback (a RecursionError in a test of
    # recursion limits) makes CPython remove it, and a program may replace
    # it. Then the records miss calls, and say so.
    kept = False
    threading.setprofile(rec.profile)  # threads only start once the script runs
    sys.setprofile(bootstrap)
    try:
        if module is not None:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(script, run_name="__main__")
        kept = sys.getprofile() is rec.profile
    except SystemExit as exc:
        kept = sys.getprofile() is rec.profile
        code = exc.code
        if code is None:
            exit_code = 0
        elif isinstance(code, int):
            exit_code = code
        else:
            sys.stderr.write("%s\n" % (code,))
            exit_code = 1
    except BaseException:
        sys.setprofile(None)
        threading.setprofile(None)
        import traceback

        traceback.print_exc()
        exit_code = 1
    finally:
        sys.setprofile(None)
        threading.setprofile(None)

    import json  # only now, so that a script importing json loads it traced

    result = {
        "python": "%d.%d" % sys.version_info[:2],
        "version": "%d.%d.%d" % sys.version_info[:3],
        "script": script,
        "exit_code": exit_code,
        "profiler_kept": kept,
        "records": rec.records(),
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
