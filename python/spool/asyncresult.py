"""asyncresult.py - AsyncResult: one spool job of Python calls, read as ipyparallel reads its own.

The job's tasks are read through spool_collect; each task's value file (OUTDIR/TASK.ATTEMPT.ret)
through spool_task_open(SPOOL_OUT_VALUE), which checks that the task's user wrote it. A task that
ended without a value (timed out, cancelled, refused by the engine, engine died) becomes a
TaskLost naming the task's state, reason, engine and node.
"""

import itertools
import math
import os
import sys
import threading
import time
import warnings

from . import _lib, _wire
from .error import CompositeError, RemoteError, TaskLost, TimeoutError

_LOST_NAMES = {"timedout": "TaskTimeout", "cancelled": "TaskAborted", "abandoned": "EngineError",
               "failed": "TaskFailed", "skipped": "ImpossibleDependency"}


_SLICE_MS = 1000
_PKG = os.path.dirname(os.path.abspath(__file__))


def _caller_level():
    """The stacklevel of warnings.warn (called by our caller) that names the user's line."""
    f, level = sys._getframe(2), 2
    while f is not None and os.path.dirname(os.path.abspath(f.f_code.co_filename)) == _PKG:
        f, level = f.f_back, level + 1
    return level


def _timeout_ms(timeout):
    """None or negative: for ever (None); else milliseconds (0: do not wait)."""
    if timeout is None or timeout < 0:
        return None
    return int(math.ceil(timeout * 1000))


