"""Facilitators' page of the workshop topics proposed to their organisations from users' feedback
(/ateliers/gestion/sujets), and taking one up by naming its workshop. The use cases are in ``topics``."""

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from ..accounts.current import acting_user
from ..catalog.permissions import is_facilitator
from ..errors import DomainError
from ..extensions import db
from ..inputs import db_int
from ..permissions import requires
from . import bp, topics
from .models import WorkshopTopic


class TakeUpForm(FlaskForm):
    """The workshop that takes a topic up (choices: the topic's organisation's workshops)."""

    workshop_id = SelectField(_l("Atelier qui traite ce sujet"), coerce=db_int,
                              validators=[InputRequired(_l("Choisissez un atelier."))])
    submit = SubmitField(_l("Enregistrer"))


def _form_for(topic: WorkshopTopic, workshops) -> TakeUpForm:
    form = TakeUpForm(data={"workshop_id": topic.workshop_id})
    form.workshop_id.choices = [SelectChoice(w.id, w.title) for w in workshops]
    return form


@bp.get("/gestion/sujets")
@requires(is_facilitator)
def list_topics():
    """Topics proposed to the organisations the person facilitates, with what they came from and their workshop."""
    found = topics.list_topics(acting_user())
    workshops = topics.candidate_workshops(t.organisation_id for t in found)
    return render_template("workshops/manage/topics.html", topics=found,
                           counts=topics.response_counts(t.id for t in found),
                           forms={t.id: _form_for(t, workshops.get(t.organisation_id, [])) for t in found})


@bp.post("/gestion/sujets/<int:topic_id>/atelier")
@requires(is_facilitator)
def take_up_topic(topic_id: int):
    topic = db.get_or_404(WorkshopTopic, topic_id)
    if not topic.can_take_up(current_user):
        abort(403)
    form = _form_for(topic, topics.candidate_workshops([topic.organisation_id]).get(topic.organisation_id, []))
    if not form.validate_on_submit():
        flash(_("Choisissez un atelier de l'organisation, puis enregistrez."), "error")
    else:
        try:
            topics.take_up_topic(topic.id, form.workshop_id.data, acting_user())
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Le sujet « %(title)s » est confié à l'atelier choisi.", title=topic.title), "success")
    return redirect(url_for("workshops.list_topics", _anchor=f"topic-{topic.id}"))
