"""The interface of issue 12, item by item, against real spoold and spool-worker processes."""

import builtins
import os
import platform
import sys
import textwrap
import time

import pytest

import spool as ipp
from spool import _wire
from conftest import WAIT, run_script, wait_until


def main_func(src, name):
    """A function as if typed in a notebook (module __main__: pickled by value, rebound to the
    engine's namespace)."""
    g = {"__name__": "__main__"}
    exec(textwrap.dedent(src), g)
    return g[name]


# -- Client and targets ------------------------------------------------------------------------

def test_ids_and_views(client):
    ids = client.ids
    assert len(ids) == 2 and ids == sorted(ids)
    assert client[:].targets == ids
    assert client.direct_view().targets == "all"
    assert client[ids[1]].targets == ids[1]            # c[i]: the engine with id i (ipyparallel)
    assert client[-1].targets == ids[-1]               # negative: an index into ids
    assert client[0:1].targets == ids[0:1]             # slices index ids
    assert client[[ids[1], ids[0]]].targets == [ids[1], ids[0]]
    assert client.load_balanced_view().targets is None
    assert client.load_balanced_view(ids[:1]).targets == ids[:1]
    with pytest.raises(IndexError):
        client[max(ids) + 100]
    with pytest.raises(TypeError):
        client["x"]
    assert [v.targets for v in client] == ids


def test_apply_per_engine_and_single(client):
    ids = client.ids
    eid = main_func("def eid():\n    import os\n    return int(os.environ['SPOOL_ENGINE'])\n", "eid")
    assert client[:].apply_sync(eid) == ids
    assert client[ids[1]].apply_sync(eid) == ids[1]    # a single engine: one value, not a list
    assert client[[ids[1], ids[0]]].apply_sync(eid) == [ids[1], ids[0]]  # the view's order
    assert client.direct_view("all").apply_sync(eid) == ids
    assert client.load_balanced_view().apply_sync(eid) in ids
    assert client.load_balanced_view(ids[1]).apply_sync(eid) == ids[1]


def test_block_attribute_and_async(client):
    dview = client[:]
    assert dview.block is False
    ar = dview.apply(pow, 2, 10)
    assert isinstance(ar, ipp.AsyncResult)
    assert ar.get(WAIT) == [1024, 1024]
    dview.block = True
    assert dview.apply(pow, 3, 2) == [9, 9]
    ar = dview.apply_async(pow, 2, 3)
    assert ar.get() == [8, 8]
    lview = client.load_balanced_view()
    lview.block = True
    assert lview.apply(pow, 2, 5) == 32
    assert lview.apply_async(pow, 2, 6).get() == 64


def test_lambda_closure_kwargs(client):
    lview = client.load_balanced_view()
    assert lview.apply_sync(lambda x, y=1: x * 10 + y, 4, y=2) == 42

    def make_adder(n):
        def add(x):
            return x + n
        return add
    assert lview.map_sync(make_adder(100), [1, 2, 3]) == [101, 102, 103]
    assert client[:].map_sync(lambda a, b: a - b, [10, 20, 30], [1, 2, 3]) == [9, 18, 27]


def test_main_function_from_a_script(spool_env, tmp_path):
    script = tmp_path / "user.py"
    script.write_text(textwrap.dedent('''\
        import spool as ipp
        SCALE = 3
        def helper(x):
            return x * SCALE
        def work(x):
            return helper(x) + 1
        class Point:
            def __init__(self, x):
                self.x = x
        def mk(x):
            return Point(x)
        c = ipp.Client()
        lview = c.load_balanced_view()
        print(lview.map(work, range(5), block=True))
        print(c[:].apply_sync(work, 10))
        print([p.x for p in lview.map_sync(mk, [7, 8])])
        print(type(lview.apply_sync(mk, 1)).__name__)
    '''))
    out = run_script(spool_env, script).splitlines()
    assert out == ["[1, 4, 7, 10, 13]", "[31, 31]", "[7, 8]", "Point"]


# -- map ---------------------------------------------------------------------------------------

