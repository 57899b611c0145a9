"""Notification pages: the list, mark all read, and the e-mail digest preference."""

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from ..accounts.current import acting_user
from ..accounts.forms import ConfirmForm
from ..errors import DomainError
from . import bp, service


class DigestForm(FlaskForm):
    digest = RadioField(_l("Courriel récapitulatif"), choices=[
        SelectChoice("daily", _l("Une fois par jour au plus, s'il y a du nouveau")),
        SelectChoice("none", _l("Jamais : je consulte les notifications sur le site"))], validators=[InputRequired()])
    submit = SubmitField(_l("Enregistrer"))


class TrailForm(FlaskForm):
    trail = BooleanField(_l("Me prévenir quand une proposition ou une idée à laquelle j'ai contribué avance "
                            "(réponse de l'organisation, mesure, jalon)"))
    submit = SubmitField(_l("Enregistrer"))



@bp.get("/")
@login_required
def list_notifications():
    form = DigestForm(digest=service.get_digest_frequency(current_user).value)
    items = service.list_notifications(current_user)
    return render_template("notifications/list.html", items=items, form=form, confirm_form=ConfirmForm(),
                           text=service.notification_text,
                           trail_form=TrailForm(trail=service.wants_trail(current_user), formdata=None))


@bp.post("/lues")
@login_required
def mark_read():
    if ConfirmForm().validate_on_submit():
        service.mark_all_read(acting_user())
        flash(_("Toutes les notifications sont marquées comme lues."), "success")
    return redirect(url_for("notifications.list_notifications"))


@bp.post("/preferences")
@login_required
def preferences():
    form = DigestForm()
    if form.validate_on_submit():
        try:
            service.set_digest_frequency(acting_user(), form.digest.data)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Votre préférence est enregistrée."), "success")
    else:
        flash(_("Choisissez une fréquence proposée."), "error")
    return redirect(url_for("notifications.list_notifications"))


@bp.post("/parcours")
@login_required
def trail_preference():
    form = TrailForm()
    if form.validate_on_submit():
        service.set_trail(acting_user(), form.trail.data)
        flash(_("Votre préférence est enregistrée."), "success")
    else:
        flash(_("La préférence n'a pas pu être enregistrée : rechargez la page et réessayez."), "error")
    return redirect(url_for("notifications.list_notifications"))


def init_app(app) -> None:
    @app.context_processor
    def _unread():
        def unread_notifications() -> int:
            return service.unread_count(current_user) if current_user.is_authenticated else 0

        return {"unread_notifications": unread_notifications}
