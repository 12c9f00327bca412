"""Target process for cpython's live tests (CPython 3.8+).

It creates the objects the test reads from outside, prints one JSON line with
their addresses (id()) and what Python itself says about them, then blocks
until stdin is closed so the objects stay alive.
"""
import abc
import collections
import decimal
import enum
import inspect
import json
import json.decoder
import os
import sys
import types


class Outer:
    class Inner:
        def method(self, x, *args, key=None, **kw):
            return x


def params(a, b=1, /, c=2, *args, d, e=3, **kw):
    return a


def no_params():
    return None


def make_closure(n):
    def closure(x):
        return x + n

    return closure


def captured_param(a, b):
    # `a` is a cell variable: its slot holds a cell from 3.11 on, and it is
    # still the first parameter name.
    def inner():
        return a

    return inner


def gen(n):
    yield n


async def coro(x, *, y=0):
    return x


async def agen(n):
    yield n


@types.coroutine
def legacy_coro():
    yield


class StrSubclass(str):
    pass


class Concrete(abc.ABC):  # a heap type whose metaclass is a heap type too
    pass


class Color(enum.Enum):
    RED = 1


class WithAttrs:
    def __init__(self, full):
        self.x = 1
        if full:
            self.y = 2


# Instance dicts are split dicts: their keys are shared with the class, the
# values sit at ma_values. `partial` has a shared key ("y") it lacks.
full = WithAttrs(True)
partial = WithAttrs(False)
full_dict = full.__dict__
partial_dict = partial.__dict__

big = {"k%d" % i: i for i in range(70000)}  # 4-byte indices
medium = {"m%d" % i: i for i in range(2000)}  # 2-byte indices
general = {1: "one", (2, 3): "tuple", "beta": "b", b"beta": "bytes"}  # non-str keys
empty = {}
strdict = {"alpha": "a", "gamma": "c"}
del strdict["alpha"]  # a deleted entry before the live one

objects = {
    "int": 1,
    "str": "abc",
    "none": None,
    "inner": Outer.Inner(),
    "ordered_dict": collections.OrderedDict(a=1),
    "decimal": decimal.Decimal("1.5"),
    "str_subclass": StrSubclass("x"),
    "json_decoder": json.decoder.JSONDecoder(),
    "function": params,
    "list": [1],
    "abc_instance": Concrete(),
    "enum_member": Color.RED,
}

strings = {
    "ascii": "abc",
    "empty": "",
    "latin1": "h\u00e9llo",
    "ucs2": "\u65e5\u672c",
    "ucs4": "emoji \U0001f600!",
    "long": "x" * 4000,
    "legacy_ascii": StrSubclass("plain"),
    "legacy_latin1": StrSubclass("h\u00e9llo"),
    "legacy_ucs2": StrSubclass("\u65e5\u672c"),
    "legacy_ucs4": StrSubclass("\U0001f600"),
}
too_long = "y" * 5000
keep = [too_long]

functions = {
    "method": Outer.Inner.method,
    "params": params,
    "no_params": no_params,
    "closure": make_closure(1),
    "captured_param": captured_param,
    "gen": gen,
    "coro": coro,
    "agen": agen,
    "legacy_coro": legacy_coro,
    "lambda": lambda p, q=1: p,
    "json_dumps": json.dumps,
    "json_decode": json.decoder.JSONDecoder.decode,
    "namedtuple": collections.namedtuple,
    "posixpath_join": os.path.join,  # "<frozen posixpath>" from 3.11 on
}


def code_info(f):
    c = f.__code__
    n = c.co_argcount + c.co_kwonlyargcount
    n += bool(c.co_flags & inspect.CO_VARARGS) + bool(c.co_flags & inspect.CO_VARKEYWORDS)
    kinds = {p.name: p.kind.name.lower() for p in inspect.signature(f).parameters.values()}
    names = list(c.co_varnames[:n])
    return {
        "code": id(c),
        "name": c.co_name,
        "qualname": getattr(c, "co_qualname", c.co_name),
        "filename": c.co_filename,
        "firstline": c.co_firstlineno,
        "argcount": c.co_argcount,
        "posonlyargcount": c.co_posonlyargcount,
        "kwonlyargcount": c.co_kwonlyargcount,
        "flags": c.co_flags,
        "param_names": names,
        "param_kinds": [kinds[name] for name in names],
        "module": f.__module__,
    }


def dict_case(d, present, absent):
    return {
        "dict": id(d),
        "present": {k: id(d[k]) for k in present},
        "absent": absent,
    }


out = {
    "version": list(sys.version_info[:3]),
    "objects": {
        name: {
            "obj": id(o),
            "type": id(type(o)),
            "module": type(o).__module__,
            "qualname": type(o).__qualname__,
        }
        for name, o in objects.items()
    },
    "strings": {name: {"obj": id(s), "value": str(s)} for name, s in strings.items()},
    "too_long": id(too_long),
    "functions": {name: code_info(f) for name, f in functions.items()},
    "dicts": {
        "instance_full": dict_case(full_dict, ["x", "y"], ["z"]),
        "instance_partial": dict_case(partial_dict, ["x"], ["y", "z"]),
        "big": dict_case(big, ["k0", "k69999"], ["k70000"]),
        "medium": dict_case(medium, ["m0", "m1999"], ["m2000"]),
        "general": dict_case(general, ["beta"], ["one", "gamma"]),
        "strdict": dict_case(strdict, ["gamma"], ["alpha"]),
        "empty": dict_case(empty, [], ["a"]),
    },
    # The test reads tp_dict of this type itself (vars() is a mappingproxy).
    "inner_type": id(Outer.Inner),
    "inner_method": id(vars(Outer.Inner)["method"]),
}
print(json.dumps(out), flush=True)
sys.stdin.read()
