"""_engine.py - the persistent Python interpreter of one spool engine (one per engine and user).

spool-worker starts it as `PYTHON -u _engine.py` running as the task's user, with fd 3 its end
of an AF_UNIX SOCK_SEQPACKET socketpair, and sends one message per call (py-design.md section 3):
a JSON object with three fds attached (the verified output directory, the task's stdout, its
stderr). The interpreter runs the call found in the call file beside the data, writes the value
file there, and answers "<code> <user_ms> <sys_ms> <maxrss_kb>\n<reason>".

This file is run as a script and imports only the standard library and cloudpickle: it must not
import the spool package (the engine's interpreter may be a virtualenv without it). The call and
value pickles are written by python/spool/client.py; the two files share these formats:
  call:  b"spool-python-call 1 python=X.Y.Z cloudpickle=V\n" + cloudpickle of a dict
  value: b"spool-python-value 1 python=X.Y.Z cloudpickle=V\n" + cloudpickle of a dict

The namespace (one dict, this engine's __main__ globals) lives as long as this process: `global
counter` in one call is seen by the next, and push/pull/execute act on it.
"""

import json
import linecache
import os
import platform
import resource
import socket
import stat
import sys
import traceback
import types

FORMAT = 1
CALL_MAGIC = "spool-python-call"
VALUE_MAGIC = "spool-python-value"
REASON_MAX = 900
ENGINE_FILE = os.path.abspath(__file__)

try:
    import cloudpickle
    CLOUDPICKLE_ERROR = None
except ImportError as e:  # every call is refused with a sentence, not a traceback
    cloudpickle = None
    CLOUDPICKLE_ERROR = str(e)


def cloudpickle_version():
    return getattr(cloudpickle, "__version__", "unknown") if cloudpickle else "missing"


def header(magic):
    return ("%s %d python=%s cloudpickle=%s\n" % (magic, FORMAT, platform.python_version(),
                                                  cloudpickle_version())).encode("ascii")


def parse_header(line, magic):
    """(format, python, cloudpickle) of a header line, or None when it is not one."""
    try:
        words = line.decode("ascii").split()
    except UnicodeDecodeError:
        return None
    if len(words) < 2 or words[0] != magic:
        return None
    fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
    return words[1], fields.get("python", "?"), fields.get("cloudpickle", "?")


class Refused(Exception):
    """A call refused before running (answer code 2): the message says why, in one sentence."""


def major_minor(version):
    return ".".join(version.split(".")[:2])


def check_header(line, engine):
    h = parse_header(line, CALL_MAGIC)
    if h is None:
        raise Refused("the call file does not start with a spool-python-call header: it was not "
                      "written by spool's Python client")
    fmt, py, cp = h
    here_py, here_cp = platform.python_version(), cloudpickle_version()
    if fmt != str(FORMAT):
        raise Refused("the call file is in format %s but engine %s reads format %d: use the same "
                      "spool version for the client and the workers" % (fmt, engine, FORMAT))
    if major_minor(py) != major_minor(here_py) or cp != here_cp:
        raise Refused(
            "version mismatch: the client pickled this call with Python %s and cloudpickle %s, but "
            "engine %s runs %s (Python %s, cloudpickle %s); use the same Python and cloudpickle "
            "versions on both sides, e.g. point the engines at a matching interpreter with "
            "`python = \"/path/to/python\";` in spool.conf or Client(python=\"/path/to/python\")"
            % (py, cp, engine, sys.executable, here_py, here_cp))


