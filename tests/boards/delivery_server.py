"""A gevent Socket.IO server that delivers through app/realtime.py alone, for tests/boards/test_delivery.py.

Started as a subprocess (the pytest process is never monkey-patched), served like serve.py serves Atelier
(gevent's pywsgi, websockets through engine.io's gevent driver), with Atelier's manager and websocket class,
and no app around them, so a test can count how each recipient was served. Events on ``/d``: ``join`` enters
the room, ``post`` emits its text to the room, ``counts`` answers ``app.realtime.counts``.
Run: ``python tests/boards/delivery_server.py PORT [off]``; ``off`` is the setting ``SOCKETIO_ONE_FRAME_DELIVERY``
turned off: python-socketio's own manager and engine.io's own websocket class.
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import socketio  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

from app import realtime  # noqa: E402

NS = "/d"
ROOM = "room"


def main() -> None:
    port = int(sys.argv[1])
    manager = realtime.client_manager(None, "gevent", enabled=sys.argv[2:] != ["off"])  # off: None, socketio's own
    sio = socketio.Server(async_mode="gevent", client_manager=manager,
                          cors_allowed_origins=[f"http://127.0.0.1:{port}"],
                          ping_timeout=120)  # a reader stalled on purpose misses pings: not a reason to drop it
    realtime.install(sio)

    @sio.on("join", namespace=NS)
    def join(sid, data=None):
        sio.enter_room(sid, ROOM, namespace=NS)
        return {"ok": True}

    @sio.on("post", namespace=NS)
    def post(sid, data=None):
        sio.emit("posted", data, to=ROOM, namespace=NS)
        return {"ok": True}

    @sio.on("counts", namespace=NS)
    def counts(sid, data=None):
        return dict(realtime.counts)

    WSGIServer(("127.0.0.1", port), socketio.WSGIApp(sio), log=None).serve_forever()


if __name__ == "__main__":
    main()
