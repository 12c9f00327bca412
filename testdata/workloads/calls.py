"""recapi workload: the core call matrix.

    python calls.py

Calls every kind of function recapid must handle a known number of times with
known argument types, then prints one JSON line. The table below is every
frame this file runs, on every CPython 3.8-3.13: recapid's exact mode must
report exactly these records for this file, and scripts/verify-groundtruth.py
checks testdata/groundtruth.py against it on every interpreter present.

Table format (also parsed by tests):
  * function, caller: qualnames in this file; a caller elsewhere is written
    module.qualname; "-" means no caller (the module body of a script).
  * arguments: name=type per parameter in recorded order (positional,
    keyword-only, *args, **kwargs); "builtins." is left out; "~" marks a row
    of generator resumptions, which carry no argument types.
  * Parameter kinds are in the second table.

No comprehensions or generator expressions on purpose: 3.8-3.11 run them in
their own frames, 3.12+ inlines list/dict/set comprehensions (PEP 709).

| function                   | caller               | arguments                                     | calls  | resumptions |
|----------------------------|----------------------|-----------------------------------------------|--------|-------------|
| <module>                   | -                    |                                               | 1      | 0           |
| Account                    | <module>             |                                               | 1      | 0           |
| Outer                      | <module>             |                                               | 1      | 0           |
| Outer.Inner                | Outer                |                                               | 1      | 0           |
| Plain                      | <module>             |                                               | 1      | 0           |
| Meters                     | <module>             |                                               | 1      | 0           |
| main                       | <module>             |                                               | 1      | 0           |
| drive_f                    | main                 |                                               | 1      | 0           |
| f                          | drive_f              | a=int b=str                                   | 100000 | 0           |
| f                          | drive_f              | a=int b=int                                   | 1000   | 0           |
| drive_c_callbacks          | main                 |                                               | 1      | 0           |
| sort_key                   | drive_c_callbacks    | item=int                                      | 300    | 0           |
| add2                       | drive_c_callbacks    | acc=int item=int                              | 100    | 0           |
| drive_methods              | main                 |                                               | 1      | 0           |
| Account.__init__           | drive_methods        | self=__main__.Account owner=str balance=int   | 1      | 0           |
| Account.from_pair          | drive_methods        | cls=type pair=tuple                           | 3      | 0           |
| Account.__init__           | Account.from_pair    | self=__main__.Account owner=str balance=float | 3      | 0           |
| Account.deposit            | drive_methods        | self=__main__.Account amount=int              | 200    | 0           |
| Account.validate           | Account.deposit      | amount=int                                    | 200    | 0           |
| Account.validate           | drive_methods        | amount=float                                  | 7      | 0           |
| Account.summary            | drive_methods        | self=__main__.Account                         | 30     | 0           |
| Account.__len__            | drive_methods        | self=__main__.Account                         | 11     | 0           |
| drive_closures             | main                 |                                               | 1      | 0           |
| outer_fn                   | drive_closures       | n=int                                         | 40     | 0           |
| outer_fn.<locals>.inner_fn | outer_fn             | x=int                                         | 40     | 0           |
| make_scaler                | drive_closures       | factor=int                                    | 3      | 0           |
| make_scaler                | drive_closures       | factor=float                                  | 2      | 0           |
| make_scaler.<locals>.scale | drive_closures       | value=int                                     | 500    | 0           |
| drive_params               | main                 |                                               | 1      | 0           |
| star                       | drive_params         | x=int key=None args=tuple kw=dict             | 2      | 0           |
| star                       | drive_params         | x=int key=str args=tuple kw=dict              | 3      | 0           |
| kwo                        | drive_params         | a=int b=str c=int                             | 4      | 0           |
| kwo                        | drive_params         | a=str b=None c=float                          | 1      | 0           |
| po                         | drive_params         | a=int b=int c=int                             | 6      | 0           |
| po                         | drive_params         | a=int b=int c=str                             | 2      | 0           |
| drive_generators           | main                 |                                               | 1      | 0           |
| countdown                  | drive_generators     | n=int                                         | 3      | 0           |
| countdown                  | drive_generators     | ~                                             | 0      | 30          |
| squares                    | drive_generators     | n=int                                         | 1      | 0           |
| squares                    | drive_generators     | ~                                             | 0      | 5           |
| relay                      | drive_generators     | n=int                                         | 1      | 0           |
| relay                      | drive_generators     | ~                                             | 0      | 4           |
| countdown                  | relay                | n=int                                         | 1      | 0           |
| countdown                  | relay                | ~                                             | 0      | 3           |
| drive_recursion            | main                 |                                               | 1      | 0           |
| rec                        | drive_recursion      | n=int                                         | 1      | 0           |
| rec                        | rec                  | n=int                                         | 500    | 0           |
| drive_errors               | main                 |                                               | 1      | 0           |
| fail                       | drive_errors         | i=int                                         | 25     | 0           |
| drive_misc                 | main                 |                                               | 1      | 0           |
| <lambda>                   | drive_misc           | v=int                                         | 20     | 0           |
| drive_threads              | main                 |                                               | 1      | 0           |
| thread_body                | threading.Thread.run | tag=str                                       | 4      | 0           |
| worker_call                | thread_body          | i=int tag=str                                 | 100000 | 0           |
| drive_types                | main                 |                                               | 1      | 0           |
| typed                      | drive_types          | value=None                                    | 1      | 0           |
| typed                      | drive_types          | value=float                                   | 2      | 0           |
| typed                      | drive_types          | value=bytes                                   | 3      | 0           |
| typed                      | drive_types          | value=list                                    | 4      | 0           |
| typed                      | drive_types          | value=dict                                    | 5      | 0           |
| typed                      | drive_types          | value=tuple                                   | 6      | 0           |
| typed                      | drive_types          | value=set                                     | 7      | 0           |
| typed                      | drive_types          | value=collections.OrderedDict                 | 8      | 0           |
| typed                      | drive_types          | value=__main__.Plain                          | 9      | 0           |
| typed                      | drive_types          | value=__main__.Outer.Inner                    | 10     | 0           |
| typed                      | drive_types          | value=bool                                    | 11     | 0           |
| typed                      | drive_types          | value=function                                | 12     | 0           |
| typed                      | drive_types          | value=type                                    | 13     | 0           |
| typed                      | drive_types          | value=__main__.Meters                         | 14     | 0           |

Parameter kinds (p = positional_or_keyword, po = positional_only,
ko = keyword_only, vp = var_positional, vk = var_keyword):

| function          | kinds                    |
|-------------------|--------------------------|
| f                 | a=p b=p                  |
| star              | x=p key=ko args=vp kw=vk |
| kwo               | a=p b=ko c=ko            |
| po                | a=po b=po c=p            |
| Account.from_pair | cls=p pair=p             |
| Account.validate  | amount=p                 |
| make_scaler       | factor=p                 |
| countdown         | n=p                      |

Totals: f 101000 calls, worker_call 100000, rec 501, typed 105.
"""

