"""recapi workload for benchmarks: one call-heavy loop.

    python bench.py [N [containers]]     (N defaults to 1000000)

Calls target(i, "x") N times (with "containers": target([i], {"k": i}), whose
element types recapid samples) and prints {"seconds": t, "calls": N}, where t
times only the loop (time.perf_counter), so interpreter start-up and attach
cost stay out of the per-call figure. Expected calls (format as in calls.py;
"argv[1]" = N):

| function | caller   | arguments   | calls   | resumptions |
|----------|----------|-------------|---------|-------------|
| <module> | -        |             | 1       | 0           |
| main     | <module> |             | 1       | 0           |
| run      | main     | n=int       | 1       | 0           |
| target   | run      | a=int b=str | argv[1] | 0           |
"""

import json
import sys
import time


def target(a, b):
    return a


def run(n):
    start = time.perf_counter()
    for i in range(n):
        target(i, "x")
    return time.perf_counter() - start


def run_containers(n):
    start = time.perf_counter()
    for i in range(n):
        target([i], {"k": i})
    return time.perf_counter() - start


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    if len(sys.argv) > 2 and sys.argv[2] == "containers":
        seconds = run_containers(n)
    else:
        seconds = run(n)
    print(json.dumps({"seconds": seconds, "calls": n}, sort_keys=True))


if __name__ == "__main__":
    main()
