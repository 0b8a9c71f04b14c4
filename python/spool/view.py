"""view.py - DirectView and LoadBalancedView, with ipyparallel's names and semantics.

DirectView: a call runs once on each target engine (a spool apply job: one task per target,
pinned to it). Its map splits the sequences into one contiguous chunk per target (ipyparallel's
'b' distribution) and sends them as one apply job whose call holds each engine's chunk.
LoadBalancedView: an apply is a one-task job any engine may take; a map is a spool map job of
chunks (chunksize items each; None: ceil(len / (4 * engines)), as multiprocessing.Pool.map).
"""

import contextlib
import math

from .asyncresult import DoneResult
from .client import _fname, _short


def _partition(seq, p, q):
    """ipyparallel's Map.getPartition: the p-th of q contiguous parts, the first n % q one longer."""
    n = len(seq)
    rem, base = n % q, n // q
    if p < rem:
        lo = p * (base + 1)
        hi = lo + base + 1
    else:
        lo = p * base + rem
        hi = lo + base
    return seq[lo:hi]


def _argtuples(sequences):
    if not sequences:
        raise ValueError("map needs at least one sequence")
    lists = [list(s) for s in sequences]
    lens = {len(s) for s in lists}
    if len(lens) > 1:
        raise ValueError("all sequences must have equal length, not %s" % sorted(len(s) for s in lists))
    return list(zip(*lists))


# A view's flags (ipyparallel's names, and spool's scheduling): each job the view submits gets them.
#   after            AsyncResults or job ids: its tasks start once those succeeded; if one did not,
#                    they end skipped and get() raises ImpossibleDependency (ipyparallel's default
#                    Dependency: success only)
#   follow           ipyparallel's location dependency: not supported (NotImplementedError)
#   retries          a task that fails (or whose node is lost) runs again, up to this many times
#   timeout          seconds a task may run (ipyparallel: seconds to wait for dependencies, which
#                    spool does not bound); None: the Client's
#   priority         higher first among your own jobs (`--priority`)
#   max_running      at most this many of the job's tasks at once (`--max-running`, 0: no limit)
#   retry_on_failure None: with retries; else whether failures (not only lost nodes) are rerun
_FLAG_DEFAULTS = {"after": None, "follow": None, "retries": None, "timeout": None, "priority": 0,
                  "max_running": 0, "retry_on_failure": None}


class View:
    """What both views share: block, targets, flags, apply/map and their _sync/_async forms."""

    def __init__(self, client, targets=None, block=False, **flags):
        self.client = client
        self.targets = targets
        self.block = block
        for k, v in _FLAG_DEFAULTS.items():
            setattr(self, k, v)
        self.set_flags(**flags)

    def set_flags(self, **kwargs):
        """Set the view's flags (ipyparallel's set_flags): block, track (ignored: nothing is
        sent by zero-copy), after, follow, retries, timeout, priority, max_running,
        retry_on_failure. Each job the view submits afterwards gets them."""
        for k, v in kwargs.items():
            if k == "block":
                self.block = bool(v)
            elif k == "track":
                pass
            elif k not in _FLAG_DEFAULTS:
                raise KeyError("Invalid name: %r (flags: block, track, %s)" % (k, ", ".join(_FLAG_DEFAULTS)))
            else:
                self.client._job_flags(**{k: v})  # refused now rather than at the next call
                setattr(self, k, v)

    @contextlib.contextmanager
    def temp_flags(self, **kwargs):
        """with view.temp_flags(after=ar, retries=2): flags for the calls inside the block only."""
        saved = {k: getattr(self, k) for k in kwargs if k in _FLAG_DEFAULTS or k == "block"}
        self.set_flags(**kwargs)
        try:
            yield
        finally:
            for k, v in saved.items():
                setattr(self, k, v)

    def _flags(self):
        return self.client._job_flags(**{k: getattr(self, k) for k in _FLAG_DEFAULTS})

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, "None" if self.targets is None else self.targets)

    def __len__(self):
        if isinstance(self.targets, int):
            return 1
        if self.targets is None or self.targets == "all":
            return len(self.client.ids)
        return len(self.targets)

    def apply(self, __f, *args, **kwargs):
        """f(*args, **kwargs) remotely: the result if self.block, else an AsyncResult."""
        return self._really_apply(__f, args, kwargs, block=self.block)

    def apply_async(self, __f, *args, **kwargs):
        return self._really_apply(__f, args, kwargs, block=False)

    def apply_sync(self, __f, *args, **kwargs):
        return self._really_apply(__f, args, kwargs, block=True)

    def map_async(self, f, *sequences, **kwargs):
        kwargs["block"] = False
        return self.map(f, *sequences, **kwargs)

    def map_sync(self, f, *sequences, **kwargs):
        kwargs["block"] = True
        return self.map(f, *sequences, **kwargs)

    @staticmethod
    def _finish(ar, block):
        return ar.get() if block else ar

    def _resolve_targets(self, targets=None):
        """(engine ids, single) for a call: ipyparallel's rules (Client._build_targets)."""
        t = self.targets if targets is None else targets
        single = isinstance(t, int)
        return self.client._build_targets(t), single


