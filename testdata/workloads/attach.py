"""recapi workload for the attach test: a process that is already running.

    python attach.py TRIGGER_FILE N_AFTER [TIMEOUT_SECONDS [PROGRESS_FILE]]

Phase 1 prints "ready" (flushed), then calls before(i) until TRIGGER_FILE
exists, checking every 1000 calls and sleeping 1 ms there so the process is
busy but not a pure CPU burn. The test attaches recapid during phase 1, then
creates the file. Phase 2 calls after(i, "s") exactly N_AFTER times, prints
{"after": N_AFTER, "before": <calls made in phase 1>} and exits 0. Without the
file after TIMEOUT_SECONDS (default 120) it exits 3, so a broken test cannot
leave it running forever. With PROGRESS_FILE, phase 1 appends a line
"<CLOCK_MONOTONIC seconds> <calls so far>" at every check, written with
os.write so the log itself makes no Python-level calls.

Everything in phase 2 happens after the attach, so recapid must see all of
it; phase 1 is seen only in part. Expected calls (format as in calls.py;
"*" = any positive count, "argv[2]" = int(N_AFTER)):

| function | caller   | arguments                               | calls   | resumptions |
|----------|----------|-----------------------------------------|---------|-------------|
| <module> | -        |                                         | 1       | 0           |
| main     | <module> |                                         | 1       | 0           |
| phase1   | main     | trigger=str timeout=float progress=None | 1       | 0           |
| before   | phase1   | i=int                                   | *       | 0           |
| phase2   | main     | n=int                                   | 1       | 0           |
| after    | phase2   | i=int tag=str                           | argv[2] | 0           |
"""

import json
import os
import sys
import time

BATCH = 1000  # calls between checks of the trigger file


def before(i):
    return i


def after(i, tag):
    return i


def phase1(trigger, timeout, progress):
    deadline = time.monotonic() + timeout
    print("ready", flush=True)
    i = 0
    while True:
        before(i)
        i += 1
        if i % BATCH == 0:
            if progress is not None:
                os.write(progress, b"%.6f %d\n" % (time.monotonic(), i))
            if os.path.exists(trigger):
                return i
            if time.monotonic() > deadline:
                sys.stderr.write("attach.py: %s did not appear within %ss\n" % (trigger, timeout))
                sys.exit(3)
            time.sleep(0.001)


def phase2(n):
    for i in range(n):
        after(i, "s")


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: attach.py TRIGGER_FILE N_AFTER [TIMEOUT_SECONDS]\n")
        sys.exit(2)
    trigger, n_after = sys.argv[1], int(sys.argv[2])
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 120.0
    progress = None
    if len(sys.argv) > 4:
        progress = os.open(sys.argv[4], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    n_before = phase1(trigger, timeout, progress)
    phase2(n_after)
    print(json.dumps({"after": n_after, "before": n_before}, sort_keys=True))


if __name__ == "__main__":
    main()
