"""Fixtures: a personal spool in a temporary directory with REAL spoold and spool-worker processes
(as tests/lib.sh makes them: spool init, fast timers, spoold -f, spool-worker -f -n 2), stopped
after the session. SPOOL_BIN names the programs' directory (default: the build tree's bin/).
Every wait has a deadline (SPOOL_TEST_WAIT seconds, default 300); none is a fixed sleep."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SPOOL_BIN = os.environ.get("SPOOL_BIN") or os.path.join(ROOT, "bin")
WAIT = float(os.environ.get("SPOOL_TEST_WAIT", "300"))
PYDIR = os.path.join(ROOT, "python")


def wait_until(what, pred, timeout=WAIT, step=0.05):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %.0f s waiting for: %s" % (timeout, what))
        time.sleep(step)


class Spool:
    """One spool with its controller and workers."""

    def __init__(self, base, engines=2, conf=(), init_args=()):
        self.base = str(base)
        os.makedirs(self.base, exist_ok=True)
        self.dir = os.path.join(self.base, "spool")
        self.bin = SPOOL_BIN
        self.procs = []
        self.env = dict(os.environ, SPOOL_DIR=self.dir, PYTHONPATH=PYDIR)
        self.spool("init", *init_args, self.dir)
        self.configure(conf)
        self.spoold = self.start("spoold", "-f", "-d", self.dir)
        self.worker = self.start_worker(engines, "nodeA")
        self.wait_engines(engines)

    def configure(self, extra):
        path = os.path.join(self.dir, "spool.conf")
        with open(path) as f:
            text = f.read()
        # No `python`: the engines start the client's own interpreter (SPOOL_CLIENT_PYTHON).
        fast = {"rescan_interval": "0.2", "heartbeat_interval": "0.2", "dead_timeout": "3.0",
                "kill_grace": "1.0"}
        fast.update(dict(extra))
        for k, v in fast.items():
            text = re.sub(r"(?m)^%s\s*=.*\n?" % re.escape(k), "", text)
            text += "%s = %s;\n" % (k, v)
        with open(path, "w") as f:
            f.write(text)

    def spool(self, *args, check=True, timeout=WAIT):
        r = subprocess.run([os.path.join(self.bin, "spool")] + [str(a) for a in args], env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("spool %s exited %d: %s" % (" ".join(map(str, args)), r.returncode, r.stderr))
        return r

    def start(self, prog, *args, log=None):
        log = open(os.path.join(self.base, (log or prog) + ".log"), "ab")
        p = subprocess.Popen([os.path.join(self.bin, prog)] + list(args), env=self.env,
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.procs.append(p)
        return p

    def start_worker(self, n, name):
        return self.start("spool-worker", "-f", "-d", self.dir, "-n", str(n), "--name", name,
                          log="worker-" + name)

    def live_engines(self):
        r = self.spool("workers", check=False)
        lines = r.stdout.splitlines()[1:]
        return [l.split() for l in lines if len(l.split()) >= 4 and l.split()[3] != "dead"]

    def wait_engines(self, n):
        wait_until("%d live engines in %s (logs in %s)" % (n, self.dir, self.base),
                   lambda: len(self.live_engines()) >= n)

    def logs(self):
        out = []
        for name in sorted(os.listdir(self.base)):
            if name.endswith(".log"):
                with open(os.path.join(self.base, name), errors="replace") as f:
                    out.append("== %s\n%s" % (name, f.read()[-3000:]))
        return "\n".join(out)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.fixture(scope="session")
def spool_env(tmp_path_factory):
    for prog in ("spool", "spoold", "spool-worker"):
        if not os.access(os.path.join(SPOOL_BIN, prog), os.X_OK):
            pytest.fail("%s/%s is missing: run `make` first (or set SPOOL_BIN)" % (SPOOL_BIN, prog))
    s = Spool(tmp_path_factory.mktemp("spool"))
    old = os.environ.get("SPOOL_DIR")
    os.environ["SPOOL_DIR"] = s.dir
    yield s
    s.stop()
    if old is None:
        os.environ.pop("SPOOL_DIR", None)
    else:
        os.environ["SPOOL_DIR"] = old


@pytest.fixture
def work(spool_env, tmp_path, monkeypatch):
    """A working directory for the test (the calls' output directories go there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def client(spool_env, work):
    import spool
    c = spool.Client()
    yield c
    c.close()


def run_script(spool_env, path, timeout=WAIT):
    """Run a Python script as a user would (its functions live in its __main__)."""
    r = subprocess.run([sys.executable, str(path)], env=dict(spool_env.env), cwd=os.path.dirname(str(path)),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "script %s exited %d:\n%s\n%s\n%s" % (path, r.returncode, r.stdout, r.stderr,
                                                                      spool_env.logs())
    return r.stdout
