#!/usr/bin/env python3
"""syscall_order.py JOB CLIENT_TRACE SPOOLD_TRACE WORKER_TRACE - check the order of fsync,
rename and directory fsync around every rename that matters for job JOB (a one-task job), from
`strace -f -y` output (tests/e2e/durability.sh). Prints "ok WHAT" or "bad WHAT" per check, and
exits 2 when a trace cannot be read at all.
A fifth argument "local" says the spool is on a local filesystem (the client renames its record
into place before it fsyncs it there). `syscall_order.py --shared-submit JOB CLIENT_TRACE [local]` checks only the submit of a user on a shared
spool, who may not read incoming/ and so commits the rename with syncfs (section 12). What is checked is what spool-layout.md promises:
  job record (3.1, 7 Submit): tmp fsync'd < rename into incoming/ < incoming/ fsync'd (or syncfs);
      on a local filesystem: tmp dup'd < rename < that descriptor fsync'd, and incoming/ fsync'd
  ingest (7 Ingest): a database sync after the record is opened < its move to ctl/jobs/ (and on
      a local filesystem, its fsync in ctl/jobs/ after that: 7 Submit)
  assignment (7 Assign): tmp created < database sync < the job's record leaves incoming/ (the
      commit is lazy: a power cut before the sync queues the task again); renamed into place from
      a temporary (not fsync'd, on purpose: only the worker running now reads it)
  done record (4, 7 Complete): renamed into place from a temporary (not fsync'd, on purpose);
      spoold: database sync after opening it < assignment removed < done record removed
  final job state (3.10): renamed into place from a temporary (visible at once); then the file
      fsync'd, then ctl/jobs/ fsync'd, before spoold's next database commit notes it published
"""
import re
import sys

LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+)")
FDPATH = re.compile(r"(-?\d+|AT_FDCWD)<([^>]*)>")
STR = re.compile(r'"((?:[^"\\]|\\.)*)"')


def parse(path):
    """Events in order: dicts with pid, call, fds (paths), strs, ret, ret_path."""
    pending, out = {}, []
    with open(path, errors="replace") as fh:
        for raw in fh:
            raw = raw.rstrip("\n")
            m = re.match(r"^(\d+)\s+(.*) <unfinished \.\.\.>$", raw)
            if m:
                pending[m.group(1)] = m.group(2)
                continue
            m = re.match(r"^(\d+)\s+<\.\.\. \w+ resumed>(.*)$", raw)
            if m:
                raw = m.group(1) + " " + pending.pop(m.group(1), "") + m.group(2)
            m = LINE.match(raw)
            if not m:
                continue
            pid, call, args, ret = m.groups()
            rest = raw[m.end():]
            rp = FDPATH.match(rest)
            out.append({"pid": pid, "call": call, "fds": [p for _, p in FDPATH.findall(args)],
                        "fdnums": [n for n, _ in FDPATH.findall(args)],
                        "strs": STR.findall(args), "ret": int(ret), "ret_path": rp.group(2) if rp else None,
                        "n": len(out)})
    return out


def first(evs, pred, after=-1, before=None):
    for e in evs:
        if e["n"] > after and (before is None or e["n"] < before) and pred(e):
            return e
    return None


def last(evs, pred):
    found = None
    for e in evs:
        if pred(e):
            found = e
    return found


def is_sync(e):
    return e["call"] in ("fsync", "fdatasync") and e["ret"] == 0


def synced(evs, path, after, before=None):
    return first(evs, lambda e: is_sync(e) and e["fds"] and e["fds"][0] == path, after, before)


def db_sync(e):
    return is_sync(e) and e["fds"] and re.search(r"\.db(-wal|-journal)?$", e["fds"][0])