import collections
import functools
import json
import sys
import threading

N_F = 100000  # f(int, str) from Python
N_MAP = 1000  # f(int, int) from map(), i.e. called from C
N_THREADS = 4
N_PER_THREAD = 25000
REC_DEPTH = 500  # rec(500) .. rec(0): 501 frames, well under the default limit of 1000


def f(a, b):
    return a


def drive_f():
    total = 0
    for i in range(N_F):
        total += f(i, "x")
    # map() is C code: the callee's caller frame is still drive_f.
    total += sum(map(f, range(N_MAP), range(N_MAP)))
    return total


def sort_key(item):
    return -item


def add2(acc, item):
    return acc + item


def drive_c_callbacks():
    # sorted() calls the key once per element; reduce() with an initial
    # value calls the function once per element.
    ordered = sorted(range(300), key=sort_key)
    total = functools.reduce(add2, range(100), 0)
    return ordered[0] + total


class Account:
    def __init__(self, owner, balance):
        self.owner = owner
        self.balance = balance

    @classmethod
    def from_pair(cls, pair):
        return cls(pair[0], pair[1])

    @staticmethod
    def validate(amount):
        return amount >= 0

    def deposit(self, amount):
        if self.validate(amount):
            self.balance += amount
        return self.balance

    @property
    def summary(self):
        return self.owner

    def __len__(self):
        return 1


