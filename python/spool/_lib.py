"""_lib.py - the ctypes binding of libspool.so (include/spool.h): one protocol implementation.

The library is found in this order (py-design.md section 1): $SPOOL_LIBRARY, the build tree
(<package>/../../build/libspool.so), the one `make install` named in _install.py, then the
system's (find_library("spool"), libspool.so.0).
The structs below mirror include/spool.h field by field, in order: change both together.

Errors: a C call that fails raises an exception carrying the C library's sentence; its type is
chosen from the -SPOOL_ERR_* code (never from the text): NO_JOB -> NoSuchJob (a LookupError),
TIMEOUT -> SpoolTimeout (a TimeoutError), USAGE -> SpoolUsageError (a ValueError), anything
else -> SpoolError (an OSError).
"""

import ctypes
import ctypes.util
import os
import threading

ERRLEN = 1024

# enum spool_exit
EXIT_OK, EXIT_TASK_FAILED, EXIT_USAGE, EXIT_ERROR, EXIT_NO_JOB, EXIT_PENDING = range(6)
EXIT_INTERRUPTED = 130  # the spool command only: interrupted while waiting
# enum spool_err (returned negated)
ERR_FAILED, ERR_USAGE, ERR_NO_JOB, ERR_TIMEOUT = 1, 2, 3, 4
# enum spool_task_state
# The structs below mirror include/spool.h field by field; TASK_NSTATES sizes struct spool_job's
# counts. The state names come from the library's one name table when it is loaded, which also
# checks that the library has exactly TASK_NSTATES states (else the structs would not match).
TASK_NSTATES = 9
TASK_SUCCEEDED = 3
TASK_STATES = ()
# enum spool_output
OUT_STDOUT, OUT_STDERR, OUT_RESULT, OUT_VALUE = range(4)
# collect flags
COLLECT_WAIT, COLLECT_FOLLOW = 1, 2


class SpoolError(OSError):
    """A spool operation failed (no spool, an I/O error, a record not believed, ...)."""


class NoSuchJob(SpoolError, LookupError):
    """No such job or task in this spool."""


class SpoolUsageError(SpoolError, ValueError):
    """The arguments are not valid."""


class SpoolTimeout(SpoolError, TimeoutError):
    """A wait gave up at its deadline."""


def _error_for(rc, msg):
    code = -rc if rc < 0 else rc
    cls = {ERR_NO_JOB: NoSuchJob, ERR_USAGE: SpoolUsageError, ERR_TIMEOUT: SpoolTimeout}.get(code, SpoolError)
    return cls(msg or "spool call failed (code %d)" % rc)


def _error_for_exit(exit_code, msg):
    """For calls that return a SPOOL_EXIT_* code (spool_collect)."""
    cls = {EXIT_NO_JOB: NoSuchJob, EXIT_USAGE: SpoolUsageError, EXIT_PENDING: SpoolTimeout}.get(exit_code, SpoolError)
    return cls(msg or "spool call failed (exit code %d)" % exit_code)


c_char_pp = ctypes.POINTER(ctypes.c_char_p)


class JobSpec(ctypes.Structure):
    _fields_ = [
        ("cwd", ctypes.c_char_p),
        ("outdir", ctypes.c_char_p),
        ("name", ctypes.c_char_p),
        ("argv", c_char_pp),
        ("argc", ctypes.c_size_t),
        ("env", c_char_pp),
        ("nenv", ctypes.c_size_t),
        ("env_set", ctypes.c_int),
        ("timeout_ms", ctypes.c_uint64),
        ("retries", ctypes.c_int),
        ("is_map", ctypes.c_int),
        ("items", c_char_pp),
        ("nitems", ctypes.c_size_t),
        ("is_apply", ctypes.c_int),
        ("targets", ctypes.c_char_p),
        ("schedule", ctypes.c_char_p),
        ("builtin", ctypes.c_char_p),
        ("jobid", ctypes.c_char_p),
        ("python", ctypes.c_char_p),
        ("after", c_char_pp),
        ("nafter", ctypes.c_size_t),
        ("afterok", c_char_pp),
        ("nafterok", ctypes.c_size_t),
        ("after_each", ctypes.c_char_p),
        ("priority", ctypes.c_int),
        ("max_running", ctypes.c_uint),
        ("nsources", ctypes.c_size_t),
        ("stdin_path", ctypes.c_char_p),
        ("retry_on_failure", ctypes.c_int),
        ("retry_of", ctypes.c_char_p),
        ("mem", ctypes.c_uint64),
    ]


