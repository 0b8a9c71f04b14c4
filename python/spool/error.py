"""error.py - the exceptions of spool's Python client, named as ipyparallel names them."""

import builtins

from ._lib import NoSuchJob, SpoolError, SpoolTimeout, SpoolUsageError  # noqa: F401


class TimeoutError(builtins.TimeoutError):
    """A result did not arrive in time (a subclass of the builtin TimeoutError)."""


class RemoteError(Exception):
    """An exception raised on an engine: its type name (ename), message (evalue), the remote
    traceback text, and the engine it ran on (engine_id; engine_info has engine_id, node)."""

    def __init__(self, ename, evalue, traceback, engine_info=None):
        super().__init__(ename, evalue)
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback
        self.engine_info = dict(engine_info or {})

    @property
    def engine_id(self):
        return self.engine_info.get("engine_id")

    @property
    def node(self):
        return self.engine_info.get("node")

    def __repr__(self):
        return "<RemoteError[%s]:%s(%s)>" % (self.engine_id, self.ename, self.evalue)

    def __str__(self):
        return "%s(%s)" % (self.ename, self.evalue)

    def render_traceback(self):
        return (self.traceback or "No traceback available").splitlines()

    _render_traceback_ = render_traceback

    def print_traceback(self, excid=None):
        print("\n".join(self.render_traceback()))


class TaskLost(RemoteError):
    """A task that ended without a value: timed out, cancelled, refused by its engine, or its
    engine died. ename names the task's state ("TaskTimedout", "TaskCancelled", ...); evalue
    says the reason, the engine and the node."""


class CompositeError(RemoteError):
    """Errors from several tasks: elist holds (ename, evalue, traceback, engine_info) for each."""

    tb_limit = 4

    def __init__(self, message, elist):
        Exception.__init__(self, message, elist)
        self.msg = message
        self.elist = list(elist)
        self.ename, self.evalue, self.traceback, self.engine_info = "CompositeError", message, None, {}
        self.args = [e[0] for e in elist]

    @staticmethod
    def _engine_str(ei):
        return "[%s:%s]: " % (ei.get("engine_id"), ei.get("method", "apply")) if ei else "[Engine Exception]"

    def __str__(self):
        s = str(self.msg)
        for en, ev, _tb, ei in self.elist[: self.tb_limit]:
            s += "\n" + self._engine_str(ei) + en + ": " + str(ev)
        if len(self.elist) > self.tb_limit:
            s += "\n.... %i more exceptions ..." % (len(self.elist) - self.tb_limit)
        return s

    def __repr__(self):
        return "CompositeError(%i)" % len(self.elist)

    def render_traceback(self, excid=None):
        lines = []
        chosen = self.elist[: self.tb_limit] if excid is None else [self.elist[excid]]
        for en, ev, etb, ei in chosen:
            lines.append(self._engine_str(ei))
            lines.extend((etb or "No traceback available").splitlines())
            lines.append("")
        if excid is None and len(self.elist) > self.tb_limit:
            lines.append("... %i more exceptions ..." % (len(self.elist) - self.tb_limit))
        return lines

    _render_traceback_ = render_traceback

    def print_traceback(self, excid=None):
        print("\n".join(self.render_traceback(excid)))

    def raise_exception(self, excid=0):
        try:
            en, ev, etb, ei = self.elist[excid]
        except IndexError:
            raise IndexError("an exception with index %i does not exist" % excid) from None
        raise RemoteError(en, ev, etb, ei)
