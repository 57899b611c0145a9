"""Decision pages: an editor answers a proposal; an organisation's proposals awaiting an answer and its deadline;
measures (create, edit, progress updates and milestones) and their public page.

Every view: load -> authorise (``can_answer``) -> validate the form -> call one service -> redirect or render.
The answer shows on the proposal page through ``decisions/_answer.html``, fed by the template globals below.
"""

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..accounts.current import acting_user
from ..catalog.models import Organisation
from ..csvsafe import write_csv
from ..errors import DomainError, show_on_form
from ..extensions import db
from ..markdown import render_markdown
from ..permissions import is_authenticated, requires
from ..proposals.models import Proposal
from . import bp, measures, service
from .forms import (
    AnswerForm,
    DeadlineForm,
    MeasureForm,
    MeasureImportConfirmForm,
    MeasureImportForm,
    MeasureUpdateForm,
    MilestoneDoneForm,
    MilestoneForm,
)
from .importing import COLUMNS, MAX_BYTES, template_header
from .models import MEASURE_STATUS_NAMES, AnswerKind, Measure, MeasureStatus, Milestone, can_answer

# Which form field shows a refusal from the service (by error code); anything else is shown above the form.
ERROR_FIELDS = {"reason_required": "reason", "body_required": "body", "body_too_long": "body",
                "reason_too_long": "reason", "unknown_kind": "kind", "deadline_out_of_range": "deadline_days"}



def _organisation_for_editor(organisation_id: int) -> Organisation:
    organisation = db.get_or_404(Organisation, organisation_id)
    if not can_answer(current_user, organisation):
        abort(403)
    return organisation


@bp.app_template_global("proposal_answer")
def proposal_answer(proposal) -> dict | None:
    """The answer to show on a proposal page, its earlier wordings, and whether the reader may edit it."""
    answer, fed = service.get_answer(proposal.id), measures.measures_of_proposal(proposal.id)
    g.setdefault("_proposal_decisions", {})[proposal.id] = (answer, fed)  # the page's trail shows them too
    return {"answer": answer, "body_html": render_markdown(answer.body_md) if answer else "",
            "can_answer": can_answer(current_user, proposal.organisation)
            and proposal.state in service.ANSWERABLE_STATES,
            "markdown": render_markdown, "measures": fed,
            "deadline": None if answer else service.answer_deadline(proposal)}


@bp.route("/propositions/<int:proposal_id>/reponse", methods=["GET", "POST"])
@requires(is_authenticated)
def answer_proposal(proposal_id: int):
    proposal = db.get_or_404(Proposal, proposal_id)
    if not can_answer(current_user, proposal.organisation):
        abort(403)
    answer = service.get_answer(proposal.id)
    form = AnswerForm(obj=None)
    if not form.is_submitted() and answer is not None:
        form.kind.data, form.body.data, form.reason.data = answer.kind.value, answer.body_md, answer.reason
        form.show_editor_name.data = answer.show_editor_name
    status = 200
    if form.validate_on_submit():
        try:
            service.answer_proposal(proposal, acting_user(), kind=form.kind.data, body=form.body.data,
                                    reason=form.reason.data, show_editor_name=form.show_editor_name.data)
        except DomainError as err:
            show_on_form(form, err, ERROR_FIELDS)
            status = err.status
        else:
            flash(_("La réponse est publiée sur la page de la proposition."), "success")
            return redirect(url_for("proposals.show_proposal", proposal_id=proposal.id))
    elif form.errors:
        status = 422
    return render_template("decisions/answer.html", form=form, proposal=proposal, answer=answer,
                           answerable=proposal.state in service.ANSWERABLE_STATES and not proposal.is_hidden,
                           not_adopted=AnswerKind.not_adopted.value), status


@bp.route("/organisations/<int:organisation_id>/a-repondre")
@requires(is_authenticated)
def awaiting(organisation_id: int):
    organisation = _organisation_for_editor(organisation_id)
    items = service.awaiting_answer(organisation.id)
    return render_template("decisions/awaiting.html", organisation=organisation, items=items,
                           settings=service.get_settings(organisation.id),
                           overdue_count=sum(1 for item in items if item.overdue))


