"""A hot loop for the JIT test: f is called CALLS times from one loop, which
CPython's JIT (3.13+, when built in and PYTHON_JIT=1) compiles to machine
code. Prints, as JSON, whether the JIT was on (the interpreter's own answer)
and how many calls ran."""
import json
import sys

CALLS = 200_000


def f(a, b):
    return a + b


def loop(n):
    t = 0
    for i in range(n):
        t = f(t, i)
    return t


loop(CALLS)
jit = getattr(sys, "_jit", None)
print(json.dumps({"jit_on": bool(jit and jit.is_enabled()), "calls": CALLS}))