def test_map_variants(client):
    sq = main_func("def sq(x):\n    return x * x\n", "sq")
    dview, lview = client[:], client.load_balanced_view()
    data = list(range(23))
    want = [x * x for x in data]
    assert dview.map_sync(sq, data) == want
    assert dview.map(sq, data, block=True) == want
    assert dview.map_async(sq, data).get() == want
    for cs in (None, 1, 3, 100):
        assert lview.map_sync(sq, data, chunksize=cs) == want
    ar = lview.map_async(sq, data, chunksize=1)
    assert len(ar) == 23
    assert list(ar) == want                       # iteration in order
    ar = lview.map_async(sq, data, chunksize=2, ordered=False)
    assert sorted(ar) == want                     # as they come
    ar = lview.map(sq, data)                      # default chunksize: ceil(23 / (4 * 2)) = 3
    assert len(ar) == 8
    assert ar.get() == want
    assert lview.map_sync(sq, []) == []
    assert lview.map_sync(max, [1, 5, 3], [4, 2, 6]) == [4, 5, 6]   # several sequences
    with pytest.raises(ValueError):
        lview.map_sync(max, [1, 2], [1])
    # a direct view's map: one chunk per engine (ipyparallel's split)
    eid = main_func("def eid(x):\n    import os\n    return int(os.environ['SPOOL_ENGINE'])\n", "eid")
    ids = client.ids
    assert dview.map_sync(eid, range(5)) == [ids[0]] * 3 + [ids[1]] * 2
    assert len(dview.map_async(eid, range(5))) == 2


def test_map_10000_in_order(client):
    lview = client.load_balanced_view()
    n = 10000
    t0 = time.monotonic()
    assert lview.map_sync(lambda x: x * 2 + 1, range(n)) == [x * 2 + 1 for x in range(n)]
    assert client[:].map_sync(lambda x: -x, range(n)) == [-x for x in range(n)]
    ar = lview.map_async(lambda x: x, range(n), chunksize=50)
    assert len(ar) == n // 50
    assert list(ar) == list(range(n))
    print("10,000-item maps: %.1f s" % (time.monotonic() - t0))


def test_numpy(client):
    np = pytest.importorskip("numpy")
    dview = client[:]
    a = np.arange(12.0).reshape(3, 4)
    r = dview.apply_sync(lambda m: (m @ m.T).trace(), a)
    assert r == [float((a @ a.T).trace())] * 2
    dview.scatter("part", np.arange(10))
    psum = main_func("def psum():\n    return int(part.sum())\n", "psum")
    assert dview.apply_sync(psum) == [sum(range(5)), sum(range(5, 10))]
    g = dview.gather("part", block=True)
    assert isinstance(g, np.ndarray) and list(g) == list(range(10))
    out = client.load_balanced_view().map_sync(np.sqrt, [4.0, 9.0])
    assert out == [2.0, 3.0]


# -- namespaces --------------------------------------------------------------------------------

def test_push_pull_getitem_execute(client, tmp_path):
    dview = client[:]
    ids = client.ids
    dview.push(dict(a=5, b=[1, 2]), block=True)
    assert dview.pull("a", block=True) == [5, 5]
    assert dview.pull(["a", "b"], block=True) == [[5, [1, 2]], [5, [1, 2]]]
    assert client[ids[0]].pull("a", block=True) == 5
    dview["c"] = 7
    assert dview["c"] == [7, 7]
    ar = dview.pull("a")
    assert isinstance(ar, ipp.AsyncResult) and ar.get() == [5, 5]
    client[ids[1]]["who"] = "second"
    client[ids[0]]["who"] = "first"
    assert dview["who"] == ["first", "second"]
    dview.execute("import math\nd = math.factorial(a)", block=True)
    assert dview["d"] == [120, 120]
    ar = dview.execute("e = d + 1")
    ar.get()
    assert dview["e"] == [121, 121]
    f = tmp_path / "setup_engine.py"
    f.write_text("def triple(x):\n    return 3 * x\nran = triple(c)\n")
    dview.run(str(f), block=True)
    assert dview["ran"] == [21, 21]
    # a function defined on the engines, called from the client through its global name
    use = main_func("def use():\n    return triple(2)\n", "use")
    assert dview.apply_sync(use) == [6, 6]