@bp.route("/organisations/<int:organisation_id>/delai", methods=["GET", "POST"])
@requires(is_authenticated)
def deadline(organisation_id: int):
    organisation = _organisation_for_editor(organisation_id)
    current = service.get_settings(organisation.id)
    form = DeadlineForm(data={"deadline_days": current.deadline_days, "from_publication": current.from_publication})
    status = 200
    if form.validate_on_submit():
        try:
            service.set_settings(organisation, acting_user(), deadline_days=form.deadline_days.data,
                                 from_publication=form.from_publication.data)
        except DomainError as err:
            show_on_form(form, err, ERROR_FIELDS)
            status = err.status
        else:
            flash(_("Le délai de réponse est enregistré."), "success")
            return redirect(url_for("decisions.awaiting", organisation_id=organisation.id))
    elif form.errors:
        status = 422
    return render_template("decisions/deadline.html", form=form, organisation=organisation), status


# --- measures ------------------------------------------------------------------------------------

MEASURE_ERROR_FIELDS = {"title_required": "title", "title_too_long": "title", "description_too_long": "description",
                        "proposal_not_linkable": "proposal_ids", "abandon_reason_required": "reason",
                        "progress_out_of_range": "progress", "unknown_status": "status", "body_required": "body",
                        "body_too_long": "body", "reason_too_long": "reason", "date_required": "planned_on",
                        "service_not_linkable": "service_ids", "implemented_on_in_future": "implemented_on"}


def _managed_measure(measure_id: int) -> Measure:
    measure = db.get_or_404(Measure, measure_id)
    if not measure.can_manage(current_user):
        abort(403)
    return measure


def _proposal_choices(form, organisation_id: int, linked=()) -> None:
    """Linkable proposals; one linked before it stopped being linkable stays a (checked) box, or an edit of the
    measure would silently unlink it. A hidden one shows no title."""
    choices = [(p.id, p.title) for p in measures.linkable_proposals(organisation_id)]
    offered = {pid for pid, _label in choices}
    choices += [(p.id, _("Proposition masquée par la modération") if p.is_hidden else p.title)
                for p in linked if p.id not in offered]
    form.proposal_ids.choices = choices


def _measure_form_fields(form, organisation_id: int, measure=None) -> None:
    """The organisation's services (and any linked since it moved elsewhere, still checked) as boxes, the field
    dropped when there is none; the implementation date only for an implemented measure."""
    linked = measure.services if measure else []
    choices = [(s.id, s.name) for s in measures.linkable_services(organisation_id)]
    offered = {sid for sid, _label in choices}
    choices += [(s.id, s.name) for s in linked if s.id not in offered]
    if choices:
        form.service_ids.choices = choices
    else:
        del form.service_ids
    if measure is None or measure.status is not MeasureStatus.implemented:
        del form.implemented_on


def _chosen_services(form):
    return (form.service_ids.data or []) if "service_ids" in form else []


@bp.route("/mesures/<int:measure_id>")
def show_measure(measure_id: int):
    measure = db.get_or_404(Measure, measure_id)
    return render_template("decisions/measure.html", measure=measure,
                           description=render_markdown(measure.description_md), markdown=render_markdown,
                           can_manage=measure.can_manage(current_user))


@bp.route("/organisations/<int:organisation_id>/mesures/nouvelle", methods=["GET", "POST"])
@requires(is_authenticated)
def new_measure(organisation_id: int):
    organisation = _organisation_for_editor(organisation_id)
    form = MeasureForm()
    _proposal_choices(form, organisation.id)
    _measure_form_fields(form, organisation.id)
    if form.validate_on_submit():
        try:
            measure = measures.create_measure(organisation, acting_user(), title=form.title.data,
                                              description=form.description.data or "",
                                              proposal_ids=form.proposal_ids.data,
                                              service_ids=_chosen_services(form))
        except DomainError as err:
            show_on_form(form, err, MEASURE_ERROR_FIELDS)
        else:
            flash(_("La mesure est créée. Ajoutez-y ses jalons."), "success")
            return redirect(url_for("decisions.measure_progress", measure_id=measure.id))
    return render_template("decisions/measure_form.html", form=form, organisation=organisation, measure=None), \
        422 if form.errors else 200


