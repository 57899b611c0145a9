"""Run CPU-heavy work without freezing a gevent server."""

import sys


def run_cpu_bound(func, *args, **kwargs):
    """Call ``func`` in gevent's native thread pool when the process is monkey-patched.

    Under gevent, a 50 ms argon2 hash in the hub would stall every live websocket for 50 ms; the
    thread pool lets other greenlets run meanwhile. Without gevent it is a plain call.
    """
    if "gevent" in sys.modules:
        from gevent import monkey

        if monkey.is_module_patched("threading"):
            import gevent

            return gevent.get_hub().threadpool.apply(func, args, kwargs)
    return func(*args, **kwargs)
