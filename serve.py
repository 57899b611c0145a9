"""`make run` entry point: gevent server with Socket.IO and the periodic jobs in the same process.

gevent must patch the standard library before anything else is imported, so this module does
that first, then imports the app. Tests start this file as a subprocess (the pytest process itself
is never patched), so the mode used in production is the one tested.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402

from gevent.pywsgi import WSGIHandler  # noqa: E402

os.environ.setdefault("SOCKETIO_ASYNC_MODE", "gevent")

from app.extensions import socketio  # noqa: E402
from app.jobs import run_forever  # noqa: E402
from wsgi import app  # noqa: E402


class NoDelayHandler(WSGIHandler):
    """gevent's server writes headers and body in two sends; without TCP_NODELAY the body of a kept-alive
    response waits for the client's delayed ACK (~40 ms each: measured in bench/pages.py)."""

    def __init__(self, sock, *args, **kwargs):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock, *args, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Atelier (gevent, Socket.IO, periodic jobs).")
    parser.add_argument("--host", default=os.environ.get("ATELIER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("ATELIER_PORT", "5000")))
    parser.add_argument("--no-jobs", action="store_true", help="do not run the periodic jobs in this process")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not args.no_jobs and os.environ.get("ATELIER_RUN_JOBS", "1") != "0":
        socketio.start_background_task(run_forever, app)
    logging.getLogger("atelier").info("Atelier on http://%s:%s (async mode %s)", args.host, args.port,
                                      socketio.async_mode)
    socketio.run(app, host=args.host, port=args.port, log_output=False, allow_unsafe_werkzeug=False,
                 handler_class=NoDelayHandler)


if __name__ == "__main__":
    main()
