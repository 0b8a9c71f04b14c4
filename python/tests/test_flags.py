"""Issue 13's features from Python, with ipyparallel's names: a view's after= (its jobs wait for
others to succeed, else their tasks are skipped: ImpossibleDependency), follow= (refused),
retries= (a failed call runs again), timeout=, priority= and max_running=, set through
set_flags, temp_flags or the view's constructor; Client.hold/release/retry. Real spoold and
workers (conftest); every wait polls the published state with a deadline."""

import os
import subprocess

import pytest

import spool as ipp
from conftest import WAIT, wait_until


def gate_func(path, value):
    """A call that waits for the file `path` (made by the test), then returns value."""
    def f():
        import os
        import time
        while not os.path.exists(path):
            time.sleep(0.05)
        with open(path + ".done", "w"):
            pass
        return value
    return f


def test_after_waits_for_the_job_to_succeed(client, work):
    lv = client.load_balanced_view()
    gate = str(work / "gate")
    a = lv.apply_async(gate_func(gate, "a"))
    with lv.temp_flags(after=a):
        b = lv.apply_async(lambda p: os.path.exists(p), gate + ".done")
    assert lv.after is None                      # temp_flags restored it
    wait_until("job %s waits on %s" % (b.job, a.job),
               lambda: client._spool.summary(b.job).waiting == a.job)
    assert not b.ready()
    open(gate, "w").close()
    assert b.get(WAIT) is True                   # it ran after a had ended
    assert a.get(WAIT) == "a"


def test_after_a_failed_job_skips_with_impossible_dependency(client):
    lv = client.load_balanced_view()

    def boom():
        raise RuntimeError("no")
    a = lv.apply_async(boom)
    lv.set_flags(after=[a.job])                  # a job id works as an AsyncResult does
    b = lv.apply_async(lambda: "never")
    with pytest.raises(ipp.RemoteError) as e:
        b.get(WAIT)
    assert e.value.ename == "ImpossibleDependency"
    assert client._spool.summary(b.job).counts[ipp._lib.TASK_STATES.index("skipped")] == 1


def test_follow_and_unknown_flags_are_refused(client):
    lv = client.load_balanced_view()
    a = lv.apply_async(lambda: 1)
    with pytest.raises(NotImplementedError, match="follow"):
        lv.set_flags(follow=a)
    with pytest.raises(NotImplementedError):
        client.load_balanced_view(follow=[a])
    with pytest.raises(KeyError):
        lv.set_flags(bogus=1)
    with pytest.raises(ValueError):
        lv.set_flags(priority="high")
    with pytest.raises(TypeError):
        lv.set_flags(after=[3.5])
    lv.follow = [a]                              # set directly: refused when it is used
    with pytest.raises(NotImplementedError):
        lv.apply_async(lambda: 2)
    assert a.get(WAIT) == 1


def test_retries_run_a_failed_call_again(client, work):
    flag = str(work / "failed-once")

    def flaky(path):
        import os
        if not os.path.exists(path):
            open(path, "w").close()
            raise RuntimeError("first attempt fails")
        return "second attempt"
    lv = client.load_balanced_view(retries=2)
    assert lv.apply_async(flaky, flag).get(WAIT) == "second attempt"
    # Without retries the same failure is final.
    os.unlink(flag)
    with pytest.raises(ipp.RemoteError):
        client.load_balanced_view().apply_async(flaky, flag).get(WAIT)


def test_max_running_and_priority_reach_the_job(client, spool_env, work):
    def one_at_a_time(i, d):
        import os
        import time
        mine = os.path.join(d, "running.%d" % i)
        others = [n for n in os.listdir(d) if n.startswith("running.")]
        open(mine, "w").close()
        time.sleep(0.3)
        others += [n for n in os.listdir(d) if n.startswith("running.") and n != os.path.basename(mine)]
        os.unlink(mine)
        return len(others)
    lv = client.load_balanced_view()
    lv.set_flags(max_running=1, priority=7)
    ar = lv.map_async(one_at_a_time, range(4), [str(work)] * 4, chunksize=1)
    assert ar.get(WAIT) == [0, 0, 0, 0]          # two engines, but one task at a time
    with open(os.path.join(spool_env.dir, "ctl", "jobs", ar.job + ".job")) as f:
        rec = f.read().splitlines()
    assert "priority 7" in rec and "max_running 1" in rec


def test_timeout_flag_is_the_task_timeout(client):
    def slow():
        import time
        time.sleep(60)
    with pytest.raises(ipp.RemoteError) as e:
        client.load_balanced_view(timeout=1).apply_async(slow).get(WAIT)
    assert e.value.ename == "TaskTimeout"


def test_hold_and_release(client, work):
    lv = client.load_balanced_view()
    gate = str(work / "gate")
    a = lv.apply_async(gate_func(gate, "a"))
    with lv.temp_flags(after=a):
        b = lv.apply_async(lambda: "b")
    client.hold(b)
    wait_until("job %s held" % b.job, lambda: client._spool.summary(b.job).held)
    open(gate, "w").close()
    assert a.get(WAIT) == "a"
    wait_until("job %s no longer waits on %s" % (b.job, a.job), lambda: not client._spool.summary(b.job).waiting)
    # The engines are free (this later job runs and ends); the held one still does not start.
    assert lv.apply_async(lambda: "later").get(WAIT) == "later"
    assert not client._spool.summary(b.job).done and not b.ready()
    client.release(b)
    assert b.get(WAIT) == "b"
    with pytest.raises(ipp._lib.NoSuchJob):
        client.hold("nosuchjob0")


def test_retry_a_command_job(client, spool_env, work):
    r = spool_env.spool("map", "--cwd", str(work), "--", "sh", "-c", "exit $0", ":::", "0", "3", "0")
    job = r.stdout.strip()
    spool_env.spool("collect", "--timeout", str(int(WAIT)), job, check=False)
    again = client.retry(job)
    assert again.job != job
    wait_until("retry job %s done" % again.job, lambda: client._spool.summary(again.job).done)
    s = client._spool.summary(again.job)
    assert s.ntasks == 1                         # only the failed task
    with pytest.raises(ValueError):
        client.retry(job, failed=False, timed_out=False, abandoned=False)
    # A Python call is not retried by spool: the library says why.
    ar = client.load_balanced_view().apply_async(lambda: 1)
    ar.get(WAIT)
    with pytest.raises(ipp._lib.SpoolUsageError, match="Python call"):
        client.retry(ar, cancelled=True)
