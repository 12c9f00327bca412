"""recapi workload: faithful types, returns, yields and raises.

    python faithful.py

Exercises what a record must reproduce beyond call counts: element types of
containers (as arguments, returned and yielded values), user classes nested
in classes, a dataclass, an enum, exceptions raised, caught, passed and
returned, C types from the stdlib, generators and coroutines that yield,
return and raise, a class redefined in a loop (the old class is freed, so the
next one can reuse its address), defaults, *args and **kwargs. Every call
happens a fixed number of times; then it prints one JSON line.

Deterministic across processes: no randomness, clock or environment, and no
set whose first element depends on string hashing (sets of small ints, or of
one element). No comprehensions or generator expressions (3.8-3.11 run them
in their own frames, 3.12+ inline some). Every generator that starts is run
to its end, so none is closed or collected while suspended.

Expected calls (format as in calls.py; the types in "arguments" are full
type strings with element types, with the leading "builtins." left out):

| function                               | caller                     | arguments                                                                                                 | calls | resumptions |
|----------------------------------------|----------------------------|-----------------------------------------------------------------------------------------------------------|-------|-------------|
| <module>                               | -                          |                                                                                                           | 1     | 0           |
| Outer                                  | <module>                   |                                                                                                           | 1     | 0           |
| Outer.Inner                            | Outer                      |                                                                                                           | 1     | 0           |
| Outer.Inner.__init__                   | Outer.Inner.make           | self=__main__.Outer.Inner value=str                                                                       | 2     | 0           |
| Outer.Inner.__init__                   | drive_nested               | self=__main__.Outer.Inner value=int                                                                       | 3     | 0           |
| Outer.Inner.make                       | drive_nested               | cls=type value=str                                                                                        | 2     | 0           |
| Outer.Inner.check                      | drive_nested               | value=int                                                                                                 | 5     | 0           |
| Outer.Inner.double                     | drive_nested               | self=__main__.Outer.Inner                                                                                 | 3     | 0           |
| Outer.Inner.label                      | drive_nested               | self=__main__.Outer.Inner                                                                                 | 7     | 0           |
| Outer.wrap                             | drive_nested               | self=__main__.Outer inner=__main__.Outer.Inner                                                            | 3     | 0           |
| Point                                  | <module>                   |                                                                                                           | 1     | 0           |
| Point.moved                            | drive_dataclasses          | self=__main__.Point dx=int                                                                                | 5     | 0           |
| Color                                  | <module>                   |                                                                                                           | 1     | 0           |
| Color.label                            | drive_enums                | self=__main__.Color                                                                                       | 7     | 0           |
| AppError                               | <module>                   |                                                                                                           | 1     | 0           |
| AppError.__init__                      | make_error                 | self=__main__.AppError code=int                                                                           | 3     | 0           |
| AppError.__init__                      | dive                       | self=__main__.AppError code=int                                                                           | 3     | 0           |
| AppError.__init__                      | boom                       | self=__main__.AppError code=int                                                                           | 1     | 0           |
| Errors                                 | <module>                   |                                                                                                           | 1     | 0           |
| Errors.NotFound                        | Errors                     |                                                                                                           | 1     | 0           |
| drive_nested                           | main                       |                                                                                                           | 1     | 0           |
| make_point                             | drive_dataclasses          | x=int y=int                                                                                               | 5     | 0           |
| farthest                               | drive_dataclasses          | points=list[__main__.Point]                                                                               | 3     | 0           |
| drive_dataclasses                      | main                       |                                                                                                           | 1     | 0           |
| pick_color                             | drive_enums                | n=int                                                                                                     | 7     | 0           |
| drive_enums                            | main                       |                                                                                                           | 1     | 0           |
| always_fails                           | drive_errors               | n=int                                                                                                     | 5     | 0           |
| after_errors                           | drive_errors               | caught=list[builtins.ValueError]                                                                          | 1     | 0           |
| parse_int                              | drive_errors               | text=str                                                                                                  | 5     | 0           |
| make_error                             | drive_errors               | code=int                                                                                                  | 3     | 0           |
| error_code                             | drive_errors               | err=__main__.AppError                                                                                     | 3     | 0           |
| dive                                   | dive                       | depth=int                                                                                                 | 6     | 0           |
| dive                                   | drive_errors               | depth=int                                                                                                 | 3     | 0           |
| find                                   | drive_errors               | key=str                                                                                                   | 4     | 0           |
| drive_errors                           | main                       |                                                                                                           | 1     | 0           |
| add_money                              | drive_stdlib               | a=decimal.Decimal b=decimal.Decimal                                                                       | 3     | 0           |
| ordered                                | drive_stdlib               | pairs=list[builtins.tuple[builtins.str, builtins.int]]                                                    | 2     | 0           |
| rotate                                 | drive_stdlib               | items=collections.deque                                                                                   | 3     | 0           |
| group                                  | drive_stdlib               | pairs=list[builtins.tuple[builtins.str, builtins.int]]                                                    | 2     | 0           |
| tally                                  | drive_stdlib               | text=str                                                                                                  | 2     | 0           |
| swap                                   | drive_stdlib               | pair=__main__.Pair                                                                                        | 3     | 0           |
| shift                                  | drive_stdlib               | day=datetime.date delta=datetime.timedelta                                                                | 3     | 0           |
| shift                                  | drive_stdlib               | day=datetime.datetime delta=datetime.timedelta                                                            | 2     | 0           |
| span                                   | drive_stdlib               | a=datetime.date b=datetime.date                                                                           | 2     | 0           |
| drive_stdlib                           | main                       |                                                                                                           | 1     | 0           |
| mixed                                  | delegate                   | count=int                                                                                                 | 3     | 0           |
| mixed                                  | delegate                   | ~                                                                                                         | 0     | 15          |
| mixed                                  | drive_generators           | count=int                                                                                                 | 2     | 0           |
| mixed                                  | drive_generators           | ~                                                                                                         | 0     | 10          |
| delegate                               | drive_generators           | count=int                                                                                                 | 3     | 0           |
| delegate                               | drive_generators           | ~                                                                                                         | 0     | 15          |
| fragile                                | drive_generators           | n=int                                                                                                     | 3     | 0           |
| fragile                                | drive_generators           | ~                                                                                                         | 0     | 6           |
| pairs_of                               | drive_generators           | items=dict[builtins.str, builtins.list[builtins.int]]                                                     | 1     | 0           |
| pairs_of                               | drive_generators           | ~                                                                                                         | 0     | 2           |
| drive_generators                       | main                       |                                                                                                           | 1     | 0           |
| fetch                                  | amain                      | i=int                                                                                                     | 3     | 0           |
| fetch                                  | amain                      | ~                                                                                                         | 0     | 3           |
| add_async                              | amain                      | a=int b=int                                                                                               | 2     | 0           |
| boom                                   | amain                      | code=int                                                                                                  | 1     | 0           |
| boom                                   | amain                      | ~                                                                                                         | 0     | 1           |
| batch                                  | amain                      | items=list[builtins.int]                                                                                  | 1     | 0           |
| batch                                  | amain                      | ~                                                                                                         | 0     | 1           |
| amain                                  | asyncio.events.Handle._run |                                                                                                           | 1     | 0           |
| amain                                  | asyncio.events.Handle._run | ~                                                                                                         | 0     | 5           |
| drive_async                            | main                       |                                                                                                           | 1     | 0           |
| use_token                              | drive_redefine             | token=__main__.drive_redefine.<locals>.Token                                                              | 5     | 0           |
| drive_redefine                         | main                       |                                                                                                           | 1     | 0           |
| drive_redefine.<locals>.Token          | drive_redefine             |                                                                                                           | 5     | 0           |
| drive_redefine.<locals>.Token.__init__ | drive_redefine             | self=__main__.drive_redefine.<locals>.Token n=int                                                         | 5     | 0           |
| greet                                  | drive_params               | name=str greeting=None punct=str                                                                          | 2     | 0           |
| greet                                  | drive_params               | name=str greeting=str punct=str                                                                           | 3     | 0           |
| collect                                | drive_params               | first=int args=tuple[()] kwargs=dict[()]                                                                  | 2     | 0           |
| collect                                | drive_params               | first=int args=tuple[builtins.str, builtins.float] kwargs=dict[builtins.str, builtins.list[builtins.int]] | 3     | 0           |
| make_adder                             | drive_params               | items=list[builtins.int]                                                                                  | 2     | 0           |
| make_adder.<locals>.add                | drive_params               | x=int                                                                                                     | 4     | 0           |
| drive_params                           | main                       |                                                                                                           | 1     | 0           |
| echo                                   | drive_containers           | value=dict[()]                                                                                            | 1     | 0           |
| echo                                   | drive_containers           | value=dict[builtins.str, builtins.float]                                                                  | 2     | 0           |
| echo                                   | drive_containers           | value=dict[builtins.str, builtins.list[builtins.int]]                                                     | 3     | 0           |
| echo                                   | drive_containers           | value=dict[builtins.tuple[builtins.int, builtins.int], builtins.str]                                      | 1     | 0           |
| echo                                   | drive_containers           | value=frozenset[()]                                                                                       | 1     | 0           |
| echo                                   | drive_containers           | value=frozenset[builtins.int]                                                                             | 3     | 0           |
| echo                                   | drive_containers           | value=list[()]                                                                                            | 1     | 0           |
| echo                                   | drive_containers           | value=list[builtins.int]                                                                                  | 2     | 0           |
| echo                                   | drive_containers           | value=list[builtins.list[builtins.list]]                                                                  | 1     | 0           |
| echo                                   | drive_containers           | value=list[builtins.tuple[builtins.int, builtins.str]]                                                    | 3     | 0           |
| echo                                   | drive_containers           | value=set[()]                                                                                             | 1     | 0           |
| echo                                   | drive_containers           | value=set[builtins.int]                                                                                   | 2     | 0           |
| echo                                   | drive_containers           | value=set[builtins.tuple[builtins.int, builtins.str]]                                                     | 1     | 0           |
| echo                                   | drive_containers           | value=tuple[()]                                                                                           | 1     | 0           |
| echo                                   | drive_containers           | value=tuple[builtins.int, builtins.str]                                                                   | 2     | 0           |
| echo                                   | drive_containers           | value=tuple[builtins.list, builtins.list]                                                                 | 1     | 0           |
| echo                                   | drive_containers           | value=tuple[builtins.str, ...]                                                                            | 3     | 0           |
| echo                                   | drive_containers           | value=tuple[builtins.tuple, builtins.int]                                                                 | 1     | 0           |
| echo                                   | drive_containers           | value=collections.OrderedDict                                                                             | 1     | 0           |
| build                                  | drive_containers           | n=int                                                                                                     | 5     | 0           |
| split_pairs                            | drive_containers           | pairs=list[builtins.tuple[builtins.int, builtins.str]]                                                    | 2     | 0           |
| drive_containers                       | main                       |                                                                                                           | 1     | 0           |
| main                                   | <module>                   |                                                                                                           | 1     | 0           |

Not in the table: unstarted is called 4 times (drive_params) and its
generators are never iterated, so 3.12+ record nothing for it. 3.8-3.11 run
a never-started generator's frame when it is freed (right away here), to
raise GeneratorExit at its start, so there one more record is expected:

    unstarted <- drive_params (n=int): calls 4, resumptions 0, raised 4

Parameter kinds (as in calls.py):

| function   | kinds                          |
|------------|--------------------------------|
| greet      | name=p greeting=p punct=ko     |
| collect    | first=p args=vp kwargs=vk      |
| make_adder | items=p                        |

How each call or resumption ends (returns R, yields Y, raised X; R and Y
are null unless given; "start" = the records with arguments, "resumed" =
the "~" records):

* always_fails: 5 calls, X 5. after_errors (the next call from the same
  caller): R int. parse_int: R int 3, X 2. make_error: R __main__.AppError.
  error_code: R int. dive: X 3 from drive_errors and X 6 from dive (the
  raise at depth 0 passes out of every frame). find: R str 2, X 2.
* Class bodies: R None, except AppError's, which uses super() and so
  returns its __class__ cell: R builtins.cell.
* mixed: start Y int; resumed Y str, Y list[builtins.int],
  Y tuple[builtins.int, builtins.str], Y None, then R
  dict[builtins.str, builtins.bool] (1 of each per generator; the same from
  delegate and from drive_generators, where next() sees StopIteration).
  delegate: the same yields, passed on by ``yield from``, then R
  tuple[builtins.str, builtins.dict]. fragile: start Y int, resumed Y int 3
  and X 3. pairs_of: start Y tuple[builtins.str, builtins.list], resumed the
  same Y once and R int once.
* fetch: start Y None (asyncio.sleep(0)), resumed R __main__.Point.
  add_async: R int (never suspends). boom: start Y None, resumed X 1.
  batch: start Y None, resumed R list[builtins.int]. amain: start Y None,
  resumed Y None 4 and R list[__main__.Point] 1.
* echo returns its argument: R is the type of "arguments". build: R
  list[()] 1 (n=0), R list[builtins.int] 4. split_pairs: R
  tuple[builtins.list, builtins.list]. collect: R tuple[builtins.tuple,
  builtins.dict] (containers inside a top-level tuple are bare). Outer.wrap:
  R list[__main__.Outer.Inner]. make_adder.<locals>.add: R
  list[builtins.int]. Others: R the obvious type (ordered: R
  collections.OrderedDict, group: collections.defaultdict, tally:
  collections.Counter, swap: __main__.Pair, span: datetime.timedelta, shift:
  the type of day).
"""

