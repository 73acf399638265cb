"""poolscope's instrumentation of CPython's pools (SPEC §5, §7).

poolscope runs a program as

    python3 -c "import poolscope_probe; poolscope_probe.main()" SCRIPT ARGS...

with this file's folder on PYTHONPATH. It wraps concurrent.futures so that every pool the
program makes reports what happens as one JSON datagram per event, sent to the Unix socket
named in POOLSCOPE_SOCKET. Worker processes (forked or spawned) report the same way; a
datagram is delivered whole, so events of different processes never mix. Times are
time.monotonic_ns() minus POOLSCOPE_T0_NS, in microseconds: poolscope's own clock.

The program itself is run unchanged, as __main__. With POOLSCOPE_STEP_LINES (the first line
of each step of a lesson, from 0) the main thread's lines are watched to say when a step
begins; with POOLSCOPE_PRINT_STEPS (step indices) what the main program prints in those
steps is reported too.
"""

import functools
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback

_ADDRESS = os.environ.get("POOLSCOPE_SOCKET")
_T0 = int(os.environ.get("POOLSCOPE_T0_NS", "0"))
# Only the process poolscope started is "the main program"; its workers only run tasks.
_MAIN_PID = int(os.environ.setdefault("POOLSCOPE_MAIN_PID", str(os.getpid())))
_TEXT = 200  # values and messages are cut to this many characters

_lock = threading.Lock()
_socket = [None, None]  # the socket and the pid that made it (a forked child makes its own)
_counters = {"task": 0, "pool": 0}
_local = threading.local()


