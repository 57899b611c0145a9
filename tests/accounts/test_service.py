"""Account rules, each with its refusal twin, on SQLite and PostgreSQL."""

import re

import pytest
from sqlalchemy import select

from app.accounts import service
from app.accounts.models import User
from app.accounts.passwords import verify_password
from app.accounts.routes import load_user
from app.errors import DomainError
from app.extensions import db
from app.mail.models import OutboxMessage
from tests.factories import PASSWORD, make_user

LINK_RE = re.compile(r"(http://\S+)")


def outbox_for(address):
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == address)
                              .order_by(OutboxMessage.id)).all()


def token_in(message, marker):
    url = next(u for u in LINK_RE.findall(message.body_text) if marker in u)
    return url.rsplit("/", 1)[1]


@pytest.mark.both_databases("app.accounts.service")
def test_register_creates_unverified_account_and_queues_verification(app):
    user = service.register("  Alice@Example.org ", "Alice", "a long enough password")
    assert user.email == "alice@example.org"
    assert not user.is_verified
    assert user.terms_accepted_at is not None
    assert user.password_hash.startswith("!$argon2id$")  # kept aside until the address is verified
    [mail] = outbox_for("alice@example.org")
    assert mail.template == "verify_email"
    assert "/compte/verifier/" in mail.body_text


def test_a_sign_up_password_signs_in_only_once_the_link_is_opened(app):
    service.register("abel@example.org", "Abel", "a long enough password")
    assert service.authenticate("abel@example.org", "a long enough password") is None
    user = service.verify_email(token_in(outbox_for("abel@example.org")[0], "/verifier/"))
    assert user.is_verified and user.password_hash.startswith("$argon2id$")
    assert service.authenticate("abel@example.org", "a long enough password").id == user.id


def test_register_with_a_known_address_mails_its_owner_and_changes_nothing(app):
    owner = make_user(email="bob@example.org", name="Bob")
    db.session.commit()
    password_hash = owner.password_hash
    assert service.register("BOB@example.org", "Bob 2", "a long enough password") is None
    assert db.session.scalar(select(db.func.count(User.id))) == 1
    [mail] = outbox_for("bob@example.org")
    assert mail.template == "account_exists"
    assert "/compte/connexion" in mail.body_text and "/compte/mot-de-passe-oublie" in mail.body_text
    db.session.refresh(owner)
    assert owner.password_hash == password_hash and owner.display_name == "Bob"


def test_the_operators_create_user_still_says_the_address_is_taken(app):
    make_user(email="cleo@example.org")
    db.session.commit()
    with pytest.raises(service.EmailTaken):
        service.create_user("cleo@example.org", "Cléo", "a long enough password")


def test_a_reset_link_activates_a_sign_up_that_was_never_verified(app):
    service.register("dina@example.org", "Dina", "a long enough password")
    service.request_password_reset("dina@example.org")
    user = service.reset_password(token_in(outbox_for("dina@example.org")[-1], "/reinitialiser/"), "another password!")
    assert user.is_verified
    assert service.authenticate("dina@example.org", "another password!").id == user.id
    # The verification link opened afterwards does not bring back the sign-up's password.
    service.verify_email(token_in(outbox_for("dina@example.org")[0], "/verifier/"))
    assert service.authenticate("dina@example.org", "a long enough password") is None


def test_verify_email_marks_account_verified(app):
    service.register("carol@example.org", "Carol", "a long enough password")
    token = token_in(outbox_for("carol@example.org")[0], "/verifier/")
    user = service.verify_email(token)
    assert user.is_verified


