"""Account pages over HTTP: forms, errors, sessions, revocation."""

import re

from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db
from app.mail.models import OutboxMessage
from tests.conftest import get_csrf, login, make_app, post_form, prepared_db
from tests.factories import PASSWORD, make_user

LINK_RE = re.compile(r"http://localhost(/\S+)")


def last_link(address, marker):
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == address)
                              .order_by(OutboxMessage.id.desc())).first()
    return next(path for path in LINK_RE.findall(mail.body_text) if marker in path)


SIGN_UP = {"display_name": "Nina", "password": "long enough password", "password_confirm": "long enough password",
           "accept_terms": "y"}


def test_register_signs_no_one_in_and_the_mailed_link_activates_the_account(client):
    response = post_form(client, "/compte/inscription", {**SIGN_UP, "email": "nina@example.org"})
    assert response.status_code == 302 and response.headers["Location"] == "/compte/inscription/courriel-envoye"
    page = client.get("/compte/inscription/courriel-envoye").get_data(as_text=True)
    assert "nous vous avons envoyé un courriel pour continuer" in page
    assert client.get("/compte/").status_code == 302, "signed in at sign-up"
    # Until the link is opened, the password chosen signs no one in (as for an address that had an account).
    refused = post_form(client, "/compte/connexion", {"email": "nina@example.org", "password": "long enough password"})
    assert "Adresse électronique ou mot de passe incorrect" in refused.get_data(as_text=True)
    response = client.get(last_link("nina@example.org", "/verifier/"), follow_redirects=True)
    assert "Votre adresse électronique est vérifiée. Connectez-vous pour continuer." in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "nina@example.org")).is_verified
    login(client, "nina@example.org", "long enough password")
    assert "nina@example.org" in client.get("/compte/").get_data(as_text=True)


def test_register_shows_error_summary_linked_to_fields(client):
    response = post_form(client, "/compte/inscription", {
        "email": "not-an-email", "display_name": "", "password": "short", "password_confirm": "other"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'class="error-summary"' in html
    for field in ("email", "display_name", "password", "password_confirm", "accept_terms"):
        assert f'href="#{field}"' in html
        assert f'id="{field}-error"' in html
    assert 'aria-invalid="true"' in html
    assert db.session.scalar(select(db.func.count(User.id))) == 0


def _without_tokens(html: str) -> str:
    """The page without what differs on every answer anyway: CSRF tokens and CSP nonces."""
    return re.sub(r'(name="csrf_token" (?:type="hidden" )?value|nonce)="[^"]+"', "", html)


def test_sign_up_answers_a_known_address_as_a_new_one_and_mails_its_owner(app):
    owner = make_user(email="olive@example.org", name="Olive")
    db.session.commit()
    answers = []
    for email in ("Olive@example.org", "nouvelle@example.org"):
        client = app.test_client()
        response = post_form(client, "/compte/inscription", {**SIGN_UP, "email": email})
        page = client.get(response.headers.get("Location", "/compte/inscription"))
        answers.append((response.status_code, response.headers.get("Location"), page.status_code,
                        _without_tokens(page.get_data(as_text=True)), client.get("/compte/").status_code))
    assert answers[0] == answers[1]
    assert "existe déjà" not in answers[0][3]
    # The owner is told, with the links to sign in and to choose a new password; nothing else changed.
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "olive@example.org")).one()
    assert mail.template == "account_exists" and "Bonjour Olive," in mail.body_text
    assert "http://localhost/compte/connexion" in mail.body_text
    assert "http://localhost/compte/mot-de-passe-oublie" in mail.body_text
    assert db.session.scalar(select(db.func.count(User.id)).where(User.email == "olive@example.org")) == 1
    login(app.test_client(), owner.email)  # the owner's password still works...
    someone = app.test_client()  # ...and the one typed at sign-up does not
    refused = post_form(someone, "/compte/connexion", {"email": owner.email, "password": SIGN_UP["password"]})
    assert refused.status_code == 200 and someone.get("/compte/").status_code == 302


def test_sign_up_hashes_the_password_whatever_the_address(client, monkeypatch):
    """Comparable work in both branches: a known address costs a password hash too, as a new one does."""
    from app.accounts import service

    hashed = []
    real = service.hash_password
    monkeypatch.setattr(service, "hash_password", lambda password: hashed.append(password) or real(password))
    make_user(email="pia@example.org")
    db.session.commit()
    for email in ("pia@example.org", "pierre@example.org"):
        post_form(client, "/compte/inscription", {**SIGN_UP, "email": email})
    assert hashed == [SIGN_UP["password"]] * 2