def test_scatter_gather(client):
    dview = client[:]
    ids = client.ids
    dview.scatter("x", list(range(7)))
    assert client[ids[0]]["x"] == [0, 1, 2, 3]
    assert client[ids[1]]["x"] == [4, 5, 6]
    assert dview.gather("x", block=True) == list(range(7))
    ar = dview.gather("x")
    assert ar.get() == list(range(7))
    dview.scatter("y", [10, 20], flatten=True, block=True)
    assert dview["y"] == [10, 20]
    dview.execute("x = [v * v for v in x]", block=True)
    assert dview.gather("x", block=True) == [v * v for v in range(7)]


def test_global_persists(client):
    inc = main_func("""\
        def increment():
            global counter
            counter += 1
            return counter
    """, "increment")
    dview = client[:]
    dview.push(dict(counter=10), block=True)
    assert dview.apply_sync(inc) == [11, 11]
    assert dview.apply_sync(inc) == [12, 12]
    assert dview.pull("counter", block=True) == [12, 12]
    # captured client globals are defaults only: the engine's own value wins
    g = {"__name__": "__main__", "counter": 1000}
    exec("def get():\n    return counter\n", g)
    assert dview.apply_sync(g["get"]) == [12, 12]


def test_namespace_survives_a_new_client(spool_env, work):
    c1 = ipp.Client()
    c1[:].push({"kept": "yes"}, block=True)
    c1.close()
    c2 = ipp.Client(spool_dir=spool_env.dir)
    assert c2[:].pull("kept", block=True) == ["yes", "yes"]
    c2.close()


# -- AsyncResult -------------------------------------------------------------------------------

def test_asyncresult_interface(client, spool_env):
    dview = client[:]
    ids = client.ids
    nap = main_func("def nap(t):\n    import time\n    time.sleep(t)\n    return t\n", "nap")
    ar = dview.apply_async(nap, 1.5)
    assert isinstance(ar.job, str) and len(ar.job) > 0
    spool_env.spool("status", ar.job)            # the shell sees the job (exit 0)
    assert not ar.ready()
    with pytest.raises(ipp.TimeoutError):
        ar.get(0.1)
    with pytest.raises(builtins.TimeoutError):   # the builtin class catches it too
        ar.get(0)
    assert ar.wait(0.05) is False
    assert len(ar) == 2
    assert 0 <= ar.progress <= 2
    assert ar.elapsed > 0
    with pytest.raises(AssertionError):
        ar.successful()
    assert ar.wait(WAIT) is True
    assert ar.ready() and ar.successful()
    assert ar.progress == 2
    e1 = ar.elapsed
    assert e1 >= 1.5 and ar.elapsed == e1            # frozen once ready
    assert ar.get() == [1.5, 1.5]
    assert ar.get_dict() == {ids[0]: 1.5, ids[1]: 1.5}
    assert list(ar) == [1.5, 1.5]
    assert client.wait([ar], timeout=1) is True
    ar2 = client.load_balanced_view().apply_async(nap, 0)
    assert client.wait(ar2.job) is True              # a job id works too
    assert client.wait() is True                     # everything outstanding
    with pytest.raises(TypeError):
        iter(ar2)                                   # a single result is not iterable
    # spool collect from a shell sees the same job
    r = spool_env.spool("collect", ar.job, check=False)
    assert r.returncode == 0, r.stderr


def test_abort(client):
    nap = main_func("def nap(t):\n    import time\n    time.sleep(t)\n    return t\n", "nap")
    lview = client.load_balanced_view()
    ar = lview.map_async(nap, [30] * 6, chunksize=1)
    ar.abort()
    with pytest.raises(ipp.CompositeError) as ei:
        ar.get(WAIT)
    assert any(e[0] == "TaskAborted" for e in ei.value.elist)


def test_wait_for_engines(client):
    client.wait_for_engines(2, timeout=WAIT)
    with pytest.raises(ipp.TimeoutError):
        client.wait_for_engines(50, timeout=0.5)


# -- errors ------------------------------------------------------------------------------------

