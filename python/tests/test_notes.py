"""The IPython-parallel notes' cells, verbatim apart from `import spool as ipp` and print(), run as
a user runs them (a script: its functions live in __main__) against real spoold and workers."""

import ast
import socket
import textwrap

from conftest import run_script

NOTES = textwrap.dedent('''\
    import spool as ipp
    c = ipp.Client()

    print(c.ids)

    dview = c[:]
    lview = c.load_balanced_view()

    def get_hostname():
        import socket
        return socket.gethostname()

    print(dview.apply_sync(get_hostname))

    def get_average(numbers):
        return sum(numbers)/float(len(numbers))

    print(dview.apply_sync(get_average, [2, 3, 5, 7, 9]))

    def get_squared(number):
        return number*number

    print(dview.map(get_squared, [2, 3, 5, 7, 9], block=True))

    def increment():
        global counter
        counter += 1
        return counter

    i = 0
    dview.push(dict(counter=i))
    print(dview.apply_sync(increment))
    print(i, dview.pull('counter', block=True))
''')


def test_notes_cells_verbatim(spool_env, tmp_path):
    script = tmp_path / "notes.py"
    script.write_text(NOTES)
    lines = run_script(spool_env, script).splitlines()
    assert len(lines) == 6, lines
    ids = ast.literal_eval(lines[0])
    assert len(ids) == 2 and ids == sorted(ids) and all(isinstance(i, int) for i in ids)
    assert ast.literal_eval(lines[1]) == [socket.gethostname()] * 2
    assert ast.literal_eval(lines[2]) == [5.2, 5.2]
    assert ast.literal_eval(lines[3]) == [4, 9, 25, 49, 81]
    assert ast.literal_eval(lines[4]) == [1, 1]
    assert lines[5] == "0 [1, 1]"
    # the notes' "print i, dview.pull(...)" line, and a second run: the counter lives on
    # the engines and a new client (a new process) sees it
    again = tmp_path / "again.py"
    again.write_text("import spool as ipp\nc = ipp.Client()\n"
                     "def increment():\n    global counter\n    counter += 1\n    return counter\n"
                     "print(c[:].apply_sync(increment))\n")
    assert ast.literal_eval(run_script(spool_env, again).strip()) == [2, 2]