def renamed_to(d, name):
    """renameat(DIR, tmp, DIR, NAME) = 0 from a .tmp. file in the same directory."""
    def pred(e):
        return (e["call"] in ("rename", "renameat", "renameat2") and e["ret"] == 0 and len(e["fds"]) >= 2
                and e["fds"][1].endswith(d) and len(e["strs"]) >= 2 and e["strs"][1] == name)
    return pred


def say(ok, what):
    print(("ok " if ok else "bad ") + what)


def check_write(evs, who, d, name, dir_sync=True, file_sync=True, use_last=False, visible_first=False):
    """A file written tmp + (fsync) + rename + (directory fsync); returns the rename event.
    visible_first: tmp + rename + fsync of a descriptor of it dup'd before the rename + directory
    fsync, the order of a client record on a local filesystem (spool-layout.md 3.1)."""
    r = (last if use_last else first)(evs, renamed_to(d, name))
    say(r is not None and r["strs"][0].startswith(".tmp."), "%s: %s/%s is renamed into place from a temporary" % (who, d, name))
    if r is None:
        return None
    src_dir = r["fds"][0]
    tmp = src_dir + "/" + r["strs"][0]
    if file_sync and visible_first:
        dups = [e for e in evs if e["n"] < r["n"] and e["pid"] == r["pid"] and e["call"] in ("dup", "fcntl")
                and e["ret"] >= 0 and e["fds"] and e["fds"][0] == tmp]
        kept = [str(e["ret"]) for e in dups]
        s = first(evs, lambda e: e["pid"] == r["pid"] and is_sync(e) and e["fdnums"] and e["fdnums"][0] in kept, r["n"])
        say(s is not None, "%s: %s/%s is fsync'd after its rename, through a descriptor kept from the temporary" % (who, d, name))
    elif file_sync:
        s = last([e for e in evs if e["n"] < r["n"] and e["pid"] == r["pid"]],
                 lambda e: is_sync(e) and e["fds"] and e["fds"][0] == tmp)
        say(s is not None, "%s: the temporary of %s/%s is fsync'd before the rename" % (who, d, name))
    if dir_sync:
        s = first(evs, lambda e: e["pid"] == r["pid"] and ((is_sync(e) and e["fds"] and e["fds"][0] == r["fds"][1])
                                                           or (e["call"] == "syncfs" and e["ret"] == 0)), r["n"])
        say(s is not None, "%s: %s/ is fsync'd (or its filesystem synced) after the rename of %s" % (who, d, name))
    return r


def shared_submit(job, ct, local):
    client = parse(ct)
    if not client:
        print("the trace %s is empty" % ct)
        sys.exit(2)
    r = check_write(client, "spool submit (shared spool)", "incoming", job + ".job", dir_sync=False,
                    visible_first=local)
    if r is not None:
        s = first(client, lambda e: e["pid"] == r["pid"] and e["call"] == "syncfs" and e["ret"] == 0, r["n"])
        say(s is not None, "spool submit (shared spool): the filesystem is synced (syncfs) after the rename of %s.job" % job)


