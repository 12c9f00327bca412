"""Target process for cpython's qualified-name index test (CPython 3.8+).

It defines functions in every place BuildQualnameIndex looks, imports a few
stdlib packages (so that the walk has a realistic size), prints one JSON line
and blocks until stdin is closed so that everything stays alive. The line has

  version   sys.version_info[:3]
  expected  [{qualname, module, code}]: code objects and the names the index
            must give them; code is id(code object)
  truth     {id(code): [qualname, module]} for every function object in the
            process whose __qualname__ ends in its code's co_name (the ones
            not renamed by functools.wraps), when all functions sharing the
            code agree
"""
import asyncio
import collections
import dataclasses
import decimal
import functools
import gc
import json
import json.decoder
import sys
import types


def plain(a, b=1):
    return a + b


async def coroutine_fn(x):
    return x


def generator_fn(n):
    yield n


square = lambda x: x * x  # noqa: E731


class Account:
    rate = 0.01

    def deposit(self, amount):
        return amount

    @staticmethod
    def validate(amount):
        return amount > 0

    @classmethod
    def open(cls):
        return cls()

    @property
    def balance(self):
        return 0

    @balance.setter
    def balance(self, value):
        pass

    @balance.deleter
    def balance(self):
        pass

    class Meta:
        def describe(self):
            return "meta"

        class Deeper:
            def deepest(self):
                return 1

    def with_helper(self):
        def helper():
            return 1

        return helper


def make_scaler(factor):
    def scale(x):
        return x * factor

    return scale


double = make_scaler(2)


def make_local():
    class Local:
        def method(self):
            return 1

    return Local


LocalClass = make_local()


def make_local_hidden():
    # Never called: its code objects are only reachable through co_consts.
    class Hidden:
        def m(self):
            def inner():
                return 2

            return inner

    return Hidden


def only_via_consts():
    def hidden():
        return 1

    return hidden


def with_genexpr():
    return list(x for x in range(3))


def lambda_in_genexpr():
    return list((lambda: x) for x in range(2))


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


@logged
def decorated(x):
    return x


class Service:
    @logged
    def handle(self, request):
        return request


HANDLERS = {"echo": lambda x: x}


@dataclasses.dataclass
class Point:
    x: int
    y: int

    def norm(self):
        return abs(self.x) + abs(self.y)


if sys.version_info >= (3, 12):
    exec(
        "def generic_outer():\n"
        "    def generic_inner[T](x: T) -> T:\n"
        "        return x\n"
        "    return generic_inner\n",
        globals(),
    )


def consts_code(code, name):
    """The code object called name in code's co_consts."""
    for c in code.co_consts:
        if isinstance(c, types.CodeType) and c.co_name == name:
            return c
    raise LookupError(name)


def main():
    expected = []

    def add(qualname, module, code):
        expected.append({"qualname": qualname, "module": module, "code": id(code)})

    def add_function(f):
        add(f.__qualname__, f.__module__, f.__code__)

    for f in [
        plain,
        coroutine_fn,
        generator_fn,
        square,
        Account.deposit,
        Account.validate,
        Account.open.__func__,
        Account.balance.fget,
        Account.balance.fset,
        Account.balance.fdel,
        Account.Meta.describe,
        Account.Meta.Deeper.deepest,
        Account().with_helper(),
        make_scaler,
        double,
        make_local,
        LocalClass.method,
        decorated.__wrapped__,
        Service.handle.__wrapped__,
        HANDLERS["echo"],
        Point.norm,
        json.dumps,
        json.decoder.JSONDecoder.decode,
        collections.Counter.most_common,
        dataclasses.dataclass,
        asyncio.sleep,
    ]:
        add_function(f)

    # Code objects whose function objects do not exist (or lie about their
    # name): the index must name them from their parents' co_consts.
    hidden_body = consts_code(make_local_hidden.__code__, "Hidden")
    hidden_m = consts_code(hidden_body, "m")
    add("make_local_hidden.<locals>.Hidden", "__main__", hidden_body)
    add("make_local_hidden.<locals>.Hidden.m", "__main__", hidden_m)
    add("make_local_hidden.<locals>.Hidden.m.<locals>.inner", "__main__", consts_code(hidden_m, "inner"))
    add("only_via_consts.<locals>.hidden", "__main__", consts_code(only_via_consts.__code__, "hidden"))
    add("with_genexpr.<locals>.<genexpr>", "__main__", consts_code(with_genexpr.__code__, "<genexpr>"))
    gen = consts_code(lambda_in_genexpr.__code__, "<genexpr>")
    add("lambda_in_genexpr.<locals>.<genexpr>.<lambda>", "__main__", consts_code(gen, "<lambda>"))
    add("logged.<locals>.wrapper", "__main__", decorated.__code__)
    assert decorated.__code__ is Service.handle.__code__
    lru = consts_code(functools.lru_cache.__code__, "decorating_function")
    add("lru_cache.<locals>.decorating_function", "functools", lru)
    if sys.version_info >= (3, 12):
        params = consts_code(generic_outer.__code__, "<generic parameters of generic_inner>")  # noqa: F821
        inner = consts_code(params, "generic_inner")
        add(inner.co_qualname, "__main__", inner)
        assert inner.co_qualname == "generic_outer.<locals>.generic_inner", inner.co_qualname

    truth = {}
    ambiguous = set()
    for o in gc.get_objects():
        if not isinstance(o, types.FunctionType):
            continue
        code, qualname, module = o.__code__, o.__qualname__, o.__module__
        if not isinstance(module, str) or qualname.rsplit(".", 1)[-1] != code.co_name:
            continue
        key = str(id(code))
        if key in truth and truth[key] != [qualname, module]:
            ambiguous.add(key)
        truth[key] = [qualname, module]
    for key in ambiguous:
        del truth[key]

    out = {"version": list(sys.version_info[:3]), "expected": expected, "truth": truth}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    sys.stdin.read()


main()