def test_remote_error_single(client):
    boom = main_func("""\
        def boom(x):
            y = x - 1
            return 1 / (y - y)
    """, "boom")
    ids = client.ids
    with pytest.raises(ipp.RemoteError) as ei:
        client[ids[1]].apply_sync(boom, 3)
    e = ei.value
    assert not isinstance(e, ipp.CompositeError)
    assert e.ename == "ZeroDivisionError" and e.evalue == "division by zero"
    assert e.engine_id == ids[1] and e.engine_info["engine_id"] == ids[1]
    assert e.engine_info["node"]
    assert "in boom" in e.traceback
    assert "ZeroDivisionError: division by zero" in e.traceback
    assert "_engine.py" not in e.traceback
    with pytest.raises(ipp.RemoteError) as ei:
        client.load_balanced_view().apply_sync(boom, 1)
    assert ei.value.ename == "ZeroDivisionError"


def test_composite_error(client):
    picky = main_func("""\
        def picky(x):
            if x % 2:
                raise ValueError("odd %d" % x)
            return x
    """, "picky")
    ids = client.ids
    with pytest.raises(ipp.CompositeError) as ei:
        client[:].apply_sync(lambda: 1 / 0)
    e = ei.value
    assert isinstance(e, ipp.RemoteError)
    assert len(e.elist) == 2
    assert sorted(x[3]["engine_id"] for x in e.elist) == ids
    assert all(x[0] == "ZeroDivisionError" for x in e.elist)
    assert "ZeroDivisionError" in str(e)
    with pytest.raises(ipp.RemoteError) as one:
        e.raise_exception(1)
    assert one.value.engine_id == e.elist[1][3]["engine_id"]
    with pytest.raises(ipp.CompositeError) as ei:
        client.load_balanced_view().map_sync(picky, range(6), chunksize=1)
    assert sorted(x[1] for x in ei.value.elist) == ["odd 1", "odd 3", "odd 5"]
    ar = client.load_balanced_view().map_async(picky, [1, 2])
    ar.wait()
    assert ar.ready() and not ar.successful()


def test_pull_missing_name(client):
    ids = client.ids
    with pytest.raises(ipp.RemoteError) as ei:
        client[ids[0]].pull("never_defined_anywhere", block=True)
    assert ei.value.ename == "NameError"
    assert "never_defined_anywhere" in ei.value.evalue and str(ids[0]) in ei.value.evalue


def test_execute_error(client):
    with pytest.raises(ipp.CompositeError) as ei:
        client[:].execute("x = 1\nraise KeyError('nope')", block=True)
    assert ei.value.elist[0][0] == "KeyError"
    assert "raise KeyError('nope')" in ei.value.elist[0][2]


def test_unpicklable_result(client):
    with pytest.raises(ipp.RemoteError) as ei:
        client.load_balanced_view().apply_sync(lambda: __import__("threading").Lock())
    assert "cannot be pickled" in ei.value.evalue


def test_version_mismatch(client, monkeypatch):
    monkeypatch.setattr(_wire, "PYTHON_VERSION", "3.99.1")
    with pytest.raises(ipp.RemoteError) as ei:
        client.load_balanced_view().apply_sync(lambda: 1)
    msg = str(ei.value)
    assert "3.99.1" in msg and platform.python_version() in msg, msg
    assert "python =" in msg and "Traceback" not in msg, msg
    monkeypatch.setattr(_wire, "PYTHON_VERSION", platform.python_version())
    monkeypatch.setattr(_wire, "CLOUDPICKLE_VERSION", "0.0.1")
    with pytest.raises(ipp.RemoteError) as ei:
        client.load_balanced_view().apply_sync(lambda: 1)
    import cloudpickle
    assert "0.0.1" in str(ei.value) and cloudpickle.__version__ in str(ei.value)


def test_task_timeout(spool_env, work):
    c = ipp.Client(timeout=1)
    nap = main_func("def nap(t):\n    import time\n    time.sleep(t)\n    return t\n", "nap")
    with pytest.raises(ipp.RemoteError) as ei:
        c.load_balanced_view().apply_sync(nap, 60)
    assert ei.value.ename == "TaskTimeout"
    assert "engine" in ei.value.evalue and "node" in ei.value.evalue
    c.close()


