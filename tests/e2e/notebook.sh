#!/bin/bash
# notebook.sh - examples/notes.ipynb (the IPython-parallel notes as a notebook, issue 12) executed
# headless with nbclient against a personal spool (spoold and one worker of 2 engines), in a real
# Jupyter kernel (python3, ipykernel) that imports the package from the build tree
# (PYTHONPATH=python). Every cell runs (allow_errors: one cell's error does not hide the next
# ones' outputs) and each code cell's printed output is checked against the notes' results:
# the ids of the 2 engines, one hostname per engine, [5.2, 5.2], [4, 9, 25, 49, 81], [1, 1] and
# "0 [1, 1]" (the notebook's own i untouched).
# checks: 9
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")/../.." && pwd)
# The Debian interpreter: the kernel spec "python3" of python3-ipykernel runs /usr/bin/python3,
# and the Debian packages are installed for it (a python3 first on PATH may be another one).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
# The engines' interpreter, when spool.conf names none, is the python3 along the worker's PATH:
# the kernel's directory first, so that the engines run the kernel's Python (and its cloudpickle).
PATH="$SPOOL_BIN:$(dirname "$(command -v "$PY")"):$PATH"

# What it needs, installed as the suite installs its packages (as root), never skipped silently.
need="python3-nbclient python3-ipykernel python3-nbformat python3-cloudpickle"
if ! "$PY" -c 'import nbclient, nbformat, ipykernel, cloudpickle' 2>/dev/null; then
	sh "$here/tests/install-deps.sh" $need >"$T/install.out" 2>&1 ||
		{ fail "cannot install $need (tests/install-deps.sh):"; sed 's/^/#   /' "$T/install.out"; exit 1; }
	"$PY" -c 'import nbclient, nbformat, ipykernel, cloudpickle' 2>"$T/import.err" ||
		{ fail "nbclient, nbformat, ipykernel or cloudpickle still not importable by $PY after installing $need:"; sed 's/^/#   /' "$T/import.err"; exit 1; }
fi
check "nbclient, nbformat, ipykernel and cloudpickle are importable by $PY" true
[ -f "$here/python/spool/__init__.py" ] || { fail "python/spool (the package) is not in this tree ($here)"; exit 1; }
[ -f "$here/examples/notes.ipynb" ] || { fail "examples/notes.ipynb is missing"; exit 1; }

make_spool
start_spoold
start_worker 2
wait_engines 2 || exit 1
export PYTHONPATH="$here/python${PYTHONPATH:+:$PYTHONPATH}"
# (quiets the kernel's debugger warning about frozen modules on its stderr)
export PYDEVD_DISABLE_FILE_VALIDATION=1

# Executes the notebook in $T (the kernel's cwd: the client puts its calls' directories, spool-python/JOB,
# there), saves the executed copy ($T/notes.out.ipynb), and writes each tagged code cell's
# outputs. Exit 0 once every cell has run (errors or not).
cat >"$T/run_nb.py" <<'EOF'
import re
import sys
import nbformat
from nbclient import NotebookClient

src, dst, outdir = sys.argv[1:4]
nb = nbformat.read(src, as_version=4)
client = NotebookClient(nb, timeout=240, startup_timeout=180, kernel_name="python3", allow_errors=True,
                        resources={"metadata": {"path": outdir}})
try:
    client.execute()
finally:
    nbformat.write(nb, dst)
for cell in nb.cells:
    if cell.cell_type != "code":
        continue
    tag = cell.metadata.get("tags", ["untagged"])[0]
    out = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
    # its error (type and message first, then the end of the traceback), and its stderr; files
    # cell.TAG, cell.TAG.err, cell.TAG.stderr
    err = "".join(f"{o.ename}: {o.evalue}\n" + re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(o.traceback[-3:])) + "\n"
                  for o in cell.outputs if o.output_type == "error")
    serr = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stderr")
    for ext, text in (("", out), (".err", err), (".stderr", serr)):
        with open(f"{outdir}/cell.{tag}{ext}", "w") as f:
            f.write(text)
EOF
cd "$T" || exit 1
# The deadline covers the kernel's start and every cell (nbclient's own is per cell).
timeout --kill-after=10 420 "$PY" "$T/run_nb.py" "$here/examples/notes.ipynb" "$T/notes.out.ipynb" "$T" >"$T/nb.out" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
	fail "nbclient did not run the notebook to its end (exit $rc; 124: 420 s passed):"
	tail -20 "$T/nb.out" | sed 's/^/#   /'
fi

cell() { cat "$T/cell.$1" 2>/dev/null; }
why() { # TAG: what went wrong in that cell, for a FAIL line
	if [ ! -f "$T/cell.$1.err" ]; then echo "(the cell did not run)"
	else cat "$T/cell.$1.err" "$T/cell.$1.stderr" | head -c 1500
	fi
}
cell_ok() { # TAG: the cell ran without an error
	if [ -f "$T/cell.$1.err" ] && [ ! -s "$T/cell.$1.err" ]; then
		pass "cell '$1' runs without an error"
	else
		fail "cell '$1' runs without an error: $(why "$1")"
	fi
}
cell_eq() { # TAG DESCRIPTION EXPECTED: the cell printed EXPECTED
	local got
	got=$(cell "$1")
	if [ "$got" = "$3" ]; then pass "$2"; else fail "$2 (expected '$3', got '$got') $(why "$1")"; fi
}

cell_ok client
ids=$(spool workers | awk 'NR > 1 && $4 != "dead" { print $1 }' | sort -n | paste -sd, | sed 's/,/, /g')
cell_eq ids "print(c.ids): the 2 live engines" "[$ids]"
cell_ok views
host=$(hostname)
cell_eq hostname "dview.apply_sync(get_hostname): this host once per engine" "['$host', '$host']"
cell_eq average "dview.apply_sync(get_average, [2, 3, 5, 7, 9])" "[5.2, 5.2]"
cell_eq squared "dview.map(get_squared, [2, 3, 5, 7, 9], block=True)" "[4, 9, 25, 49, 81]"
cell_eq counter "push counter=0, apply_sync(increment), then print(i, pull('counter'))" "[1, 1]
0 [1, 1]"
# Each call left its directory beside the data, in the kernel's cwd.
outdirs() { compgen -G "$T/spool-python/*/*.call" >/dev/null; }
check "the calls' files are in the kernel's cwd ($T/spool-python/JOB/)" outdirs