def drive_methods():
    acct = Account("ann", 10)
    for _ in range(3):
        Account.from_pair(("bob", 2.5))
    for i in range(200):
        acct.deposit(i)
    for _ in range(7):
        Account.validate(1.5)
    names = 0
    for _ in range(30):
        names += len(acct.summary)
    for _ in range(11):
        names += len(acct)  # __len__ called from C (the len() builtin)
    return acct.balance + names


def outer_fn(n):
    def inner_fn(x):  # nested, closes over nothing
        return x + 1

    return inner_fn(n)


def make_scaler(factor):
    # factor is a parameter captured by scale: it lives in a cell, which
    # recapid must look through to report the argument's type.
    def scale(value):
        return value * factor

    return scale


def drive_closures():
    total = 0
    for i in range(40):
        total += outer_fn(i)
    scalers = [make_scaler(2), make_scaler(3), make_scaler(4), make_scaler(0.5), make_scaler(1.5)]
    for scaler in scalers:
        for i in range(100):
            total += scaler(i)
    return total


def star(x, *args, key=None, **kw):
    return len(args) + len(kw)


def kwo(a, *, b, c=3):
    return c


def po(a, b, /, c):
    return a


def drive_params():
    for _ in range(2):
        star(1)
    for _ in range(3):
        star(1, 2, 3, key="k", extra=1.5)
    for _ in range(4):
        kwo(1, b="x")
    kwo("a", b=None, c=2.0)
    for _ in range(6):
        po(1, 2, 3)
    for _ in range(2):
        po(1, 2, c="z")
    return 18


def countdown(n):
    while n > 0:
        yield n
        n -= 1


def squares(n):
    for i in range(n):
        yield i * i


def relay(n):
    yield from countdown(n)
    yield -1


def drive_generators():
    # A generator's first next() is its start; each later next() is a
    # resumption, including the last one, which ends it: n yields -> 1 + n.
    total = 0
    for _ in range(3):
        for v in countdown(10):
            total += v
    total += sum(squares(5))  # consumed from C: the caller is still this frame
    # yield from: relay is resumed 4 times (3 delegated yields and its own),
    # and resumes countdown 3 times (the third ends it).
    for v in relay(3):
        total += v
    return total


def rec(n):
    if n == 0:
        return 0
    return rec(n - 1) + 1


def drive_recursion():
    return rec(REC_DEPTH)


def fail(i):
    raise ValueError(i)


def drive_errors():
    caught = 0
    for i in range(25):
        try:
            fail(i)
        except ValueError:
            caught += 1
    return caught


square = lambda v: v * v  # noqa: E731 (a lambda on purpose)


def drive_misc():
    total = 0
    for i in range(20):
        total += square(i)
    return total


def worker_call(i, tag):
    return i


def thread_body(tag):
    total = 0
    for i in range(N_PER_THREAD):
        total += worker_call(i, tag)
    results.append(total)


results = []


def drive_threads():
    threads = []
    for _ in range(N_THREADS):
        threads.append(threading.Thread(target=thread_body, args=("t",)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(results)


class Outer:
    class Inner:
        pass


class Plain:
    pass


class Meters(int):
    """A heap type derived from a builtin: its name comes from the class dict."""


def typed(value):
    return value


def drive_types():
    # The i-th value is passed i+1 times, so a miscounted or swapped type shows.
    values = [
        None,
        1.5,
        b"raw",
        [1, 2],
        {"k": 1},
        (1, "a"),
        {1, 2},
        collections.OrderedDict(a=1),
        Plain(),
        Outer.Inner(),
        True,
        square,
        Plain,
        Meters(3),
    ]
    count = 0
    for i, value in enumerate(values):
        for _ in range(i + 1):
            typed(value)
            count += 1
    return count


def main():
    summary = {
        "workload": "calls",
        "python": "%d.%d" % sys.version_info[:2],
        "f": drive_f(),
        "c_callbacks": drive_c_callbacks(),
        "methods": drive_methods(),
        "closures": drive_closures(),
        "params": drive_params(),
        "generators": drive_generators(),
        "recursion": drive_recursion(),
        "errors": drive_errors(),
        "misc": drive_misc(),
        "threads": drive_threads(),
        "types": drive_types(),
    }
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
