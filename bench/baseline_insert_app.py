"""Baseline for the sign-up benchmark: a bare Flask app, one endpoint, ONE INSERT, served like Atelier.

A sibling of ``baseline_app.py`` (one SELECT): same server (gevent's WSGIServer after monkey-patching, one
process, no access log, and serve.py's process settings: the same garbage-collector settings and listen
backlog), same database URL read through a default SQLAlchemy pool (5 + 10, as Atelier's),
none of Atelier's extensions, templates, session, CSRF or hooks. ``POST /signup`` with form field
``user_id`` inserts one row into ``bench_signups`` (created at start) and answers 302, as Atelier's
sign-up does (POST/redirect/GET).
Run: ``python bench/baseline_insert_app.py --port P --db URL``.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402

from flask import Flask, redirect, request  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

CREATE = text("CREATE TABLE IF NOT EXISTS bench_signups (id BIGSERIAL PRIMARY KEY, user_id INTEGER NOT NULL, "
              "created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)")
INSERT = text("INSERT INTO bench_signups (user_id) VALUES (:user_id)")


def create_baseline(db_url: str) -> Flask:
    app = Flask(__name__)
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(CREATE)

    @app.post("/signup")
    def one_insert():
        with engine.begin() as connection:
            connection.execute(INSERT, {"user_id": int(request.form["user_id"])})
        return redirect("/", 302)

    return app


def arguments(description: str):
    """``--port`` and ``--db``, as bench/signups.py passes them to each server it starts."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, help="SQLAlchemy URL (PostgreSQL for the sign-up benchmark)")
    return parser.parse_args()


def serve(app: Flask, port: int) -> None:
    """Serve ``app`` with serve.py's process settings (garbage collector, listen backlog), no access log."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    WSGIServer(("127.0.0.1", port), app, log=None, backlog=2048).serve_forever()


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    serve(create_baseline(args.db), args.port)


if __name__ == "__main__":
    main()
