"""Account use cases. Each public function owns its transaction and sends its signal after commit."""

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from .. import signals
from ..clock import iso, utcnow
from ..errors import Conflict, DomainError, InvalidInput
from ..extensions import db
from ..mail.service import queue_mail
from ..urls import absolute_url
from . import tokens
from .models import User
from .passwords import activated, burn_time, hash_password, is_set_aside, needs_rehash, set_aside, verify_password


class EmailTaken(Conflict):
    """Raised for operators (``flask create-user``) and address changes; sign-up never tells (``register``)."""

    code = "email_taken"
    message = _l("Un compte existe déjà avec cette adresse électronique.")


class InvalidToken(DomainError):
    code = "invalid_token"
    message = _l("Ce lien n'est pas valide ou a expiré. Demandez-en un nouveau.")


class WrongPassword(InvalidInput):
    code = "wrong_password"
    message = _l("Le mot de passe actuel est incorrect.")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def _queue_verification(user: User, email: str | None = None) -> None:
    token = tokens.make_token(tokens.VERIFY, {"uid": user.id, "email": email or user.email})
    queue_mail(user.email, "verify_email", user.locale, user=user,
               link=absolute_url("accounts.verify_email", token=token))


def _queue_account_exists(user: User) -> None:
    queue_mail(user.email, "account_exists", user.locale, user=user, login_link=absolute_url("accounts.login"),
               reset_link=absolute_url("accounts.forgot_password"))


def register(email: str, display_name: str, password: str, locale: str = "fr") -> User | None:
    """Sign up without telling whether the address has an account: a new address gets an unverified account whose
    password is kept aside until the verification link is opened; a known one gets no second account, its owner
    is mailed instead. Either way the password is hashed and one mail is queued; the new account or ``None``."""
    email = normalise_email(email)
    password_hash = hash_password(password)  # in both branches, so they take the same time
    owner = get_user_by_email(email)
    if owner is None:
        user = User(email=email, display_name=display_name.strip(), password_hash=set_aside(password_hash),
                    locale=locale, terms_accepted_at=utcnow())
        db.session.add(user)
        try:
            db.session.flush()
        except IntegrityError:  # a concurrent registration won the unique constraint: the address is known now
            db.session.rollback()
            owner = get_user_by_email(email)
        else:
            _queue_verification(user)
            db.session.commit()
            signals.user_registered.send(user)
            return user
    if owner is not None:
        _queue_account_exists(owner)
        db.session.commit()
    return None


def resend_verification(user: User) -> None:
    """Mail a fresh verification link to an unverified account."""
    if user.is_verified:
        return
    _queue_verification(user)
    db.session.commit()


def verify_email(token: str) -> User:
    """Mark the address verified when the signed, unexpired link names the account's current address; a sign-up's
    password, kept aside until then, now signs in."""
    data = tokens.read_token(tokens.VERIFY, token, current_app.config["EMAIL_TOKEN_MAX_AGE"])
    user = db.session.get(User, data.get("uid")) if data else None
    if user is None or user.is_deleted or user.email != data.get("email"):
        raise InvalidToken()
    if is_set_aside(user.password_hash):
        user.password_hash = activated(user.password_hash)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The account for these credentials, or ``None``; upgrades the hash when parameters changed."""
    user = get_user_by_email(email)
    if user is None or user.is_deleted or is_set_aside(user.password_hash):  # the same time and answer for all
        burn_time(password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def request_password_reset(email: str) -> None:
    """Mail a single-use reset link when the address has an account; silent otherwise."""
    user = get_user_by_email(email)
    if user is None or user.is_deleted:
        return
    token = tokens.make_token(tokens.RESET, {"uid": user.id, "pw": tokens.fingerprint(user.password_hash)})
    queue_mail(user.email, "reset_password", user.locale, user=user,
               link=absolute_url("accounts.reset_password", token=token),
               minutes=current_app.config["RESET_TOKEN_MAX_AGE"] // 60)
    db.session.commit()


def user_for_reset_token(token: str) -> User:
    """The account a reset link is for; the link dies once the password changes (single use)."""
    data = tokens.read_token(tokens.RESET, token, current_app.config["RESET_TOKEN_MAX_AGE"])
    user = db.session.get(User, data.get("uid")) if data else None
    if user is None or user.is_deleted or tokens.fingerprint(user.password_hash) != data.get("pw"):
        raise InvalidToken()
    return user


def _revoke_sessions(user: User) -> None:
    db.session.execute(
        update(User).where(User.id == user.id).values(session_version=User.session_version + 1)
    )


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a valid reset link; every other session is signed out."""
    user = user_for_reset_token(token)
    user.password_hash = hash_password(new_password)
    if user.email_verified_at is None:  # the link proved control of the address
        user.email_verified_at = utcnow()
    _revoke_sessions(user)
    db.session.commit()
    db.session.refresh(user)
    signals.user_sessions_revoked.send(user)
    return user


