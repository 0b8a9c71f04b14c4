# demo_notes.py - the IPython parallel notes' cells as they run on spool (make demo runs it).
import spool as ipp

c = ipp.Client()
print("c.ids:", c.ids)
dview = c[:]


def get_hostname():
    import socket
    return socket.gethostname()


print("dview.apply_sync(get_hostname):", dview.apply_sync(get_hostname))


def get_average(numbers):
    return sum(numbers) / float(len(numbers))


print("dview.apply_sync(get_average, [2, 3, 5, 7, 9]):", dview.apply_sync(get_average, [2, 3, 5, 7, 9]))


def get_squared(number):
    return number * number


print("dview.map(get_squared, [2, 3, 5, 7, 9]):", dview.map(get_squared, [2, 3, 5, 7, 9], block=True))
dview.push(dict(counter=0))


def increment():
    global counter
    counter += 1
    return counter


dview.apply_sync(increment)
print("dview.pull('counter'):", dview.pull('counter', block=True))
