"""The admin outbox pages show mail with the secret of every secret-bearing link hidden; the stored mail keeps it."""

import re
from html import unescape

import pytest
from flask import current_app
from sqlalchemy import select

from app.accounts import service as accounts
from app.extensions import db
from app.mail.masking import MASK, SECRET_VARIABLES, mask_secrets, secret_rules
from app.mail.models import OutboxMessage
from app.mail.service import deliver_pending
from app.urls import absolute_url
from tests.conftest import login
from tests.factories import PASSWORD, make_user
from tests.servers import text_body

# Each mail that carries a token, with the request that queues it and the path its link opens.
TOKEN_MAILS = {
    "verify_email": (lambda user: accounts.resend_verification(user), "/compte/verifier/"),
    "reset_password": (lambda user: accounts.request_password_reset(user.email), "/compte/reinitialiser/"),
    "change_email": (lambda user: accounts.request_email_change(user, PASSWORD, "nouvelle@example.org"),
                     "/compte/adresse/confirmer/"),
}


@pytest.mark.parametrize("template", list(TOKEN_MAILS))
def test_an_admin_reading_a_mail_with_a_token_sees_no_token(client, smtp, template):
    queue, path = TOKEN_MAILS[template]
    person = make_user(email="personne@example.org", verified=template != "verify_email")
    admin = make_user(admin=True)
    db.session.commit()
    queue(person)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.template == template))
    token = re.search(re.escape(path) + r"(\S+)", message.body_text)[1]
    assert len(token) > 20 and token in message.body_html  # the stored message holds it, text and HTML

    login(client, admin.email)
    page = unescape(client.get(f"/admin/courriels/{message.id}").get_data(as_text=True))
    listing = unescape(client.get("/admin/courriels/").get_data(as_text=True))
    assert token not in page and token not in listing
    assert f"{path}{MASK}" in page  # the link is still there, for support to see which one was sent

    # Reading it changed nothing: the mail goes out with its link whole.
    db.session.expire_all()
    assert token in db.session.get(OutboxMessage, message.id).body_text
    assert deliver_pending()["sent"] >= 1
    assert any(token in text_body(sent) for sent in smtp.to(message.recipient))


def test_every_secret_bearing_url_rule_is_masked(app):
    rules = secret_rules(current_app.url_map)
    assert {"accounts.verify_email", "accounts.reset_password", "accounts.confirm_email_change",
            "workshops.personal_calendar", "boards.join_with_code"} <= {rule.endpoint for rule in rules}
    for rule in rules:
        values = {name: f"SECRET{name}x9-Ab_c.d" if name in SECRET_VARIABLES else "12" for name in rule.arguments}
        url = absolute_url(rule.endpoint, **values)
        for text in (f"Ouvrez ce lien :\n{url}\nMerci.", f'<a href="{url}">lien</a> {url}</p>'):
            masked = mask_secrets(text)
            assert "SECRET" not in masked, (rule.rule, masked)
            assert MASK in masked and masked.replace(MASK, "") != text


def test_only_the_secret_is_masked(app):
    text = ("Calendrier : http://localhost/ateliers/mon-calendrier/abcDEF123_-x.ics\n"
            "Atelier : http://localhost/ateliers/12 et http://localhost/ateliers/12?invitation=tok-EN_1&x=1\n"
            '<a href="http://localhost/ateliers/12?a=1&amp;invitation=tok-EN_2">invitation</a>\n'
            "Connexion : http://localhost/compte/connexion ; tableau : http://localhost/tableaux/rejoindre/K7PQ2M")
    assert mask_secrets(text) == (
        f"Calendrier : http://localhost/ateliers/mon-calendrier/{MASK}.ics\n"
        f"Atelier : http://localhost/ateliers/12 et http://localhost/ateliers/12?invitation={MASK}&x=1\n"
        f'<a href="http://localhost/ateliers/12?a=1&amp;invitation={MASK}">invitation</a>\n'
        f"Connexion : http://localhost/compte/connexion ; tableau : http://localhost/tableaux/rejoindre/{MASK}")
    assert mask_secrets(None) is None