class Attempt(ctypes.Structure):
    _fields_ = [
        ("attempt", ctypes.c_uint64),
        ("worker", ctypes.c_char * 80),
        ("status", ctypes.c_char * 16),
        ("exit_code", ctypes.c_int),
        ("signal", ctypes.c_int),
    ]


class Task(ctypes.Structure):
    _fields_ = [
        ("task", ctypes.c_uint64),
        ("state", ctypes.c_int),
        ("attempt", ctypes.c_uint64),
        ("engine", ctypes.c_int64),
        ("exit_code", ctypes.c_int),
        ("signal", ctypes.c_int),
        ("wall_ms", ctypes.c_int64),
        ("node", ctypes.c_char_p),
        ("reason", ctypes.c_char_p),
        ("stdout_path", ctypes.c_char_p),
        ("stderr_path", ctypes.c_char_p),
        ("result_path", ctypes.c_char_p),
        ("nduplicates", ctypes.c_size_t),
        ("duplicates", ctypes.POINTER(Attempt)),
    ]


class Job(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_char * 16),
        ("name", ctypes.c_char_p),
        ("owner", ctypes.c_uint64),
        ("cwd", ctypes.c_char_p),
        ("outdir", ctypes.c_char_p),
        ("command", ctypes.c_char_p),
        ("state", ctypes.c_int),
        ("done", ctypes.c_int),
        ("accepted", ctypes.c_int),
        ("ntasks", ctypes.c_size_t),
        ("counts", ctypes.c_uint64 * TASK_NSTATES),
        ("submitted_ms", ctypes.c_uint64),
        ("finished_ms", ctypes.c_uint64),
        ("order", ctypes.c_uint64),
        ("tasks", ctypes.POINTER(Task)),
        ("priv", ctypes.c_void_p),
        ("waiting", ctypes.c_char_p),
        ("held", ctypes.c_int),
    ]


class Engine(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_int64),
        ("state", ctypes.c_char * 8),
        ("node", ctypes.c_char * 72),
        ("pid", ctypes.c_int64),
        ("worker", ctypes.c_char * 80),
        ("task", ctypes.c_char * 100),
        ("beat_age_ms", ctypes.c_int64),
    ]


RESULT_CB = ctypes.CFUNCTYPE(None, ctypes.POINTER(Job), ctypes.POINTER(Task), ctypes.c_void_p)
PROGRESS_CB = ctypes.CFUNCTYPE(None, ctypes.POINTER(Job), ctypes.c_uint64, ctypes.c_void_p)


class CollectOpts(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_int),
        ("timeout_ms", ctypes.c_uint64),
        ("on_result", RESULT_CB),
        ("on_progress", PROGRESS_CB),
        ("arg", ctypes.c_void_p),
    ]