def test_sign_up_mails_to_one_address_are_rate_limited_whatever_the_client(request, backend):
    app = make_app(backend, request, RATELIMIT_ENABLED=True, REGISTER_RATE_LIMIT="100 per hour",
                   REGISTER_EMAIL_RATE_LIMIT="2 per hour")
    with prepared_db(app, backend):
        make_user(email="connue@example.org")
        db.session.commit()

        def sign_up(email, address):
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = address
            return post_form(client, "/compte/inscription", {**SIGN_UP, "email": email}).status_code

        # The same limit, at the same count, for an address with an account and for one without.
        for email in ("connue@example.org", "inconnue@example.org"):
            assert [sign_up(email, f"192.0.2.{n}") for n in range(3)] == [302, 302, 429], email
        mails = db.session.scalars(select(OutboxMessage.recipient)).all()
        assert sorted(mails) == ["connue@example.org"] * 2 + ["inconnue@example.org"] * 2
        # A form sent back for a missing field mails no one and counts against no address.
        client = app.test_client()
        assert post_form(client, "/compte/inscription", {"email": "autre@example.org"}).status_code == 200
        assert [sign_up("autre@example.org", "192.0.2.9") for _ in range(2)] == [302, 302]


def test_login_refuses_wrong_password_without_saying_which_part_is_wrong(client):
    make_user(email="paul@example.org")
    db.session.commit()
    response = post_form(client, "/compte/connexion", {"email": "paul@example.org", "password": "wrong password"})
    assert response.status_code == 200
    assert "Adresse électronique ou mot de passe incorrect" in response.get_data(as_text=True)
    assert client.get("/compte/").status_code == 302


