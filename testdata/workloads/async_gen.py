"""recapi workload: coroutines and an async generator under asyncio.run.

    python async_gen.py

A coroutine or async generator starts on its first send (not when it is
created) and is resumed once after every suspension. asyncio.sleep(0)
suspends the whole task exactly once, so every count below is exact.
Expected calls (format as in calls.py; a caller outside this file is
module.qualname: tasks are stepped by asyncio's Handle._run):

| function | caller                     | arguments            | calls | resumptions |
|----------|----------------------------|----------------------|-------|-------------|
| <module> | -                          |                      | 1     | 0           |
| main     | <module>                   |                      | 1     | 0           |
| amain    | asyncio.events.Handle._run |                      | 1     | 0           |
| amain    | asyncio.events.Handle._run | ~                    | 0     | 11          |
| middle   | amain                      | n=int                | 1     | 0           |
| middle   | amain                      | ~                    | 0     | 10          |
| leaf     | middle                     | i=int                | 10    | 0           |
| leaf     | middle                     | ~                    | 0     | 10          |
| leaf     | asyncio.events.Handle._run | i=int                | 2     | 0           |
| leaf     | asyncio.events.Handle._run | ~                    | 0     | 2           |
| consume  | amain                      | n=int                | 1     | 0           |
| ticker   | consume                    | n=int                | 1     | 0           |
| ticker   | consume                    | ~                    | 0     | 5           |
| describe | amain                      | value=float unit=str | 1     | 0           |

Why: middle awaits leaf 10 times, and each leaf suspends once in sleep(0),
so amain, middle and leaf are each resumed 10 times. ticker yields 5 values
without suspending the task (1 start + 5 resumptions, the last one ends
it). gather() runs two leaf tasks (each 1 start + 1 resumption, stepped
directly by the event loop) and amain waits for them: one more resumption.
describe never suspends.

Parameter kinds:

| function | kinds           |
|----------|-----------------|
| describe | value=p unit=ko |
"""

import asyncio
import json
import sys


async def leaf(i):
    await asyncio.sleep(0)
    return i


async def middle(n):
    total = 0
    for i in range(n):
        total += await leaf(i)
    return total


async def ticker(n):
    for i in range(n):
        yield i


async def consume(n):
    total = 0
    async for v in ticker(n):
        total += v
    return total


async def describe(value, *, unit="s"):
    return "%.1f%s" % (value, unit)


async def amain():
    a = await middle(10)
    b = await consume(5)
    c = await asyncio.gather(leaf(100), leaf(200))
    d = await describe(1.5)
    return {"middle": a, "consume": b, "gather": c, "describe": d}


def main():
    result = asyncio.run(amain())
    result["workload"] = "async_gen"
    result["python"] = "%d.%d" % sys.version_info[:2]
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