class DirectView(View):
    """Calls run on every target engine; push/pull/execute act on their namespaces."""

    def _apply_job(self, call, label, targets=None, fname="apply", shape="apply", per_engine_ids=None):
        t = self.targets if targets is None else targets
        single = isinstance(t, int)
        if per_engine_ids is not None:
            ids = per_engine_ids
        elif isinstance(t, str) and t == "all":
            ids = None  # the engines live when the controller takes the job
        else:
            ids = self.client._build_targets(t)
        return self.client._submit(call, label, targets=ids, is_apply=True, single=single, shape=shape,
                                   order=ids, ntasks=len(ids) if ids is not None else None, fname=fname,
                                   flags=self._flags())

    def _really_apply(self, f, args=(), kwargs=None, block=None, targets=None):
        block = self.block if block is None else block
        call = {"kind": "apply", "f": f, "args": tuple(args), "kwargs": dict(kwargs or {})}
        ar = self._apply_job(call, _fname(f), targets, fname=_fname(f))
        return self._finish(ar, block)

    def map(self, f, *sequences, block=None, track=False, return_exceptions=False):
        """map(f, *sequences) split into one chunk per target engine, in order."""
        block = self.block if block is None else block
        args = _argtuples(sequences)
        if not args:
            return self._finish(DoneResult(self.client, []), block)
        ids, _single = self._resolve_targets()
        per = {}
        for i, eid in enumerate(ids):
            part = _partition(args, i, len(ids))
            if part:
                per[eid] = part
        call = {"kind": "map", "f": f, "per_engine": per}
        ar = self._apply_job(call, "%s over %d items" % (_fname(f), len(args)), fname=_fname(f),
                             shape="map", per_engine_ids=list(per))
        return self._finish(ar, block)

    def execute(self, code, silent=True, targets=None, block=None, filename=None):
        """exec(code) in each target engine's namespace. Returns the AsyncResult (waited for,
        errors raised, if block)."""
        block = self.block if block is None else block
        ar = self._apply_job({"kind": "execute", "code": code, "filename": filename}, "execute", targets,
                             fname="execute")
        if block:
            ar.get()
        return ar

    def run(self, filename, targets=None, block=None):
        """execute() the contents of a file."""
        with open(filename) as f:
            code = f.read() + "\n"
        return self.execute(code, targets=targets, block=block, filename=filename)

    def push(self, ns, targets=None, block=None, track=None):
        """Update each target engine's namespace with the dict ns."""
        if not isinstance(ns, dict):
            raise TypeError("Must be a dict, not %s" % type(ns))
        block = self.block if block is None else block
        ar = self._apply_job({"kind": "push", "ns": ns}, "push " + ",".join(map(str, ns))[:100], targets,
                             fname="push")
        return self._finish(ar, block)

    def update(self, ns):
        return self.push(ns, block=self.block)

    def pull(self, names, targets=None, block=None):
        """The value of a name (a list of names: a list of values) on each target engine."""
        block = self.block if block is None else block
        if isinstance(names, (list, tuple, set)):
            names = list(names)
            for k in names:
                if not isinstance(k, str):
                    raise TypeError("keys must be str, not type %r" % type(k))
        elif not isinstance(names, str):
            raise TypeError("names must be strs, not %r" % (names,))
        label = "pull " + (names if isinstance(names, str) else ",".join(names))
        ar = self._apply_job({"kind": "pull", "names": names}, label[:100], targets, fname="pull")
        return self._finish(ar, block)

    def get(self, key_s):
        return self.pull(key_s, block=True)

    def __getitem__(self, key):
        return self.get(key)

    def __setitem__(self, key, value):
        # waits (ipyparallel follows self.block): view['a'] = 5 then view['a'] must see 5
        self.push({key: value}, block=True)

    def scatter(self, key, seq, dist="b", flatten=False, targets=None, block=None, track=None):
        """Split seq into one contiguous part per target engine and push it there as `key`."""
        if dist != "b":
            raise NotImplementedError("scatter: only dist='b' (contiguous parts) is supported")
        block = self.block if block is None else block
        ids, _ = self._resolve_targets(targets)
        per = {}
        for i, eid in enumerate(ids):
            part = _partition(seq, i, len(ids))
            per[eid] = {key: part[0] if flatten and len(part) == 1 else part}
        ar = self._apply_job({"kind": "push", "per_engine": per}, "scatter " + key, fname="scatter",
                             per_engine_ids=ids)
        if block:
            ar.get()
            return None
        return ar

    def gather(self, key, dist="b", targets=None, block=None):
        """The parts of `key` on the target engines, concatenated in engine order."""
        if dist != "b":
            raise NotImplementedError("gather: only dist='b' (contiguous parts) is supported")
        block = self.block if block is None else block
        ids, _ = self._resolve_targets(targets)
        ar = self._apply_job({"kind": "pull", "names": key}, "gather " + key, fname="gather", shape="gather",
                             per_engine_ids=ids)
        return self._finish(ar, block)


