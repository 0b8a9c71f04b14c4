"""client.py - Client: a spool seen through ipyparallel's Client interface.

Each call is one spool job: the client takes a new job id (spool_job_id_new), opens its output
directory <cwd>/spool-JOBID (spool_outdir_open: created as the caller, verified as the worker
verifies it), writes the call file JOBID.call there (cloudpickle, mode 0600, O_EXCL|O_NOFOLLOW
relative to the directory's fd), and submits a job with builtin "python" through libspool.
"""

import math
import os
import time
import weakref

from . import _lib, _wire
from .asyncresult import AsyncResult, _timeout_ms
from .error import TimeoutError


def _short(obj, n=48):
    """A short printable repr of an item for `spool status`."""
    try:
        r = repr(obj)
    except Exception:
        r = "<%s>" % type(obj).__name__
    r = "".join(c if c.isprintable() else "?" for c in r)
    return r if len(r) <= n else r[: n - 3] + "..."


def _fname(f):
    return getattr(f, "__name__", None) or type(f).__name__


class Client:
    """A connection to a spool (no network: the spool directory on the shared filesystem).

    spool_dir: the spool (None: $SPOOL_DIR). timeout: seconds each task may run (None: spool.conf's
    default_timeout). python: the interpreter the engines run for this client's calls (None:
    spool.conf's `python`); it must have the client's Python major.minor and cloudpickle version.
    retries: how many times a task whose engine died is run again (None: spool.conf's).
    """

    def __init__(self, spool_dir=None, timeout=None, python=None, retries=None, profile=None):
        # profile: accepted for ipyparallel's Client(profile=...); a spool needs none
        self._spool = _lib.Spool(spool_dir)
        self.timeout = timeout
        self.python = python
        self.retries = retries
        self._outstanding = weakref.WeakSet()

    # -- engines -------------------------------------------------------------------------------
    def _engines(self):
        return [e for e in self._spool.engines() if e["state"] != "dead"]

    @property
    def ids(self):
        """The ids of the live engines, sorted (ids are never reused)."""
        return sorted(e["id"] for e in self._engines())

    def __len__(self):
        return len(self.ids)

    @property
    def spool_dir(self):
        return self._spool.path

    def wait_for_engines(self, n=None, timeout=-1, block=True):
        """Wait until at least n engines are live (None: 1); TimeoutError after `timeout` s."""
        n = 1 if n is None else n
        ms = _timeout_ms(timeout)
        try:
            self._spool.wait_engines(n, max(ms, 1) if ms is not None else 0)
        except _lib.SpoolTimeout as e:
            raise TimeoutError("%d engines were not ready after %s seconds: %s" % (n, timeout, e)) from None

    def _build_targets(self, targets):
        """ipyparallel's rules: an int is an engine id (negative: an index into ids), a slice
        indexes ids, a list/tuple/range holds engine ids; None or 'all': every live engine."""
        ids = self.ids
        if not ids:
            raise _lib.SpoolError("this operation requires engines: none is live in %s; start "
                                  "spool-worker, or wait with Client.wait_for_engines(n)" % self.spool_dir)
        if targets is None or (isinstance(targets, str) and targets.lower() == "all"):
            return list(ids)
        if isinstance(targets, str):
            raise TypeError("%r not valid str target, must be 'all'" % targets)
        if isinstance(targets, int):
            if targets < 0:
                targets = ids[targets]
            if targets not in ids:
                raise IndexError("No such engine: %i (live engines: %s)" % (targets, ids))
            return [targets]
        if isinstance(targets, slice):
            return [ids[i] for i in range(len(ids))[targets]]
        if not isinstance(targets, (tuple, list, range)):
            raise TypeError("targets by int/slice/collection of ints only, not %s" % type(targets))
        for t in targets:
            if t not in ids:
                raise IndexError("No such engine: %r (live engines: %s)" % (t, ids))
        return list(targets)

    # -- views ---------------------------------------------------------------------------------
    def __getitem__(self, key):
        """c[i] (engine id i), c[:], c[1:3] (slices of ids), c[[0, 2]] (engine ids): a DirectView."""
        if not isinstance(key, (int, slice, tuple, list, range)):
            raise TypeError("key by int/slice/iterable of ints only, not %s" % type(key))
        return self.direct_view(key)

    def __iter__(self):
        for eid in self.ids:
            yield self.direct_view(eid)

    def direct_view(self, targets="all", **kwargs):
        """A DirectView. 'all' is evaluated at each call; anything else now (as ipyparallel)."""
        from .view import DirectView
        single = isinstance(targets, int)
        if not (isinstance(targets, str) and targets == "all"):
            targets = self._build_targets(targets)
            if single:
                targets = targets[0]
        return DirectView(self, targets, **kwargs)

    def load_balanced_view(self, targets=None, **kwargs):
        """A LoadBalancedView over targets (None: any live engine)."""
        from .view import LoadBalancedView
        if isinstance(targets, str) and targets == "all":
            targets = None
        if targets is not None:
            targets = self._build_targets(targets)
        return LoadBalancedView(self, targets, **kwargs)

    # -- waiting -------------------------------------------------------------------------------
    def _result(self, job):
        if isinstance(job, AsyncResult):
            return job
        if isinstance(job, str):
            return AsyncResult(self, job, fname="job")
        raise TypeError("wait for AsyncResults or job ids, not %r" % (job,))

    def wait(self, jobs=None, timeout=-1):
        """Wait for jobs (AsyncResults or job ids; None: every result of this client not yet
        ready). True when all are done, False when `timeout` seconds passed first."""
        if jobs is None:
            ars = list(self._outstanding)
        elif isinstance(jobs, (AsyncResult, str)):
            ars = [self._result(jobs)]
        else:
            ars = [self._result(j) for j in jobs]
        end = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        for ar in ars:
            left = -1 if end is None else max(0.0, end - time.monotonic())
            if not ar.wait(left):
                return False
        return True

    def abort(self, jobs):
        for ar in ([jobs] if isinstance(jobs, (AsyncResult, str)) else jobs):
            self._spool.cancel(ar.job if isinstance(ar, AsyncResult) else ar, 0)

    @property
    def outstanding(self):
        return {ar.job for ar in list(self._outstanding) if not ar._ready}

    def close(self, linger=None):
        self._spool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- calls ---------------------------------------------------------------------------------
    def _submit(self, call, label, *, targets=None, is_apply=False, items=None, single=False,
                shape="apply", order=None, ordered=True, ntasks=None, fname="apply"):
        """Write the call file beside the data and submit its job; an AsyncResult for it."""
        sp = self._spool
        jobid = sp.job_id_new()
        cwd = os.getcwd()
        outdir = os.path.join(cwd, "spool-" + jobid)
        data = _wire.dump_call(call)
        dirfd = sp.outdir_open(outdir)
        try:
            name = jobid + ".call"
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=dirfd)
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
            finally:
                os.close(fd)
        finally:
            os.close(dirfd)
        tgt = None
        if targets is not None:
            tgt = ",".join(str(t) for t in targets)
        timeout_ms = int(math.ceil(self.timeout * 1000)) if self.timeout else 0
        sp.submit([name, "python: " + label], jobid=jobid, outdir=outdir, cwd=cwd, name=("python: " + label)[:100],
                  timeout_ms=timeout_ms, retries=self.retries, items=items, is_apply=is_apply,
                  targets=tgt, schedule="balanced" if items is not None else None, builtin="python",
                  python=self.python)
        ar = AsyncResult(self, jobid, fname=fname, shape=shape, single=single, order=order,
                         ntasks=ntasks, ordered=ordered, outdir=outdir)
        self._outstanding.add(ar)
        return ar

    def __repr__(self):
        return "<spool.Client %s>" % self.spool_dir
