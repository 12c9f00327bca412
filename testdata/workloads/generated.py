"""recapi workload: generated code that shares file, name and first line.

    python generated.py

Like dataclasses (whose __create_fn__ is exec'd from "<string>", line 1, once
per class, with parameters of its own), it compiles one function named
`generated` per round from a string with filename "<string>" (exec of a string), calls it
with arguments of the round's type, and drops it, so the next round's code
object is often allocated where the last one was freed. Round i has N_i
parameters named p<i>_<j> and is called i + 1 times with arguments of
TYPES[i]. A recorder that mixes two rounds' code objects up names one
round's parameters with another's types.

Expected records of `generated` (file "<string>", caller run):

| round | parameters                | argument type | calls |
|-------|---------------------------|---------------|-------|
| 0     | p0_0 .. p0_3              | int           | 1     |
| 1     | p1_0                      | str           | 2     |
| 2     | p2_0 .. p2_2              | float         | 3     |
| 3     | p3_0 .. p3_1              | bytes         | 4     |
| 4     | p4_0 .. p4_3              | bool          | 5     |
"""

TYPES = [int, str, float, bytes, bool]
ARITIES = [4, 1, 3, 2, 4]


GLOBALS = {}  # shared, as dataclasses share their module's globals


def make(i, n):
    params = ", ".join("p%d_%d" % (i, j) for j in range(n))
    ns = {}
    exec("def generated(%s):\n    return %d\n" % (params, i), GLOBALS, ns)
    return ns["generated"]


def run(i, n):
    f = make(i, n)
    args = [TYPES[i]()] * n
    for _ in range(i + 1):
        f(*args)


def main():
    for i, n in enumerate(ARITIES):
        run(i, n)


if __name__ == "__main__":
    main()
