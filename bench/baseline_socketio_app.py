"""Floor for the fan-out benchmark: a bare python-socketio server that rebroadcasts, served like Atelier.

Same async mode and server as `make run` (gevent monkey-patching, gevent's pywsgi ``WSGIServer`` with no log and
serve.py's TCP_NODELAY handler, websockets through simple-websocket, ``max_http_buffer_size`` 64 KiB, the site's
own origin only), same
namespace and event names as Atelier's ``/boards``, and an idea payload of the same shape, but no Flask, no
database, no login, no rooms per audience: ``join_board`` enters one room, ``post_idea`` numbers the idea
and emits it to that room, then acknowledges like Atelier does.
Run: ``python bench/baseline_socketio_app.py --port P``.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import itertools  # noqa: E402
import socket  # noqa: E402

import socketio  # noqa: E402
from gevent.pywsgi import WSGIHandler, WSGIServer  # noqa: E402

NS = "/boards"
ROOM = "board"


def create_server(origin: str) -> socketio.Server:
    sio = socketio.Server(async_mode="gevent", cors_allowed_origins=[origin], max_http_buffer_size=64 * 1024)
    seq = itertools.count(1)

    @sio.on("connect", namespace=NS)
    def connect(sid, environ, auth=None):
        return True

    @sio.on("join_board", namespace=NS)
    def join_board(sid, data=None):
        sio.enter_room(sid, ROOM, namespace=NS)
        return {"ok": True, "events": [], "seq": 0}

    @sio.on("post_idea", namespace=NS)
    def post_idea(sid, data=None):
        n = next(seq)
        idea = {"id": n, "column_id": data["column_id"], "cluster_id": None, "sort_key": f"a{n:06d}",
                "text": data["text"], "status": "visible", "version": 1, "author": "Personne", "mine": False,
                "reactions": {}, "votes": 0}
        # One change, as Atelier sends it (docs/realtime-protocol.md): the same bytes to carry.
        change = {"seq": n, "after": n - 1, "events": [{"name": "idea_posted", "payload": {"idea": idea}}]}
        sio.emit("change", change, to=ROOM, namespace=NS)
        return {"ok": True, "seq": n, "idea_id": n, "status": "visible"}

    return sio


class NoDelayHandler(WSGIHandler):
    """serve.py's handler: TCP_NODELAY on every accepted socket."""

    def __init__(self, sock, *args, **kwargs):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock, *args, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    sio = create_server(f"http://127.0.0.1:{args.port}")
    WSGIServer(("127.0.0.1", args.port), socketio.WSGIApp(sio), log=None, handler_class=NoDelayHandler).serve_forever()


if __name__ == "__main__":
    main()
