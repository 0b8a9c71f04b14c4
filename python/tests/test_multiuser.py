"""Namespaces per user on a root worker: two users of a shared spool call Python on the same
engines; each call runs as its submitter, in that user's own interpreter, so one user's
variables are never seen by the other. Needs root (it creates, if missing, the users sptest_a
and sptest_b of group sptest_g, as tests/lib.sh's test_users does, and acts as them); the
SKIP says why when it cannot."""

import ast
import grp
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

from conftest import PYDIR, WAIT, Spool

USERS = ("sptest_a", "sptest_b")
GROUP = "sptest_g"


def ensure_users():
    if os.getuid() != 0:
        pytest.skip("needs root to create users and act as them (uid %d here)" % os.getuid())
    for c in ("useradd", "groupadd", "usermod", "setpriv"):
        if shutil.which(c) is None:
            pytest.skip("%s is missing: cannot create users or act as them" % c)
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        subprocess.run(["groupadd", GROUP], check=False)
        grp.getgrnam(GROUP)
    for u in USERS:
        try:
            pwd.getpwnam(u)
        except KeyError:
            subprocess.run(["useradd", "-m", "-s", "/bin/sh", "-G", GROUP, u], check=False)
            pwd.getpwnam(u)
        if u not in grp.getgrnam(GROUP).gr_mem:
            subprocess.run(["usermod", "-aG", GROUP, u], check=True)


@pytest.fixture
def shared():
    ensure_users()
    m = tempfile.mkdtemp(prefix="spool-pymu.", dir="/tmp")
    os.chmod(m, 0o755)
    for u in USERS:
        pw = pwd.getpwnam(u)
        os.mkdir(os.path.join(m, u), 0o755)
        os.chown(os.path.join(m, u), pw.pw_uid, pw.pw_gid)
    s = Spool(m, init_args=("--group", GROUP))
    yield m, s
    s.stop()
    shutil.rmtree(m, ignore_errors=True)


def as_user(m, s, user, code):
    path = os.path.join(m, user, "call.py")
    with open(path, "w") as f:
        f.write(textwrap.dedent(code))
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SPOOL_DIR": s.dir, "PYTHONPATH": PYDIR,
           "HOME": pw.pw_dir, "SPOOL_LIBRARY": os.environ.get("SPOOL_LIBRARY", "")}
    r = subprocess.run(["setpriv", "--reuid", user, "--regid", str(pw.pw_gid), "--init-groups", "--",
                        sys.executable, path], cwd=os.path.join(m, user), env=env, capture_output=True,
                       text=True, timeout=WAIT)
    assert r.returncode == 0, "as %s: exit %d\n%s\n%s\n%s" % (user, r.returncode, r.stdout, r.stderr, s.logs())
    return [ast.literal_eval(l) for l in r.stdout.splitlines()]


def test_namespaces_per_user_on_a_root_worker(shared):
    m, s = shared
    ua, ub = (pwd.getpwnam(u).pw_uid for u in USERS)
    a = as_user(m, s, "sptest_a", """\
        import os
        import spool as ipp
        c = ipp.Client()
        dview = c[:]
        dview.push(dict(secret="A's", counter=0), block=True)
        def increment():
            global counter
            counter += 1
            return counter
        dview.apply_sync(increment)
        print(dview.apply_sync(os.getuid))
        print(dview.pull("counter", block=True))
    """)
    assert a == [[ua, ua], [1, 1]]
    b = as_user(m, s, "sptest_b", """\
        import os
        import spool as ipp
        c = ipp.Client()
        dview = c[:]
        print(dview.apply_sync(os.getuid))
        try:
            dview.pull("secret", block=True)
            print("seen")
        except ipp.CompositeError as e:
            print(sorted(x[0] for x in e.elist))
        dview.push(dict(secret="B's"), block=True)
        print(dview.pull("secret", block=True))
    """)
    assert b == [[ub, ub], ["NameError", "NameError"], ["B's", "B's"]]
    a2 = as_user(m, s, "sptest_a", """\
        import spool as ipp
        c = ipp.Client()
        print(c[:].pull(["secret", "counter"], block=True))
    """)
    assert a2 == [[["A's", 1], ["A's", 1]]]
