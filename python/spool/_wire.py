"""_wire.py - the client's side of the files beside the data (py-design.md section 2).

call:  b"spool-python-call 1 python=X.Y.Z cloudpickle=V\\n" + cloudpickle of a dict
value: b"spool-python-value 1 python=X.Y.Z cloudpickle=V\\n" + cloudpickle of a dict

The engine (_engine.py, a standalone script) keeps its own copy of the header code: it must not
import this package. The call dict:
  {"kind": "apply", "f": f, "args": args, "kwargs": kwargs}
  {"kind": "apply", "f": f, "per_engine": {engine_id: (args, kwargs)}}
  {"kind": "map", "f": f, "chunks": [[argtuple, ...], ...]}     task k runs chunks[k-1]
  {"kind": "map", "f": f, "per_engine": {engine_id: [argtuple, ...]}}
  {"kind": "push", "ns": {...}}  or  {"kind": "push", "per_engine": {engine_id: {...}}}
  {"kind": "pull", "names": "a" or ["a", "b"]}
  {"kind": "execute", "code": "...", "filename": None or a path}
The value dict: {"ok": True, "value": v, "engine": id, "node": n, "lost": None or a sentence}
or {"ok": False, "ename", "evalue", "traceback", "engine", "node", "lost"}.
"""

import platform

import cloudpickle

FORMAT = 1
CALL_MAGIC = "spool-python-call"
VALUE_MAGIC = "spool-python-value"
# The versions this client writes in its call headers (a test may change them).
PYTHON_VERSION = platform.python_version()
CLOUDPICKLE_VERSION = getattr(cloudpickle, "__version__", "unknown")


def call_header():
    return ("%s %d python=%s cloudpickle=%s\n" % (CALL_MAGIC, FORMAT, PYTHON_VERSION,
                                                  CLOUDPICKLE_VERSION)).encode("ascii")


def dump_call(call):
    """The bytes of a call file."""
    return call_header() + cloudpickle.dumps(call)


class ValueFormatError(Exception):
    pass


def load_value(data, what):
    """The outcome dict of a value file's bytes; ValueFormatError naming `what` if it is not one."""
    nl = data.find(b"\n", 0, 200)
    if nl < 0:
        raise ValueFormatError("%s has no spool-python-value header" % what)
    words = data[:nl].decode("ascii", "replace").split()
    if len(words) < 2 or words[0] != VALUE_MAGIC:
        raise ValueFormatError("%s does not start with a spool-python-value header" % what)
    if words[1] != str(FORMAT):
        raise ValueFormatError("%s is in format %s, this client reads format %d: use the same spool "
                               "version for the client and the workers" % (what, words[1], FORMAT))
    fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
    py, cp = fields.get("python", "?"), fields.get("cloudpickle", "?")
    try:
        out = cloudpickle.loads(data[nl + 1:])
    except Exception as e:
        raise ValueFormatError(
            "%s cannot be unpickled here (%s: %s); it was written by Python %s with cloudpickle %s, "
            "this client runs Python %s with cloudpickle %s: use the same versions (and packages) on "
            "both sides" % (what, type(e).__name__, e, py, cp, platform.python_version(),
                            CLOUDPICKLE_VERSION)) from None
    if not isinstance(out, dict) or "ok" not in out:
        raise ValueFormatError("%s does not hold a spool value" % what)
    return out
