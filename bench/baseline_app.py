"""Baseline for the page benchmarks: a bare Flask app, one endpoint, one SELECT, served like Atelier.

Same server (gevent's WSGIServer after monkey-patching, one process, no access log), same database
(the URL Atelier uses, read through a SQLAlchemy pool), none of Atelier's extensions, templates or hooks.
Run: ``python bench/baseline_app.py --port P --db URL [--nodelay]``; ``GET /`` answers one life event's name.

``--nodelay`` sets TCP_NODELAY on accepted sockets, which gevent's server does not do: it writes a
response's headers and body in two sends, so on a keep-alive connection the body waits for the client's
delayed ACK (Nagle). The benchmark runs both variants to show what that costs.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import socket  # noqa: E402

from flask import Flask, jsonify  # noqa: E402
from gevent.pywsgi import WSGIHandler, WSGIServer  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

QUERY = text("SELECT name_fr FROM life_events WHERE slug = :slug")


def create_baseline(db_url: str) -> Flask:
    app = Flask(__name__)
    engine = create_engine(db_url)

    @app.get("/")
    def one_select():
        with engine.connect() as connection:
            name = connection.execute(QUERY, {"slug": "je-demenage"}).scalar_one()
        return jsonify(name=name)

    return app


class NoDelayHandler(WSGIHandler):
    def __init__(self, sock, *args, **kwargs):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock, *args, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of a database with Atelier's demo data")
    parser.add_argument("--nodelay", action="store_true", help="set TCP_NODELAY on accepted sockets")
    args = parser.parse_args()
    handler = NoDelayHandler if args.nodelay else WSGIHandler
    WSGIServer(("127.0.0.1", args.port), create_baseline(args.db), handler_class=handler, log=None).serve_forever()


if __name__ == "__main__":
    main()
