#!/usr/bin/env python3
"""powercut.py SHADOW ROOT - turn the tree under ROOT into what a power cut would have left.

SHADOW is what tests/preload/durable.c recorded: the newest synced content of each file
(f/KEY/SEQ.PID) and the newest synced entries of each directory (d/KEY/SEQ.PID: its path, then
"f|d KEY MODE NAME" lines). Every process that wrote under ROOT must be dead. Then, from ROOT
down, each directory keeps exactly its synced entries: a file gets its synced content (empty if
it was never synced), a name added or renamed in since the directory's last sync disappears, a
name removed since then comes back. A directory never synced since it was created is empty. A
directory whose name was never made durable in its parent is removed with everything in it.
Prints one line per change on stdout, for the test's log.
"""
import os
import shutil
import sys


def newest(kdir):
    names = [n for n in os.listdir(kdir) if not n.startswith(".")]
    return os.path.join(kdir, max(names)) if names else None


def load(shadow):
    dirs = {}  # path -> (seq, entries {name: (type, key, mode)})
    ddir = os.path.join(shadow, "d")
    for key in os.listdir(ddir):
        f = newest(os.path.join(ddir, key))
        if not f:
            continue
        seq = os.path.basename(f)
        with open(f, "rb") as fh:
            lines = fh.read().decode("utf-8", "surrogateescape").split("\n")
        path, entries = lines[0], {}
        for line in lines[1:]:
            if line:
                t, k, mode, name = line.split(" ", 3)
                entries[name] = (t, k, int(mode, 8))
        if path not in dirs or dirs[path][0] < seq:
            dirs[path] = (seq, entries)
    return {p: e for p, (s, e) in dirs.items()}


def content(shadow, key):
    kdir = os.path.join(shadow, "f", key)
    f = newest(kdir) if os.path.isdir(kdir) else None
    if not f:
        return b""
    with open(f, "rb") as fh:
        return fh.read()


def restore(shadow, dirs, path):
    entries = dirs.get(path, {})
    for name in sorted(os.listdir(path)):
        if name not in entries:
            p = os.path.join(path, name)
            print("lost", p)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
    for name, (t, key, mode) in sorted(entries.items()):
        p = os.path.join(path, name)
        if t == "d":
            if not os.path.isdir(p):
                print("back", p + "/")
                os.mkdir(p, mode)
            restore(shadow, dirs, p)
            continue
        data = content(shadow, key)
        old = None
        if os.path.isfile(p):
            with open(p, "rb") as fh:
                old = fh.read()
        if old != data:
            print("back" if old is None else "rolled back", p, len(data), "bytes")
            tmp = p + ".powercut-tmp"
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, mode)
            os.replace(tmp, p)


def main():
    shadow, root = sys.argv[1], os.path.realpath(sys.argv[2])
    dirs = load(shadow)
    if root not in dirs:
        sys.exit("powercut.py: no durable state recorded for %s (no baseline?)" % root)
    restore(shadow, dirs, root)


if __name__ == "__main__":
    main()
