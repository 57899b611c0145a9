"""Security baseline: CSRF, cookies, CSP, redirects, limits, error pages, production config."""

import re

import pytest
from werkzeug.routing import IntegerConverter, Rule

from app import create_app
from app.boards.models import Board
from app.config import ConfigError
from app.extensions import db
from app.security import safe_next
from tests.boards.helpers import make_world
from tests.conftest import csrf_from, get_csrf, make_app, prepared_db
from tests.factories import make_user
from tests.pages import html_get_urls


def post_only_rules(app) -> list[Rule]:
    return [r for r in app.url_map.iter_rules() if "POST" in r.methods]


# A variable part of a rule, as Werkzeug documents them: ``<name>`` or ``<converter(arguments):name>``.
VARIABLE = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def sample_url(rule: Rule, app) -> str:
    converters = {m["name"]: app.url_map.converters[m["converter"] or "default"] for m in VARIABLE.finditer(rule.rule)}
    values = {arg: 1 if issubclass(converters[arg], IntegerConverter) else "x" for arg in rule.arguments}
    return rule.build(values)[1]


def test_every_form_refuses_a_post_without_csrf_token(app, client):
    make_user(email="root@example.org", admin=True)
    db.session.commit()
    client.post("/compte/connexion", data={"email": "root@example.org", "password": "correct horse battery",
                                           "csrf_token": get_csrf(client)})
    rules = post_only_rules(app)
    assert len(rules) >= 15
    for rule in rules:
        response = client.post(sample_url(rule, app), data={"email": "a@b.fr"})
        assert response.status_code == 400, rule.rule
        assert "Requête incorrecte" in response.get_data(as_text=True) or response.is_json


def test_session_cookie_attributes(client):
    response = client.get("/compte/connexion")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("atelier_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development over http


def test_production_cookies_are_secure_and_sessions_bounded(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "p" * 48)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("BASE_URL", "https://atelier.example.gouv.fr")
    # Socket.IO is one extension object for the whole test process: a gevent server made here would serve the later
    # tests' in-process socket clients (threading) and drop their events. Production's mode is tested in serve.py.
    monkeypatch.setenv("SOCKETIO_ASYNC_MODE", "threading")
    app = create_app("production")
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() <= 12 * 3600
    response = app.test_client().get("/compte/connexion")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("atelier_session="))
    assert "Secure" in cookie
    assert "max-age=63072000" in response.headers["Strict-Transport-Security"]


def test_production_refuses_to_start_without_its_public_address(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "p" * 48)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.delenv("BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="BASE_URL"):
        create_app("production")


@pytest.mark.parametrize(("host", "port", "expected"), [
    (None, None, "http://127.0.0.1:5000"),
    (None, "8080", "http://127.0.0.1:8080"),
    ("0.0.0.0", "5001", "http://127.0.0.1:5001"),  # noqa: S104 (a listening address under test)
    ("atelier.local", "8000", "http://atelier.local:8000"),
    ("::", "5002", "http://[::1]:5002"),
])
def test_the_public_address_follows_host_and_port_unless_set(monkeypatch, host, port, expected):
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.delenv("BASE_URL", raising=False)
    for name, value in (("ATELIER_HOST", host), ("ATELIER_PORT", port)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    app = create_app("development")
    assert app.config["BASE_URL"] == expected
    assert app.extensions["socketio"].server.eio.cors_allowed_origins == [expected]
    monkeypatch.setenv("BASE_URL", "https://atelier.example.gouv.fr/")
    app = create_app("development")
    assert app.config["BASE_URL"] == "https://atelier.example.gouv.fr"
    assert app.extensions["socketio"].server.eio.cors_allowed_origins == ["https://atelier.example.gouv.fr"]


@pytest.mark.parametrize("setting", ["BOARD_EVENTS_RATE_LIMIT", "LOGIN_RATE_LIMIT", "PROPOSAL_POST_RATE_LIMIT"])
def test_a_rate_limit_that_does_not_read_stops_the_start_naming_its_setting(monkeypatch, setting):
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv(setting, "40 per fortnight")
    with pytest.raises(ConfigError, match=setting):
        create_app("development")
    monkeypatch.setenv(setting, "40 per 2 days")
    assert create_app("development").config[setting] == "40 per 2 days"


def test_production_refuses_to_start_without_a_real_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        create_app("production")
    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(ConfigError):
        create_app("production")


def test_csp_with_nonce_and_headers_on_every_html_page(app, client):
    for url in html_get_urls(app):
        response = client.get(url)
        assert response.mimetype == "text/html", url
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'nonce-" in csp, url
        assert "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"


def test_csp_nonce_changes_per_request(client):
    first = client.get("/").headers["Content-Security-Policy"]
    second = client.get("/").headers["Content-Security-Policy"]
    assert first != second


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/", "/\\evil.example", "\\\\evil",
                                    "javascript:alert(1)", "", None, "/ok\r\nSet-Cookie: x"])
