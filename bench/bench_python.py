#!/usr/bin/env python3
"""bench_python.py - the measurements of bench-python.sh (issue 12, "Speed").

    bench_python.py ipp PROFILE_DIR OUT.json   ipyparallel: the cluster of PROFILE_DIR (started
                                               by bench-python.sh: 1 controller, 2 engines)
    bench_python.py spool OUT.json             spool: `import spool as ipp`, the spool in
                                               $SPOOL_DIR (spoold + spool-worker -n 2)
    bench_python.py report IPP.json SPOOL.json the table, side by side, with PASS/MISS

Each measuring mode writes a JSON object: {"version": ..., "error": null or a sentence,
"runs": {NAME: {"calls": N, "seconds": MEDIAN, "all": [S...]}}, "latency_us": [...]}; a measurement that failed
(an exception, a wrong result) puts its sentence in "broken" and the exit status is 1. The
same no-op function (defined here, in __main__, so that both sides pickle it by value) is run
by both: N calls through lview.map and dview.map with block=True (REPEAT times each), then TRIES apply_sync calls
on one engine after WARM untimed ones, each timed alone.
    BENCH_PY_CALLS=N   calls per map (default 2000)
    BENCH_PY_TRIES=N   timed apply_sync calls (default 200)
    BENCH_PY_WARM=N    untimed apply_sync calls first (default 20)
    BENCH_PY_REPEAT=N  runs of each map; the median counts (default 3)
    BENCH_PY_WAIT=S    how long to wait for the 2 engines (default 120)
"""
import json
import os
import statistics
import sys
import time

CALLS = int(os.environ.get("BENCH_PY_CALLS", "2000"))
TRIES = int(os.environ.get("BENCH_PY_TRIES", "200"))
WARM = int(os.environ.get("BENCH_PY_WARM", "20"))
REPEAT = int(os.environ.get("BENCH_PY_REPEAT", "3"))
WAIT = float(os.environ.get("BENCH_PY_WAIT", "120"))


def noop(x=None):
    """The no-op: returns its argument, so that a map's result also shows its order."""
    return x


def timed_map(out, name, fn):
    """Run fn() (a blocking map of noop over range(CALLS)) REPEAT times; record the wall times
    (the median is what counts: a 2-message dview.map takes milliseconds, where one hiccup of a
    loaded machine doubles a single sample), or why it broke."""
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        try:
            got = fn()
        except Exception as e:  # noqa: BLE001 - any failure is reported, the other runs still go
            out["broken"].append(f"{name}: raised {type(e).__name__}: {e}")
            return
        t1 = time.perf_counter()
        got = list(got)
        if got != list(range(CALLS)):
            out["broken"].append(f"{name}: wrong result ({len(got)} items, first {got[:5]!r}; expected 0..{CALLS - 1} in order)")
            return
        times.append(t1 - t0)
    out["runs"][name] = {"calls": CALLS, "seconds": statistics.median(times), "all": times}


def timed_apply(out, view):
    """WARM untimed then TRIES timed apply_sync(noop) on one engine; samples in us."""
    try:
        for _ in range(WARM):
            view.apply_sync(noop)
        for _ in range(TRIES):
            t0 = time.perf_counter()
            r = view.apply_sync(noop)
            t1 = time.perf_counter()
            if r is not None:
                out["broken"].append(f"apply_sync(noop) returned {r!r}, not None")
                return
            out["latency_us"].append((t1 - t0) * 1e6)
    except Exception as e:  # noqa: BLE001
        out["broken"].append(f"apply_sync: raised {type(e).__name__}: {e}")


def new_out():
    return {"version": None, "error": None, "broken": [], "runs": {}, "latency_us": []}


def measure_ipp(profile_dir, out):
    try:
        import ipyparallel
    except ImportError as e:
        out["error"] = f"not installed ({e}; Debian: apt-get install python3-ipyparallel)"
        return
    out["version"] = ipyparallel.__version__
    rc = ipyparallel.Client(profile_dir=profile_dir, timeout=WAIT)
    try:
        rc.wait_for_engines(2, timeout=WAIT)
        ids = sorted(rc.ids)[:2]
        dview = rc[ids]
        lview = rc.load_balanced_view(ids)
        # Warm both schedulers with a small map first, as spool's side is warmed below.
        lview.map(noop, range(10), block=True)
        dview.map(noop, range(10), block=True)
        timed_map(out, "lview.map", lambda: lview.map(noop, range(CALLS), block=True))
        timed_map(out, "lview.map chunksize=1", lambda: lview.map(noop, range(CALLS), chunksize=1, block=True))
        timed_map(out, "dview.map", lambda: dview.map(noop, range(CALLS), block=True))
        timed_apply(out, rc[ids[0]])
    finally:
        # ipyparallel's own way down: the engines (and their nannies, which run in sessions of
        # their own and would linger after a plain kill) then the controller; bench-python.sh
        # still kills what is left after a deadline.
        try:
            rc.shutdown(targets="all", hub=True, block=True)
        except Exception as e:  # noqa: BLE001
            print(f"bench: ipyparallel: shutdown failed ({type(e).__name__}: {e}); the script stops it", file=sys.stderr)
        rc.close()


