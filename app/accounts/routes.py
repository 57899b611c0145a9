"""Account pages: thin views over ``accounts.service``."""

from flask import Response, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from .. import jsonsafe
from ..errors import DomainError
from ..extensions import db, limiter, login_manager
from ..i18n import SESSION_KEY, current_language
from ..security import safe_next
from . import bp, service
from .current import acting_user
from .forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    ConfirmForm,
    DeleteAccountForm,
    ForgotPasswordForm,
    LoginForm,
    ProfileForm,
    RegisterForm,
    ResetPasswordForm,
)
from .models import User, session_account


@login_manager.user_loader
def load_user(session_id: str):
    """Sessions name ``<id>.<version>``: an old version (revoked) loads no one."""
    account = session_account(session_id)
    if account is None:
        return None

    user = db.session.get(User, account[0])
    if user is None or user.is_deleted or user.session_version != account[1]:
        return None
    return user


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_address_limit():
    return current_app.config["LOGIN_ADDRESS_RATE_LIMIT"]


def _reset_limit():
    return current_app.config["RESET_RATE_LIMIT"]


def _reset_address_limit():
    return current_app.config["RESET_ADDRESS_RATE_LIMIT"]


def _counted(_response) -> bool:
    """Only attempts the view marked as counted use up a limit: a failed sign-in, a reset request. A successful
    sign-in, a form sent back for a missing field and reading the page count against no one."""
    return bool(g.get("attempt_counted"))


def _register_limit():
    return current_app.config["REGISTER_RATE_LIMIT"]


def _register_email_limit():
    return current_app.config["REGISTER_EMAIL_RATE_LIMIT"]


def _account_key():
    """Rate-limit key for the account named in the form, whatever IP it comes from."""
    return "account:" + (request.form.get("email") or "").strip().lower()



def _log_out_keeping_language() -> None:
    """Sign out; the visitor keeps reading in the language their account used."""
    locale = current_user.locale
    logout_user()
    session[SESSION_KEY] = locale


def _form_error(form, field, message) -> None:
    getattr(form, field).errors = [*getattr(form, field).errors, str(message)]