def _find_library():
    env = os.environ.get("SPOOL_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    build = os.path.normpath(os.path.join(here, "..", "..", "build", "libspool.so"))
    if os.path.exists(build):
        return build
    try:  # written by `make install`: the library that installation put in LIBDIR
        from ._install import LIBRARY
        if os.path.exists(LIBRARY):
            return LIBRARY
    except ImportError:
        pass
    return ctypes.util.find_library("spool") or "libspool.so.0"


_lib = None
_lib_lock = threading.Lock()


def lib():
    """The loaded library, its prototypes declared (loaded on first use)."""
    global _lib
    with _lib_lock:
        if _lib is None:
            path = _find_library()
            try:
                L = ctypes.CDLL(path, use_errno=True)
            except OSError as e:
                raise SpoolError("cannot load the spool library %s: %s; build it with `make` in the "
                                 "spool source tree, install it with `make install`, or set "
                                 "SPOOL_LIBRARY to its path" % (path, e)) from None
            _declare(L)
            _check_states(L, path)
            _lib = L
        return _lib


def _declare(L):
    c_int, c_size_t, c_char_p, c_void_p = ctypes.c_int, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p
    errbuf = ctypes.c_char_p  # char *err (a create_string_buffer is passed)

    def proto(name, restype, *argtypes):
        try:
            f = getattr(L, name)
        except AttributeError:  # an older library: say so when the function is used
            def missing(*_a, _name=name):
                raise SpoolError("the spool library %s has no %s: it is older than this Python "
                                 "package; rebuild it (`make`) or point SPOOL_LIBRARY at a newer one"
                                 % (L._name, _name))
            setattr(L, name, missing)
            return
        f.restype = restype
        f.argtypes = list(argtypes)

    proto("spool_exit_code", c_int, c_int)
    proto("spool_open", c_void_p, c_char_p, errbuf, c_size_t)
    proto("spool_close", None, c_void_p)
    proto("spool_path", c_char_p, c_void_p)
    proto("spool_submit", c_int, c_void_p, ctypes.POINTER(JobSpec), errbuf, errbuf, c_size_t)
    proto("spool_job_id_new", c_int, c_void_p, errbuf, errbuf, c_size_t)
    proto("spool_outdir_open", c_int, c_void_p, c_char_p, errbuf, c_size_t)
    proto("spool_job_get", c_int, c_void_p, c_char_p, ctypes.POINTER(ctypes.POINTER(Job)),
          ctypes.POINTER(c_int), errbuf, c_size_t)
    proto("spool_job_summary", c_int, c_void_p, c_char_p, ctypes.POINTER(ctypes.POINTER(Job)),
          ctypes.POINTER(c_int), errbuf, c_size_t)
    proto("spool_job_free", None, ctypes.POINTER(Job))
    proto("spool_collect", c_int, c_void_p, c_char_p, ctypes.POINTER(CollectOpts),
          ctypes.POINTER(ctypes.POINTER(Job)), errbuf, c_size_t)
    proto("spool_engines", c_int, c_void_p, ctypes.POINTER(ctypes.POINTER(Engine)),
          ctypes.POINTER(c_size_t), errbuf, c_size_t)
    proto("spool_engines_free", None, ctypes.POINTER(Engine))
    proto("spool_wait_engines", c_int, c_void_p, c_size_t, ctypes.c_uint64, errbuf, c_size_t)
    proto("spool_cancel", c_int, c_void_p, c_char_p, ctypes.c_uint64, errbuf, c_size_t)
    proto("spool_task_open", c_int, ctypes.POINTER(Job), ctypes.POINTER(Task), c_int, errbuf, c_size_t)
    proto("spool_hold", c_int, c_void_p, c_char_p, errbuf, c_size_t)
    proto("spool_release", c_int, c_void_p, c_char_p, errbuf, c_size_t)
    proto("spool_retry", c_int, c_void_p, c_char_p, c_int, errbuf, errbuf, c_size_t)


def _check_states(L, path):
    global TASK_STATES
    L.spool_task_state_name.restype = ctypes.c_char_p
    L.spool_task_state_name.argtypes = [ctypes.c_int]
    names = tuple(L.spool_task_state_name(i).decode() for i in range(TASK_NSTATES + 1))
    if "unknown" in names[:TASK_NSTATES] or names[TASK_NSTATES] != "unknown":
        raise SpoolError("the spool library %s does not have the %d task states this Python package "
                         "was written for: the package and the library come from different versions of "
                         "spool; install both from one (`make install`) or set SPOOL_LIBRARY"
                         % (path, TASK_NSTATES))
    TASK_STATES = names[:TASK_NSTATES]


def _s(b):
    return b.decode("utf-8", "replace") if b is not None else None


def _b(s):
    return s.encode("utf-8") if isinstance(s, str) else s


def _strv(strings):
    """A char *[] for a list of str (kept alive by the returned array)."""
    arr = (ctypes.c_char_p * max(len(strings), 1))()
    for i, s in enumerate(strings):
        arr[i] = _b(s)
    return arr


class TaskInfo:
    """What the client keeps of a published task (copied out of the C struct)."""
    __slots__ = ("task", "state", "attempt", "engine", "exit_code", "signal", "wall_ms", "node", "reason")

    def __init__(self, t):
        self.task = t.task
        self.state = TASK_STATES[t.state] if 0 <= t.state < TASK_NSTATES else "unknown"
        self.attempt = t.attempt
        self.engine = t.engine
        self.exit_code = t.exit_code
        self.signal = t.signal
        self.wall_ms = t.wall_ms
        self.node = _s(t.node)
        self.reason = _s(t.reason)


class Summary:
    __slots__ = ("id", "state", "done", "accepted", "ntasks", "counts", "submitted_ms", "finished_ms", "outdir",
                 "waiting", "held")

    def __init__(self, j):
        self.id = _s(j.id)
        self.outdir = _s(j.outdir)
        self.state = j.state
        self.done = bool(j.done)
        self.accepted = bool(j.accepted)
        self.ntasks = j.ntasks
        self.counts = list(j.counts)
        self.submitted_ms = j.submitted_ms
        self.finished_ms = j.finished_ms
        self.waiting = _s(j.waiting)  # "JOB[,JOB]": the jobs it still waits on, or None
        self.held = bool(j.held)

    @property
    def terminal(self):
        return sum(self.counts[TASK_SUCCEEDED:])


class Spool:
    """One open spool (spool_t). Calls are serialised by a lock: one handle, any thread."""

    def __init__(self, path=None):
        self.L = lib()
        self.lock = threading.RLock()
        self.idle = threading.Condition(self.lock)
        self.busy = 0  # collects in progress (close waits for them)
        err = ctypes.create_string_buffer(ERRLEN)
        self.sp = self.L.spool_open(_b(path) if path else None, err, ERRLEN)
        if not self.sp:
            raise SpoolError(_s(err.value) or "cannot open the spool")

    def close(self):
        """Close the handle once no collect uses it (collects run without the lock: they wait)."""
        with self.idle:
            while self.busy:
                self.idle.wait()
            if self.sp:
                self.L.spool_close(self.sp)
                self.sp = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def path(self):
        return _s(self.L.spool_path(self._handle()))

    def _handle(self):
        if not self.sp:
            raise SpoolError("the spool client was closed: make a new Client")
        return self.sp

    def _check(self, rc, err):
        if rc < 0:
            raise _error_for(rc, _s(err.value))
        return rc

    def job_id_new(self):
        err = ctypes.create_string_buffer(ERRLEN)
        jobid = ctypes.create_string_buffer(16)
        with self.lock:
            self._check(self.L.spool_job_id_new(self._handle(), jobid, err, ERRLEN), err)
        return _s(jobid.value)

    def outdir_open(self, path):
        """A directory fd of the output directory (created if missing, verified); close it."""
        err = ctypes.create_string_buffer(ERRLEN)
        with self.lock:
            fd = self.L.spool_outdir_open(self._handle(), _b(path), err, ERRLEN)
        if fd < 0:
            raise _error_for(fd, _s(err.value))
        return fd

    def submit(self, argv, jobid=None, outdir=None, cwd=None, name=None, timeout_ms=0, retries=-1,
               items=None, is_apply=False, targets=None, schedule=None, builtin=None, python=None,
               env=None, after=(), afterok=(), priority=0, max_running=0, retry_on_failure=False, mem=0):
        """env: the task's whole environment as NAME=VALUE entries (None: this process's).
        after/afterok: job ids ("JOB" or "JOB.TASK") it waits on: ended however, or succeeded
        (spool-layout.md 5.5); priority, max_running, retry_on_failure as `spool submit`'s.
        mem: each task's memory limit in bytes (0: none; not for builtin jobs)."""
        argv_a = _strv(argv)
        spec = JobSpec()
        spec.cwd = _b(cwd)
        spec.outdir = _b(outdir)
        spec.name = _b(name)
        spec.argv = ctypes.cast(argv_a, c_char_pp)
        spec.argc = len(argv)
        env_a = None
        if env is not None:
            env_a = _strv(env)
            spec.env = ctypes.cast(env_a, c_char_pp)
            spec.nenv = len(env)
        spec.env_set = 0 if env is None else 1
        spec.timeout_ms = int(timeout_ms or 0)
        spec.retries = -1 if retries is None else int(retries)
        items_a = None
        if items is not None:
            items_a = _strv(items)
            spec.is_map = 1
            spec.items = ctypes.cast(items_a, c_char_pp)
            spec.nitems = len(items)
        spec.is_apply = 1 if is_apply else 0
        spec.targets = _b(targets)
        spec.schedule = _b(schedule)
        spec.builtin = _b(builtin)
        spec.jobid = _b(jobid)
        spec.python = _b(python)
        after_a = afterok_a = None
        if after:
            after_a = _strv(list(after))
            spec.after = ctypes.cast(after_a, c_char_pp)
            spec.nafter = len(after)
        if afterok:
            afterok_a = _strv(list(afterok))
            spec.afterok = ctypes.cast(afterok_a, c_char_pp)
            spec.nafterok = len(afterok)
        spec.priority = int(priority or 0)
        spec.max_running = int(max_running or 0)
        spec.retry_on_failure = 1 if retry_on_failure else 0
        spec.mem = int(mem or 0)
        err = ctypes.create_string_buffer(ERRLEN)
        out = ctypes.create_string_buffer(16)
        with self.lock:
            self._check(self.L.spool_submit(self._handle(), ctypes.byref(spec), out, err, ERRLEN), err)
        return _s(out.value)

    def summary(self, jobid):
        err = ctypes.create_string_buffer(ERRLEN)
        jp = ctypes.POINTER(Job)()
        nf = ctypes.c_int(0)
        with self.lock:
            rc = self.L.spool_job_summary(self._handle(), _b(jobid), ctypes.byref(jp), ctypes.byref(nf), err, ERRLEN)
            if rc < 0:
                if nf.value:
                    raise NoSuchJob(_s(err.value))
                raise _error_for(rc, _s(err.value))
            try:
                return Summary(jp.contents)
            finally:
                self.L.spool_job_free(jp)

    def collect(self, jobid, on_task, wait=True, follow=False, timeout_ms=0):
        """Hand each terminal task to on_task(TaskInfo, open_value) where open_value() opens the
        task's value file (an fd, or raises OSError with the library's sentence): valid only
        during the call. Returns (SPOOL_EXIT_* code, Summary or None, err sentence)."""
        L = self.L
        failure = []

        def cb(jp, tp, _arg):
            if failure:
                return
            try:
                t = TaskInfo(tp.contents)

                def open_value():
                    err = ctypes.create_string_buffer(ERRLEN)
                    fd = L.spool_task_open(jp, tp, OUT_VALUE, err, ERRLEN)
                    if fd < 0:
                        e = OSError(ctypes.get_errno() or 0, _s(err.value) or "cannot open the value file")
                        raise e
                    return fd

                on_task(t, open_value)
            except BaseException as e:  # an exception cannot cross the C frames: re-raised below
                failure.append(e)

        opts = CollectOpts()
        opts.flags = (COLLECT_WAIT if wait else 0) | (COLLECT_FOLLOW if follow else 0)
        opts.timeout_ms = int(timeout_ms)
        opts.on_result = RESULT_CB(cb)
        opts.on_progress = PROGRESS_CB()
        opts.arg = None
        err = ctypes.create_string_buffer(ERRLEN)
        jp = ctypes.POINTER(Job)()
        with self.lock:
            if not self.sp:
                raise SpoolError("the spool client was closed: make a new Client")
            self.busy += 1
        try:  # without the lock: a long wait must not hold up other threads' calls
            rc = L.spool_collect(self.sp, _b(jobid), ctypes.byref(opts), ctypes.byref(jp), err, ERRLEN)
            summ = None
            if jp:
                summ = Summary(jp.contents)
                L.spool_job_free(jp)
        finally:
            with self.idle:
                self.busy -= 1
                self.idle.notify_all()
        if failure:
            raise failure[0]
        return rc, summ, _s(err.value)

    def engines(self):
        err = ctypes.create_string_buffer(ERRLEN)
        ep = ctypes.POINTER(Engine)()
        n = ctypes.c_size_t(0)
        with self.lock:
            self._check(self.L.spool_engines(self._handle(), ctypes.byref(ep), ctypes.byref(n), err, ERRLEN), err)
            try:
                return [{"id": ep[i].id, "state": _s(ep[i].state), "node": _s(ep[i].node),
                         "pid": ep[i].pid, "worker": _s(ep[i].worker), "task": _s(ep[i].task),
                         "beat_age_ms": ep[i].beat_age_ms} for i in range(n.value)]
            finally:
                if ep:
                    self.L.spool_engines_free(ep)

    def wait_engines(self, n, timeout_ms):
        err = ctypes.create_string_buffer(ERRLEN)
        with self.lock:
            sp = self._handle()
            self.busy += 1
        try:  # without the lock, as collect
            rc = self.L.spool_wait_engines(sp, n, int(timeout_ms), err, ERRLEN)
        finally:
            with self.idle:
                self.busy -= 1
                self.idle.notify_all()
        self._check(rc, err)

    def cancel(self, jobid, task=0):
        err = ctypes.create_string_buffer(ERRLEN)
        with self.lock:
            self._check(self.L.spool_cancel(self._handle(), _b(jobid), task, err, ERRLEN), err)

    def hold(self, jobid):
        err = ctypes.create_string_buffer(ERRLEN)
        with self.lock:
            self._check(self.L.spool_hold(self._handle(), _b(jobid), err, ERRLEN), err)

    def release(self, jobid):
        err = ctypes.create_string_buffer(ERRLEN)
        with self.lock:
            self._check(self.L.spool_release(self._handle(), _b(jobid), err, ERRLEN), err)

    def retry(self, jobid, which=0):
        """spool_retry: the new job's id. which: RETRY_* bits (0: failed, timed out, abandoned)."""
        err = ctypes.create_string_buffer(ERRLEN)
        out = ctypes.create_string_buffer(16)
        with self.lock:
            self._check(self.L.spool_retry(self._handle(), _b(jobid), int(which), out, err, ERRLEN), err)
        return _s(out.value)


# spool_retry's choice of states (include/spool.h SPOOL_RETRY_*).
RETRY_FAILED, RETRY_TIMEDOUT, RETRY_CANCELLED, RETRY_ABANDONED, RETRY_SKIPPED = 1, 2, 4, 8, 16
