"""Floor for the sign-up benchmark: a signed-in, CSRF-checked form POST that loads its account the usual way.

The one-INSERT baseline (``baseline_insert_app.py``) plus what a state-changing request of a logged-in person
does on Atelier's stack when Flask-Login loads the account before the view, and nothing of the sign-up itself:
Flask's signed cookie session, Flask-Login with "strong" session protection loading the account through
Flask-SQLAlchemy (one SELECT by primary key on Atelier's ``users`` table, of the three columns the check needs:
id, session version, deletion), and Flask-WTF's CSRF check; then the same ONE INSERT and a 302. No seats, no
waiting list, no mail, no templates, no security headers, no access log.
Same server and process settings as the baseline.

``GET /token`` answers a CSRF token for the caller's session; ``POST /login`` (``csrf_token``, ``user_id``) logs
that account in (no password: logging in is not what is measured); ``POST /signup`` (``csrf_token``) inserts
one row for the logged-in account. Run: ``python bench/floor_signin_app.py --port P --db URL``.
"""

from gevent import monkey

monkey.patch_all()

import secrets  # noqa: E402
from datetime import datetime  # noqa: E402

from baseline_insert_app import CREATE, INSERT, arguments, serve  # noqa: E402
from flask import Flask, abort, redirect, request  # noqa: E402
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user  # noqa: E402
from flask_sqlalchemy import SQLAlchemy  # noqa: E402
from flask_wtf.csrf import CSRFProtect, generate_csrf  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Mapped, mapped_column  # noqa: E402

db = SQLAlchemy()


class Account(UserMixin, db.Model):
    """Atelier's ``users`` table, read-only here: only what a session check needs."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_version: Mapped[int]
    deleted_at: Mapped[datetime | None]

    def get_id(self) -> str:
        return f"{self.id}.{self.session_version}"


def create_floor(db_url: str) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secrets.token_hex(32), SQLALCHEMY_DATABASE_URI=db_url)
    db.init_app(app)
    CSRFProtect(app)
    login_manager = LoginManager(app)
    login_manager.session_protection = "strong"
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(CREATE)

    @login_manager.user_loader
    def load_user(session_id: str):
        user_id, _sep, version = session_id.partition(".")
        account = db.session.get(Account, int(user_id))
        if account is None or account.deleted_at is not None or account.session_version != int(version):
            return None
        return account

    @app.get("/token")
    def token():
        return generate_csrf()

    @app.post("/login")
    def login():
        account = db.session.get(Account, int(request.form["user_id"]))
        if account is None:
            abort(404)
        login_user(account)
        return "", 204

    @app.post("/signup")
    @login_required
    def one_insert():
        db.session.execute(INSERT, {"user_id": current_user.id})
        db.session.commit()
        return redirect("/", 302)

    return app


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    app = create_floor(args.db)
    with app.app_context():
        db.session.execute(text("SELECT 1"))  # the pool's first connection before the first request
        db.session.remove()
    serve(app, args.port)


if __name__ == "__main__":
    main()