@bp.route("/mesures/<int:measure_id>/modifier", methods=["GET", "POST"])
@requires(is_authenticated)
def edit_measure(measure_id: int):
    measure = _managed_measure(measure_id)
    form = MeasureForm(data={"title": measure.title, "description": measure.description_md,
                             "proposal_ids": [p.id for p in measure.proposals],
                             "service_ids": [s.id for s in measure.services],
                             "implemented_on": measure.implemented_on})
    _proposal_choices(form, measure.organisation_id, measure.proposals)
    _measure_form_fields(form, measure.organisation_id, measure)
    if form.validate_on_submit():
        try:
            measures.edit_measure(measure, acting_user(), title=form.title.data,
                                  description=form.description.data or "", proposal_ids=form.proposal_ids.data,
                                  service_ids=_chosen_services(form),
                                  implemented_on=form.implemented_on.data if "implemented_on" in form else None)
        except DomainError as err:
            show_on_form(form, err, MEASURE_ERROR_FIELDS)
        else:
            flash(_("La mesure est enregistrée."), "success")
            return redirect(url_for("decisions.show_measure", measure_id=measure.id))
    return render_template("decisions/measure_form.html", form=form, organisation=measure.organisation,
                           measure=measure), 422 if form.errors else 200


def _progress_page(measure, update_form=None, milestone_form=None, status=200):
    update_form = update_form or MeasureUpdateForm(data={"status": measure.status.value,
                                                         "progress": measure.progress,
                                                         "implemented_on": measure.implemented_on,
                                                         "reason": measure.abandon_reason},
                                                   formdata=None)
    milestone_form = milestone_form or MilestoneForm(formdata=None, prefix="milestone")
    return render_template("decisions/progress.html", measure=measure, update_form=update_form,
                           milestone_form=milestone_form), status


@bp.route("/mesures/<int:measure_id>/avancement", methods=["GET", "POST"])
@requires(is_authenticated)
def measure_progress(measure_id: int):
    measure = _managed_measure(measure_id)
    if request.method == "GET":
        return _progress_page(measure)
    form = MeasureUpdateForm()
    if form.validate_on_submit():
        try:
            measures.post_update(measure, acting_user(), body=form.body.data, status=form.status.data,
                                 progress=form.progress.data, reason=form.reason.data,
                                 implemented_on=form.implemented_on.data)
        except DomainError as err:
            show_on_form(form, err, MEASURE_ERROR_FIELDS)
        else:
            flash(_("La mise à jour est publiée."), "success")
            return redirect(url_for("decisions.show_measure", measure_id=measure.id))
    return _progress_page(measure, update_form=form, status=422)


@bp.route("/mesures/<int:measure_id>/jalons", methods=["POST"])
@requires(is_authenticated)
def add_milestone(measure_id: int):
    measure = _managed_measure(measure_id)
    form = MilestoneForm(prefix="milestone")
    if form.validate_on_submit():
        try:
            measures.add_milestone(measure, acting_user(), title=form.title.data, planned_on=form.planned_on.data)
        except DomainError as err:
            show_on_form(form, err, MEASURE_ERROR_FIELDS)
        else:
            flash(_("Le jalon est ajouté."), "success")
            return redirect(url_for("decisions.measure_progress", measure_id=measure.id))
    return _progress_page(measure, milestone_form=form, status=422)


@bp.route("/jalons/<int:milestone_id>/realise", methods=["POST"])
@requires(is_authenticated)
def complete_milestone(milestone_id: int):
    milestone = db.get_or_404(Milestone, milestone_id)
    measure = _managed_measure(milestone.measure_id)
    form = MilestoneDoneForm()
    if form.validate_on_submit():
        measures.complete_milestone(milestone, acting_user(), done_on=form.done_on.data)
        flash(_("Le jalon est marqué comme réalisé."), "success")
    else:
        flash(_("Indiquez la date à laquelle le jalon a été réalisé."), "error")
    return redirect(url_for("decisions.measure_progress", measure_id=measure.id))