def test_safe_next_refuses_other_sites(target):
    assert safe_next(target, "/home") == "/home"


def test_safe_next_keeps_local_paths():
    assert safe_next("/demarches/?q=1") == "/demarches/?q=1"


def test_language_switch_refuses_open_redirect(client):
    response = client.post("/langue", data={"lang": "en", "next": "https://evil.example/",
                                            "csrf_token": get_csrf(client, "/")})
    assert response.headers["Location"] == "/"


def test_failed_logins_are_limited_per_address_with_a_clear_page(request, backend):
    app = make_app(backend, request, RATELIMIT_ENABLED=True, LOGIN_ADDRESS_RATE_LIMIT="5 per minute")
    with prepared_db(app, backend):
        client = app.test_client()
        token = get_csrf(client)
        statuses = [client.post("/compte/connexion", data={"email": f"u{n}@example.org", "password": "x",
                                                           "csrf_token": token}).status_code for n in range(6)]
        assert statuses == [200] * 5 + [429]
        response = client.post("/compte/connexion", data={"email": "z@example.org", "password": "x",
                                                          "csrf_token": token})
        assert response.status_code == 429
        assert "Trop de tentatives" in response.get_data(as_text=True)
        assert "Retry-After" in response.headers
        # Reading the page is not limited.
        assert client.get("/compte/connexion").status_code == 200


def test_login_is_rate_limited_per_account_across_ips(request, backend):
    app = make_app(backend, request, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="5 per minute")
    with prepared_db(app, backend):
        statuses = []
        for n in range(6):
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = f"10.0.0.{n + 1}"
            token = get_csrf(client)
            statuses.append(client.post("/compte/connexion", data={"email": "target@example.org", "password": "x",
                                                                   "csrf_token": token}).status_code)
        assert statuses == [200] * 5 + [429]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sixty_people_sign_in_from_one_address_with_the_default_limits(request, backend):
    """An office or a class behind one address: sixty people sign in within a minute, a dozen of them after a
    typo, and nobody is turned away; a successful sign-in counts against no one."""
    app = make_app(backend, request, RATELIMIT_ENABLED=True)
    assert app.config["LOGIN_RATE_LIMIT"] == "5 per minute"  # the defaults, not raised for the test
    with prepared_db(app, backend):
        emails = [make_user(email=f"agent{n}@example.org").email for n in range(60)]
        db.session.commit()
        statuses = []
        for n, email in enumerate(emails):
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = "192.0.2.10"
            token = get_csrf(client)
            if n % 5 == 0:  # a typo first
                typo = client.post("/compte/connexion", data={"email": email, "password": "correct horse batery",
                                                                "csrf_token": token})
                assert typo.status_code == 200 and "incorrect" in typo.get_data(as_text=True)
            statuses.append(client.post("/compte/connexion", data={"email": email, "password": "correct horse battery",
                                                                   "csrf_token": token}).status_code)
        assert statuses == [302] * 60


