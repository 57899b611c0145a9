"""The editors' pages: the services whose feedback they triage, each service's responses (filters, spam, irritant
tags, CSV export), its irritant list, and the moderation of and replies to its experiences.

Every view: load -> authorise (``can_triage``, on every request) -> validate the form -> call one service -> redirect
or render. The services check the permission again.
"""

from datetime import datetime, time, timedelta
from urllib.parse import parse_qs

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import to_utc
from flask_login import current_user

from ..accounts.current import acting_user
from ..accounts.forms import ConfirmForm
from ..catalog.models import Service
from ..catalog.service import get_by_slug
from ..clock import utcnow
from ..concurrency import run_cpu_bound
from ..csvsafe import write_csv
from ..errors import DomainError, show_on_form
from ..extensions import db
from ..inputs import PAGE_MAX, int_arg
from ..permissions import is_authenticated, requires
from . import bp, experiences, triage
from .manage_forms import RefuseForm, RenameTagForm, ReplyForm, ResponseFilterForm, ResponseTagsForm, TagForm
from .models import ExperienceStatus, can_triage
from .public import Page

FILTER_KEYS = ("du", "au", "source", "satisfaction", "irritant", "texte", "indesirables", "page")
ERROR_FIELDS = {"refusal_reason_required": "reason", "refusal_reason_too_long": "reason",
                "reply_required": "text", "reply_too_long": "text", "signature_required": "signature",
                "signature_too_long": "signature", "tag_label_required": "label", "tag_label_too_long": "label",
                "tag_exists": "label"}


@bp.app_template_global("triages_feedback")
def triages_feedback(user) -> bool:
    """Whether the menu shows « Avis des usagers »: editors of an organisation, and admins."""
    return triage.triages_any(user)


def _service(service_slug: str) -> Service:
    service = get_by_slug(Service, service_slug)
    if not can_triage(current_user, service):
        abort(403)
    return service


def _or_403(load, *args):
    """A row loaded by a service function that checks the permission: 403 instead of the service's refusal."""
    try:
        return load(*args, acting_user())
    except DomainError as err:
        if err.status == 403:
            abort(403)
        raise


def _list_url(service: Service, raw_filters: str | None = None) -> str:
    """The responses list, with the filters it was sent from (only the list's own keys are kept)."""
    args = parse_qs((raw_filters or "")[:2000])
    kept = {key: args[key][0] for key in FILTER_KEYS if args.get(key) and args[key][0]}
    return url_for("feedback.list_responses", service_slug=service.slug, **kept)


@bp.get("/gestion")
@requires(triage.triages_any)
def triage_home():
    """The services whose feedback this person triages, with their counts."""
    return render_template("feedback/manage_home.html", rows=triage.triageable_services(acting_user()))


# --- responses -------------------------------------------------------------------------------------------------

def _filters(service: Service, tags) -> tuple[ResponseFilterForm, triage.ResponseFilters | None]:
    form = ResponseFilterForm(formdata=request.args, tags=tags)
    if not form.validate():
        return form, None

    def utc_midnight(day):  # the reader's days (Paris time), as stored times
        return to_utc(datetime.combine(day, time.min))

    since, until = form.du.parsed, form.au.parsed
    return form, triage.ResponseFilters(
        start=utc_midnight(since) if since else None, end=utc_midnight(until + timedelta(days=1)) if until else None,
        source=form.source_value, satisfaction=form.satisfaction_value, with_text=form.texte.data,
        tag_id=form.tag_value, spam=form.indesirables.data)


@bp.get("/gestion/<service_slug>/reponses")
@requires(is_authenticated)
def list_responses(service_slug: str):
    service = _service(service_slug)
    tags = triage.list_tags(service)
    form, filters = _filters(service, tags)
    page = int_arg("page", 1, maximum=PAGE_MAX)
    rows, total = triage.list_responses(service, acting_user(), filters, page) if filters else ([], 0)
    tag_forms = {row.response.id: ResponseTagsForm(formdata=None, prefix=f"r{row.response.id}", tags=tags,
                                                    data={"tags": [t.id for t in row.response.tags]})
                 for row in rows}
    return render_template("feedback/manage_responses.html", service=service, form=form, rows=rows,
                           pagination=Page(rows, total, page, triage.PER_PAGE), tag_forms=tag_forms,
                           filtered=any(request.args.get(key) for key in FILTER_KEYS if key != "page"),
                           query=request.query_string.decode(), source_names=triage.SOURCE_NAMES,
                           satisfaction_names=triage.SATISFACTION_NAMES,
                           status_names=triage.EXPERIENCE_STATUS_NAMES), 200 if filters else 422


