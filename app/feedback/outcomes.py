"""The editors' page that gives users' feedback a follow-up (/avis/gestion/<service>/suites): pick verbatims, or an
irritant tag, then make a draft proposal or a workshop topic of them, or link them to a proposal or a measure of the
organisation. The use cases are in ``linking``; the lower areas keep the links, and the trail shows them.

The responses list of the triage pages may send its selection here: a GET with ``response_ids`` (repeated) and/or
``tag_id`` opens this page with them chosen; the form itself POSTs the same fields with ``action`` and its target.
"""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, SelectField, SelectMultipleField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from ..accounts.current import acting_user
from ..catalog.models import Service
from ..errors import DomainError, NotAllowed, show_on_form
from ..extensions import db
from ..inputs import PAGE_MAX, db_int, int_arg, parse_int
from . import bp, linking
from .linking import Outcome
from .models import can_triage

PER_PAGE = 50

# Which form field shows a refusal of the use case (by error code); anything else is flashed.
ERROR_FIELDS = {
    "selection_empty": "response_ids", "selection_too_large": "response_ids",
    "selected_response_not_found": "response_ids",
    "selection_across_organisations": "response_ids", "response_without_verbatim": "response_ids",
    "response_is_spam": "response_ids", "selection_and_tag": "tag_id", "tag_not_found": "tag_id",
    "tag_without_responses": "tag_id", "outcome_unknown": "action", "title_required": "title",
    "title_too_long": "title", "proposal_target_not_found": "proposal_id", "proposal_target_foreign": "proposal_id",
    "proposal_target_closed": "proposal_id", "measure_target_not_found": "measure_id",
    "measure_target_foreign": "measure_id",
}


class FollowUpForm(FlaskForm):
    """The follow-up given to responses. Choices are not checked by the form: the use case checks every response,
    tag and target again and says what is wrong."""

    response_ids = SelectMultipleField(_l("Avis choisis"), coerce=db_int, validate_choice=False)
    tag_id = SelectField(_l("Ou tous les avis d'un irritant"), coerce=db_int, validate_choice=False, default=0,
                         description=_l("Tous les avis qui portent cet irritant, hors indésirables, avec ou sans "
                                        "commentaire."))
    action = RadioField(_l("Suite à donner"), choices=[
        SelectChoice(Outcome.new_proposal.value, _l("En faire une proposition (brouillon à compléter, à votre nom "
                                                    "pour l'organisation)")),
        SelectChoice(Outcome.workshop_topic.value, _l("Les proposer comme sujet d'atelier aux animateurs et "
                                                      "animatrices de l'organisation")),
        SelectChoice(Outcome.link_proposal.value, _l("Les lier à une proposition existante")),
        SelectChoice(Outcome.link_measure.value, _l("Les lier à une mesure existante")),
    ], validators=[InputRequired(_l("Choisissez la suite à donner à ces avis."))])
    title = StringField(_l("Titre de la proposition ou du sujet"),
                        validators=[Optional(), Length(max=linking.TITLE_MAX)],
                        description=_l("Facultatif : à défaut, le nom de l'irritant ou le début du premier avis."))
    proposal_id = SelectField(_l("Proposition à compléter"), coerce=db_int, validate_choice=False, default=0,
                              description=_l("Pour les lier à une proposition existante de l'organisation."))
    measure_id = SelectField(_l("Mesure à lier"), coerce=db_int, validate_choice=False, default=0,
                             description=_l("Pour les lier à une mesure existante de l'organisation."))
    submit = SubmitField(_l("Donner cette suite"))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.action.data == Outcome.link_proposal.value and not self.proposal_id.data:
            self.proposal_id.errors = [*self.proposal_id.errors, _("Choisissez la proposition à compléter.")]
            ok = False
        if self.action.data == Outcome.link_measure.value and not self.measure_id.data:
            self.measure_id.errors = [*self.measure_id.errors, _("Choisissez la mesure à lier.")]
            ok = False
        return ok


def _triaged_service(service_slug: str) -> Service:
    """The service, if the current person triages its feedback (403 otherwise)."""
    service = db.first_or_404(select(Service).where(Service.slug == service_slug))
    if not can_triage(current_user, service):
        abort(403)
    return service


