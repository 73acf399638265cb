"""Eight naps on a thread pool. poolscope's tests size its pool (`poolscope sweep`).

The program prints the pool's size, and how many threads ran its tasks at once: each task
waits at a barrier for as many others as the pool has workers, so with N workers N tasks
must run together, or the barrier times out.

    python3 sleepy_pool.py [--fail-at N] [--pools 2]

--fail-at N raises once the pool has N workers; --pools 2 makes a small pool first and
naps on a second one.
"""

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

NAPS = 8


def nap(i, together):
    together.wait(timeout=30)  # every worker busy at once: the pool really has that many
    time.sleep(0.05)
    return threading.current_thread().name


def main():
    fail_at = int(sys.argv[sys.argv.index("--fail-at") + 1]) if "--fail-at" in sys.argv else None
    if "--pools" in sys.argv:
        with ThreadPoolExecutor(max_workers=3) as first:
            print("first pool workers", first._max_workers)
            list(first.map(abs, range(3)))
    with ThreadPoolExecutor(max_workers=4) as pool:
        workers = pool._max_workers
        print("pool workers", workers)
        if workers == fail_at:
            raise RuntimeError("no good at %d workers" % workers)
        # A multiple of the size: every round of the barrier fills.
        together = threading.Barrier(workers)
        names = set(pool.map(nap, range(NAPS - NAPS % workers or workers), [together] * NAPS))
        print("threads that ran tasks", len(names))


if __name__ == "__main__":
    main()