class LoadBalancedView(View):
    """Each call goes to the next free engine (among targets, if given)."""

    def _really_apply(self, f, args=(), kwargs=None, block=None, targets=None):
        block = self.block if block is None else block
        t = self.targets if targets is None else targets
        call = {"kind": "apply", "f": f, "args": tuple(args), "kwargs": dict(kwargs or {})}
        ar = self.client._submit(call, _fname(f), targets=t, single=True, ntasks=1, fname=_fname(f),
                                 flags=self._flags())
        return self._finish(ar, block)

    def map(self, f, *sequences, block=None, chunksize=None, ordered=True, return_exceptions=False):
        """map(f, *sequences) in chunks of `chunksize` items, each a task for the next free engine.
        chunksize None: ceil(len / (4 * engines)) like multiprocessing.Pool.map."""
        block = self.block if block is None else block
        args = _argtuples(sequences)
        if not args:
            return self._finish(DoneResult(self.client, []), block)
        if chunksize is None:
            nengines = len(self.targets) if self.targets else max(len(self.client.ids), 1)
            chunksize = max(1, math.ceil(len(args) / (4 * nengines)))
        chunksize = int(chunksize)
        if chunksize < 1:
            raise ValueError("chunksize must be at least 1, not %d" % chunksize)
        chunks = [args[i:i + chunksize] for i in range(0, len(args), chunksize)]
        items = [_short(c[0] if len(c[0]) != 1 else c[0][0]) + ("" if len(c) == 1 else " +%d" % (len(c) - 1))
                 for c in chunks]
        call = {"kind": "map", "f": f, "chunks": chunks}
        ar = self.client._submit(call, "%s over %d items" % (_fname(f), len(args)), targets=self.targets,
                                 items=items, shape="map", ntasks=len(chunks), ordered=ordered,
                                 fname=_fname(f), flags=self._flags())
        return self._finish(ar, block)