class Engine:
    def __init__(self):
        self.main = types.ModuleType("__main__")
        self.ns = self.main.__dict__
        self.ns["__builtins__"] = __builtins__
        # Pickles that name __main__ by reference find the user's namespace, not this script.
        sys.modules["__main__"] = self.main
        self.cache_key = None
        self.cache_call = None
        self.nexec = 0

    # -- the call file ---------------------------------------------------------------------
    def load_call(self, dirfd, name, engine):
        if not name or "/" in name or name in (".", ".."):
            raise Refused("the call file name %r is not a plain file name" % (name,))
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dirfd)
        except OSError as e:
            raise Refused("cannot open the call file %s in the output directory: %s"
                          % (name, e.strerror))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise Refused("the call file %s is not a regular file: not loaded" % name)
            if st.st_uid != os.getuid():
                raise Refused("the call file %s belongs to uid %d, not to the task's user (uid %d): "
                              "a pickle is code, not loaded" % (name, st.st_uid, os.getuid()))
            if st.st_mode & 0o022:
                raise Refused("the call file %s is writable by group or others (mode %o): a pickle "
                              "is code, not loaded" % (name, stat.S_IMODE(st.st_mode)))
            key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
            if key == self.cache_key:
                return self.cache_call
            with os.fdopen(fd, "rb", closefd=False) as f:
                check_header(f.readline(200), engine)
                if cloudpickle is None:
                    raise Refused("engine %s runs %s, which cannot import cloudpickle (%s): install "
                                  "it there (Debian: python3-cloudpickle) or point the engines at "
                                  "another interpreter (`python =` in spool.conf)"
                                  % (engine, sys.executable, CLOUDPICKLE_ERROR))
                data = f.read()
        finally:
            os.close(fd)
        call = cloudpickle.loads(data)
        if not isinstance(call, dict) or "kind" not in call:
            raise Refused("the call file %s does not hold a spool call" % name)
        self.cache_key, self.cache_call = None, None
        if "f" in call:
            call["f"] = self.rebind(call["f"])
        self.cache_key, self.cache_call = key, call
        return call

    def rebind(self, f):
        """A function pickled by value from the client's __main__ gets this engine's namespace as
        its globals (ipyparallel's semantics): what it captured is only a default, and its
        `global` statements act on the namespace. Functions it refers to are rebound too."""
        if not isinstance(f, types.FunctionType) or f.__globals__ is self.ns:
            return f
        if f.__module__ != "__main__":
            return f
        g = f.__globals__
        memo = {}

        def rb(fn):
            if id(fn) in memo:
                return memo[id(fn)]
            new = types.FunctionType(fn.__code__, self.ns, fn.__name__, fn.__defaults__, fn.__closure__)
            memo[id(fn)] = new
            new.__kwdefaults__ = fn.__kwdefaults__
            new.__qualname__ = fn.__qualname__
            new.__module__ = "__main__"
            new.__doc__ = fn.__doc__
            new.__dict__.update(fn.__dict__)
            try:
                new.__annotations__ = fn.__annotations__
            except (AttributeError, TypeError):
                pass
            for cell in fn.__closure__ or ():
                try:
                    v = cell.cell_contents
                except ValueError:
                    continue
                if isinstance(v, types.FunctionType) and v.__globals__ is g:
                    cell.cell_contents = rb(v)
            return new

        new = rb(f)
        for k, v in list(g.items()):
            if k.startswith("__") and k.endswith("__"):
                continue
            if isinstance(v, types.FunctionType) and v.__globals__ is g:
                self.ns[k] = rb(v)       # the client's current code
            elif isinstance(v, (types.ModuleType, type)):
                self.ns[k] = v
            else:
                self.ns.setdefault(k, v)  # data: the engine's own value wins
        return new

    # -- running -----------------------------------------------------------------------------
    def run(self, call, msg):
        kind = call["kind"]
        eid = msg.get("engine")
        per = call.get("per_engine")
        if per is not None:
            if eid not in per:
                raise RuntimeError("engine %s (node %s) was not one of this call's targets %s: the "
                                   "engine set changed between the client's look and the run"
                                   % (eid, msg.get("node"), sorted(per)))
            mine = per[eid]
        if kind == "apply":
            args, kwargs = (mine if per is not None else (call.get("args", ()), call.get("kwargs", {})))
            return call["f"](*args, **kwargs)
        if kind == "map":
            chunk = mine if per is not None else call["chunks"][int(msg["task"]) - 1]
            f = call["f"]
            return [f(*a) for a in chunk]
        if kind == "push":
            self.ns.update(mine if per is not None else call["ns"])
            return None
        if kind == "pull":
            names = call["names"]
            if isinstance(names, str):
                return self.lookup(names, msg)
            return [self.lookup(n, msg) for n in names]
        if kind == "execute":
            self.nexec += 1
            fname = "<spool-execute-%d>" % self.nexec
            code = call["code"]
            linecache.cache[fname] = (len(code), None, code.splitlines(True), fname)
            exec(compile(code, call.get("filename") or fname, "exec"), self.ns)
            return None
        raise RuntimeError("unknown call kind %r: use the same spool version for client and engines" % kind)

    def lookup(self, name, msg):
        try:
            return self.ns[name]
        except KeyError:
            raise NameError("name %r is not defined on engine %s (node %s)"
                            % (name, msg.get("engine"), msg.get("node")), name=name) from None

    def error_outcome(self, e, msg):
        tb = e.__traceback__
        while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == ENGINE_FILE:
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(e), e, tb))
        return {"ok": False, "ename": type(e).__name__, "evalue": str(e), "traceback": text,
                "engine": msg.get("engine"), "node": msg.get("node"), "lost": msg.get("lost")}

    def write_value(self, dirfd, name, outcome):
        try:
            data = cloudpickle.dumps(outcome)
        except Exception as e:  # the value could not be pickled: say so as the call's error
            e2 = TypeError("the value returned on engine %s cannot be pickled: %s: %s"
                           % (outcome.get("engine"), type(e).__name__, e))
            outcome = {"ok": False, "ename": "TypeError", "evalue": str(e2), "traceback":
                       "TypeError: %s\n" % e2, "engine": outcome.get("engine"),
                       "node": outcome.get("node"), "lost": outcome.get("lost")}
            data = cloudpickle.dumps(outcome)
        if "/" in name or not name:
            raise Refused("the value file name %r is not a plain file name" % (name,))
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dirfd)
        try:
            with os.fdopen(fd, "wb", closefd=False) as f:
                f.write(header(VALUE_MAGIC))
                f.write(data)
        finally:
            os.close(fd)
        return outcome

    def handle(self, msg, fds):
        """Run one call; returns (code, reason)."""
        dirfd, outfd, errfd = fds
        try:
            os.chdir(msg.get("cwd") or "/")
        except OSError as e:
            return 2, "cannot chdir to %s: %s" % (msg.get("cwd"), e.strerror)
        os.environ.clear()
        os.environ.update(msg.get("env") or {})
        engine = msg.get("engine")
        try:
            call = self.load_call(dirfd, msg.get("call"), engine)
        except Refused as e:
            return 2, str(e)
        except Exception as e:
            return 2, ("cannot load the call file %s: %s: %s (check that the client and engine use "
                       "the same Python packages)" % (msg.get("call"), type(e).__name__, e))
        redirect(outfd, errfd)
        try:
            try:
                value = self.run(call, msg)
                outcome = {"ok": True, "value": value, "engine": engine, "node": msg.get("node"),
                           "lost": msg.get("lost")}
            except BaseException as e:  # SystemExit and KeyboardInterrupt raised by user code too
                outcome = self.error_outcome(e, msg)
        finally:
            restore()
        try:
            outcome = self.write_value(dirfd, msg.get("value"), outcome)
        except Refused as e:
            return 2, str(e)
        except OSError as e:
            return 2, "cannot write the value file %s: %s" % (msg.get("value"), e.strerror)
        if outcome["ok"]:
            return 0, ""
        return 1, ("%s: %s" % (outcome["ename"], outcome["evalue"])).replace("\n", " ")