@bp.route("/inscription", methods=["GET", "POST"])
@limiter.limit(_register_limit, methods=["POST"])
@limiter.limit(_register_email_limit, key_func=_account_key, methods=["POST"], deduct_when=_counted)
def register():
    """The same answer whether the address is new or already has an account: no one is signed in, the « check
    your mailbox » page follows, and only the mailbox's owner learns which it was (service.register)."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.account"))
    form = RegisterForm()
    if form.validate_on_submit():
        g.attempt_counted = True  # a mail goes to that address
        service.register(form.email.data, form.display_name.data, form.password.data, locale=current_language())
        return redirect(url_for("accounts.register_sent"))
    return render_template("accounts/register.html", form=form)


@bp.get("/inscription/courriel-envoye")
def register_sent():
    return render_template("accounts/register_sent.html")


@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit(_login_address_limit, methods=["POST"], deduct_when=_counted)
@limiter.limit(_login_limit, key_func=_account_key, methods=["POST"], deduct_when=_counted)
def login():
    form = LoginForm()
    next_url = safe_next(request.values.get("next"), url_for("core.home"))
    if form.validate_on_submit():
        user = service.authenticate(form.email.data, form.password.data)
        if user is None:
            g.attempt_counted = True
            _form_error(form, "email", _("Adresse électronique ou mot de passe incorrect."))
        else:
            login_user(user, remember=form.remember.data)
            session.pop(SESSION_KEY, None)
            flash(_("Vous êtes connecté·e."), "success")
            return redirect(next_url)
    return render_template("accounts/login.html", form=form, next_url=next_url)


@bp.post("/deconnexion")
@login_required
def logout():
    if ConfirmForm().validate_on_submit():
        _log_out_keeping_language()
        flash(_("Vous êtes déconnecté·e."), "success")
    return redirect(url_for("core.home"))


@bp.get("/verifier/<token>")
def verify_email(token: str):
    try:
        service.verify_email(token)
    except DomainError as err:
        flash(str(err.message), "error")
        return redirect(url_for("accounts.account") if current_user.is_authenticated
                        else url_for("accounts.login"))
    if current_user.is_authenticated:
        flash(_("Votre adresse électronique est vérifiée. Merci !"), "success")
        return redirect(url_for("accounts.account"))
    flash(_("Votre adresse électronique est vérifiée. Connectez-vous pour continuer."), "success")
    return redirect(url_for("accounts.login"))


@bp.post("/renvoyer-verification")
@login_required
def resend_verification():
    if ConfirmForm().validate_on_submit():
        service.resend_verification(acting_user())
        flash(_("Un nouveau lien de vérification vous a été envoyé."), "success")
    return redirect(url_for("accounts.account"))


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
@limiter.limit(_reset_address_limit, methods=["POST"], deduct_when=_counted)
@limiter.limit(_reset_limit, key_func=_account_key, methods=["POST"], deduct_when=_counted)
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        g.attempt_counted = True
        service.request_password_reset(form.email.data)
        flash(_("Si un compte existe pour cette adresse, un lien de réinitialisation vient d'y être envoyé. "
                "Il est valable une heure."), "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot_password.html", form=form)


@bp.route("/reinitialiser/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        service.user_for_reset_token(token)
    except DomainError as err:
        flash(str(err.message), "error")
        return redirect(url_for("accounts.forgot_password"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        service.reset_password(token, form.password.data)
        logout_user()
        flash(_("Votre mot de passe est changé. Connectez-vous avec le nouveau."), "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/reset_password.html", form=form)


@bp.route("/", methods=["GET", "POST"])
@login_required
def account():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        service.update_profile(acting_user(), form.display_name.data)
        flash(_("Votre profil est enregistré."), "success")
        return redirect(url_for("accounts.account"))
    return render_template("accounts/account.html", form=form)


@bp.route("/mot-de-passe", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            user = service.change_password(acting_user(), form.current_password.data, form.password.data)
        except service.WrongPassword as err:
            _form_error(form, "current_password", err.message)
        else:
            login_user(user)  # this session continues with the new version; the others end
            flash(_("Votre mot de passe est changé. Vos autres sessions ont été fermées."), "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/change_password.html", form=form)


@bp.route("/adresse", methods=["GET", "POST"])
@login_required
def change_email():
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            service.request_email_change(acting_user(), form.current_password.data, form.new_email.data)
        except service.WrongPassword as err:
            _form_error(form, "current_password", err.message)
        except service.EmailTaken as err:
            _form_error(form, "new_email", err.message)
        else:
            flash(_("Nous avons envoyé un lien de confirmation à votre nouvelle adresse. Votre adresse "
                    "actuelle reste valable tant que vous ne l'avez pas confirmée."), "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/change_email.html", form=form)


@bp.get("/adresse/confirmer/<token>")
def confirm_email_change(token: str):
    try:
        service.confirm_email_change(token)
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(_("Votre nouvelle adresse électronique est enregistrée et vérifiée."), "success")
    return redirect(url_for("accounts.account") if current_user.is_authenticated else url_for("accounts.login"))


@bp.post("/deconnexion-partout")
@login_required
def log_out_everywhere():
    if ConfirmForm().validate_on_submit():
        service.log_out_everywhere(acting_user())
        _log_out_keeping_language()
        flash(_("Vous avez été déconnecté·e de tous vos appareils."), "success")
    return redirect(url_for("accounts.login"))


@bp.get("/mes-donnees")
@login_required
def my_data():
    return render_template("accounts/my_data.html")


@bp.post("/mes-donnees/telecharger")
@login_required
def download_my_data():
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("accounts.my_data"))
    payload = jsonsafe.dumps(service.export_personal_data(acting_user()), indent=2)
    return Response(payload, mimetype="application/json",
                    headers={"Content-Disposition": 'attachment; filename="atelier-mes-donnees.json"',
                             "Cache-Control": "no-store"})


@bp.route("/supprimer", methods=["GET", "POST"])
@login_required
def delete_account():
    form = DeleteAccountForm()
    if form.validate_on_submit():
        try:
            service.delete_account(acting_user(), form.password.data)
        except service.WrongPassword as err:
            _form_error(form, "password", err.message)
        else:
            _log_out_keeping_language()
            flash(_("Votre compte est supprimé. Vos contributions restent visibles sous le nom "
                    "« participant·e supprimé·e »."), "success")
            return redirect(url_for("core.home"))
    return render_template("accounts/delete_account.html", form=form)