def test_login_redirects_to_safe_next_only(client):
    make_user(email="quentin@example.org")
    db.session.commit()
    token = get_csrf(client)
    response = client.post("/compte/connexion?next=//evil.example/x",
                           data={"email": "quentin@example.org", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    client.post("/compte/deconnexion", data={"csrf_token": get_csrf(client, "/compte/")})
    token = get_csrf(client)
    response = client.post("/compte/connexion", data={"email": "quentin@example.org", "password": PASSWORD,
                                                      "csrf_token": token, "next": "/demarches/?q=a"})
    assert response.headers["Location"] == "/demarches/?q=a"


def test_remember_me_sets_a_bounded_httponly_cookie(client):
    make_user(email="rose@example.org")
    db.session.commit()
    response = login(client, "rose@example.org", remember=True)
    cookies = response.headers.getlist("Set-Cookie")
    remember = next(c for c in cookies if c.startswith("atelier_remember="))
    assert "HttpOnly" in remember
    assert "SameSite=Lax" in remember
    assert "Expires=" in remember


def test_remember_cookie_alone_restores_the_session_until_revoked(app, client):
    user = make_user(email="remy@example.org")
    db.session.commit()
    login(client, "remy@example.org", remember=True)
    remember = client.get_cookie("atelier_remember")
    fresh = app.test_client()
    fresh.set_cookie("atelier_remember", remember.value)
    assert fresh.get("/compte/").status_code == 200
    # "log out everywhere" from the first device kills the remember cookie too
    client.post("/compte/deconnexion-partout", data={"csrf_token": get_csrf(client, "/compte/")})
    other = app.test_client()
    other.set_cookie("atelier_remember", remember.value)
    assert other.get("/compte/").status_code == 302
    db.session.refresh(user)
    assert user.session_version == 2


def test_log_out_everywhere_ends_sessions_on_other_devices(app, client):
    make_user(email="sara@example.org")
    db.session.commit()
    other_device = app.test_client()
    login(client, "sara@example.org")
    login(other_device, "sara@example.org")
    assert other_device.get("/compte/").status_code == 200
    client.post("/compte/deconnexion-partout", data={"csrf_token": get_csrf(client, "/compte/")})
    assert client.get("/compte/").status_code == 302
    response = other_device.get("/compte/")
    assert response.status_code == 302
    assert "/compte/connexion" in response.headers["Location"]


def test_change_password_keeps_this_session_and_ends_the_others(app, client):
    make_user(email="theo@example.org")
    db.session.commit()
    other_device = app.test_client()
    login(client, "theo@example.org")
    login(other_device, "theo@example.org")
    response = post_form(client, "/compte/mot-de-passe", {
        "current_password": PASSWORD, "password": "another long password",
        "password_confirm": "another long password"})
    assert response.status_code == 302
    assert client.get("/compte/").status_code == 200
    assert other_device.get("/compte/").status_code == 302


def test_change_password_wrong_current_shows_field_error(client):
    make_user(email="uma@example.org")
    db.session.commit()
    login(client, "uma@example.org")
    response = post_form(client, "/compte/mot-de-passe", {
        "current_password": "nope nope nope", "password": "another long password",
        "password_confirm": "another long password"})
    assert "Le mot de passe actuel est incorrect" in response.get_data(as_text=True)


def test_forgot_and_reset_password_flow(client):
    make_user(email="vera@example.org")
    db.session.commit()
    response = post_form(client, "/compte/mot-de-passe-oublie", {"email": "vera@example.org"})
    assert response.status_code == 302
    link = last_link("vera@example.org", "/reinitialiser/")
    response = post_form(client, link, {"password": "my new long password", "password_confirm": "my new long password"})
    assert response.status_code == 302
    login(client, "vera@example.org", "my new long password")
    # The link is single-use.
    client.post("/compte/deconnexion", data={"csrf_token": get_csrf(client, "/compte/")})
    response = client.get(link)
    assert response.status_code == 302
    assert "/compte/mot-de-passe-oublie" in response.headers["Location"]


def test_change_email_flow(client):
    make_user(email="wes@example.org")
    db.session.commit()
    login(client, "wes@example.org")
    response = post_form(client, "/compte/adresse", {"new_email": "wes.new@example.org", "current_password": PASSWORD})
    assert response.status_code == 302
    client.get(last_link("wes.new@example.org", "/adresse/confirmer/"))
    assert "wes.new@example.org" in client.get("/compte/").get_data(as_text=True)


def test_my_data_download_is_json_of_the_logged_in_user_only(client):
    make_user(email="xena@example.org", name="Xena")
    make_user(email="yann@example.org", name="Yann")
    db.session.commit()
    login(client, "xena@example.org")
    response = post_form(client, "/compte/mes-donnees/telecharger", {}, csrf_url="/compte/mes-donnees")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.get_json()
    assert data["account"]["email"] == "xena@example.org"
    assert "yann" not in response.get_data(as_text=True)


def test_my_data_download_writes_typed_markup_as_escapes(client):
    user = make_user(email="xavier@example.org", name="<b>Xavier</b> & co")
    db.session.commit()
    login(client, user.email)
    response = post_form(client, "/compte/mes-donnees/telecharger", {}, csrf_url="/compte/mes-donnees")
    assert not set(b"<>&") & set(response.get_data())
    assert response.get_json()["account"]["display_name"] == "<b>Xavier</b> & co"


def test_delete_account_needs_password_and_ends_session(client):
    make_user(email="zoe@example.org")
    db.session.commit()
    login(client, "zoe@example.org")
    response = post_form(client, "/compte/supprimer", {"password": "wrong password", "confirm": "y"})
    assert "Le mot de passe est incorrect" in response.get_data(as_text=True)
    response = post_form(client, "/compte/supprimer", {"password": PASSWORD, "confirm": "y"})
    assert response.status_code == 302
    assert client.get("/compte/").status_code == 302
    assert db.session.scalar(select(User).where(User.email == "zoe@example.org")) is None


def test_language_choice_is_stored_on_the_account(client):
    user = make_user(email="abel@example.org")
    db.session.commit()
    login(client, "abel@example.org")
    post_form(client, "/langue", {"lang": "en", "next": "/compte/"}, csrf_url="/")
    db.session.refresh(user)
    assert user.locale == "en"
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)


def test_language_switch_works_anonymously_and_refuses_unknown_language(client):
    assert '<html lang="fr">' in client.get("/").get_data(as_text=True)
    response = post_form(client, "/langue", {"lang": "de", "next": "/"}, csrf_url="/")
    assert response.status_code == 302
    assert '<html lang="fr">' in client.get("/").get_data(as_text=True)
    post_form(client, "/langue", {"lang": "en", "next": "/"}, csrf_url="/")
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)


def test_unverified_account_is_told_to_verify(client):
    make_user(email="bea@example.org", verified=False)
    db.session.commit()
    login(client, "bea@example.org")
    html = client.get("/").get_data(as_text=True)
    assert "pas encore vérifiée" in html