def _after_fork_in_child():
    """A child forked while another thread of its parent held a lock (a Pool's worker
    handler forks new workers while the main program emits) would wait on it for ever:
    the child starts with fresh locks."""
    global _lock, _pools_lock
    _lock = threading.Lock()
    _pools_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _emit(ev, **fields):
    if _ADDRESS is None:
        return
    fields["ev"] = ev
    fields["t"] = max(0, (time.monotonic_ns() - _T0) // 1000)
    _send(fields)


def _send(fields):
    """Sends one event, its time already in it (a Dask worker's, forwarded, has its own)."""
    if _ADDRESS is None:
        return
    data = json.dumps(fields).encode()
    pid = os.getpid()
    with _lock:
        if _socket[1] != pid:
            _socket[0] = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            _socket[1] = pid
        try:
            _socket[0].sendto(data, _ADDRESS)
        except OSError:
            pass  # poolscope has stopped listening: the program goes on unobserved


def _short(value):
    text = value if isinstance(value, str) else repr(value)  # as print() shows it
    return text if len(text) <= _TEXT else text[: _TEXT - 1] + "…"


def _message(error):
    text = str(error)
    return text if len(text) <= _TEXT else text[: _TEXT - 1] + "…"


def _unchunk(fn, args):
    """A process pool's map submits chunks, partial(_process_chunk, fn, [(item,), ...]): the
    function and items of the chunk, and whether it holds one item (its result is then a list
    of one value, which the program sees as that value)."""
    inner = getattr(fn, "func", None)
    if getattr(inner, "__name__", "") == "_process_chunk":
        bound = tuple(getattr(fn, "args", ())) + tuple(args)  # partial(_process_chunk, fn)(chunk)
        if len(bound) == 2:
            real, chunk = bound
            chunk = list(chunk)
            return real, tuple(a for call in chunk for a in call), len(chunk) == 1
    return fn, args, False


class _Items:
    """The function of a process pool map's chunk of several items: reports each item as a
    task of its own, from the worker, as the worker runs it (a chunk's items run one after
    another in one call of _process_chunk, each call of this object one item)."""

    def __init__(self, fn, tasks, pool):
        self.fn = fn
        self.tasks = tasks
        self.pool = pool
        self.next = 0

    def __call__(self, *args, **kwargs):
        task = self.tasks[self.next]
        self.next += 1
        where = dict(task=task, pool=self.pool, pid=os.getpid(), thread=_thread_name())
        _emit("start", **where)
        try:
            value = self.fn(*args, **kwargs)
        except BaseException as e:
            _emit("finish", outcome="error", error="%s: %s" % (type(e).__name__, _message(e)), **where)
            try:
                e._poolscope_task = task  # pickled with the exception: which item raised
            except AttributeError:
                pass
            raise
        _emit("finish", outcome="ok", value=_short(value), **where)
        return value


def _value(future, value):
    """What the program receives for `value`: a one-item chunk's list unwrapped."""
    if getattr(future, "_poolscope_single", False) and isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _label(fn, args):
    inner = getattr(fn, "func", fn)  # functools.partial (a process pool's map chunks)
    name = getattr(inner, "__name__", type(inner).__name__)
    shown = ", ".join(_short(a) for a in args[:3]) + (", …" if len(args) > 3 else "")
    return "%s(%s)" % (name, shown)


def _main_program():
    """True on the main program's own thread, outside a done-callback, and not inside
    wait(), which looks at futures' exceptions without the program receiving them."""
    if not (
        os.getpid() == _MAIN_PID
        and threading.current_thread() is threading.main_thread()
        and not getattr(_local, "in_callback", False)
    ):
        return False
    frame = sys._getframe(2)
    for _ in range(4):
        if frame is None:
            break
        if frame.f_code.co_name == "wait" and "/concurrent/futures/" in frame.f_code.co_filename.replace(os.sep, "/"):
            return False
        frame = frame.f_back
    return True


def _thread_name():
    """The running thread's name; a worker process's main thread is `MainThread`, although a
    process forked from another thread (a Pool's worker handler) keeps that thread's name."""
    if os.getpid() != _MAIN_PID and threading.current_thread() is threading.main_thread():
        return "MainThread"
    return threading.current_thread().name


class _Call:
    """A submitted callable: reports its start and finish from the worker that runs it."""

    def __init__(self, fn, task, pool, single=False):
        self.fn = fn
        self.task = task
        self.pool = pool
        self.single = single

    def __call__(self, *args, **kwargs):
        where = dict(task=self.task, pool=self.pool, pid=os.getpid(), thread=_thread_name())
        _emit("start", **where)
        try:
            value = self.fn(*args, **kwargs)
        except BaseException as e:
            _emit("finish", outcome="error", error="%s: %s" % (type(e).__name__, _message(e)), **where)
            raise
        shown = value[0] if self.single and isinstance(value, list) and len(value) == 1 else value
        _emit("finish", outcome="ok", value=_short(shown), **where)
        return value


class _Initializer:
    """A pool's initializer: reports from the worker that runs it when it begins and ends, so
    the worker's lane is not drawn idle meanwhile."""

    def __init__(self, fn, pool):
        self.fn = fn
        self.pool = pool

    def __call__(self, *args, **kwargs):
        where = dict(pool=self.pool, pid=os.getpid(), thread=_thread_name())
        _emit("initializing", **where)
        try:
            value = self.fn(*args, **kwargs)
        except BaseException as e:
            _emit("initialized", error="%s: %s" % (type(e).__name__, _message(e)), **where)
            raise
        _emit("initialized", **where)
        return value


def _patch_executor(cls, kind, base):
    init, submit, shutdown, leave, map_ = cls.__init__, cls.submit, cls.shutdown, cls.__exit__, cls.map

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if os.getpid() != _MAIN_PID or _made_by_library():
            return
        with _lock:
            self._poolscope = _counters["pool"]
            _counters["pool"] += 1
        self._poolscope_workers = set()
        self._poolscope_shut = False
        _emit("pool", pool=self._poolscope, kind=kind, workers=self._max_workers)
        # The executor starts its threads on demand, each handed the initializer then. (A
        # process pool's would have to be pickled into each worker; its lanes say nothing.)
        if kind == "thread" and getattr(self, "_initializer", None) is not None:
            self._initializer = _Initializer(self._initializer, self._poolscope)

    def traced_submit(self, fn, *args, **kwargs):
        pool = getattr(self, "_poolscope", None)
        if pool is None or os.getpid() != _MAIN_PID:
            return submit(self, fn, *args, **kwargs)
        refused = getattr(self, "_broken", False) or getattr(self, "_shutdown", False) or getattr(
            self, "_shutdown_thread", False
        )
        if refused:
            try:
                return submit(self, fn, *args, **kwargs)
            except BaseException as e:
                _emit("raise", exception=type(e).__name__, message=_message(e))
                raise
        with _lock:
            task = _counters["task"]
            _counters["task"] += 1
        real, items, single = _unchunk(fn, args)
        chunk = list(args[0]) if real is not fn and not single and len(args) == 1 else None
        if chunk:
            # A chunk of several items: one task per item, as the program sees them.
            with _lock:
                tasks = [task] + list(range(_counters["task"], _counters["task"] + len(chunk) - 1))
                _counters["task"] += len(chunk) - 1
            for item_task, call in zip(tasks, chunk):
                _emit("submit", task=item_task, pool=pool, label=_label(real, tuple(call)))
            future = submit(self, functools.partial(fn.func, _Items(real, tasks, pool)), *args, **kwargs)
            future._poolscope_items = tasks
        else:
            _emit("submit", task=task, pool=pool, label=_label(real, items))
            future = submit(self, _Call(fn, task, pool, single), *args, **kwargs)
        future._poolscope = task
        future._poolscope_single = single
        _add_done_callback(future, lambda f: _broken(f, task))
        _workers_now(self, kind)
        return future

    def traced_shutdown(self, *args, **kwargs):
        pool = getattr(self, "_poolscope", None)
        if pool is None or self._poolscope_shut:
            return shutdown(self, *args, **kwargs)
        self._poolscope_shut = True
        wait = args[0] if args else kwargs.get("wait", True)
        _emit("shutdown", pool=pool, wait=bool(wait), phase="begin")
        try:
            return shutdown(self, *args, **kwargs)
        finally:
            _emit("shutdown", pool=pool, wait=bool(wait), phase="end")

    def traced_exit(self, *args):
        if getattr(self, "_poolscope", None) is not None:
            _emit("with_exit", pool=self._poolscope)
        return leave(self, *args)

    def traced_map(self, fn, *iterables, **kwargs):
        return _iterate(map_(self, fn, *iterables, **kwargs), quiet_timeouts=True)

    cls.__init__ = __init__
    cls.submit = traced_submit
    cls.shutdown = traced_shutdown
    cls.__exit__ = traced_exit
    cls.map = traced_map


def _patch_broken_process_pool(process):
    """Reports the workers of a ProcessPoolExecutor that breaks, once it has terminated and
    joined them: those that had died on their own, with their exit code, and the others it
    terminated (Python 3.9+)."""
    manager = getattr(process, "_ExecutorManagerThread", None)
    if manager is None or not hasattr(manager, "terminate_broken"):
        return
    terminate_broken = manager.terminate_broken

    def traced_terminate_broken(self, *args, **kwargs):
        executor = self.executor_reference()
        pool = getattr(executor, "_poolscope", None) if executor is not None else None
        workers = list(self.processes.values()) if pool is not None else []
        if pool is not None:
            # Each pending future fails now; its done-callback says so only after the waiters
            # wake, so the main program could see the exception (and go on to its next step)
            # before the log says the task failed. Said here first, in the order it happens.
            for item in list(self.pending_work_items.values()):
                future = item.future
                if not future.done() and hasattr(future, "_poolscope"):
                    for task in getattr(future, "_poolscope_items", None) or [future._poolscope]:
                        _emit("broken", task=task)
        try:
            return terminate_broken(self, *args, **kwargs)
        finally:
            for p in workers:
                code = p.exitcode
                reason = "terminated" if code == -signal.SIGTERM else "died"
                _emit("worker_down", pool=pool, pid=p.pid, thread="MainThread", reason=reason, exitcode=code)

    manager.terminate_broken = traced_terminate_broken


def _workers_now(executor, kind):
    """Reports the pool's workers not reported yet (a pool starts them as work arrives)."""
    if kind == "thread":
        found = [(os.getpid(), t.name) for t in list(executor._threads)]
    else:
        found = [(pid, "MainThread") for pid in list((executor._processes or {}).keys())]
    for pid, thread in found:
        if (pid, thread) not in executor._poolscope_workers:
            executor._poolscope_workers.add((pid, thread))
            _emit("worker_up", pool=executor._poolscope, pid=pid, thread=thread)


def _iterate(iterator, quiet_timeouts):
    """Passes on map's or as_completed's items; reports the one TimeoutError they raise."""
    from concurrent.futures import _base

    try:
        while True:
            _local.quiet = quiet_timeouts
            try:
                item = next(iterator)
            except StopIteration:
                return
            except _base.TimeoutError as e:
                if _main_program():
                    _emit("raise", exception="TimeoutError", message=_message(e))
                raise
            finally:
                _local.quiet = False
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


_add_done_callback = None


def _broken(future, task):
    from concurrent.futures import _base

    if not future.cancelled() and isinstance(future._exception, _base.BrokenExecutor):
        _emit("broken", task=task)


def _patch_future(future_cls, base):
    global _add_done_callback
    result, exception, cancel, add = (
        future_cls.result,
        future_cls.exception,
        future_cls.cancel,
        future_cls.add_done_callback,
    )
    _add_done_callback = add

    def outcome(task, call):
        try:
            value = call()
        except base.CancelledError as e:
            _emit("result", task=task, outcome="cancelled", error=_message(e), exception="CancelledError")
            raise
        except base.TimeoutError as e:
            if not getattr(_local, "quiet", False):
                _emit("result", task=task, outcome="timeout", error=_message(e), exception="TimeoutError")
            raise
        except BaseException as e:
            _emit("result", task=task, outcome="error", error=_message(e), exception=type(e).__name__)
            raise
        return value

    def traced_result(self, timeout=None):
        task = getattr(self, "_poolscope", None)
        if task is None or not _main_program():
            return result(self, timeout)
        items = getattr(self, "_poolscope_items", None)
        if items is not None:
            # A map chunk of several items: each item's result, or the exception of the
            # item that raised (the items after it never ran).
            try:
                values = result(self, timeout)
            except (base.CancelledError, base.TimeoutError):
                return outcome(task, lambda: result(self, timeout))
            except BaseException as e:
                failed = getattr(e, "_poolscope_task", task)
                _emit("result", task=failed, outcome="error", error=_message(e), exception=type(e).__name__)
                raise
            for item_task, value in zip(items, values):
                _emit("result", task=item_task, outcome="ok", value=_short(value))
            return values
        value = outcome(task, lambda: result(self, timeout))
        _emit("result", task=task, outcome="ok", value=_short(_value(self, value)))
        return value

    def traced_exception(self, timeout=None):
        task = getattr(self, "_poolscope", None)
        if task is None or not _main_program():
            return exception(self, timeout)
        error = outcome(task, lambda: exception(self, timeout))
        if error is None:
            _emit("result", task=task, outcome="ok", value=_short(_value(self, result(self, 0))))
        else:
            _emit("result", task=task, outcome="error", error=_message(error), exception=type(error).__name__)
        return error

    def traced_cancel(self):
        ok = cancel(self)
        task = getattr(self, "_poolscope", None)
        # Only the program's own calls: map's iterator cancels its futures when it closes,
        # which the program does not see.
        caller = sys._getframe(1).f_code.co_filename.replace(os.sep, "/")
        if task is not None and os.getpid() == _MAIN_PID and "/concurrent/futures/" not in caller:
            _emit("cancel", task=task, ok=bool(ok))
        return ok

    def traced_add_done_callback(self, fn):
        task = getattr(self, "_poolscope", None)
        if task is None:
            return add(self, fn)

        def callback(future):
            _local.in_callback = True
            error = None
            try:
                return fn(future)
            except BaseException as e:
                error = "%s: %s" % (type(e).__name__, _message(e))
                raise  # CPython logs it and goes on, as without poolscope
            finally:
                _local.in_callback = False
                fields = {"error": error} if error else {}
                _emit("callback", task=task, thread=threading.current_thread().name, **fields)

        return add(self, callback)

    future_cls.result = traced_result
    future_cls.exception = traced_exception
    future_cls.cancel = traced_cancel
    future_cls.add_done_callback = traced_add_done_callback


def _patch_waits(package, base):
    wait, as_completed = base.wait, base.as_completed

    def traced_wait(fs, timeout=None, return_when=base.ALL_COMPLETED):
        done, not_done = wait(fs, timeout, return_when)
        if _main_program():
            ids = lambda futures: sorted(f._poolscope for f in futures if hasattr(f, "_poolscope"))  # noqa: E731
            _emit("waited", done=ids(done), not_done=ids(not_done))
        return base.DoneAndNotDoneFutures(done, not_done)

    def traced_as_completed(fs, timeout=None):
        return _iterate(as_completed(fs, timeout), quiet_timeouts=False)

    for module in (package, base):
        module.wait = traced_wait
        module.as_completed = traced_as_completed


# multiprocessing.Pool and multiprocessing.pool.ThreadPool.
#
# apply_async/apply give one task each. map/map_async/starmap/starmap_async/imap/
# imap_unordered give one task per item: CPython sends their items to the workers in chunks,
# and a worker runs a chunk's items one after another, so each item is traced on the worker
# that runs it, as it runs (a chunk shows as consecutive items on one worker). map's items are
# submitted when it is called (it takes the whole iterable at once); imap's as the pool's task
# thread takes them from the iterable.

_pools = {}  # id(pool._pool) -> (that list, pool number, kind, workers reported)
_pools_lock = threading.Lock()


def _new_task(pool, label):
    with _lock:
        task = _counters["task"]
        _counters["task"] += 1
    _emit("submit", task=task, pool=pool, label=label)
    return task


class _Each:
    """A map-like call's function: called with (task, item), reports the item's start and
    finish from the worker, and calls the function with the item (its items with star)."""

    def __init__(self, fn, pool, star):
        self.fn = fn
        self.pool = pool
        self.star = star

    def __call__(self, pair):
        task, item = pair
        args = tuple(item) if self.star else (item,)
        where = dict(task=task, pool=self.pool, pid=os.getpid(), thread=_thread_name())
        _emit("start", **where)
        try:
            value = self.fn(*args)
        except BaseException as e:
            _emit("finish", outcome="error", error="%s: %s" % (type(e).__name__, _message(e)), **where)
            try:
                e._poolscope_task = task  # travels with the exception back to the program
            except Exception:
                pass
            raise
        _emit("finish", outcome="ok", value=_short(value), **where)
        return value


def _pool_workers_now(workers):
    """Reports a Pool's workers not reported yet (at creation, and each one it starts in place
    of one that exited)."""
    with _pools_lock:
        entry = _pools.get(id(workers))
        if entry is None or entry[0] is not workers:
            return
        _, pool, kind, seen = entry
        found = []
        for w in list(workers):
            key = (os.getpid(), w.name) if kind == "thread" else (w.pid, "MainThread")
            if key[0] is not None and key not in seen:
                seen.add(key)
                found.append(key)
    for pid, thread in found:
        _emit("worker_up", pool=pool, pid=pid, thread=thread)


def _pool_workers_gone(workers, before):
    with _pools_lock:
        entry = _pools.get(id(workers))
        if entry is None or entry[0] is not workers:
            return
        _, pool, kind, seen = entry
    for w in before:
        if w not in workers and kind == "process":
            code = w.exitcode
            seen.discard((w.pid, "MainThread"))
            reason = "retired" if code == 0 else "died"
            _emit("worker_down", pool=pool, pid=w.pid, thread="MainThread", reason=reason, exitcode=code)


def _callback_of(fn, tasks, failed=False):
    """A Pool's callback or error_callback, reporting the result-handler thread it runs on:
    for a map-like call, under its last item (callback) or the item that failed."""
    if fn is None:
        return None

    def callback(value):
        _local.in_callback = True
        error = None
        try:
            return fn(value)
        except BaseException as e:
            error = "%s: %s" % (type(e).__name__, _message(e))
            raise
        finally:
            _local.in_callback = False
            task = _failed_task(value, tasks) if failed else (tasks[-1] if tasks else None)
            if task is not None:
                fields = {"error": error} if error else {}
                _emit("callback", task=task, thread=threading.current_thread().name, **fields)

    return callback


def _failed_task(error, tasks):
    task = getattr(error, "_poolscope_task", None)
    if task in tasks:
        return task
    return tasks[0] if tasks else None


def _refused(call):
    """Runs a call that a pool not running refuses, reporting the refusal."""
    try:
        return call()
    except BaseException as e:
        if _main_program():
            _emit("raise", exception=type(e).__name__, message=_message(e))
        raise


def _patch_mp_pool(mp_pool):
    Pool = mp_pool.Pool
    RUN = mp_pool.RUN
    init, apply_async, map_async, imap, imap_unordered = (
        Pool.__init__,
        Pool.apply_async,
        Pool._map_async,
        Pool.imap,
        Pool.imap_unordered,
    )
    close, terminate, join, leave = Pool.close, Pool.terminate, Pool.join, Pool.__exit__
    repopulate, join_exited = Pool._repopulate_pool_static, Pool._join_exited_workers

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if os.getpid() != _MAIN_PID:
            return
        kind = "thread" if isinstance(self, mp_pool.ThreadPool) else "process"
        with _lock:
            self._poolscope = _counters["pool"]
            _counters["pool"] += 1
        self._poolscope_done = set()
        _emit("pool", pool=self._poolscope, kind=kind, workers=self._processes)
        with _pools_lock:
            _pools[id(self._pool)] = (self._pool, self._poolscope, kind, set())
        _pool_workers_now(self._pool)

    def traced_repopulate(*args, **kwargs):
        result = repopulate(*args, **kwargs)
        workers = args[3] if len(args) > 3 else kwargs.get("pool")
        if workers is not None and os.getpid() == _MAIN_PID:
            _pool_workers_now(workers)
        return result

    def traced_join_exited(workers):
        before = list(workers)
        cleaned = join_exited(workers)
        if cleaned and os.getpid() == _MAIN_PID:
            _pool_workers_gone(workers, before)
        return cleaned

    def traced_apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        pool = getattr(self, "_poolscope", None)
        if pool is None or os.getpid() != _MAIN_PID:
            return apply_async(self, func, args, kwds, callback, error_callback)
        if self._state != RUN:
            return _refused(lambda: apply_async(self, func, args, kwds, callback, error_callback))
        task = _new_task(pool, _label(func, tuple(args)))
        tasks = [task]
        result = apply_async(
            self,
            _Call(func, task, pool),
            args,
            kwds,
            _callback_of(callback, tasks),
            _callback_of(error_callback, tasks, failed=True),
        )
        result._poolscope_tasks = tasks
        result._poolscope_map = False
        return result

    def traced_map_async(self, func, iterable, mapper, chunksize=None, callback=None, error_callback=None):
        pool = getattr(self, "_poolscope", None)
        if pool is None or os.getpid() != _MAIN_PID:
            return map_async(self, func, iterable, mapper, chunksize, callback, error_callback)
        if self._state != RUN:
            return _refused(lambda: map_async(self, func, iterable, mapper, chunksize, callback, error_callback))
        star = mapper is mp_pool.starmapstar
        items = list(iterable)
        tasks = [_new_task(pool, _label(func, tuple(item) if star else (item,))) for item in items]
        result = map_async(
            self,
            _Each(func, pool, star),
            list(zip(tasks, items)),
            mp_pool.mapstar,
            chunksize,
            _callback_of(callback, tasks),
            _callback_of(error_callback, tasks, failed=True),
        )
        result._poolscope_tasks = tasks
        result._poolscope_map = True
        return result

    def traced_imap(original):
        def call(self, func, iterable, chunksize=1):
            pool = getattr(self, "_poolscope", None)
            if pool is None or os.getpid() != _MAIN_PID:
                return original(self, func, iterable, chunksize)
            if self._state != RUN:
                return _refused(lambda: original(self, func, iterable, chunksize))
            tasks = []

            def pairs():
                for item in iterable:
                    task = _new_task(pool, _label(func, (item,)))
                    tasks.append(task)
                    yield task, item

            _local.imap = (tasks, max(1, chunksize))
            try:
                return original(self, _Each(func, pool, False), pairs(), chunksize)
            finally:
                _local.imap = None

        return call

    def traced_close(self):
        pool = getattr(self, "_poolscope", None)
        if pool is None or self._state != RUN:
            return close(self)
        _emit("shutdown", pool=pool, wait=False, phase="begin", how="close")
        try:
            return close(self)
        finally:
            _emit("shutdown", pool=pool, wait=False, phase="end", how="close")

    def traced_terminate(self):
        pool = getattr(self, "_poolscope", None)
        if pool is None or getattr(self, "_poolscope_terminated", False):
            return terminate(self)
        self._poolscope_terminated = True
        _emit("shutdown", pool=pool, wait=False, phase="begin", how="terminate")
        try:
            return terminate(self)
        finally:
            _emit("shutdown", pool=pool, wait=False, phase="end", how="terminate")

    def traced_join(self):
        pool = getattr(self, "_poolscope", None)
        if pool is None:
            return join(self)
        if self._state == RUN:
            return _refused(lambda: join(self))
        _emit("shutdown", pool=pool, wait=True, phase="begin", how="join")
        try:
            return join(self)
        finally:
            _emit("shutdown", pool=pool, wait=True, phase="end", how="join")

    def traced_exit(self, *args):
        if getattr(self, "_poolscope", None) is not None:
            _emit("with_exit", pool=self._poolscope)
        return leave(self, *args)

    Pool.__init__ = __init__
    Pool._repopulate_pool_static = staticmethod(traced_repopulate)
    Pool._join_exited_workers = staticmethod(traced_join_exited)
    Pool.apply_async = traced_apply_async
    Pool._map_async = traced_map_async
    Pool.imap = traced_imap(imap)
    Pool.imap_unordered = traced_imap(imap_unordered)
    Pool.close = traced_close
    Pool.terminate = traced_terminate
    Pool.join = traced_join
    Pool.__exit__ = traced_exit


def _patch_mp_results(mp_pool):
    import collections
    from multiprocessing import TimeoutError as MpTimeoutError

    ApplyResult, IMapIterator, Unordered = mp_pool.ApplyResult, mp_pool.IMapIterator, mp_pool.IMapUnorderedIterator
    get, next_, iinit, uset = ApplyResult.get, IMapIterator.next, IMapIterator.__init__, Unordered._set

    def traced_get(self, timeout=None):
        tasks = getattr(self, "_poolscope_tasks", None)
        if tasks is None or not _main_program():
            return get(self, timeout)
        try:
            value = get(self, timeout)
        except MpTimeoutError as e:
            if self._poolscope_map:
                # map_async(...).get(timeout): one exception for the whole list.
                _emit("raise", exception="TimeoutError", message=_message(e))
            else:
                _emit("result", task=tasks[0], outcome="timeout", error=_message(e), exception="TimeoutError")
            raise
        except BaseException as e:
            task = _failed_task(e, tasks)
            if task is not None:
                _emit("result", task=task, outcome="error", error=_message(e), exception=type(e).__name__)
            raise
        if self._poolscope_map:
            for task, item in zip(tasks, value):
                _emit("result", task=task, outcome="ok", value=_short(item))
        else:
            _emit("result", task=tasks[0], outcome="ok", value=_short(value))
        return value

    def traced_iinit(self, *args, **kwargs):
        iinit(self, *args, **kwargs)
        pending = getattr(_local, "imap", None)
        if pending is not None:
            self._poolscope_tasks, self._poolscope_chunk = pending
            self._poolscope_next = 0  # in order: the index of the next item or chunk
            self._poolscope_order = collections.deque()  # unordered: indexes as they arrive
            self._poolscope_given = set()

    def traced_uset(self, i, obj):
        if hasattr(self, "_poolscope_order"):
            self._poolscope_order.append(i)
        return uset(self, i, obj)

    def traced_next(self, timeout=None):
        tasks = getattr(self, "_poolscope_tasks", None)
        if tasks is None or not _main_program():
            return next_(self, timeout)
        try:
            value = next_(self, timeout)
            error = None
        except StopIteration:
            raise
        except MpTimeoutError as e:
            for task in list(tasks):
                if task not in self._poolscope_given:
                    _emit("result", task=task, outcome="timeout", error=_message(e), exception="TimeoutError")
            raise
        except BaseException as e:
            value, error = None, e
        if isinstance(self, Unordered):
            index = self._poolscope_order.popleft() if self._poolscope_order else None
        else:
            index = self._poolscope_next
            self._poolscope_next += 1
        size = self._poolscope_chunk
        if index is not None:
            if size == 1:
                values = [value]
            else:
                values = list(value) if error is None else [None] * size
            these = tasks[index * size : index * size + len(values)]
            self._poolscope_given.update(these)
            if error is not None:
                task = _failed_task(error, these)
                if task is not None:
                    _emit("result", task=task, outcome="error", error=_message(error), exception=type(error).__name__)
            else:
                for task, item in zip(these, values):
                    _emit("result", task=task, outcome="ok", value=_short(item))
        if error is not None:
            raise error
        return value

    ApplyResult.get = traced_get
    IMapIterator.__init__ = traced_iinit
    IMapIterator.next = traced_next
    IMapIterator.__next__ = traced_next
    Unordered._set = traced_uset


def _patch_asyncio():
    """Traces asyncio's tasks as a pool of one event-loop thread: each task the program
    creates (not the main coroutine) is a submit; its first step a start; its end a finish;
    the main coroutine awaiting it (or asking its result) a result; cancel() from the main
    coroutine a cancel. asyncio's C tasks cannot be wrapped, so the loop makes the pure-Python
    task class instead (asyncio looks it up as tasks.Task when it creates one)."""
    import asyncio
    from asyncio import futures, tasks

    base = tasks._PyTask
    state = {"pool": None, "main": None}

    def from_main():
        current = tasks.current_task() if _in_loop() else None
        return current is not None and current is state["main"]

    def _in_loop():
        try:
            asyncio.get_running_loop()
            return True
        except RuntimeError:
            return False

    async def traced(coro, task, pool):
        where = dict(task=task, pool=pool, pid=os.getpid(), thread=threading.current_thread().name)
        _emit("start", **where)
        try:
            value = await coro
        except BaseException as e:
            if isinstance(e, futures.CancelledError):
                _emit("finish", outcome="error", error="CancelledError: ", **where)
            else:
                _emit("finish", outcome="error", error="%s: %s" % (type(e).__name__, _message(e)), **where)
            raise
        _emit("finish", outcome="ok", value=_short(value), **where)
        return value

    class TracedTask(base):
        def __new__(cls, coro, *rest, **kwargs):
            # A loop on another thread (Dask's client and cluster run theirs on a thread of
            # their own), or a library's task, keeps asyncio's C tasks, which its code may
            # insist on: neither is the program's own.
            frame = getattr(coro, "cr_frame", None)
            module = frame.f_globals.get("__name__", "") if frame is not None else ""
            elsewhere = threading.current_thread() is not threading.main_thread()
            if elsewhere or module.split(".")[0] in _LIBRARY_LOOPS:
                return tasks._CTask(coro, *rest, **kwargs)
            return super().__new__(cls)

        def __init__(self, coro, *rest, **kwargs):
            if not _in_loop_task():
                # Made outside any task: the main coroutine (asyncio.run's), or asyncio.run's
                # own clean-up at the end; neither is the program's submit.
                super().__init__(coro, *rest, **kwargs)
                if state["main"] is None:
                    state["main"] = self
                return
            if state["pool"] is None:
                with _lock:
                    state["pool"] = _counters["pool"]
                    _counters["pool"] += 1
                _emit("pool", pool=state["pool"], kind="coroutine", workers=1)
                _emit("worker_up", pool=state["pool"], pid=os.getpid(), thread=threading.current_thread().name)
            with _lock:
                task = _counters["task"]
                _counters["task"] += 1
            code = getattr(coro, "cr_code", None)
            frame = getattr(coro, "cr_frame", None)
            name = code.co_name if code else type(coro).__name__
            args = [frame.f_locals[v] for v in code.co_varnames[: code.co_argcount]] if code and frame else []
            _emit("submit", task=task, pool=state["pool"], label=_label_named(name, args))
            self._poolscope = task
            super().__init__(traced(coro, task, state["pool"]), *rest, **kwargs)

        def _outcome(self, get):
            task = getattr(self, "_poolscope", None)
            if task is None or not from_main():
                return get()
            try:
                value = get()
            except futures.CancelledError:
                _emit("result", task=task, outcome="cancelled", error="", exception="CancelledError")
                raise
            except BaseException as e:
                _emit("result", task=task, outcome="error", error=_message(e), exception=type(e).__name__)
                raise
            _emit("result", task=task, outcome="ok", value=_short(value))
            return value

        def result(self):
            return self._outcome(lambda: base.result(self))

        def __await__(self):
            # As Future.__await__, without its call to self.result() (that is ours, and
            # would report the outcome twice).
            if not self.done():
                self._asyncio_future_blocking = True
                yield self
            if not self.done():
                raise RuntimeError("await wasn't used with future")
            return self._outcome(lambda: base.result(self))

        __iter__ = __await__

        def cancel(self, *args, **kwargs):
            ok = base.cancel(self, *args, **kwargs)
            task = getattr(self, "_poolscope", None)
            if task is not None and from_main():
                _emit("cancel", task=task, ok=bool(ok))
            return ok

    def _in_loop_task():
        return _in_loop() and tasks.current_task() is not None

    tasks.Task = TracedTask
    asyncio.Task = TracedTask


_LIBRARY_LOOPS = {"distributed", "tornado", "dask"}


def _made_by_library():
    """True for an executor a library makes for itself (Dask's offload threads): the code
    that called the constructor (past its subclasses' __init__) is the library's."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name == "__init__":
        frame = frame.f_back
    module = frame.f_globals.get("__name__", "") if frame is not None else ""
    return module.split(".")[0] in _LIBRARY_LOOPS


def _label_named(name, args):
    shown = ", ".join(_short(a) for a in args[:3]) + (", …" if len(args) > 3 else "")
    return "%s(%s)" % (name, shown)


def install():
    """Wraps concurrent.futures and multiprocessing.pool (idempotent: a spawned worker imports this module afresh)."""
    import concurrent.futures as package
    from concurrent.futures import _base, process, thread

    if getattr(_base.Future, "_poolscope_installed", False):
        return
    _base.Future._poolscope_installed = True
    _patch_future(_base.Future, _base)
    _patch_executor(thread.ThreadPoolExecutor, "thread", _base)
    _patch_executor(process.ProcessPoolExecutor, "process", _base)
    _patch_broken_process_pool(process)
    _patch_waits(package, _base)
    # The package imports these lazily; set them so the patched classes are what it gives.
    package.ThreadPoolExecutor = thread.ThreadPoolExecutor
    package.ProcessPoolExecutor = process.ProcessPoolExecutor
    import multiprocessing.pool as mp_pool

    _patch_mp_pool(mp_pool)
    _patch_mp_results(mp_pool)
    _patch_asyncio()
    if os.getpid() == _MAIN_PID:
        import poolscope_dask  # Dask's executor, once the program imports distributed

        poolscope_dask.install(sys.modules[__name__])


# Sizing a program's pools (`poolscope sweep SCRIPT.py`, `poolscope compare SCRIPT.py`).
#
# With POOLSCOPE_WORKERS=N, every pool the main program makes (ThreadPoolExecutor,
# ProcessPoolExecutor, multiprocessing.Pool, multiprocessing.pool.ThreadPool, and their
# subclasses) gets N workers whatever the program asked; with POOLSCOPE_POOL_INDEX=I too,
# only the I-th (from 0, in the order they were made). Each pool made is reported as a
# `sized` message: its index, its class, the size the program asked for, the size it got.

def _size_pools():
    workers = os.environ.get("POOLSCOPE_WORKERS")
    if not workers:
        return
    workers = int(workers)
    only = os.environ.get("POOLSCOPE_POOL_INDEX")
    only = int(only) if only else None
    made = [0]

    def sized(cls, keyword):
        init = cls.__init__

        def __init__(self, *args, **kwargs):
            if os.getpid() != _MAIN_PID or getattr(self, "_poolscope_sizing", False):
                return init(self, *args, **kwargs)  # a worker's pool, or a subclass's call up
            self._poolscope_sizing = True
            with _lock:
                index = made[0]
                made[0] += 1
            asked = args[0] if args else kwargs.get(keyword)
            chosen = only is None or only == index
            if chosen:
                if args:
                    args = (workers,) + tuple(args[1:])
                else:
                    kwargs[keyword] = workers
            try:
                return init(self, *args, **kwargs)
            finally:
                self._poolscope_sizing = False
                _emit(
                    "sized",
                    index=index,
                    kind=type(self).__name__,
                    asked=asked if isinstance(asked, int) else None,
                    workers=workers if chosen else asked if isinstance(asked, int) else None,
                    sized=chosen,
                )

        cls.__init__ = __init__

    from concurrent.futures import process, thread
    import multiprocessing.pool as mp_pool

    sized(thread.ThreadPoolExecutor, "max_workers")
    sized(process.ProcessPoolExecutor, "max_workers")
    sized(mp_pool.Pool, "processes")  # ThreadPool's __init__ calls Pool's


_step = [-1]  # the step of the lesson the main program began last, from 0


def _watch_prints(steps):
    """Reports each line the main program prints in these steps of a lesson: its
    `print_counter` steps, where it prints a value it read itself, which no pool reports."""
    import builtins

    real_print = builtins.print

    def traced_print(*args, **kwargs):
        real_print(*args, **kwargs)
        if _step[0] in steps and kwargs.get("file") is None and _main_program():
            sep = kwargs.get("sep")
            _emit("print", text=_short((" " if sep is None else sep).join(str(a) for a in args)))

    builtins.print = traced_print


def _watch_steps(script, step_lines):
    """Reports `step` when the main thread reaches a step's first line (from 0), or the first
    line run after it: a step may begin with a comment, which runs no line. Steps follow
    each other down the program, so a step begins once a line at or past its start runs."""
    starts = [line + 1 for line in step_lines]
    reached = [0]

    def on_line(frame, event, arg):
        # Only the lines between the first step and the closing one: an asyncio program's
        # `asyncio.run(main())` comes after them.
        if event == "line" and starts and starts[0] <= frame.f_lineno <= starts[-1]:
            while reached[0] < len(starts) and frame.f_lineno >= starts[reached[0]]:
                _emit("step", index=reached[0])
                _step[0] = reached[0]
                reached[0] += 1
        return on_line

    def on_call(frame, event, arg):
        return on_line if frame.f_code.co_filename == script else None

    sys.settrace(on_call)


def main():
    """Runs sys.argv[1] as __main__, with sys.argv[2:] as its arguments, under the probe."""
    import runpy

    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    install()
    _size_pools()
    lines = os.environ.get("POOLSCOPE_STEP_LINES", "")
    if lines:
        _watch_steps(script, [int(n) for n in lines.split(",")])
    prints = os.environ.get("POOLSCOPE_PRINT_STEPS", "")
    if prints:
        _watch_prints({int(n) for n in prints.split(",")})
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as e:
        sys.settrace(None)
        # Python's own report, from the program's first frame: poolscope's are not its.
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != script:
            tb = tb.tb_next
        frames = [f for f in traceback.extract_tb(tb) if f.filename != __file__]
        if frames:
            sys.stderr.write("Traceback (most recent call last):\n")
            sys.stderr.write("".join(traceback.StackSummary.from_list(frames).format()))
        sys.stderr.write("".join(traceback.format_exception_only(type(e), e)))
        sys.stderr.flush()
        sys.exit(1)
    finally:
        sys.settrace(None)


if os.environ.get("POOLSCOPE_SOCKET") and __name__ == "poolscope_probe":
    install()  # a spawned worker process imports the module to unpickle its tasks