def change_password(user: User, current_password: str, new_password: str) -> User:
    """Replace the password after checking the current one; other sessions are signed out."""
    if not verify_password(user.password_hash, current_password):
        raise WrongPassword()
    user.password_hash = hash_password(new_password)
    _revoke_sessions(user)
    db.session.commit()
    db.session.refresh(user)
    signals.user_sessions_revoked.send(user)
    return user


def request_email_change(user: User, current_password: str, new_email: str) -> None:
    """Mail a confirmation link to the new address; the old one is told. Nothing changes until confirmed."""
    if not verify_password(user.password_hash, current_password):
        raise WrongPassword()
    new_email = normalise_email(new_email)
    if get_user_by_email(new_email):
        raise EmailTaken()
    token = tokens.make_token(tokens.CHANGE_EMAIL, {"uid": user.id, "old": user.email, "new": new_email})
    queue_mail(new_email, "change_email", user.locale, user=user, new_email=new_email,
               link=absolute_url("accounts.confirm_email_change", token=token))
    queue_mail(user.email, "email_change_requested", user.locale, user=user, new_email=new_email)
    db.session.commit()


def confirm_email_change(token: str) -> User:
    """Switch to the new, now verified, address named in a valid link."""
    data = tokens.read_token(tokens.CHANGE_EMAIL, token, current_app.config["EMAIL_TOKEN_MAX_AGE"])
    user = db.session.get(User, data.get("uid")) if data else None
    if user is None or user.is_deleted or user.email != data.get("old"):
        raise InvalidToken()
    if get_user_by_email(data["new"]):
        raise EmailTaken()
    user.email = data["new"]
    user.email_verified_at = utcnow()
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise EmailTaken() from exc
    return user


def log_out_everywhere(user: User) -> User:
    """Revoke every session and remember-me cookie of this account."""
    _revoke_sessions(user)
    db.session.commit()
    db.session.refresh(user)
    signals.user_sessions_revoked.send(user)
    return user


def set_locale(user: User, locale: str) -> None:
    """Remember a logged-in person's language."""
    if locale not in current_app.config["LANGUAGES"]:
        raise InvalidInput()
    user.locale = locale
    db.session.commit()


def update_profile(user: User, display_name: str) -> User:
    user.display_name = display_name.strip()
    db.session.commit()
    return user


def delete_account(user: User, password: str) -> None:
    """Blank the identity, revoke sessions, keep contributions as « participant·e supprimé·e »."""
    if not verify_password(user.password_hash, password):
        raise WrongPassword(_l("Le mot de passe est incorrect."))
    user.email = f"supprime-{user.id}@invalid"
    user.display_name = ""
    user.password_hash = None
    user.email_verified_at = None
    user.is_admin = False
    user.deleted_at = utcnow()
    user.memberships.clear()
    _revoke_sessions(user)
    db.session.commit()
    db.session.refresh(user)
    signals.user_sessions_revoked.send(user)
    signals.user_deleted.send(user)


def export_personal_data(user: User) -> dict:
    """Everything Atelier holds about this person, area by area: each area adds its section through
    ``signals.personal_data_requested``; ``personal_data.SECTIONS`` says where each table's rows go."""
    data = {
        "account": {
            "id": user.id,
            "email": user.email,
            "display_name": user.display_name,
            "email_verified_at": iso(user.email_verified_at),
            "locale": user.locale,
            "is_admin": user.is_admin,
            "created_at": iso(user.created_at),
            "last_login_at": iso(user.last_login_at),
            "terms_accepted_at": iso(user.terms_accepted_at),
            # Sessions live in the browser's signed cookie; the account keeps only how many times every one of them
            # was ended at once (password changed or reset, "log out everywhere"). Links mailed for verification,
            # reset or a change of address are signed, not stored: the mails that carried them are under "mails".
            "sessions_ended_everywhere": user.session_version - 1,
        },
    }
    for _receiver, result in signals.personal_data_requested.send(user):
        if result:
            name, section = result
            data[name] = section
    return data


def create_user(email: str, display_name: str, password: str, *, verified: bool = False,
                admin: bool = False, locale: str = "fr") -> User:
    """Operator command: create an account directly (optionally verified and admin)."""
    email = normalise_email(email)
    if get_user_by_email(email):
        raise EmailTaken()
    user = User(email=email, display_name=display_name, password_hash=hash_password(password),
                locale=locale, is_admin=admin, email_verified_at=utcnow() if verified else None,
                terms_accepted_at=utcnow())
    db.session.add(user)
    db.session.commit()
    return user


def count_users() -> int:
    return db.session.scalar(select(func.count(User.id)))