@pytest.mark.parametrize("backend", ["sqlite"])
def test_only_failed_logins_use_up_an_account_limit(request, backend):
    app = make_app(backend, request, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    with prepared_db(app, backend):
        make_user(email="often@example.org")
        db.session.commit()
        client = app.test_client()
        token = get_csrf(client)

        def attempt(password):
            return client.post("/compte/connexion", data={"email": "often@example.org", "password": password,
                                                          "csrf_token": token}).status_code

        assert [attempt("correct horse battery") for _ in range(6)] == [302] * 6
        assert [attempt("wrong") for _ in range(4)] == [200, 200, 200, 429]
        assert attempt("correct horse battery") == 429  # the account is protected from here on, for a minute


@pytest.mark.parametrize("backend", ["sqlite"])
def test_behind_a_trusted_proxy_limits_count_each_client_address(request, backend):
    """With TRUSTED_PROXIES=1 the client address comes from X-Forwarded-For: one person's failures do not lock out
    the others behind the same proxy. Without it, the header is ignored (anyone could forge it)."""
    limits = {"RATELIMIT_ENABLED": True, "LOGIN_ADDRESS_RATE_LIMIT": "3 per minute"}

    def failures(app, forwarded_for):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = "10.0.0.1"  # the proxy
        # Over HTTPS, Flask-WTF also checks that the Referer is this site, as a browser sends it.
        headers = {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https",
                   "Referer": "https://localhost/compte/connexion"}
        token = get_csrf(client)
        return [client.post("/compte/connexion", headers=headers, data={
            "email": f"x{n}@example.org", "password": "x", "csrf_token": token}).status_code for n in range(4)]

    behind = make_app(backend, request, TRUSTED_PROXIES=1, **limits)
    with prepared_db(behind, backend):
        assert failures(behind, "198.51.100.7") == [200, 200, 200, 429]
        assert failures(behind, "198.51.100.8") == [200, 200, 200, 429]
    direct = make_app(backend, request, sqlite_path=request.getfixturevalue("tmp_path") / "direct.db", **limits)
    with prepared_db(direct, backend):
        assert failures(direct, "198.51.100.9") == [200, 200, 200, 429]
        assert failures(direct, "198.51.100.10") == [429] * 4


@pytest.mark.parametrize("backend", ["sqlite"])
def test_behind_a_trusted_proxy_https_is_seen_and_the_guest_cookie_stays_secure(request, backend):
    app = make_app(backend, request, TRUSTED_PROXIES=1)
    with prepared_db(app, backend):
        board = db.session.get(Board, make_world(allow_guests=True).board_id)
        client = app.test_client()
        headers = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https",
                   "X-Forwarded-Host": "atelier.example.gouv.fr"}
        url = f"/tableaux/rejoindre/{board.join_code}"
        headers["Referer"] = "https://atelier.example.gouv.fr" + url  # checked against the forwarded host
        page = client.get(url, headers=headers)
        assert page.status_code == 200, page.status_code
        response = client.post(url, headers=headers, data={"name": "Invitée",
                                                           "csrf_token": csrf_from(page.get_data(as_text=True))})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"atelier_guest_{board.id}="))
        assert "Secure" in cookie and "HttpOnly" in cookie


def test_password_reset_is_rate_limited_per_address_and_per_account(request, backend):
    app = make_app(backend, request, RATELIMIT_ENABLED=True, RESET_ADDRESS_RATE_LIMIT="5 per minute",
                   RESET_RATE_LIMIT="3 per minute")
    with prepared_db(app, backend):
        def reset(email, address):
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = address
            token = get_csrf(client, "/compte/mot-de-passe-oublie")
            return client.post("/compte/mot-de-passe-oublie", data={"email": email, "csrf_token": token}).status_code

        assert [reset(f"r{n}@example.org", "192.0.2.1") for n in range(6)] == [302] * 5 + [429]
        assert [reset("same@example.org", f"192.0.2.{n + 2}") for n in range(4)] == [302] * 3 + [429]


def test_rate_limits_are_shared_through_redis(request, backend, redis_url):
    """Two app instances (two server processes) share one counter when storage is Redis."""
    apps = [make_app(backend, request, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="5 per minute",
                     RATELIMIT_STORAGE_URI=redis_url) for _ in range(2)]
    with prepared_db(apps[0], backend), prepared_db(apps[1], backend):
        statuses = []
        for n in range(6):
            client = apps[n % 2].test_client()
            token = get_csrf(client)
            statuses.append(client.post("/compte/connexion", data={"email": "shared@example.org", "password": "x",
                                                                   "csrf_token": token}).status_code)
        assert statuses == [200] * 5 + [429]


