"""poolscope's instrumentation of Dask's executor (SPEC §5, §7): `Client.get_executor()`.

poolscope_probe installs this beside its own wrapping of concurrent.futures. Once the program
imports distributed, each ClientExecutor it makes is a pool of kind "dask": its tasks are
reported as they are submitted, and each runs inside a small callable that reports its start
and finish from the Dask worker thread that runs it, with the worker's host, PID and thread.

Workers run in other processes (a LocalCluster's, or those of a scheduler the program attaches
to), which may not have this file on their path: the callable travels by value (cloudpickle),
with the socket's address and the run's zero, and sends its datagrams itself. A worker on
another machine (or one that cannot reach the socket) reports through Dask's own event stream
instead: `Worker.log_event` on the topic "poolscope", which the scheduler passes on to the
program's client, whose subscription forwards each report to the socket, its time taken from
the wall clock (the machines' clocks differ only as much as NTP lets them). A lane is one
worker thread, named HOST:PID·SLOT, SLOT the thread's place in its worker's thread pool.

The futures the executor returns are concurrent.futures Futures, which poolscope_probe already
follows (result, exception, cancel, callbacks, wait, as_completed); map's results are reported
here, as the iterator hands them out. The queue is the scheduler's own count of tasks waiting
for a worker thread, from a scheduler plugin.
"""

import os
import sys
import threading
import time

# The topic of Dask's event stream the reports of workers that cannot reach the socket go by.
TOPIC = "poolscope"


