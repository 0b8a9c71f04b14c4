"""client.py - Client: a spool seen through ipyparallel's Client interface.

Each call is one spool job: the client takes a new job id (spool_job_id_new), opens its output
directory RESULTS/JOBID (RESULTS is <cwd>/spool-python unless Client(results_dir=...) says
otherwise: one directory for all the calls, not one per call in the user's data; spool_outdir_open:
created as the caller, verified as the worker verifies it), writes the call file JOBID.call there (cloudpickle, mode 0600, O_EXCL|O_NOFOLLOW
relative to the directory's fd), and submits a job with builtin "python" through libspool.
"""

import errno
import math
import os
import shutil
import stat
import sys
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
    spool.conf's `python`, else this interpreter, sys.executable); it must have the client's Python major.minor and cloudpickle version.
    retries: how many times a task whose engine died is run again (None: spool.conf's).
    results_dir: where each call's files go, in a directory named by its job id (None:
    spool-python in the working directory of the call); purge_results() removes them.
    """

    def __init__(self, spool_dir=None, timeout=None, python=None, retries=None, profile=None,
                 results_dir=None):
        # profile: accepted for ipyparallel's Client(profile=...); a spool needs none
        if spool_dir is None and not os.environ.get("SPOOL_DIR"):
            raise _lib.SpoolUsageError("no spool given: pass Client(spool_dir=...) or set SPOOL_DIR "
                                       "(make one with `spool init DIR`)")
        self.results_dir = os.path.abspath(results_dir) if results_dir else None
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

    def get_result(self, job, block=None):
        """An AsyncResult for a job id (ipyparallel's get_result; here a spool job id, for
        instance one printed by `spool status`): its value is the list of the tasks' values."""
        ar = self._result(job)
        return ar.get() if block else ar

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

    # -- holding and rerunning jobs (spool hold, release, retry) -------------------------------
    def hold(self, job):
        """Keep the queued tasks of a job (an AsyncResult or job id) from starting until
        release(job); its running tasks finish (`spool hold`)."""
        self._spool.hold(_jobid(job))

    def release(self, job):
        """Let a held job's tasks start again (`spool release`)."""
        self._spool.release(_jobid(job))

    def retry(self, job, failed=True, timed_out=True, cancelled=False, abandoned=True, skipped=False):
        """Run again, as a new job, the tasks of job that ended in the chosen states (`spool
        retry`): an AsyncResult for the new job. Only for jobs of commands (`spool submit`,
        `spool map`): spool refuses to retry a Python call, an apply or push/pull (SpoolUsageError);
        give a view retries= instead, so failed calls are run again as they fail."""
        which = ((_lib.RETRY_FAILED if failed else 0) | (_lib.RETRY_TIMEDOUT if timed_out else 0) |
                 (_lib.RETRY_CANCELLED if cancelled else 0) | (_lib.RETRY_ABANDONED if abandoned else 0) |
                 (_lib.RETRY_SKIPPED if skipped else 0))
        if not which:
            raise ValueError("retry: choose at least one of failed, timed_out, cancelled, abandoned, skipped")
        return self._result(self._spool.retry(_jobid(job), which))

    def _job_flags(self, after=None, follow=None, retries=None, timeout=None, priority=0, max_running=0,
                   retry_on_failure=None):
        """A view's flags as Spool.submit's keywords (see View.set_flags)."""
        if follow:
            raise NotImplementedError(
                "follow= (ipyparallel's location dependency: run on the engine where those tasks ran) "
                "is not supported by spool; use targets= to choose engines, or after= to wait for jobs")
        out = {"afterok": _deps(after), "priority": _int_flag("priority", priority, -10**9, 10**9),
               "max_running": _int_flag("max_running", max_running, 0, 2**32 - 1)}
        if retries is not None:
            out["retries"] = _int_flag("retries", retries, 0, 2**31 - 1)
        # ipyparallel's retries= reruns a task that failed: spool's retry_on_failure
        out["retry_on_failure"] = bool(retries) if retry_on_failure is None else bool(retry_on_failure)
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
                raise ValueError("timeout must be a number of seconds >= 0 (0: spool.conf's default), not %r"
                                 % (timeout,))
            out["timeout_ms"] = int(math.ceil(timeout * 1000))
        return out

    def purge_results(self, jobs=None):
        """Remove the files of finished calls (ipyparallel's name): jobs are AsyncResults or job
        ids, or 'all' for every finished call in this client's results directory (for calls made
        from the current directory when Client(results_dir=) was not given). A call still running
        is refused: its engine writes there. Returns the ids of the jobs whose files were removed."""
        sp = self._spool
        if jobs is None:
            return []
        if jobs == "all":
            base = self.results_dir or os.path.join(os.getcwd(), "spool-python")
            try:
                ids = os.listdir(base)
            except FileNotFoundError:
                return []
            summaries = []
            for jobid in ids:
                try:
                    summ = sp.summary(jobid)
                except _lib.NoSuchJob:
                    continue
                if summ.done:
                    summaries.append(summ)
        else:
            ids = [j.job if isinstance(j, AsyncResult) else j
                   for j in ([jobs] if isinstance(jobs, (AsyncResult, str)) else jobs)]
            summaries = [sp.summary(jobid) for jobid in ids]
            running = [s.id for s in summaries if not s.done]
            if running:
                raise _lib.SpoolUsageError("job %s has not finished: purge its results once it has "
                                           "(wait for it, or abort it)" % ", ".join(running))
        return [s.id for s in summaries if s.outdir and _purge_dir(s.outdir)]

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
                shape="apply", order=None, ordered=True, ntasks=None, fname="apply", flags=None):
        """Write the call file beside the data and submit its job; an AsyncResult for it."""
        sp = self._spool
        jobid = sp.job_id_new()
        cwd = os.getcwd()
        outdir = os.path.join(self.results_dir or os.path.join(cwd, "spool-python"), jobid)
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
        flags = dict(flags or {})
        timeout_ms = flags.pop("timeout_ms", int(math.ceil(self.timeout * 1000)) if self.timeout else 0)
        retries = flags.pop("retries", self.retries)
        t0 = time.monotonic()  # elapsed counts from the submit: the task may start before it returns
        sp.submit([name, "python: " + label], jobid=jobid, outdir=outdir, cwd=cwd, name=("python: " + label)[:100],
                  timeout_ms=timeout_ms, retries=retries, items=items, is_apply=is_apply,
                  targets=tgt, schedule="balanced" if items is not None else None, builtin="python",
                  python=self.python, env=_call_env(), **flags)
        ar = AsyncResult(self, jobid, fname=fname, shape=shape, single=single, order=order,
                         ntasks=ntasks, ordered=ordered, outdir=outdir, t0=t0)
        self._outstanding.add(ar)
        return ar

    def __repr__(self):
        return "<spool.Client %s>" % self.spool_dir


