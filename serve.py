"""`make run` entry point: gevent server with Socket.IO and the periodic jobs in the same process.

gevent must patch the standard library before anything else is imported, so this module does
that first, then imports the app. Tests start this file as a subprocess (the pytest process itself
is never patched), so the mode used in production is the one tested.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402

from gevent.pywsgi import WSGIHandler  # noqa: E402

os.environ.setdefault("SOCKETIO_ASYNC_MODE", "gevent")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run Atelier (gevent, Socket.IO, periodic jobs).")
    parser.add_argument("--host", default=os.environ.get("ATELIER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("ATELIER_PORT", "5000")))
    parser.add_argument("--no-jobs", action="store_true", help="do not run the periodic jobs in this process")
    return parser.parse_args()


# Read before the app is built: unless BASE_URL is set, the app's public origin (mail links, the websocket
# origin check, the CSP) follows the host and port it is served on.
ARGS = _arguments() if __name__ == "__main__" else None
if ARGS is not None:
    os.environ["ATELIER_HOST"], os.environ["ATELIER_PORT"] = ARGS.host, str(ARGS.port)

from app import frames  # noqa: E402
from app.boards.announce import announce_forever  # noqa: E402
from app.extensions import socketio  # noqa: E402
from app.jobs import run_forever  # noqa: E402
from wsgi import app  # noqa: E402

# Garbage collection: with 1,000 live connections a full collection scanned the app's, SQLAlchemy's and every
# connection's objects, up to 220 ms each, freezing every client (bench/fanout.py, N = 1,000, R = 20/s: p95
# 213 ms). What exists once the app is imported lives as long as the process: move it out of the collector's
# sight (gc.freeze), and collect the young generation less often (the default 700 allocations is a few
# dozen deliveries). Measured: p95 213 -> 70 ms; see docs/performance.md, "Live boards". Collecting more often
# (5,000 allocations, to shorten the pauses of ORM-heavy pages) was tried and undone: with 1,000 clients the
# server spent so much more time collecting that it fell behind (fan-out p95 446-1,978 ms against 107-184 ms
# at 50,000, same machine, same hour).
gc.collect()
gc.freeze()
gc.set_threshold(50_000, 50, 1000)
# A restart sees every client reconnect at once: a longer accept queue than gevent's 128 refuses fewer.
LISTEN_BACKLOG = 2048


class NoDelayHandler(WSGIHandler):
    """gevent's server writes headers and body in two sends; without TCP_NODELAY the body of a kept-alive
    response waits for the client's delayed ACK (~40 ms each: measured in bench/pages.py)."""

    def __init__(self, sock, *args, **kwargs):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock, *args, **kwargs)

    def handle_error(self, t, v, tb):
        """A websocket frame engine.io cannot parse at all (no packet type) escapes from the websocket's request
        instead of reaching a logger: one short warning and the connection closed, not a traceback (app/frames.py)."""
        if self.environ.get("HTTP_UPGRADE", "").lower() == "websocket" and frames.refuse_escaped_frame(v, tb):
            self.close_connection = True
            return
        super().handle_error(t, v, tb)


def main() -> None:
    args = ARGS or _arguments()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not args.no_jobs and os.environ.get("ATELIER_RUN_JOBS", "1") != "0":
        socketio.start_background_task(run_forever, app)
    socketio.start_background_task(announce_forever, app)  # every serving process: its connections' boards
    logging.getLogger("atelier").info("Atelier listening on %s:%s, public address %s (async mode %s)", args.host,
                                      args.port, app.config["BASE_URL"], socketio.async_mode)
    socketio.run(app, host=args.host, port=args.port, log_output=False, allow_unsafe_werkzeug=False,
                 handler_class=NoDelayHandler, backlog=LISTEN_BACKLOG)


if __name__ == "__main__":
    main()
