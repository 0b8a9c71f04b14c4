"""The engine script alone: this test plays spool-worker over a SEQPACKET socketpair (fd 3), as
py-design.md section 3 says, and checks the answers and the value files. No spool needed."""

import json
import os
import platform
import socket
import subprocess
import sys

import cloudpickle
import pytest

from spool import _wire

ENGINE = os.path.join(os.path.dirname(__file__), "..", "spool", "_engine.py")


def main_func(src, name):
    """A function defined as if in the client's __main__ (pickled by value, rebound)."""
    g = {"__name__": "__main__"}
    exec(src, g)
    return g[name]


class FakeWorker:
    def __init__(self, tmp_path, engine=7, node="n1", python=sys.executable):
        self.tmp = tmp_path
        self.outdir = tmp_path / "out"
        self.outdir.mkdir(mode=0o700)
        self.engine, self.node = engine, node
        self.sock, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        launcher = ("import os, sys; os.dup2(int(sys.argv[1]), 3); "
                    "os.execv(sys.argv[2], [sys.argv[2], '-u', sys.argv[3]])")
        self.proc = subprocess.Popen([python, "-c", launcher, str(child.fileno()), python, ENGINE],
                                     pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        child.close()
        self.n = 0
        self.ncall = 0

    def write_call(self, call, raw=None, mode=0o600):
        self.ncall += 1
        name = "J%d.call" % self.ncall
        path = self.outdir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        os.write(fd, raw if raw is not None else _wire.dump_call(call))
        os.close(fd)
        os.chmod(path, mode)
        return name

    def send(self, callname, task=1, lost=None, cwd=None, engine=None):
        self.n += 1
        value = "%d.1.ret" % self.n
        out = open(self.tmp / ("%d.out" % self.n), "wb")
        err = open(self.tmp / ("%d.err" % self.n), "wb")
        dirfd = os.open(self.outdir, os.O_RDONLY | os.O_DIRECTORY)
        msg = {"name": "J.%d.1" % task, "job": "J", "task": task, "attempt": 1,
               "engine": self.engine if engine is None else engine, "node": self.node,
               "cwd": str(cwd or self.tmp), "call": callname, "value": value,
               "env": {"PATH": os.environ.get("PATH", ""), "X_TEST": "x%d" % self.n}, "lost": lost}
        socket.send_fds(self.sock, [json.dumps(msg).encode()], [dirfd, out.fileno(), err.fileno()])
        os.close(dirfd)
        out.close()
        err.close()
        self.sock.settimeout(120)
        reply = self.sock.recv(4096).decode()
        head, reason = reply.split("\n", 1)
        code, user, sys_, rss = (int(x) for x in head.split())
        assert user >= 0 and sys_ >= 0 and rss > 0
        outcome = None
        vpath = self.outdir / value
        if vpath.exists():
            assert (vpath.stat().st_mode & 0o777) == 0o600
            outcome = _wire.load_value(vpath.read_bytes(), str(vpath))
        return code, reason, outcome

    def stdout(self):
        return (self.tmp / ("%d.out" % self.n)).read_text()

    def stderr(self):
        return (self.tmp / ("%d.err" % self.n)).read_text()

    def close(self):
        self.sock.close()
        return self.proc.wait(timeout=120)


@pytest.fixture
def w(tmp_path):
    fw = FakeWorker(tmp_path)
    yield fw
    rc = fw.close()
    assert rc == 0, "the engine did not exit 0 at EOF on fd 3"


def test_apply_value_and_output(w):
    f = main_func("def f(a, b=2):\n    print('out', a)\n    import sys, os\n"
                  "    print('err', os.environ['X_TEST'], file=sys.stderr)\n    return a * b\n", "f")
    code, reason, out = w.send(w.write_call({"kind": "apply", "f": f, "args": (21,), "kwargs": {}}))
    assert (code, reason) == (0, "")
    assert out["ok"] and out["value"] == 42 and out["engine"] == 7 and out["node"] == "n1"
    assert w.stdout() == "out 21\n"
    assert w.stderr() == "err x1\n"


def test_global_persists_and_push_pull(w):
    inc = main_func("def increment():\n    global counter\n    counter += 1\n    return counter\n",
                    "increment")
    assert w.send(w.write_call({"kind": "push", "ns": {"counter": 0}}))[0] == 0
    c1 = w.write_call({"kind": "apply", "f": inc, "args": (), "kwargs": {}})
    assert w.send(c1)[2]["value"] == 1
    assert w.send(w.write_call({"kind": "apply", "f": inc, "args": (), "kwargs": {}}))[2]["value"] == 2
    assert w.send(w.write_call({"kind": "pull", "names": "counter"}))[2]["value"] == 2
    assert w.send(w.write_call({"kind": "pull", "names": ["counter"]}))[2]["value"] == [2]
    code, reason, out = w.send(w.write_call({"kind": "pull", "names": ["nope"]}))
    assert code == 1 and out["ename"] == "NameError"
    assert "'nope'" in out["evalue"] and "engine 7" in out["evalue"] and reason.startswith("NameError")


def test_captured_globals_are_defaults(w):
    g = {"__name__": "__main__"}
    exec("scale = 10\ndef helper(x):\n    return x * scale\ndef f(x):\n    return helper(x) + 1\n", g)
    assert w.send(w.write_call({"kind": "apply", "f": g["f"], "args": (2,), "kwargs": {}}))[2]["value"] == 21
    # the engine's own value wins over the captured one
    w.send(w.write_call({"kind": "push", "ns": {"scale": 100}}))
    assert w.send(w.write_call({"kind": "apply", "f": g["f"], "args": (2,), "kwargs": {}}))[2]["value"] == 201


def test_execute_and_traceback(w):
    code, reason, out = w.send(w.write_call({"kind": "execute", "code": "import math\ny = math.sqrt(16)\n"}))
    assert code == 0
    assert w.send(w.write_call({"kind": "pull", "names": "y"}))[2]["value"] == 4.0
    code, reason, out = w.send(w.write_call({"kind": "execute", "code": "z = 1\n1/0\n"}))
    assert code == 1 and reason == "ZeroDivisionError: division by zero"
    assert out["ename"] == "ZeroDivisionError" and "1/0" in out["traceback"]
    assert "_engine.py" not in out["traceback"]
    f = main_func("def boom(x):\n    raise ValueError('bad %d' % x)\n", "boom")
    code, reason, out = w.send(w.write_call({"kind": "apply", "f": f, "args": (3,), "kwargs": {}}))
    assert code == 1 and out["evalue"] == "bad 3" and "in boom" in out["traceback"]
    assert "_engine.py" not in out["traceback"]


def test_map_chunks_cached(w):
    sq = main_func("calls = 0\ndef sq(x, y):\n    return x * y\n", "sq")
    name = w.write_call({"kind": "map", "f": sq, "chunks": [[(1, 1), (2, 2)], [(3, 3)], [(4, 5)]]})
    assert w.send(name, task=2)[2]["value"] == [9]
    assert w.send(name, task=1)[2]["value"] == [1, 4]
    assert w.send(name, task=3)[2]["value"] == [20]


def test_per_engine(w):
    name = w.write_call({"kind": "push", "per_engine": {7: {"part": [1, 2]}, 8: {"part": [3]}}})
    assert w.send(name)[0] == 0
    assert w.send(w.write_call({"kind": "pull", "names": "part"}))[2]["value"] == [1, 2]
    f = main_func("def f(*a):\n    return sum(a)\n", "f")
    name = w.write_call({"kind": "map", "f": f, "per_engine": {7: [(1, 2), (3, 4)], 8: [(5, 6)]}})
    assert w.send(name)[2]["value"] == [3, 7]
    code, reason, out = w.send(name, engine=9)
    assert code == 1 and "engine 9" in out["evalue"]


def test_lost_is_recorded(w):
    f = main_func("def f():\n    return 1\n", "f")
    out = w.send(w.write_call({"kind": "apply", "f": f, "args": (), "kwargs": {}}), lost="the engine was killed")[2]
    assert out["lost"] == "the engine was killed"


def test_version_mismatch_refused(w, monkeypatch):
    monkeypatch.setattr(_wire, "PYTHON_VERSION", "2.7.18")
    f = main_func("def f():\n    return 1\n", "f")
    code, reason, out = w.send(w.write_call({"kind": "apply", "f": f, "args": (), "kwargs": {}}))
    assert code == 2 and out is None
    assert "2.7.18" in reason and platform.python_version() in reason and sys.executable in reason
    assert "python =" in reason and "Traceback" not in reason
    monkeypatch.setattr(_wire, "PYTHON_VERSION", platform.python_version())
    monkeypatch.setattr(_wire, "CLOUDPICKLE_VERSION", "0.1.0")
    code, reason, out = w.send(w.write_call({"kind": "apply", "f": f, "args": (), "kwargs": {}}))
    assert code == 2 and "0.1.0" in reason and cloudpickle.__version__ in reason


def test_bad_call_files_refused(w, tmp_path):
    assert w.send(w.write_call(None, raw=b"not a call\n"))[0] == 2
    code, reason, _ = w.send(w.write_call({"kind": "apply", "f": len, "args": ([1],), "kwargs": {}}, mode=0o622))
    assert code == 2 and "writable" in reason
    os.symlink("J1.call", w.outdir / "link.call")
    code, reason, _ = w.send("link.call")
    assert code == 2
    code, reason, _ = w.send("missing.call")
    assert code == 2 and "missing.call" in reason
    code, reason, _ = w.send(w.write_call({"kind": "apply", "f": len, "args": ([1],), "kwargs": {}}),
                             cwd=tmp_path / "nowhere")
    assert code == 2 and "chdir" in reason
    # the interpreter is still alive and its namespace intact
    assert w.send(w.write_call({"kind": "apply", "f": len, "args": ([1, 2],), "kwargs": {}}))[2]["value"] == 2


def test_unpicklable_value(w):
    f = main_func("def f():\n    import threading\n    return threading.Lock()\n", "f")
    code, reason, out = w.send(w.write_call({"kind": "apply", "f": f, "args": (), "kwargs": {}}))
    assert code == 1 and "cannot be pickled" in out["evalue"]


def test_user_modules_import_from_cwd_not_spool(w, tmp_path):
    (tmp_path / "mymod_for_engine.py").write_text("VALUE = 'from cwd'\n")
    (tmp_path / "client.py").write_text("WHO = 'the user'\n")  # shadows spool/client.py's name
    f = main_func("def f():\n    import mymod_for_engine, client\n    return mymod_for_engine.VALUE, client.WHO\n", "f")
    out = w.send(w.write_call({"kind": "apply", "f": f, "args": (), "kwargs": {}}))[2]
    assert out["value"] == ("from cwd", "the user")