def measure_spool(out):
    try:
        import spool as ipp
    except ImportError as e:
        out["error"] = f"cannot import spool ({e}; the package is python/spool, run with PYTHONPATH=python)"
        return
    out["version"] = getattr(ipp, "__version__", "build tree")
    c = ipp.Client(spool_dir=os.environ.get("SPOOL_DIR"))  # no timeout: bench-python.sh has the deadline
    c.wait_for_engines(2, timeout=WAIT)
    ids = sorted(c.ids)[:2]
    dview = c[ids]
    lview = c.load_balanced_view(ids)
    # The first python call of each engine starts its interpreter: that is a one-time cost of a
    # persistent engine, paid here and not in the timed runs (ipyparallel's engines are started
    # before its runs too). An apply on the direct view reaches every engine.
    dview.apply_sync(noop)
    lview.map(noop, range(10), block=True)
    dview.map(noop, range(10), block=True)
    timed_map(out, "lview.map", lambda: lview.map(noop, range(CALLS), block=True))
    timed_map(out, "lview.map chunksize=1", lambda: lview.map(noop, range(CALLS), chunksize=1, block=True))
    timed_map(out, "dview.map", lambda: dview.map(noop, range(CALLS), block=True))
    timed_apply(out, c[ids[0]])


# --- the report ------------------------------------------------------------------------------
def rate(side, name):
    r = side["runs"].get(name)
    return r["calls"] / r["seconds"] if r and r["seconds"] > 0 else None


def median_ms(side):
    s = side["latency_us"]
    return statistics.median(s) / 1000 if s else None


def p90_ms(side):
    s = sorted(side["latency_us"])
    return s[min(len(s) - 1, int(len(s) * 0.9 + 0.999999) - 1)] / 1000 if s else None


def fmt(v, f="{:.0f}"):
    return "-" if v is None else f.format(v)


def report(ipp, sp):
    """Prints the table; returns the list of (what, verdict) of the targets."""
    def cell(side, v, f="{:.0f}"):
        if side["error"]:
            return "n/a"
        return fmt(v, f)

    rows = []
    # (label, ipp value, spool value, higher is better, issue target?)
    rows.append(("lview.map, default chunksize", rate(ipp, "lview.map"), rate(sp, "lview.map"), True))
    rows.append(("lview.map, chunksize=1", rate(ipp, "lview.map chunksize=1"), rate(sp, "lview.map chunksize=1"), True))
    rows.append(("dview.map", rate(ipp, "dview.map"), rate(sp, "dview.map"), True))
    line = "{:<38} {:>17} {:>10} {:>10} {:>7} {:>5}"
    print(line.format("", f"ipyparallel {ipp['version'] or ''}".strip(), "spool", "spool/ipp", "target", ""))
    verdicts = []
    for label, a, b, _ in rows:
        ratio = b / a if a and b else None
        v = "n/a" if ratio is None else ("PASS" if ratio >= 1 else "MISS")
        verdicts.append((label, v))
        print(line.format(label + ", calls/s", cell(ipp, a), cell(sp, b), fmt(ratio, "{:.2f}"), ">= 1", v))
    a, b = median_ms(ipp), median_ms(sp)
    ratio = b / a if a and b else None
    v = "n/a" if ratio is None else ("PASS" if ratio <= 1 else "MISS")
    verdicts.append(("apply_sync median latency", v))
    print(line.format("apply_sync median, ms", cell(ipp, a, "{:.2f}"), cell(sp, b, "{:.2f}"), fmt(ratio, "{:.2f}"), "<= 1", v))
    print()
    print(f"{CALLS:,} calls of a no-op per map, on 2 engines, block=True, timed from the call to the last result;")
    print(f"  each map run {REPEAT} times, the median counts; calls/s of each run:")
    for name, side in (("ipyparallel", ipp), ("spool", sp)):
        for run, r in side["runs"].items():
            print(f"    {name} {run}: " + ", ".join(f"{r['calls'] / t:.0f}" for t in r.get("all", [r["seconds"]])))
    print("  ipyparallel's lview.map default chunksize is 1 (a task per call); spool's default is the package's")
    print("  own (python/spool/view.py: a few tasks per engine), so the chunksize=1 row is the like-for-like one.")
    print("  ipyparallel's dview.map sends one chunk per engine: 2 messages carry the 2 halves of the calls.")
    print("  ipyparallel 7.1's ipengine logs at DEBUG level whatever --log-level says (IPEngine.initialize sets")
    print("  log_level = 10); its logs go to files in the bench's temporary directory.")
    print(f"apply_sync: {TRIES} calls of the no-op on one engine after {WARM} untimed ones; p90 ipyparallel "
          f"{fmt(p90_ms(ipp), '{:.2f}')} ms, spool {fmt(p90_ms(sp), '{:.2f}')} ms.")
    for name, side in (("ipyparallel", ipp), ("spool", sp)):
        if side["error"]:
            print(f"{name}: not measured: {side['error']}")
        for b in side["broken"]:
            print(f"{name}: BROKEN: {b}")
    return verdicts


def main(argv):
    if len(argv) >= 2 and argv[1] == "report":
        sides = []
        for path in argv[2:4]:
            try:
                with open(path) as f:
                    sides.append(json.load(f))
            except (OSError, ValueError) as e:
                s = new_out()
                s["error"] = f"no measurements ({path}: {e})"
                sides.append(s)
        report(*sides)
        return 0
    out = new_out()
    if len(argv) == 4 and argv[1] == "ipp":
        dest = argv[3]
        try:
            measure_ipp(argv[2], out)
        except Exception as e:  # noqa: BLE001 - say it in the table, not as a traceback
            out["broken"].append(f"{type(e).__name__}: {e}")
    elif len(argv) == 3 and argv[1] == "spool":
        dest = argv[2]
        try:
            measure_spool(out)
        except Exception as e:  # noqa: BLE001
            out["broken"].append(f"{type(e).__name__}: {e}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    with open(dest, "w") as f:
        json.dump(out, f)
    return 1 if out["broken"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