def _fill_choices(form: FollowUpForm, service: Service, tags) -> None:
    def numbered(item) -> SelectChoice:
        return SelectChoice(item.id, _("n° %(id)d — %(title)s", id=item.id, title=item.title))

    form.tag_id.choices = [SelectChoice(0, _("— aucun —")), *(
        SelectChoice(tag.id, ngettext("%(label)s (%(service)s, %(num)d avis)", "%(label)s (%(service)s, %(num)d avis)",
                                      n, label=tag.label, service=s.name)) for tag, s, n in tags)]
    form.proposal_id.choices = [SelectChoice(0, _("— aucune —")), *(
        numbered(p) for p in linking.linkable_proposals(service.organisation_id, acting_user()))]
    form.measure_id.choices = [SelectChoice(0, _("— aucune —")), *(
        numbered(m) for m in linking.organisation_measures(service.organisation_id))]


def _requested_ids() -> list[int]:
    """The responses a list page sent here (``?response_ids=…``, repeated): ids only, checked again on sending."""
    ids = (parse_int(raw) for raw in request.args.getlist("response_ids")[:linking.MAX_SELECTED])
    return sorted({i for i in ids if i is not None})


def _target_url(result: linking.Result, service: Service) -> str:
    if result.outcome in (Outcome.new_proposal, Outcome.link_proposal):
        return url_for("proposals.show_proposal", proposal_id=result.target.id)
    if result.outcome is Outcome.link_measure:
        return url_for("decisions.show_measure", measure_id=result.target.id)
    return url_for("feedback.follow_up", service_slug=service.slug)


def _done_message(result: linking.Result) -> str:
    target = result.target
    if result.outcome is Outcome.new_proposal:
        return ngettext("Brouillon de proposition créé à partir d'un avis : complétez le changement proposé, puis "
                        "envoyez-la.",
                        "Brouillon de proposition créé à partir de %(num)d avis : complétez le changement proposé, "
                        "puis envoyez-la.", result.selected)
    if result.outcome is Outcome.workshop_topic:
        return ngettext("Sujet d'atelier « %(title)s » proposé aux animateurs et animatrices de %(org)s, à partir "
                        "d'un avis.",
                        "Sujet d'atelier « %(title)s » proposé aux animateurs et animatrices de %(org)s, à partir "
                        "de %(num)d avis.", result.selected, title=target.title, org=target.organisation.name)
    already = result.selected - result.added
    if result.outcome is Outcome.link_proposal:
        message = ngettext("%(num)d avis ajouté à l'origine de la proposition.",
                           "%(num)d avis ajoutés à l'origine de la proposition.", result.added)
    else:
        message = ngettext("%(num)d avis lié à la mesure.", "%(num)d avis liés à la mesure.", result.added)
    if already:
        message += " " + ngettext("%(num)d l'était déjà.", "%(num)d l'étaient déjà.", already)
    return message


@bp.route("/gestion/<service_slug>/suites", methods=["GET", "POST"])
@login_required
def follow_up(service_slug: str):
    """Give a follow-up to the service's verbatims, or to an irritant tag's responses."""
    service = _triaged_service(service_slug)
    tags = linking.organisation_tags(service.organisation_id)
    form = FollowUpForm()
    _fill_choices(form, service, tags)
    if request.method == "GET":
        form.response_ids.data = _requested_ids()
        form.tag_id.data = int_arg("tag_id", 0)
    status = 200
    if form.validate_on_submit():
        try:
            result = linking.give_outcome(
                acting_user(), Outcome(form.action.data), response_ids=form.response_ids.data or [],
                tag_id=form.tag_id.data or None, title=form.title.data or "",
                proposal_id=form.proposal_id.data or None, measure_id=form.measure_id.data or None)
        except NotAllowed:
            raise
        except DomainError as err:
            show_on_form(form, err, ERROR_FIELDS)
        else:
            flash(_done_message(result), "success")
            return redirect(_target_url(result, service))
    if request.method == "POST":
        status = 422
    chosen = form.response_ids.data or []
    page = int_arg("page", 1, maximum=PAGE_MAX)
    if chosen:  # the responses sent here: shown whatever their page, those of this organisation only
        rows, total = linking.verbatims_of(chosen, service.organisation_id), None
    else:
        rows, total = linking.list_verbatims(service, page=page, per_page=PER_PAGE)
    return render_template("feedback/outcomes.html", service=service, form=form, rows=rows, total=total, page=page,
                           per_page=PER_PAGE, chosen=set(chosen), tags=tags,
                           led_to=linking.led_to(r.id for r, _text in rows)), status
