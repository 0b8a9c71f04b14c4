"""A worker killed (SIGKILL) in the middle of a map: with retries the map still completes, in
order, on the engines of a new worker; without retries the lost tasks are errors naming the
engine and the node. Its own spool: the session's engines are not touched."""

import os
import signal
import textwrap

import pytest

import spool as ipp
from conftest import WAIT, Spool, wait_until


@pytest.fixture
def own_spool(tmp_path, monkeypatch):
    s = Spool(tmp_path / "s")
    monkeypatch.setenv("SPOOL_DIR", s.dir)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield s
    s.stop()


def nap_func():
    g = {"__name__": "__main__"}
    exec(textwrap.dedent("""\
        def nap(x):
            import time
            time.sleep(0.5)
            return x * 10
    """), g)
    return g["nap"]


def kill_worker_when_busy(s, c, ar):
    def busy():
        return any(e["task"].startswith(ar.job) for e in c._spool.engines() if e["state"] != "dead")
    wait_until("a task of job %s running" % ar.job, busy)
    os.kill(s.worker.pid, signal.SIGKILL)
    s.worker.wait()


def test_worker_killed_mid_map_with_retries(own_spool):
    s = own_spool
    c = ipp.Client(retries=3)
    before = set(c.ids)
    ar = c.load_balanced_view().map_async(nap_func(), range(12), chunksize=1)
    kill_worker_when_busy(s, c, ar)
    s.start_worker(2, "nodeB")
    assert ar.get(WAIT) == [x * 10 for x in range(12)]
    assert set(c.ids).isdisjoint(before)     # new engines, new ids
    c.close()


def test_worker_killed_mid_call_without_retries(own_spool):
    s = own_spool
    c = ipp.Client(retries=0)
    ar = c[:].apply_async(nap_func(), 1)
    kill_worker_when_busy(s, c, ar)
    with pytest.raises(ipp.CompositeError) as ei:
        ar.get(WAIT)
    for en, ev, _tb, ei_ in ei.value.elist:
        assert en in ("EngineError", "TaskFailed", "TaskAborted"), (en, ev)
        assert "engine" in ev and "node" in ev
    c.close()