def test_oversized_request_gets_413_page(client):
    response = client.post("/compte/connexion", data={"email": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413
    assert "Envoi trop volumineux" in response.get_data(as_text=True)


def test_method_not_allowed_page(client):
    response = client.get("/compte/deconnexion")
    assert response.status_code == 405
    assert "Méthode non autorisée" in response.get_data(as_text=True)


def test_not_found_page_in_both_languages(client):
    assert "Page introuvable" in client.get("/nulle-part").get_data(as_text=True)
    client.post("/langue", data={"lang": "en", "next": "/", "csrf_token": get_csrf(client, "/")})
    assert "Page not found" in client.get("/nulle-part").get_data(as_text=True)


def test_server_error_page_has_no_stack_trace(request, backend):
    app = make_app(backend, request)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    with prepared_db(app, backend):
        response = app.test_client().get("/boom")
        assert response.status_code == 500
        html = response.get_data(as_text=True)
        assert "Erreur du serveur" in html
        assert "secret internal detail" not in html and "Traceback" not in html


@pytest.mark.postgres("app.config", "app.errors")
def test_a_request_that_finds_no_free_database_connection_gets_a_translated_503(request):
    """Overload is not a crash: past the pool timeout, a page says to retry (HTML or JSON), not « erreur »."""
    app = make_app("postgresql", request, DATABASE_POOL_SIZE=1, DATABASE_MAX_OVERFLOW=0, DATABASE_POOL_TIMEOUT=0.2)
    with prepared_db(app, "postgresql"):
        assert db.engine.pool.size() == 1
        make_user(email="busy@example.org")
        db.session.commit()
        client = app.test_client()
        client.post("/compte/connexion", data={"email": "busy@example.org", "password": "correct horse battery",
                                               "csrf_token": get_csrf(client)})
        english = app.test_client()
        english.post("/langue", data={"lang": "en", "next": "/", "csrf_token": get_csrf(english, "/")})
        with db.engine.connect() as held:  # the pool's only connection, busy elsewhere
            held.exec_driver_sql("SELECT 1")
            page = client.get("/propositions/")
            api = client.get("/api/v1/proposals")
            api_en = client.get("/api/v1/proposals", headers={"Accept-Language": "en"})
            page_en = english.get("/propositions/")
        assert page.status_code == 503 and page.headers["Retry-After"] == "5"
        assert "momentanément indisponible" in page.get_data(as_text=True)
        assert api.status_code == 503
        assert api.get_json()["error"]["code"] == "unavailable"
        assert api_en.status_code == 503 and "temporarily unavailable" in api_en.get_json()["error"]["message"]
        assert page_en.status_code == 503
        assert "temporarily unavailable" in page_en.get_data(as_text=True)
        assert client.get("/propositions/").status_code == 200  # the connection is back: all is well again


@pytest.mark.postgres("app.config")
def test_postgresql_connections_get_the_planners_random_page_cost_unless_told_to_keep_the_servers(request):
    """Atelier's PostgreSQL connections plan with a random page cost of 1.1 (data in memory or on SSD; the search
    needs it to use its index, tests/proposals/test_search.py), added to any startup options already given; 0 keeps
    the server's own setting."""
    options = {"connect_args": {"options": "-c statement_timeout=5000"}}
    for overrides, expected in [({}, ("1.1", "0")), ({"SQLALCHEMY_ENGINE_OPTIONS": options}, ("1.1", "5s")),
                                ({"DATABASE_RANDOM_PAGE_COST": 0}, ("4", "0"))]:
        app = make_app("postgresql", request, **overrides)
        with app.app_context():
            with db.engine.connect() as connection:
                seen = (connection.exec_driver_sql("SHOW random_page_cost").scalar(),
                        connection.exec_driver_sql("SHOW statement_timeout").scalar())
            db.engine.dispose()
        assert seen == expected, overrides


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path):
    app = create_app("test", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/db.sqlite"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_user_text_is_escaped(client):
    make_user(email="evil@example.org", name="<script>alert(1)</script>")
    db.session.commit()
    client.post("/compte/connexion", data={"email": "evil@example.org", "password": "correct horse battery",
                                           "csrf_token": get_csrf(client)})
    html = client.get("/compte/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_no_third_party_urls_in_pages(app, client):
    for url in html_get_urls(app):
        html = client.get(url).get_data(as_text=True)
        for attr in ('src="http', "href=\"http", "url(http"):
            for chunk in html.split(attr)[1:]:
                # Outbound links to service sites are fine; loaded resources (src) are not.
                assert attr.startswith("href"), f"{url} loads a remote resource: {attr}{chunk[:60]}"


def test_a_nul_character_is_refused_with_a_translated_page_and_nothing_written(client, login_as):
    """PostgreSQL text cannot hold NUL: without the guard, the profile form below ends in a 500 there."""
    user = make_user(email="nul@example.org", name="Ana")
    db.session.commit()
    login_as(user)
    token = get_csrf(client, "/compte/")
    response = client.post("/compte/", data={"display_name": "An\x00a", "csrf_token": token})
    assert response.status_code == 400
    assert "caractère nul" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(user), user.id).display_name == "Ana"
    # In a query string or a path, and in English, and as JSON for the API.
    response = client.get("/propositions/?q=a%00b", headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert client.get("/rapports/organisations/a%00b").status_code == 400
    body = client.get("/api/v1/proposals?q=%00").get_json()
    assert body["error"]["code"] == "nul_character" and body["error"]["message"]
    # The same form without the character is saved.
    assert client.post("/compte/", data={"display_name": "Anna", "csrf_token": token}).status_code in (200, 302)
    db.session.expire_all()
    assert db.session.get(type(user), user.id).display_name == "Anna"


@pytest.mark.both_databases()
def test_a_nul_character_in_a_guest_cookie_is_no_guest_not_a_server_error(client):
    """The guest cookie goes into a query (werkzeug unquotes ``"\\000"`` in a cookie value to NUL): such a
    token is nobody's, answered as a visitor without a cookie is, on PostgreSQL too (not a 500)."""
    world = make_world()
    client.set_cookie(f"atelier_guest_{world.board_id}", "a\x00b")
    response = client.get(f"/tableaux/{world.board_id}")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]