import asyncio
import collections
import dataclasses
import datetime
import decimal
import enum
import gc
import json
import sys


# --- classes --------------------------------------------------------------


class Outer:
    class Inner:
        def __init__(self, value):
            self.value = value

        @classmethod
        def make(cls, value):
            return cls(value)

        @staticmethod
        def check(value):
            return value > 0

        def double(self):
            return self.value * 2

        @property
        def label(self):
            return "inner-%s" % (self.value,)

    def wrap(self, inner):
        return [inner, inner]


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0

    def moved(self, dx):
        return Point(self.x + dx, self.y)


class Color(enum.Enum):
    RED = 1
    GREEN = 2
    BLUE = 3

    def label(self):
        return self.name.lower()


class AppError(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


class Errors:
    class NotFound(LookupError):
        pass


Pair = collections.namedtuple("Pair", "left right")


def drive_nested():
    total = 0
    outer = Outer()
    for i in range(3):
        inner = Outer.Inner(i + 1)
        total += inner.double()
        total += len(outer.wrap(inner))
    for text in ("a", "b"):
        total += len(Outer.Inner.make(text).value)
    for i in range(5):
        total += Outer.Inner.check(i)
    for _ in range(7):
        total += len(inner.label)
    return total


# --- dataclasses and enums ------------------------------------------------


def make_point(x, y):
    return Point(x, y)


def farthest(points):
    best = None
    for p in points:
        if best is None or p.x > best.x:
            best = p
    return best


def drive_dataclasses():
    points = []
    for i in range(5):
        points.append(make_point(i, i * 2).moved(1))
    far = farthest(points)
    far = farthest(points[:2])
    far = farthest(points[3:])
    return far.x


def pick_color(n):
    return Color(n % 3 + 1)


def drive_enums():
    labels = []
    for i in range(7):
        labels.append(pick_color(i).label())
    return len(labels)


# --- exceptions -----------------------------------------------------------


def always_fails(n):
    raise ValueError(n)


def after_errors(caught):
    return len(caught)


def parse_int(text):
    return int(text)


def make_error(code):
    return AppError(code)


def error_code(err):
    return err.code


def dive(depth):
    if depth == 0:
        raise AppError(depth)
    return dive(depth - 1)


def find(key):
    table = {"a": "alpha", "b": "beta"}
    if key not in table:
        raise Errors.NotFound(key)
    return table[key]


def drive_errors():
    caught = []
    for i in range(5):
        try:
            always_fails(i)
        except ValueError as exc:
            caught.append(exc)
    total = after_errors(caught)  # the same caller, right after the raises
    for text in ("1", "x", "22", "", "333"):
        try:
            total += parse_int(text)
        except ValueError:
            total += 1
    for code in (1, 2, 3):
        total += error_code(make_error(code))
    for _ in range(3):
        try:
            dive(2)
        except AppError as exc:
            total += exc.code
    for key in ("a", "z", "b", "y"):
        try:
            total += len(find(key))
        except LookupError:
            total += 1
    return total


# --- C types from the standard library ------------------------------------


def add_money(a, b):
    return a + b


def ordered(pairs):
    return collections.OrderedDict(pairs)


def rotate(items):
    items.rotate(1)
    return items


def group(pairs):
    groups = collections.defaultdict(list)
    for key, value in pairs:
        groups[key].append(value)
    return groups


def tally(text):
    return collections.Counter(text)


def swap(pair):
    return Pair(pair.right, pair.left)


def shift(day, delta):
    return day + delta


def span(a, b):
    return b - a


def drive_stdlib():
    total = decimal.Decimal("0")
    for cents in ("1.10", "2.20", "3.30"):
        total = add_money(total, decimal.Decimal(cents))
    pairs = [("b", 2), ("a", 1), ("b", 3)]
    for _ in range(2):
        ordered(pairs)
        group(pairs)
    for text in ("abca", "xyz"):
        tally(text)
    dq = collections.deque([1, 2, 3])
    for _ in range(3):
        rotate(dq)
    pair = Pair(1, "one")
    for _ in range(3):
        pair = swap(pair)
    day = datetime.date(2020, 1, 31)
    week = datetime.timedelta(days=7)
    for _ in range(3):
        day = shift(day, week)
    moment = datetime.datetime(2020, 1, 31, 12, 30, 0)
    for _ in range(2):
        moment = shift(moment, week)
    for _ in range(2):
        span(datetime.date(2020, 1, 1), day)
    return str(total)


# --- generators -----------------------------------------------------------


def mixed(count):
    yield count
    yield "two"
    yield [3, 4]
    yield (5, "six")
    yield None
    return {"done": True}


def delegate(count):
    result = yield from mixed(count)
    return ("delegated", result)


def fragile(n):
    yield n
    yield n + 1
    raise KeyError(n)


def pairs_of(items):
    count = 0
    for key, values in items.items():
        yield (key, values)
        count += 1
    return count


def drive_generators():
    seen = 0
    for i in range(3):
        for _ in delegate(i):
            seen += 1
    # StopIteration.value carries the final return value.
    for i in range(2):
        gen = mixed(i)
        while True:
            try:
                next(gen)
                seen += 1
            except StopIteration as stop:
                seen += len(stop.value)
                break
    for i in range(3):
        try:
            for _ in fragile(i):
                seen += 1
        except KeyError:
            seen += 1
    for _ in pairs_of({"a": [1, 2], "b": [3]}):
        seen += 1
    return seen


# --- coroutines -----------------------------------------------------------


async def fetch(i):
    await asyncio.sleep(0)
    return Point(i, -i)


async def add_async(a, b):
    return a + b


async def boom(code):
    await asyncio.sleep(0)
    raise AppError(code)


async def batch(items):
    await asyncio.sleep(0)
    return items[::-1]


async def amain():
    points = []
    for i in range(3):
        points.append(await fetch(i))
    total = await add_async(1, 2)
    total += await add_async(3, 4)
    try:
        await boom(9)
    except AppError as exc:
        total += exc.code
    await batch([1, 2, 3])
    return points


def drive_async():
    return len(asyncio.run(amain()))


# --- a class redefined in a loop ------------------------------------------


def use_token(token):
    return token.n


def drive_redefine():
    # Each iteration makes a new class of the same name; the old one is freed
    # (a class is in a reference cycle with its own __mro__, hence collect()),
    # so the next can reuse its address. The instance is dropped first.
    total = 0
    for i in range(5):
        class Token:
            def __init__(self, n):
                self.n = n

        total += use_token(Token(i))
        del Token
        gc.collect()
    return total


# --- parameters -----------------------------------------------------------


def greet(name, greeting="hello", *, punct="!"):
    return "%s %s%s" % (greeting, name, punct)


def collect(first, *args, **kwargs):
    return args, kwargs


def make_adder(items):
    # items is a parameter captured by add: a cell.
    def add(x):
        return items + [x]

    return add


def unstarted(n):
    yield n


def drive_params():
    total = 0
    for name in ("ann", "bob", "cy"):
        total += len(greet(name))
    for name in ("dee", "eve"):
        total += len(greet(name, None, punct="?"))
    for i in range(2):
        total += len(collect(i))
    for i in range(3):
        total += len(collect(i, "x", 1.5, a=[1], b=[2, 3]))
    for base in ([1], [2, 3]):
        add = make_adder(base)
        total += len(add(4)) + len(add(5))
    # Generators created and never iterated, each freed at once: creating
    # one starts no frame (3.8-3.11 run it when freeing it, see above).
    for i in range(4):
        unstarted(i)
    return total


# --- containers -----------------------------------------------------------


def echo(value):
    return value


def build(n):
    out = []
    for i in range(n):
        out.append(i)
    return out


def split_pairs(pairs):
    numbers = []
    names = []
    for number, name in pairs:
        numbers.append(number)
        names.append(name)
    return numbers, names


def drive_containers():
    # The i-th distinct value is passed a known number of times.
    values = [
        ([], 1),
        ([1, "mixed"], 2),  # a list is described by its first element
        ([[[1]]], 1),
        ([(1, "a"), (2, "b")], 3),
        ((), 1),
        ((1, "a"), 2),
        (("s", 1, 2, 3, 4, 5, 6, 7, 8), 3),  # 9 items: the first, then ...
        (([1], [2, 3]), 1),
        (((1, 2), 3), 1),
        ({}, 1),
        ({"b": 1.5, "a": 2}, 2),
        ({"evens": [0, 2], "odds": [1]}, 3),
        ({(1, 2): "x"}, 1),
        (set(), 1),
        ({3, 1, 2}, 2),
        ({(1, "a")}, 1),
        (frozenset(), 1),
        (frozenset([7, 8]), 3),
        (collections.OrderedDict(a=[1]), 1),
    ]
    count = 0
    for value, times in values:
        for _ in range(times):
            echo(value)
            count += 1
    for n in (0, 1, 2, 3, 4):
        count += len(build(n))
    for _ in range(2):
        count += len(split_pairs([(1, "a"), (2, "b")])[0])
    return count


def main():
    summary = {
        "workload": "faithful",
        "python": "%d.%d" % sys.version_info[:2],
        "nested": drive_nested(),
        "dataclasses": drive_dataclasses(),
        "enums": drive_enums(),
        "errors": drive_errors(),
        "stdlib": drive_stdlib(),
        "generators": drive_generators(),
        "async": drive_async(),
        "redefine": drive_redefine(),
        "params": drive_params(),
        "containers": drive_containers(),
    }
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