class AsyncResult:
    """The result of an apply, map, push, pull, execute or scatter: a spool job (`job`).

    shape: "apply" (one value per task), "map" (each task returns a list: concatenated),
    "gather" (pulled partitions: concatenated like ipyparallel's gather).
    order: the engine ids in the view's order, to sort per-engine tasks by (None: task order).
    """

    def __init__(self, client, job, fname="apply", shape="apply", single=False, order=None,
                 ntasks=None, ordered=True, outdir=None, t0=None):
        self._client = client
        self.job = job
        self.fname = fname
        self.outdir = outdir
        self._shape = shape
        self._single = single
        self._order = list(order) if order is not None else None
        self._ntasks = ntasks
        self._expected = ntasks
        self._ordered = ordered
        self._t0 = time.monotonic() if t0 is None else t0  # (the submit's start, when given)
        self._t1 = None
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._units = {}        # task number -> (TaskInfo, outcome dict)
        self._arrival = []      # task numbers in the order they were read
        self._ready = False
        self._summary = None
        self._warned = set()
        self._pending_warnings = []
        self._follower = None
        self._follow_error = None
        self._final = None      # (success, value or exception)

    # -- spool ---------------------------------------------------------------------------------
    @property
    def msg_ids(self):
        return ["%s.%d" % (self.job, k) for k in range(1, len(self) + 1)]

    def _on_task(self, t, open_value):
        with self._lock:
            if t.task in self._units:
                return
        outcome = self._read_value(t, open_value)
        with self._cond:
            if t.task not in self._units:
                self._units[t.task] = (t, outcome)
                self._arrival.append(t.task)
                self._cond.notify_all()

    def _read_value(self, t, open_value):
        try:
            fd = open_value()
        except OSError as e:
            return self._lost(t, None if t.state != "succeeded" else str(e))
        with os.fdopen(fd, "rb") as f:
            data = f.read()
        what = "the value file of task %s.%d (attempt %d)" % (self.job, t.task, t.attempt)
        try:
            out = _wire.load_value(data, what)
        except _wire.ValueFormatError as e:
            return {"ok": False, "ename": "ValueError", "evalue": str(e), "traceback": None,
                    "engine": t.engine, "node": t.node}
        if out.get("lost"):
            key = (out.get("engine"), out["lost"])
            with self._lock:
                if key not in self._warned:
                    self._warned.add(key)
                    self._pending_warnings.append("engine %s (node %s): %s"
                                                  % (out.get("engine"), out.get("node"), out["lost"]))
        return out

    def _lost(self, t, open_error):
        reason = t.reason or open_error or "no reason given"
        if t.state == "succeeded":
            reason = "it succeeded but its value cannot be read: %s" % reason
        engine = t.engine if t.engine >= 0 else None
        evalue = ("task %s.%d %s on engine %s (node %s): %s"
                  % (self.job, t.task, t.state, engine if engine is not None else "-", t.node or "-", reason))
        return {"ok": False, "ename": _LOST_NAMES.get(t.state, "TaskFailed"), "evalue": evalue,
                "traceback": None, "engine": engine, "node": t.node, "lost_task": True}

    def _collect(self, timeout_ms, follow=False):
        wait = timeout_ms is None or timeout_ms > 0
        rc, summ, err = self._client._spool.collect(self.job, self._on_task, wait=wait, follow=follow,
                                                     timeout_ms=timeout_ms or 0)
        with self._lock:
            pending, self._pending_warnings = self._pending_warnings, []
        for w in pending:
            warnings.warn(w, RuntimeWarning, stacklevel=_caller_level())
        if rc == _lib.EXIT_NO_JOB:
            raise _lib.NoSuchJob(err or "no job %s in this spool" % self.job)
        if rc not in (_lib.EXIT_OK, _lib.EXIT_TASK_FAILED, _lib.EXIT_PENDING):
            raise _lib.SpoolError(err or "cannot collect job %s" % self.job)
        with self._cond:
            if summ is not None:
                self._summary = summ
                self._ntasks = summ.ntasks
            if rc != _lib.EXIT_PENDING and summ is not None and summ.done:
                self._mark_ready()

    def _mark_ready(self):
        if not self._ready:
            self._ready = True
            self._t1 = time.monotonic()
            self._cond.notify_all()

    # -- ipyparallel's interface ---------------------------------------------------------------
    def wait(self, timeout=-1):
        """Wait until the result is available or `timeout` seconds pass (None, -1: for ever).
        Returns whether it is ready."""
        if self._ready:
            return True
        ms = _timeout_ms(timeout)
        if ms is not None and ms <= _SLICE_MS:
            self._collect(ms)
            return self._ready
        # Long waits in slices: the C wait cannot be interrupted, Python gets Ctrl-C between them.
        end = None if ms is None else time.monotonic() + ms / 1000.0
        while not self._ready:
            left = _SLICE_MS if end is None else min(_SLICE_MS, int((end - time.monotonic()) * 1000))
            if left <= 0:
                break
            self._collect(left)
        return self._ready

    def ready(self):
        """Has every task ended?"""
        return self._ready or self.wait(0)

    def successful(self):
        """Did every task return a value? (AssertionError if not ready, as in ipyparallel.)"""
        assert self.ready(), "the result is not ready"
        return self._resolve()[0]

    def get(self, timeout=None):
        """The result (a list per engine or item; one value for a single engine or a load-balanced
        apply). Raises RemoteError / CompositeError for remote exceptions, TimeoutError if not
        ready within `timeout` seconds (None: for ever)."""
        if not self.wait(-1 if timeout is None else timeout):
            raise TimeoutError("Result not ready (job %s: %d of %d tasks done)."
                               % (self.job, self.progress, len(self)))
        ok, value = self._resolve()
        if not ok:
            raise value
        return value

    @property
    def r(self):
        return self.get()

    def result(self, timeout=None):
        return self.get(timeout)

    def get_dict(self, timeout=-1):
        """The results as a dict keyed by engine id."""
        results = self.get(timeout)
        if self._single:
            results = [results]
        if self._shape != "apply":
            raise ValueError("get_dict() is for per-engine results, not a %s" % self.fname)
        engines = [t.engine for t, _ in self._sorted_units()]
        d = {}
        for eid, r in zip(engines, results):
            if eid in d:
                raise ValueError("Cannot build dict, %i jobs ran on engine #%i" % (engines.count(eid), eid))
            d[eid] = r
        return d

    def abort(self):
        """Cancel the job's tasks that have not ended (spool cancel JOB)."""
        assert not self.ready(), "Can't abort, I am already done!"
        self._client._spool.cancel(self.job, 0)

    cancel = abort

    @property
    def progress(self):
        """How many tasks have ended."""
        if self._ready:
            return len(self)
        try:
            s = self._client._spool.summary(self.job)
        except _lib.SpoolError:
            return len(self._units)
        return s.terminal

    @property
    def elapsed(self):
        """Seconds since submission (until the result was seen ready)."""
        return (self._t1 if self._t1 is not None else time.monotonic()) - self._t0

    @property
    def wall_time(self):
        return self.elapsed

    def __len__(self):
        if self._ntasks is None:
            try:
                self._ntasks = self._client._spool.summary(self.job).ntasks
            except _lib.SpoolError:
                return 0
        return self._ntasks

    @property
    def engine_id(self):
        self.wait()
        ids = [t.engine for t, _ in self._sorted_units()]
        return ids[0] if self._single else ids

    def __repr__(self):
        state = "finished" if self._ready else "pending"
        return "<%s(%s): %s job %s>" % (type(self).__name__, self.fname, state, self.job)

    # -- results -------------------------------------------------------------------------------
    def _sorted_units(self):
        units = [self._units[k] for k in sorted(self._units)]
        if self._order is not None:
            pos = {e: i for i, e in enumerate(self._order)}
            units.sort(key=lambda u: pos.get(u[0].engine, len(pos)))
        return units

    @staticmethod
    def _error_tuple(out, fname):
        ei = {"engine_id": out.get("engine"), "node": out.get("node"), "method": fname}
        return (out["ename"], out["evalue"], out.get("traceback"), ei)

    def _make_error(self, errs):
        if self._single and len(errs) == 1:
            en, ev, tb, ei = errs[0]
            cls = TaskLost if tb is None and en in _LOST_NAMES.values() else RemoteError
            return cls(en, ev, tb, ei)
        return CompositeError("one or more exceptions from call to method: %s" % self.fname, errs)

    def _resolve(self):
        with self._lock:
            if self._final is not None:
                return self._final
            units = self._sorted_units()
            missing = sorted(set(range(1, (self._ntasks or 0) + 1)) - set(self._units))
            if missing:
                self._final = (False, RemoteError(
                    "TaskFailed", "job %s is done but tasks %s were not handed to the client: run "
                    "`spool collect %s` to see them" % (self.job, missing[:10], self.job), None, {}))
                return self._final
            errs = [self._error_tuple(o, self.fname) for _, o in units if not o["ok"]]
            if self._order is not None and self._expected is not None and len(units) < self._expected:
                ran = {t.engine for t, _ in units}
                for eid in self._order:
                    if eid not in ran:
                        errs.append(("EngineError", "engine %s was not live when the controller took job "
                                     "%s: its part of the call did not run" % (eid, self.job), None,
                                     {"engine_id": eid, "node": None, "method": self.fname}))
            if errs:
                self._final = (False, self._make_error(errs))
            else:
                self._final = (True, self._join([o["value"] for _, o in units]))
            return self._final

    def _join(self, values):
        if self._shape == "map":
            return list(itertools.chain.from_iterable(values))
        if self._shape == "gather":
            return _concatenate(values)
        return values[0] if self._single else values

    # -- iteration -----------------------------------------------------------------------------
    def _follow(self):
        try:
            while not self._ready:
                self._collect(_SLICE_MS, follow=True)
        except BaseException as e:
            with self._cond:
                self._follow_error = e
                self._cond.notify_all()

    def __iter__(self):
        if self._single:
            raise TypeError("AsyncResults with a single result are not iterable.")
        return self._iterate()

    def _iterate(self):
        with self._cond:
            if not self._ready and self._follower is None:
                self._follower = threading.Thread(target=self._follow, daemon=True,
                                                  name="spool-follow-%s" % self.job)
                self._follower.start()
        if self._ordered or self._order is not None:
            yield from self._iter_ordered()
        else:
            yield from self._iter_arrival()

    def _next_unit(self, pick):
        with self._cond:
            while True:
                u = pick()
                if u is not None:
                    return u
                if self._ready:
                    return None
                if self._follow_error is not None:
                    raise self._follow_error
                self._cond.wait(1.0)

    def _yield_unit(self, unit):
        _t, out = unit
        if not out["ok"]:
            raise self._make_error([self._error_tuple(out, self.fname)])
        if self._shape == "map":
            return list(out["value"])
        return [out["value"]]

    def _iter_ordered(self):
        if self._order is not None:  # per-engine tasks: wait for all, then in engine order
            self.wait()
            for u in self._sorted_units():
                yield from self._yield_unit(u)
            return
        k = 1
        while True:
            u = self._next_unit(lambda: self._units.get(k))
            if u is None:
                if k <= len(self):
                    self.wait()
                    u = self._units.get(k)
                if u is None:
                    return
            yield from self._yield_unit(u)
            k += 1

    def _iter_arrival(self):
        i = 0
        while True:
            u = self._next_unit(lambda: self._units[self._arrival[i]] if i < len(self._arrival) else None)
            if u is None:
                return
            yield from self._yield_unit(u)
            i += 1


class DoneResult(AsyncResult):
    """The result of a call that needed no job (a map over nothing)."""

    def __init__(self, client, value, fname="map"):
        super().__init__(client, None, fname=fname, ntasks=0)
        self._ready = True
        self._t1 = self._t0
        self._final = (True, value)

    def wait(self, timeout=-1):
        return True

    def abort(self):
        raise AssertionError("Can't abort, I am already done!")

    @property
    def msg_ids(self):
        return []

    def __iter__(self):
        return iter(self._final[1])


def _concatenate(parts):
    if not parts:
        return []
    first = parts[0]
    if type(first).__module__ == "numpy" and type(first).__name__ == "ndarray":
        import numpy
        return numpy.concatenate(parts)
    if isinstance(first, (list, tuple)):
        return list(itertools.chain.from_iterable(parts))
    return parts