class _WorkerReport:
    """Runs one task on a Dask worker, reporting its start and finish from the worker thread.
    Self-contained: it is sent to the workers by value, and uses nothing of poolscope there."""

    def __init__(self, fn, tasks, pool, clock, each):
        self.fn = fn
        self.tasks = tasks  # one task (submit), or a map's tasks (each call names its own)
        self.pool = pool
        self.address, self.t0 = clock.address, clock.t0
        self.each = each

    def __dask_tokenize__(self):
        return ("poolscope", self.pool, self.t0, tuple(self.tasks) if self.each else self.tasks)

    def _send(self, fields, log_event=None):
        """To the socket when this process can reach it; else (another machine, or another
        mount namespace) by `log_event` (the worker's own, or the scheduler's), with the
        wall-clock time."""
        import json
        import socket
        import time

        if self.address is None:
            return
        mono, wall = time.monotonic_ns(), time.time_ns()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.sendto(json.dumps(dict(fields, t=max(0, (mono - self.t0) // 1000))).encode(), self.address)
            return
        except OSError:
            pass  # no such socket here: another machine's, or out of this process's sight
        fields["wall"] = wall
        try:
            if log_event is None:
                from distributed import get_worker

                log_event = get_worker().log_event
            log_event(TOPIC, fields)
        except Exception:
            pass  # not on a worker, or it is closing: the report is lost, the task is not

    @staticmethod
    def _boot_id():
        """This machine's boot, as Linux names it (None elsewhere)."""
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                return f.read().strip()
        except OSError:
            return None

    @staticmethod
    def _lane():
        """HOST:PID·SLOT of the running worker thread."""
        host = "?"
        try:
            from distributed import get_worker

            address = get_worker().address
            host = address.split("://", 1)[-1].rsplit(":", 1)[0]
        except Exception:
            pass
        slot = 0
        try:
            from distributed.threadpoolexecutor import thread_state

            def number(t):
                tail = t.name.rsplit("-", 1)[-1]
                return int(tail) if tail.isdigit() else 0

            threads = sorted(thread_state.executor._threads, key=number)
            slot = threads.index(threading.current_thread())
        except Exception:
            pass
        return "%s:%d·%d" % (host, os.getpid(), slot)

    def __call__(self, *args, **kwargs):
        if self.each:
            task, args = args[0], args[1:]
        else:
            task = self.tasks
        where = dict(task=task, pool=self.pool, pid=os.getpid(), thread=self._lane())
        self._send(dict(ev="start", **where))
        try:
            value = self.fn(*args, **kwargs)
        except BaseException as e:
            text = str(e)
            text = text if len(text) <= 200 else text[:199] + "…"
            self._send(dict(ev="finish", outcome="error", error="%s: %s" % (type(e).__name__, text), **where))
            raise
        shown = value if isinstance(value, str) else repr(value)
        shown = shown if len(shown) <= 200 else shown[:199] + "…"
        self._send(dict(ev="finish", outcome="ok", value=shown, **where))
        return value


class _Clock:
    """What a report needs to reach poolscope and be timed: the socket's address, the run's
    zero on this machine's monotonic clock, and this machine's boot."""

    def __init__(self, address, t0):
        self.address, self.t0 = address, t0
        self.boot = _WorkerReport._boot_id()
        # The run's zero on the wall clock, for the reports of other machines.
        self.wall0 = time.time_ns() - (time.monotonic_ns() - t0)


def _scheduler_queue(clock, pool):
    """A scheduler plugin reporting the scheduler's count of tasks waiting for a worker
    thread (queued, or with no worker to run them) whenever it changes. It runs where the
    scheduler runs, so it too is sent by value and sends its own datagrams."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    class SchedulerQueue(SchedulerPlugin):
        name = "poolscope-queue"

        def __init__(self):
            self.scheduler = None
            self.depth = None

        async def start(self, scheduler):
            self.scheduler = scheduler

        def transition(self, key, start, finish, *args, **kwargs):
            scheduler = self.scheduler
            if scheduler is None:
                return
            depth = len(scheduler.queued) + len(scheduler.unrunnable)
            if depth != self.depth:
                self.depth = depth
                report = _WorkerReport(None, None, pool, clock, False)
                report._send(dict(ev="scheduler_queue", pool=pool, depth=depth), scheduler.log_event)

    return SchedulerQueue()


def _whoami(address, boot):
    """On a worker: its pid, and whether it can reach poolscope's socket (on this machine,
    and with the socket's folder in sight) — if not, poolscope cannot see its process either,
    and shows the CPU Dask reads for it."""
    here = _WorkerReport._boot_id() == boot and address is not None and os.path.exists(address)
    return os.getpid(), here


# How often the CPU Dask reads for a worker poolscope cannot see is passed on (Dask's workers
# send theirs with each heartbeat, about as often).
_CPU_EVERY_S = 0.5


def _report_cpu(executor, unseen, probe, workers):
    """One reading per lane of each worker in `unseen`, from the scheduler's `workers`."""
    import math

    for worker_address, (pid, lanes) in unseen.items():
        cpu = workers.get(worker_address, {}).get("metrics", {}).get("cpu")
        if not isinstance(cpu, (int, float)) or not math.isfinite(cpu):
            continue
        for lane in lanes:
            probe._emit("worker_cpu", pool=executor._poolscope, pid=pid, thread=lane, cpu=float(cpu))


def _watch_cpu(executor, client, unseen, probe):
    """Passes on the CPU Dask reads for the workers in `unseen` until the executor shuts down
    or its client closes."""
    while not executor._poolscope_shut and client.status == "running":
        time.sleep(_CPU_EVERY_S)
        if executor._poolscope_shut or client.status != "running":
            return
        try:
            workers = client.scheduler_info().get("workers", {})
        except Exception:
            return  # the client is closing
        _report_cpu(executor, unseen, probe, workers)


def _lane_of(address, pid, slot):
    host = address.split("://", 1)[-1].rsplit(":", 1)[0]
    return "%s:%d·%d" % (host, pid, slot)


def _patch(cfexecutor, probe):
    ClientExecutor = cfexecutor.ClientExecutor
    init, submit, map_, shutdown, leave = (
        ClientExecutor.__init__,
        ClientExecutor.submit,
        ClientExecutor.map,
        ClientExecutor.shutdown,
        ClientExecutor.__exit__,
    )
    clock = _Clock(probe._ADDRESS, probe._T0)

    def main():
        return os.getpid() == probe._MAIN_PID

    def __init__(self, client, **kwargs):
        init(self, client, **kwargs)
        if not main():
            return
        with probe._lock:
            self._poolscope = probe._counters["pool"]
            probe._counters["pool"] += 1
        self._poolscope_shut = False
        try:
            workers = client.scheduler_info().get("workers", {})
            # The scheduler does not say a worker's pid, nor whether it can reach the socket.
            whoami = client.run(_whoami, clock.address, clock.boot) if workers else {}
        except Exception:
            workers, whoami = {}, {}
        # Grouped by worker (by name: a LocalCluster's 0, 1, ...), a lane per thread.
        ordered = sorted(workers.items(), key=lambda kv: (str(kv[1].get("name", "")), kv[0]))
        threads = sum(int(info.get("nthreads", 1)) for _, info in ordered)
        _subscribe(client, clock, probe)
        try:
            client.register_plugin(_scheduler_queue(clock, self._poolscope))
        except Exception:
            pass  # a scheduler that takes no plugin: the queue shows nothing
        probe._emit("pool", pool=self._poolscope, kind="dask", workers=threads)
        unseen = {}  # the lanes of workers poolscope cannot see here, by worker address
        for worker_address, info in ordered:
            if worker_address not in whoami:
                continue
            pid, here = whoami[worker_address]
            lanes = [_lane_of(worker_address, pid, slot) for slot in range(int(info.get("nthreads", 1)))]
            for lane in lanes:
                probe._emit("worker_up", pool=self._poolscope, pid=pid, thread=lane)
            if not here:
                unseen[worker_address] = (pid, lanes)
        if unseen:
            _report_cpu(self, unseen, probe, workers)
            watch = threading.Thread(target=_watch_cpu, args=(self, client, unseen, probe), daemon=True)
            watch.name = "poolscope-dask-cpu"
            watch.start()

    def new_task(pool, label):
        with probe._lock:
            task = probe._counters["task"]
            probe._counters["task"] += 1
        probe._emit("submit", task=task, pool=pool, label=label)
        return task

    def traced_submit(self, fn, *args, **kwargs):
        pool = getattr(self, "_poolscope", None)
        if pool is None or not main():
            return submit(self, fn, *args, **kwargs)
        if self._shutdown:
            return probe._refused(lambda: submit(self, fn, *args, **kwargs))
        task = new_task(pool, probe._label(fn, args))
        future = submit(self, _WorkerReport(fn, task, pool, clock, False), *args, **kwargs)
        future._poolscope = task
        return future

    def traced_map(self, fn, *iterables, **kwargs):
        pool = getattr(self, "_poolscope", None)
        if pool is None or not main():
            return map_(self, fn, *iterables, **kwargs)
        if self._shutdown:
            return probe._refused(lambda: map_(self, fn, *iterables, **kwargs))
        calls = list(zip(*iterables))
        tasks = [new_task(pool, probe._label(fn, call)) for call in calls]
        columns = [list(column) for column in zip(*calls)] if calls else [[] for _ in iterables]
        results = map_(self, _WorkerReport(fn, tasks, pool, clock, True), tasks, *columns, **kwargs)
        return _map_results(results, tasks, probe)

    def traced_shutdown(self, wait=True, *args, **kwargs):
        pool = getattr(self, "_poolscope", None)
        if pool is None or self._poolscope_shut:
            return shutdown(self, wait, *args, **kwargs)
        self._poolscope_shut = True
        probe._emit("shutdown", pool=pool, wait=bool(wait), phase="begin")
        try:
            return shutdown(self, wait, *args, **kwargs)
        finally:
            probe._emit("shutdown", pool=pool, wait=bool(wait), phase="end")

    def traced_exit(self, *args):
        if getattr(self, "_poolscope", None) is not None:
            probe._emit("with_exit", pool=self._poolscope)
        return leave(self, *args)

    ClientExecutor.__init__ = __init__
    ClientExecutor.submit = traced_submit
    ClientExecutor.map = traced_map
    ClientExecutor.shutdown = traced_shutdown
    ClientExecutor.__exit__ = traced_exit


def _subscribe(client, clock, probe):
    """Forwards to the socket the reports that come by Dask's event stream (a worker or a
    scheduler on another machine), once per client. The handler runs on the client's event
    loop, which receives a worker's report before the result of the task it reports on."""
    if getattr(client, "_poolscope_subscribed", False):
        return

    def forward(event):
        try:
            _, fields = event
            fields = dict(fields)
            fields.pop("worker", None)  # Dask's own: the worker that logged it
            wall = fields.pop("wall")
            fields["t"] = max(0, (wall - clock.wall0) // 1000)
            probe._send(fields)
        except Exception:
            pass  # not a report of ours

    try:
        client.subscribe_topic(TOPIC, forward)
        client._poolscope_subscribed = True
    except Exception:
        pass  # a Dask without event topics: other machines' tasks show nothing


def _map_results(results, tasks, probe):
    """map's iterator: each result reported as the program receives it, in item order; the
    exception of the item that raised; one TimeoutError for the whole iterator."""
    import concurrent.futures as cf

    index = 0
    try:
        while True:
            try:
                value = next(results)
            except StopIteration:
                return
            except cf.TimeoutError as e:
                if probe._main_program():
                    probe._emit("raise", exception="TimeoutError", message=probe._message(e))
                raise
            except BaseException as e:
                if index < len(tasks) and probe._main_program():
                    probe._emit(
                        "result",
                        task=tasks[index],
                        outcome="error",
                        error=probe._message(e),
                        exception=type(e).__name__,
                    )
                raise
            if index < len(tasks) and probe._main_program():
                probe._emit("result", task=tasks[index], outcome="ok", value=probe._short(value))
            index += 1
            yield value
    finally:
        results.close()


class _AfterImport:
    """Patches distributed's executor as soon as the program imports it (the program may
    never: then distributed is never imported, and costs nothing)."""

    def __init__(self, probe):
        self.probe = probe

    def find_spec(self, name, path=None, target=None):
        if name != "distributed.cfexecutor":
            return None
        import importlib.util

        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        sys.meta_path.remove(self)  # once is enough
        loader, probe = spec.loader, self.probe
        run = loader.exec_module

        def exec_module(module):
            run(module)
            _ready(module, probe)

        loader.exec_module = exec_module
        return spec


def _ready(cfexecutor, probe):
    try:
        import cloudpickle

        # The workers need not have this file: the reporting callable travels by value.
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    except Exception:
        pass
    _patch(cfexecutor, probe)


def install(probe):
    """Follows Dask's executor, now if distributed is imported already, else once it is."""
    module = sys.modules.get("distributed.cfexecutor")
    if module is not None:
        _ready(module, probe)
    elif not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(probe))