def test_verify_email_refuses_tampered_token(app):
    service.register("dan@example.org", "Dan", "a long enough password")
    token = token_in(outbox_for("dan@example.org")[0], "/verifier/")
    with pytest.raises(service.InvalidToken):
        service.verify_email(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert not service.get_user_by_email("dan@example.org").is_verified


def test_verify_email_refuses_expired_token(app):
    service.register("erin@example.org", "Erin", "a long enough password")
    token = token_in(outbox_for("erin@example.org")[0], "/verifier/")
    app.config["EMAIL_TOKEN_MAX_AGE"] = -1
    with pytest.raises(service.InvalidToken):
        service.verify_email(token)


def test_authenticate_accepts_right_password_only(app):
    user = make_user(email="fay@example.org")
    db.session.commit()
    assert service.authenticate("FAY@example.org", PASSWORD).id == user.id
    assert service.authenticate("fay@example.org", "wrong password!") is None
    assert service.authenticate("nobody@example.org", PASSWORD) is None


def test_authenticate_rehashes_when_parameters_change(app):
    user = make_user(email="gus@example.org")
    db.session.commit()
    old_hash = user.password_hash
    app.config["ARGON2_MEMORY_COST"] = 16
    service.authenticate("gus@example.org", PASSWORD)
    db.session.refresh(user)
    assert user.password_hash != old_hash
    assert "m=16" in user.password_hash
    assert verify_password(user.password_hash, PASSWORD)


def test_deleted_account_cannot_authenticate(app):
    user = make_user(email="hal@example.org")
    db.session.commit()
    service.delete_account(user, PASSWORD)
    assert service.authenticate("hal@example.org", PASSWORD) is None


def test_password_reset_link_works_once(app):
    user = make_user(email="ivy@example.org")
    db.session.commit()
    service.request_password_reset("ivy@example.org")
    token = token_in(outbox_for("ivy@example.org")[-1], "/reinitialiser/")
    service.reset_password(token, "a brand new password")
    assert service.authenticate("ivy@example.org", "a brand new password").id == user.id
    with pytest.raises(service.InvalidToken):
        service.reset_password(token, "another new password")
    assert service.authenticate("ivy@example.org", "another new password") is None


def test_password_reset_for_unknown_address_sends_nothing(app):
    service.request_password_reset("ghost@example.org")
    assert db.session.scalar(select(db.func.count(OutboxMessage.id))) == 0


def test_password_reset_link_expires(app):
    make_user(email="jay@example.org")
    db.session.commit()
    service.request_password_reset("jay@example.org")
    token = token_in(outbox_for("jay@example.org")[-1], "/reinitialiser/")
    app.config["RESET_TOKEN_MAX_AGE"] = -1
    with pytest.raises(service.InvalidToken):
        service.reset_password(token, "a brand new password")


def test_change_password_revokes_other_sessions(app):
    user = make_user()
    db.session.commit()
    old_session_id = user.get_id()
    service.change_password(user, PASSWORD, "a different password")
    assert load_user(old_session_id) is None
    assert load_user(user.get_id()).id == user.id


def test_change_password_refuses_wrong_current_password(app):
    user = make_user()
    db.session.commit()
    version = user.session_version
    with pytest.raises(service.WrongPassword):
        service.change_password(user, "not my password", "a different password")
    db.session.refresh(user)
    assert user.session_version == version
    assert verify_password(user.password_hash, PASSWORD)


def test_change_email_needs_confirmation_from_new_address(app):
    user = make_user(email="kim@example.org")
    db.session.commit()
    service.request_email_change(user, PASSWORD, "kim.new@example.org")
    assert user.email == "kim@example.org"  # nothing changes before confirmation
    assert outbox_for("kim@example.org")[-1].template == "email_change_requested"
    token = token_in(outbox_for("kim.new@example.org")[-1], "/adresse/confirmer/")
    service.confirm_email_change(token)
    db.session.refresh(user)
    assert user.email == "kim.new@example.org"
    assert user.is_verified


def test_change_email_refuses_taken_address_and_wrong_password(app):
    user = make_user(email="lea@example.org")
    make_user(email="taken@example.org")
    db.session.commit()
    with pytest.raises(service.EmailTaken):
        service.request_email_change(user, PASSWORD, "Taken@example.org")
    with pytest.raises(service.WrongPassword):
        service.request_email_change(user, "wrong password", "free@example.org")
    assert outbox_for("free@example.org") == []


@pytest.mark.both_databases("app.accounts.service")
def test_change_email_link_dies_when_taken_meanwhile(app):
    user = make_user(email="max@example.org")
    db.session.commit()
    service.request_email_change(user, PASSWORD, "wanted@example.org")
    token = token_in(outbox_for("wanted@example.org")[-1], "/adresse/confirmer/")
    make_user(email="wanted@example.org")
    db.session.commit()
    with pytest.raises(service.EmailTaken):
        service.confirm_email_change(token)
    db.session.refresh(user)
    assert user.email == "max@example.org"


def test_old_verification_link_refused_after_email_change(app):
    user = make_user(email="ned@example.org", verified=False)  # signed in before verifying (demo, older accounts)
    db.session.commit()
    service.resend_verification(user)
    old_token = token_in(outbox_for("ned@example.org")[0], "/verifier/")
    service.request_email_change(user, PASSWORD, "ned2@example.org")
    service.confirm_email_change(token_in(outbox_for("ned2@example.org")[-1], "/adresse/confirmer/"))
    with pytest.raises(service.InvalidToken):
        service.verify_email(old_token)


def test_log_out_everywhere_revokes_every_session(app):
    user = make_user()
    db.session.commit()
    session_id = user.get_id()
    service.log_out_everywhere(user)
    assert load_user(session_id) is None


def test_delete_account_blanks_identity_and_keeps_a_placeholder_name(app):
    user = make_user(email="olga@example.org", name="Olga")
    db.session.commit()
    session_id = user.get_id()
    service.delete_account(user, PASSWORD)
    db.session.refresh(user)
    assert user.email != "olga@example.org"
    assert "olga" not in user.email
    assert user.display_name == ""
    assert user.password_hash is None
    assert user.public_name == "participant·e supprimé·e"
    assert load_user(session_id) is None
    assert service.get_user_by_email("olga@example.org") is None


def test_delete_account_refuses_wrong_password(app):
    user = make_user(email="pia@example.org")
    db.session.commit()
    with pytest.raises(service.WrongPassword):
        service.delete_account(user, "not the password")
    db.session.refresh(user)
    assert user.email == "pia@example.org"
    assert not user.is_deleted


def test_export_personal_data_holds_the_account(app):
    user = make_user(email="quinn@example.org", name="Quinn")
    db.session.commit()
    data = service.export_personal_data(user)
    assert data["account"]["email"] == "quinn@example.org"
    assert data["account"]["display_name"] == "Quinn"
    assert "password_hash" not in str(data)


def test_set_locale_refuses_unknown_language(app):
    user = make_user()
    db.session.commit()
    with pytest.raises(DomainError):
        service.set_locale(user, "de")
    service.set_locale(user, "en")
    assert user.locale == "en"