def main():
    if sys.argv[1] == "--shared-submit":
        return shared_submit(sys.argv[2], sys.argv[3], len(sys.argv) > 4 and sys.argv[4] == "local")
    job, ct, st, wt = sys.argv[1:5]
    local = len(sys.argv) > 5 and sys.argv[5] == "local"
    try:
        client, spoold, worker = parse(ct), parse(st), parse(wt)
    except OSError as e:
        print("cannot read a trace: %s" % e)
        sys.exit(2)
    if not client or not spoold or not worker:
        print("a trace is empty: client %d, spoold %d, worker %d events" % (len(client), len(spoold), len(worker)))
        sys.exit(2)
    task = job + ".1.1"

    # The job record, by spool submit: on a local filesystem in place before it is fsync'd.
    check_write(client, "spool submit", "incoming", job + ".job", visible_first=local)

    # Ingest: committed before the record leaves incoming/.
    opened = first(spoold, lambda e: e["call"] == "openat" and e["ret"] >= 0 and e["strs"][:1] == [job + ".job"]
                   and e["fds"] and e["fds"][0].endswith("/incoming"))
    mv = first(spoold, lambda e: e["call"] in ("rename", "renameat", "renameat2") and e["ret"] == 0
               and e["strs"][:2] == [job + ".job", job + ".job"] and e["fds"][1:2] and e["fds"][1].endswith("/ctl/jobs"))
    say(opened is not None and mv is not None, "spoold: reads incoming/%s.job and moves it to ctl/jobs/" % job)
    if opened and mv:
        say(first(spoold, db_sync, opened["n"], mv["n"]) is not None,
            "spoold: the job is committed to the database before its record leaves incoming/")
    if mv and local:
        # Its client may have been killed between its rename and its fsync: spoold syncs it.
        say(first(spoold, lambda e: is_sync(e) and e["fds"] and e["fds"][0].endswith("/ctl/jobs/" + job + ".job"),
                  mv["n"]) is not None,
            "spoold: the record it moved to ctl/jobs/ is fsync'd there (local filesystem)")

    # The assignment: committed lazily, then written tmp + rename (not fsync'd, on purpose).
    # Nothing waits for a sync: the job's record stays in incoming/ until a sync has made the
    # job and its assignment durable, so a power cut before it queues the task again.
    r = check_write(spoold, "spoold (assignment)", "inbox", task, dir_sync=False, file_sync=False)
    if r is not None and opened is not None and mv is not None:
        made = last([e for e in spoold if e["n"] < r["n"]],
                    lambda e: e["call"] == "openat" and e["ret"] >= 0 and e["strs"][:1] == [r["strs"][0]])
        say(made is not None and first(spoold, db_sync, made["n"], mv["n"]) is not None,
            "spoold: the job's record leaves incoming/ only after a database sync that follows its assignment")
    # The done record: whole (tmp + rename), not fsync'd on purpose; spoold commits, then removes.
    check_write(worker, "worker (done record)", "done", task, dir_sync=False, file_sync=False)
    seen = first(spoold, lambda e: e["call"] == "openat" and e["ret"] >= 0 and e["strs"][:1] == [task]
                 and e["fds"] and e["fds"][0].endswith("/done"))
    rm_in = first(spoold, lambda e: e["call"] in ("unlink", "unlinkat") and e["ret"] == 0 and e["strs"][:1] == [task]
                  and e["fds"] and e["fds"][0].endswith("/inbox"))
    rm_done = first(spoold, lambda e: e["call"] in ("unlink", "unlinkat") and e["ret"] == 0 and e["strs"][:1] == [task]
                    and e["fds"] and e["fds"][0].endswith("/done"))
    say(seen is not None and rm_in is not None and rm_done is not None,
        "spoold: reads done/%s, then removes the assignment and the done record" % task)
    if seen and rm_in and rm_done:
        say(first(spoold, db_sync, seen["n"], rm_in["n"]) is not None,
            "spoold: the result is committed to the database before the assignment is removed")
        say(rm_in["n"] < rm_done["n"], "spoold: the assignment is removed before the done record")

    # The job's final state: visible at once, then durable before the database says it is published.
    r = check_write(spoold, "spoold (final state)", "ctl/jobs", job + ".state", dir_sync=False, file_sync=False,
                    use_last=True)
    if r is not None:
        path = r["fds"][1] + "/" + job + ".state"
        fs = synced(spoold, path, r["n"])
        say(fs is not None, "spoold (final state): ctl/jobs/%s.state is fsync'd after its rename" % job)
        # (by spoold's syncer thread: another pid in strace -f's trace, the same process)
        ds = fs and first(spoold, lambda e: is_sync(e) and e["fds"] and e["fds"][0] == r["fds"][1], fs["n"])
        say(bool(ds), "spoold (final state): then ctl/jobs/ is fsync'd")


if __name__ == "__main__":
    main()