_devnull = None


def redirect(outfd, errfd):
    flush()
    os.dup2(outfd, 1)
    os.dup2(errfd, 2)


def restore():
    global _devnull
    flush()
    if _devnull is None:
        _devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    os.dup2(_devnull, 1)
    os.dup2(_devnull, 2)


def flush():
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass


def truncate(reason):
    b = reason.encode("utf-8", "replace")
    if len(b) <= REASON_MAX:
        return b
    return b[:REASON_MAX - 3].decode("utf-8", "ignore").encode("utf-8") + b"..."


def answer(sock, code, reason, ru0):
    ru = resource.getrusage(resource.RUSAGE_SELF)
    user_ms = int(round((ru.ru_utime - ru0.ru_utime) * 1000))
    sys_ms = int(round((ru.ru_stime - ru0.ru_stime) * 1000))
    sock.send(("%d %d %d %d\n" % (code, max(user_ms, 0), max(sys_ms, 0), ru.ru_maxrss)).encode("ascii")
              + truncate(reason.replace("\n", " ")))


def main():
    # sys.path[0] is this script's directory (spool's own modules): the user's imports resolve
    # from the call's working directory instead, as in an interactive interpreter.
    if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(ENGINE_FILE):
        sys.path[0] = ""
    sock = socket.socket(fileno=3)
    engine = Engine()
    restore()  # stdout/stderr are the first call's files: nothing between calls goes there
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 8)
        except InterruptedError:
            continue
        if not data:
            return 0  # EOF: the worker stopped
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        try:
            if len(fds) != 3:
                code, reason = 2, "the worker sent %d descriptors with the call, not 3" % len(fds)
            else:
                try:
                    msg = json.loads(data.decode("utf-8"))
                except ValueError as e:
                    code, reason = 2, "the worker's message is not JSON: %s" % e
                else:
                    code, reason = engine.handle(msg, fds)
        except Exception as e:  # a bug here must not end the namespace
            code, reason = 2, "the engine failed: %s: %s" % (type(e).__name__, e)
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
        answer(sock, code, reason, ru0)


if __name__ == "__main__":
    sys.exit(main())
