"""Long library calls: run in a worker thread (ctypes releases the GIL while
C runs, so other Python threads go on), so that Ctrl-C in the main thread
reaches Python at once; it sets the call's stop flag, the library returns
within a tile pair, and KeyboardInterrupt is raised as usual."""

import threading


def run_stoppable(call, stop):
    """Runs call() (returning a status) with stop (a ctypes c_int) as its
    stop flag; returns the status."""
    if threading.current_thread() is not threading.main_thread():
        return call()  # signals reach only the main thread anyway
    box = {}

    def work():
        try:
            box["rc"] = call()
        except BaseException as e:  # an exception in a callback, say
            box["exc"] = e

    t = threading.Thread(target=work, name="layergeom", daemon=True)
    t.start()
    try:
        while t.is_alive():
            t.join(0.05)
    except KeyboardInterrupt:
        stop.value = 1
        t.join()
        raise
    if "exc" in box:
        raise box["exc"]
    return box["rc"]