# --- importing measures from CSV -----------------------------------------------------------------
# Upload -> preview (every row checked, nothing written) -> confirm. The checked file goes from the preview
# to the confirmation inside a signed, expiring hidden field bound to the organisation and the editor: no
# server-side copy, no file path, and the confirmation reads and checks it all again before writing.

IMPORT_SALT = "atelier.measure-import"
IMPORT_MAX_AGE = 3600


def _import_serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=IMPORT_SALT)


def sign_import(organisation_id: int, user_id: int, stamp: int, text: str) -> str:
    return _import_serializer().dumps({"o": organisation_id, "u": user_id, "s": stamp, "t": text})


def read_import(token: str, organisation_id: int, user_id: int) -> dict | None:
    """The signed payload, or ``None`` when forged, expired, or made for another organisation or person."""
    try:
        data = _import_serializer().loads(token or "", max_age=IMPORT_MAX_AGE)
    except BadSignature:  # SignatureExpired is one
        return None
    if not isinstance(data, dict) or data.get("o") != organisation_id or data.get("u") != user_id:
        return None
    if not isinstance(data.get("t"), str) or not isinstance(data.get("s"), int):
        return None
    return data


def _import_page(organisation, form, preview=None, errors=None, status=200):
    errors = preview.errors if preview is not None and errors is None else (errors or [])
    confirm = None
    if preview is not None and not errors:
        token = sign_import(organisation.id, current_user.id, preview.stamp, preview.parsed.text)
        # The confirmation must fit in a form field (MAX_BYTES is chosen so that it does; this keeps it so).
        if len(token) > current_app.config["MAX_FORM_MEMORY_SIZE"] - 4096:
            form.file.errors = [*form.file.errors, _("Ce fichier est trop volumineux pour être importé en une "
                                                     "fois : découpez-le en plusieurs fichiers.")]
            preview, status = None, 422
        else:
            confirm = MeasureImportConfirmForm(formdata=None, data={"payload": token})
    return render_template("decisions/import.html", organisation=organisation, form=form, preview=preview,
                           errors=errors, confirm=confirm, columns=COLUMNS, status_names=MEASURE_STATUS_NAMES), status


@bp.route("/organisations/<int:organisation_id>/mesures/import", methods=["GET", "POST"])
@requires(is_authenticated)
def import_measures(organisation_id: int):
    organisation = _organisation_for_editor(organisation_id)
    form = MeasureImportForm()
    if not form.validate_on_submit():
        return _import_page(organisation, form, status=422 if form.errors else 200)
    try:
        data = form.file.data.stream.read(MAX_BYTES + 1)
        preview = measures.preview_measure_import(organisation, acting_user(), data)
    except DomainError as err:
        form.file.errors = [*form.file.errors, str(err.message)]
        return _import_page(organisation, form, status=err.status)
    return _import_page(organisation, form, preview, status=422 if preview.errors else 200)


@bp.route("/organisations/<int:organisation_id>/mesures/import/confirmer", methods=["POST"])
@requires(is_authenticated)
def confirm_import(organisation_id: int):
    organisation = _organisation_for_editor(organisation_id)
    upload = MeasureImportForm(formdata=None)
    form = MeasureImportConfirmForm()
    payload = read_import(form.payload.data, organisation.id, current_user.id) if form.validate_on_submit() else None
    if payload is None:
        upload.file.errors = [_("L'aperçu a expiré ou n'est pas valide : rien n'a été importé. Envoyez le fichier "
                                "à nouveau.")]
        return _import_page(organisation, upload, status=422)
    try:
        created = measures.import_measures(organisation, acting_user(), payload["t"], stamp=payload["s"])
    except measures.ImportInvalid as err:  # a proposal changed since the preview: the rows are listed again
        return _import_page(organisation, upload, errors=err.errors, status=err.status)
    except DomainError as err:
        upload.file.errors = [str(err.message)]
        return _import_page(organisation, upload, status=err.status)
    flash(ngettext("%(num)d mesure importée.", "%(num)d mesures importées.", len(created)), "success")
    return redirect(url_for("decisions.awaiting", organisation_id=organisation.id))


@bp.route("/mesures/modele-import.csv")
def import_template():
    return Response(write_csv([], template_header()), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="modele-import-mesures.csv"'})