@bp.get("/gestion/<service_slug>/reponses.csv")
@requires(is_authenticated)
def export_responses(service_slug: str):
    service = _service(service_slug)
    _form, filters = _filters(service, triage.list_tags(service))
    if filters is None:
        abort(422)
    header, rows = triage.export_table(service, acting_user(), filters)
    return Response(run_cpu_bound(write_csv, rows, header), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="avis-{service.slug}.csv"',
                             "Cache-Control": "no-store"})


def _spam(response_id: int, spam: bool):
    response = _or_403(triage.get_response, response_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if spam:
        triage.mark_spam(response, acting_user())
        flash(_("La réponse est marquée comme indésirable : elle n'est plus comptée."), "success")
    else:
        triage.unmark_spam(response, acting_user())
        flash(_("La réponse n'est plus marquée comme indésirable : elle est de nouveau comptée."), "success")
    return redirect(_list_url(response.service, request.form.get("retour")))


@bp.post("/gestion/reponses/<int:response_id>/indesirable")
@requires(is_authenticated)
def mark_spam(response_id: int):
    return _spam(response_id, True)


@bp.post("/gestion/reponses/<int:response_id>/pas-indesirable")
@requires(is_authenticated)
def unmark_spam(response_id: int):
    return _spam(response_id, False)


@bp.post("/gestion/reponses/<int:response_id>/irritants")
@requires(is_authenticated)
def tag_response(response_id: int):
    response = _or_403(triage.get_response, response_id)
    form = ResponseTagsForm(prefix=f"r{response.id}", tags=triage.list_tags(response.service))
    if not form.validate_on_submit():
        flash(_("Choisissez des irritants de la liste de cette démarche."), "error")
    else:
        try:
            triage.set_response_tags(response, acting_user(), form.tags.data or [])
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Les irritants de la réponse sont enregistrés."), "success")
    return redirect(_list_url(response.service, request.form.get("retour")) + f"#reponse-{response.id}")


# --- irritant tags ---------------------------------------------------------------------------------------------

def _tags_page(service: Service, form: TagForm, status: int = 200):
    tags = triage.list_tags(service)
    rename_forms = {tag.id: RenameTagForm(formdata=None, prefix=f"t{tag.id}", data={"label": tag.label})
                    for tag in tags}
    return render_template("feedback/manage_tags.html", service=service, form=form, tags=tags,
                           rename_forms=rename_forms, counts=triage.tag_counts(service)), status


@bp.route("/gestion/<service_slug>/irritants", methods=["GET", "POST"])
@requires(is_authenticated)
def manage_tags(service_slug: str):
    service = _service(service_slug)
    form = TagForm()
    if form.validate_on_submit():
        try:
            tag = triage.add_tag(service, acting_user(), form.label.data)
        except DomainError as err:
            show_on_form(form, err, ERROR_FIELDS)
            return _tags_page(service, form, err.status)
        flash(_("L'irritant « %(label)s » est ajouté.", label=tag.label), "success")
        return redirect(url_for("feedback.manage_tags", service_slug=service.slug))
    return _tags_page(service, form, 422 if form.errors else 200)


@bp.post("/gestion/irritants/<int:tag_id>/renommer")
@requires(is_authenticated)
def rename_tag(tag_id: int):
    tag = _or_403(triage.get_tag, tag_id)
    service = _service_of_tag(tag)
    form = RenameTagForm(prefix=f"t{tag.id}")
    if not form.validate_on_submit():
        flash(" ".join(str(e) for e in form.label.errors) or _("Donnez un nom à l'irritant."), "error")
    else:
        try:
            triage.rename_tag(tag, acting_user(), form.label.data)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("L'irritant est renommé."), "success")
    return redirect(url_for("feedback.manage_tags", service_slug=service.slug))