def test_cancel_from_the_shell(client, spool_env):
    """`spool cancel JOB` while a call sleeps: get() raises naming the state; the engine's
    next call says its namespace was lost."""
    ids = client.ids
    target = ids[0]
    client[target]["before"] = 1
    nap = main_func("def nap(t):\n    import time\n    time.sleep(t)\n    return t\n", "nap")
    ar = client[target].apply_async(nap, 120)

    def running():
        return any(e["id"] == target and e["task"].startswith(ar.job) for e in client._spool.engines())
    wait_until("job %s running on engine %d" % (ar.job, target), running)
    spool_env.spool("cancel", ar.job)
    with pytest.raises(ipp.RemoteError) as ei:
        ar.get(WAIT)
    e = ei.value
    assert e.ename == "TaskAborted" and "cancelled" in e.evalue
    assert "engine %d" % target in e.evalue and "node" in e.evalue
    with pytest.warns(RuntimeWarning, match="engine %d" % target):
        r = client[target].apply_sync(main_func(
            "def names():\n    return sorted(k for k in globals() if not k.startswith('__'))\n", "names"))
    assert "before" not in r


def test_close_while_iterating(spool_env, work):
    """A client closed while a follower thread waits for a map: close waits for it, and later
    calls say the client is closed (no use of a freed handle)."""
    c = ipp.Client()
    ar = c.load_balanced_view().map_async(lambda x: x, range(4), chunksize=1)
    it = iter(ar)
    assert next(it) == 0
    c.close()
    with pytest.raises(ipp.SpoolError, match="closed"):
        c.ids
    with pytest.raises(ipp.SpoolError, match="closed"):
        c.spool_dir


# -- where a call's files go, and purge_results ------------------------------------------------

def test_results_dir_and_purge(client, work, tmp_path):
    ar = client[:].apply_async(pow, 3, 2)
    assert ar.get(WAIT) == [9, 9]
    job_dir = work / "spool-python" / ar.job          # one directory for all the calls
    assert (job_dir / (ar.job + ".call")).is_file()
    assert sorted(p.name for p in work.iterdir()) == ["spool-python"]
    assert client.purge_results(ar) == [ar.job]
    assert not job_dir.exists()
    # a call still running is refused, and its files stay
    slow = client.load_balanced_view().apply_async(time.sleep, 30)
    wait_until("the sleep to start", lambda: slow.progress == 0 and
               (work / "spool-python" / slow.job).is_dir())
    with pytest.raises(ipp.SpoolUsageError, match="has not finished"):
        client.purge_results([slow.job])
    slow.abort()
    with pytest.raises(Exception):
        slow.get(WAIT)
    assert (work / "spool-python" / slow.job).is_dir()
    assert client.purge_results("all") == [slow.job]
    assert list((work / "spool-python").iterdir()) == []
    # Client(results_dir=...) puts them elsewhere
    other = ipp.Client(spool_dir=client.spool_dir, results_dir=str(tmp_path / "res"),
                       python=client.python)
    ar2 = other[:].apply_async(abs, -4)
    assert ar2.get(WAIT) == [4, 4]
    assert (tmp_path / "res" / ar2.job).is_dir()
    other.close()


def test_no_spool_given(monkeypatch):
    monkeypatch.delenv("SPOOL_DIR", raising=False)
    with pytest.raises(ipp.SpoolUsageError, match=r"Client\(spool_dir=\.\.\.\) or set SPOOL_DIR"):
        ipp.Client()


def test_engine_interpreter(client, work):
    # by default the engines run the client's own interpreter (spool.conf's python is "")
    exe = main_func("def exe():\n    import sys\n    return sys.executable\n", "exe")
    assert [os.path.realpath(p) for p in client[:].apply_sync(exe)] == [os.path.realpath(sys.executable)] * 2
    # an interpreter the node does not have: the call fails at once, saying which and why
    bad = ipp.Client(python="/nonexistent/python3")
    with pytest.raises(ipp.RemoteError) as e:
        bad.load_balanced_view().apply_sync(abs, -1)
    assert "cannot execute the Python interpreter '/nonexistent/python3'" in str(e.value)
    bad.close()


def test_value_file_others_may_write_is_refused(client, work):
    ar = client.load_balanced_view().apply_async(abs, -3)
    assert ar.get(WAIT) == 3
    assert client.get_result(ar.job).get(WAIT) == [3]      # a job id, as from `spool status`
    ret = next((work / "spool-python" / ar.job).glob("*.ret"))
    ret.chmod(0o666)                                       # a value is unpickled: code
    with pytest.raises(ipp.RemoteError, match="others may write it"):
        client.get_result(ar.job).get(WAIT)