def _jobid(job):
    if isinstance(job, AsyncResult):
        if job.job is None:
            raise ValueError("%r ran no job (a map over nothing)" % (job,))
        return job.job
    if isinstance(job, str):
        return job
    raise TypeError("a job is an AsyncResult or a job id, not %r" % (job,))


def _deps(after):
    """after=: AsyncResults or job ids ("JOB" or "JOB.TASK"), one or a collection; results that
    ran no job (a map over nothing) are done already and left out."""
    if after is None:
        return []
    if isinstance(after, (AsyncResult, str)):
        after = [after]
    try:
        items = list(after)
    except TypeError:
        raise TypeError("after= takes AsyncResults or job ids, not %r" % (after,)) from None
    out = []
    for a in items:
        if isinstance(a, AsyncResult):
            if a.job is not None:
                out.append(a.job)
        elif isinstance(a, str):
            out.append(a)
        else:
            raise TypeError("after= takes AsyncResults or job ids, not %r" % (a,))
    return out


def _int_flag(name, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError("%s must be an integer from %d to %d, not %r" % (name, lo, hi, v))
    return v


def _call_env():
    """The call's environment: this process's, plus SPOOL_CLIENT_PYTHON naming this interpreter,
    which engines start when neither Client(python=) nor spool.conf's `python` names one: the
    same Python and cloudpickle as the client, on a cluster that shares its software."""
    key = b"SPOOL_CLIENT_PYTHON"
    env = [k + b"=" + v for k, v in os.environb.items() if k != key]
    if sys.executable:
        env.append(key + b"=" + os.fsencode(sys.executable))
    return env


def _purge_dir(path):
    """Remove a call's directory if it is ours: a real directory (not a link) owned by this user.
    shutil.rmtree works through descriptors on Linux, so a link planted inside is not followed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise _lib.SpoolUsageError("%s is not a directory of yours: not removed" % path)

    def gone_already(func, p, exc):  # a file renamed into place meanwhile (tmp -> name)
        if not isinstance(exc[1], FileNotFoundError):
            raise exc[1]

    # The worker of a cancelled task may still put its result there (a tmp file renamed into
    # place) just after the job ended: what vanishes is ignored, what appears is removed next time.
    for _ in range(50):
        try:
            shutil.rmtree(path, onerror=gone_already)
        except OSError as e:
            if e.errno != errno.ENOTEMPTY:
                raise
        if not os.path.lexists(path):
            return True
        time.sleep(0.1)
    shutil.rmtree(path)
    return True