@bp.post("/gestion/irritants/<int:tag_id>/supprimer")
@requires(is_authenticated)
def remove_tag(tag_id: int):
    tag = _or_403(triage.get_tag, tag_id)
    service = _service_of_tag(tag)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    label = tag.label
    triage.remove_tag(tag, acting_user())
    flash(_("L'irritant « %(label)s » est supprimé de la liste et des réponses.", label=label), "success")
    return redirect(url_for("feedback.manage_tags", service_slug=service.slug))


def _service_of_tag(tag) -> Service:
    return db.session.get(Service, tag.service_id)


# --- experiences -----------------------------------------------------------------------------------------------

@bp.get("/gestion/<service_slug>/experiences")
@requires(is_authenticated)
def moderate_experiences(service_slug: str):
    service = _service(service_slug)
    return render_template("feedback/manage_experiences.html", service=service,
                           queue=experiences.moderation_queue(service, acting_user()),
                           now=utcnow(), statuses=ExperienceStatus)


def _experience_page(experience, refuse_form=None, reply_form=None, status: int = 200):
    service = experience.response.service
    refuse_form = refuse_form or RefuseForm(formdata=None)
    if experience.status is ExperienceStatus.published:
        refuse_form.submit.label.text = _("Retirer la publication")
    if reply_form is None:
        reply_form = ReplyForm(formdata=None, data={
            "text": experience.reply_text,
            "signature": experience.reply_signature or experiences.default_signature(acting_user(),
                                                                                     service.organisation)})
    return render_template("feedback/manage_experience.html", experience=experience, service=service,
                           answers=triage.grouped_answers(experience.response, with_text=False),
                           left_contact=experiences.left_contact(experience),
                           refuse_form=refuse_form, reply_form=reply_form, now=utcnow(),
                           confirm_form=ConfirmForm(), statuses=ExperienceStatus,
                           status_names=triage.EXPERIENCE_STATUS_NAMES), status


@bp.get("/gestion/experiences/<int:experience_id>")
@requires(is_authenticated)
def manage_experience(experience_id: int):
    """One experience: publish it, refuse it with a reason, or reply to it once published."""
    return _experience_page(_or_403(experiences.get_experience, experience_id))


@bp.post("/gestion/experiences/<int:experience_id>/publier")
@requires(is_authenticated)
def publish_experience(experience_id: int):
    experience = _or_403(experiences.get_experience, experience_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        experiences.publish_experience(experience, acting_user())
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(_("L'expérience est publiée. Vous pouvez maintenant y répondre."), "success")
    return redirect(url_for("feedback.manage_experience", experience_id=experience_id))


@bp.post("/gestion/experiences/<int:experience_id>/refuser")
@requires(is_authenticated)
def refuse_experience(experience_id: int):
    experience = _or_403(experiences.get_experience, experience_id)
    form = RefuseForm()
    if not form.validate_on_submit():
        return _experience_page(experience, refuse_form=form, status=422)
    try:
        experiences.refuse_experience(experience, acting_user(), form.reason.data)
    except DomainError as err:
        show_on_form(form, err, ERROR_FIELDS)
        return _experience_page(experience, refuse_form=form, status=err.status)
    flash(_("L'expérience est refusée ; la raison est gardée pour l'équipe."), "success")
    return redirect(url_for("feedback.moderate_experiences", service_slug=experience.response.service.slug))


@bp.post("/gestion/experiences/<int:experience_id>/repondre")
@requires(is_authenticated)
def reply_experience(experience_id: int):
    experience = _or_403(experiences.get_experience, experience_id)
    form = ReplyForm()
    if not form.validate_on_submit():
        return _experience_page(experience, reply_form=form, status=422)
    first = experience.replied_at is None
    try:
        experiences.reply_to_experience(experience, acting_user(), form.text.data, form.signature.data)
    except DomainError as err:
        show_on_form(form, err, ERROR_FIELDS)
        return _experience_page(experience, reply_form=form, status=err.status)
    flash(_("La réponse est publiée.") if first else _("La réponse est corrigée."), "success")
    return redirect(url_for("feedback.manage_experience", experience_id=experience_id))
