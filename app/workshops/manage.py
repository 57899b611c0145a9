"""Facilitators' workshop pages, under /ateliers/gestion/: create, edit, publish, cancel, duplicate, the
roster and its actions, sign-ups on someone's behalf, messages, the CSV export and check-in on the day.

Every view runs in the same order: load -> authorise (``workshop.can_manage``) -> validate the form ->
call one service -> redirect (POST/redirect/GET) or render.
"""

from collections import Counter

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from sqlalchemy import or_, select
from wtforms.fields.choices import SelectChoice

from ..accounts.current import acting_user
from ..accounts.forms import ConfirmForm
from ..catalog import service as catalog
from ..catalog.models import Organisation, Service
from ..catalog.permissions import facilitated_organisations, is_facilitator
from ..csvsafe import write_csv
from ..errors import DomainError, show_on_form
from ..extensions import db
from ..i18n import localized
from ..permissions import requires
from ..urls import absolute_url
from . import bp, checkin, queries, service, signup
from .forms import (
    QUOTA_MAX,
    CategoryDecisionForm,
    CheckInForm,
    MessageForm,
    ReasonForm,
    StaffCancelForm,
    WorkshopForm,
    answers_from,
    build_signup_form,
    to_local,
    to_utc,
)
from .models import CategoryCheck, QuestionKind, Registration, RegistrationStatus, Visibility, WorkshopFormat

# Which form field shows a refusal from the service (by error code); anything else becomes a flash.
ERROR_FIELDS = {"ends_before_start": "ends_at", "signup_window": "signup_closes_at", "capacity": "capacity",
                "capacity_below_taken": "capacity", "questions_answered": "questions",
                "category_check": "category_check", "reviews_pending": "category_check"}



def _managed(workshop_id: int):
    """The workshop, if the current person runs its organisation's workshops (403 otherwise)."""
    workshop = queries.get_workshop(workshop_id)
    if not workshop.can_manage(current_user):
        abort(403)
    return workshop


def _managed_registration(registration_id: int) -> Registration:
    registration = db.get_or_404(Registration, registration_id)
    if not registration.workshop.can_manage(current_user):
        abort(403)
    return registration


def _to_roster(workshop_id: int):
    return redirect(url_for("workshops.manage_workshop", workshop_id=workshop_id))


def _form_expired() -> None:
    flash(_("Le formulaire a expiré. Vérifiez vos saisies et envoyez-le à nouveau."), "error")


# --- list, create, edit --------------------------------------------------------------------------

@bp.get("/gestion/")
@requires(is_facilitator)
def manage_home():
    groups = queries.list_managed_workshops(acting_user())
    ids = [w.id for w in groups["upcoming"] + groups["past"]]
    return render_template("workshops/manage/home.html", groups=groups, figures=queries.seat_figures(ids))


def _fill_choices(form: WorkshopForm, user, workshop=None) -> None:
    """The organisations the person facilitates; the services of those organisations (and of the workshop's own,
    and those it already names), not the whole catalogue: a national catalogue holds hundreds of services."""
    organisations = facilitated_organisations(user)
    if form.organisation_id is not None:  # removed on the edit page
        form.organisation_id.choices = [SelectChoice(o.id, o.name) for o in organisations]
    organisation_ids = {o.id for o in organisations} | ({workshop.organisation_id} if workshop else set())
    named = [s.id for s in workshop.services] if workshop else []
    services = select(Service).where(or_(Service.organisation_id.in_(organisation_ids), Service.id.in_(named)))
    form.service_ids.choices = [SelectChoice(s.id, f"{s.name} — {s.organisation.name}")
                                for s in db.session.scalars(services.order_by(Service.name))]
    form.life_event_ids.choices = [SelectChoice(e.id, localized(e, "name"))
                                   for e in catalog.list_life_events(with_services=False)]


def _fields(form: WorkshopForm) -> dict:
    """The workshop's own fields, as the services take them (UTC times, enums)."""
    text = {name: (getattr(form, name).data or "").strip()
            for name in ("title", "description_md", "expected_change", "address", "access_info", "meeting_link",
                         "accessibility_info")}
    return {**text, "format": WorkshopFormat(form.format.data), "visibility": Visibility(form.visibility.data),
            "category_check": CategoryCheck(form.category_check.data),
            "starts_at": to_utc(form.starts_at.data), "ends_at": to_utc(form.ends_at.data),
            "signup_opens_at": to_utc(form.signup_opens_at.data),
            "signup_closes_at": to_utc(form.signup_closes_at.data),
            "service_ids": form.service_ids.data or [], "life_event_ids": form.life_event_ids.data or []}


def _form_data(workshop) -> dict:
    """A workshop as the form's data, in Paris time (to pre-fill the edit page)."""
    return {
        "title": workshop.title, "description_md": workshop.description_md,
        "expected_change": workshop.expected_change, "format": workshop.format.value, "address": workshop.address,
        "access_info": workshop.access_info, "meeting_link": workshop.meeting_link,
        "accessibility_info": workshop.accessibility_info, "capacity": workshop.capacity,
        "starts_at": to_local(workshop.starts_at), "ends_at": to_local(workshop.ends_at),
        "signup_opens_at": to_local(workshop.signup_opens_at), "signup_closes_at": to_local(workshop.signup_closes_at),
        "visibility": workshop.visibility.value, "service_ids": [s.id for s in workshop.services],
        "life_event_ids": [e.id for e in workshop.life_events],
        "quotas": [{"name": c.name, "seats": c.seats, "requires_check": c.requires_check}
                   for c in workshop.categories] if workshop.has_categories else [],
        "category_check": workshop.category_check.value,
        "ask_accessibility": any(q.is_accessibility for q in workshop.questions),
        "questions": [{"label": q.label, "kind": q.kind.value, "choices_text": q.choices_text, "required": q.required}
                      for q in workshop.questions if not q.is_accessibility],
    }


def _question_key(kind, label, choices_text, required, is_accessibility) -> tuple:
    if is_accessibility:  # its label is in the language of whoever saved the form
        return ("accessibility",)
    choices = tuple(line.strip() for line in (choices_text or "").splitlines() if line.strip())
    return (kind, label.strip(), choices, bool(required))


def _questions_changed(workshop, questions: list[dict]) -> bool:
    """Only changed questions are sent: the service refuses to replace questions people have answered,
    and that must not stop a facilitator from moving the date."""
    old = [_question_key(q.kind, q.label, q.choices_text, q.required, q.is_accessibility) for q in workshop.questions]
    new = [_question_key(q["kind"], q["label"], q.get("choices_text", ""), q.get("required", False),
                         q.get("is_accessibility", False)) for q in questions]
    return old != new


def _render_form(form, workshop=None):
    title = _("Modifier l'atelier") if workshop else _("Nouvel atelier")
    return render_template("workshops/manage/form.html", form=form, workshop=workshop, title=title,
                           quota_max=QUOTA_MAX)


@bp.route("/gestion/nouveau", methods=["GET", "POST"])
@requires(is_facilitator)
def create_workshop():
    form = WorkshopForm()
    _fill_choices(form, acting_user())
    if form.add_quota_row():
        return _render_form(form)
    if form.validate_on_submit():
        organisation = db.session.get(Organisation, form.organisation_id.data)
        try:
            workshop = service.create_workshop(acting_user(), organisation, capacity=form.capacity.data,
                                               quotas=form.quota_list(), questions=form.question_list(),
                                               **_fields(form))
        except DomainError as err:
            show_on_form(form, err, {**ERROR_FIELDS, "invalid_quotas": "quotas"})
        else:
            flash(_("L'atelier est créé en brouillon. Publiez-le quand il est prêt."), "success")
            return _to_roster(workshop.id)
    return _render_form(form)


@bp.route("/gestion/<int:workshop_id>/modifier", methods=["GET", "POST"])
@login_required
def edit_workshop(workshop_id: int):
    workshop = _managed(workshop_id)
    form = WorkshopForm(data=_form_data(workshop))
    del form.organisation_id  # a workshop stays with its organisation
    _fill_choices(form, acting_user(), workshop)
    if form.validate_on_submit():
        questions = form.question_list()
        try:
            service.update_workshop(acting_user(), workshop, capacity=form.capacity.data,
                                    questions=questions if _questions_changed(workshop, questions) else None,
                                    quotas=form.quota_list() if workshop.has_categories else None,
                                    **_fields(form))
        except DomainError as err:
            show_on_form(form, err, {**ERROR_FIELDS, "invalid_quotas": "capacity"})
        else:
            flash(_("Les modifications sont enregistrées."), "success")
            return _to_roster(workshop.id)
    return _render_form(form, workshop)


# --- one workshop: roster and workshop-wide actions ----------------------------------------------

def _positions(waitlisted: list[Registration]) -> dict[int, int]:
    """Rank of each waiting person within their category's queue (1 = next to be offered a seat)."""
    seen: Counter = Counter()
    positions = {}
    for reg in sorted(waitlisted, key=lambda r: r.waitlist_number or 0):
        seen[reg.category_id] += 1
        positions[reg.id] = seen[reg.category_id]
    return positions


def _answer_text(question, value: str) -> str:
    if question.kind is QuestionKind.consent:
        return _("Oui") if value else ""
    if question.kind is QuestionKind.multiple_choice:
        return ", ".join(value.splitlines())
    return value


def _answers(regs) -> dict[int, dict[int, str]]:
    return {reg.id: {a.question_id: _answer_text(a.question, a.value) for a in reg.answers} for reg in regs}


def _roster_context(workshop) -> dict:
    groups = {status.value: regs for status, regs in queries.roster(workshop).items()}
    positions = _positions(groups["waitlisted"])
    groups["waitlisted"].sort(key=lambda r: (r.category.position, positions[r.id]))
    return {"groups": groups, "positions": positions,
            "answers": _answers(groups["confirmed"] + groups["in_review"] + groups["offered"] + groups["waitlisted"]),
            "open_categories": _open_categories(workshop)}


def _open_categories(workshop) -> list:
    """The categories someone whose declared category is not confirmed can be moved to (those not checked)."""
    return [c for c in workshop.categories if not c.is_checked] if workshop.checks_categories else []


def _active(workshop) -> list[Registration]:
    """Confirmed, in review, offered and waiting people: those told when the workshop changes or is cancelled."""
    groups = queries.roster(workshop)
    return [r for s in (RegistrationStatus.confirmed, RegistrationStatus.in_review, RegistrationStatus.offered,
                        RegistrationStatus.waitlisted) for r in groups[s]]


@bp.get("/gestion/<int:workshop_id>")
@login_required
def manage_workshop(workshop_id: int):
    workshop = _managed(workshop_id)
    invitation_link = absolute_url("workshops.show_workshop", workshop_id=workshop.id,
                                   invitation=workshop.invite_token) \
        if workshop.visibility is Visibility.invitation else None
    return render_template("workshops/manage/show.html", workshop=workshop, **_roster_context(workshop),
                           figures=queries.seat_figures([workshop.id])[workshop.id],
                           attendance=queries.attendance(workshop), invitation_link=invitation_link)


@bp.post("/gestion/<int:workshop_id>/publier")
@login_required
def publish_workshop(workshop_id: int):
    workshop = _managed(workshop_id)
    if not ConfirmForm().validate_on_submit():
        _form_expired()
        return _to_roster(workshop.id)
    try:
        service.publish_workshop(acting_user(), workshop)
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(_("L'atelier est publié."), "success")
    return _to_roster(workshop.id)


@bp.route("/gestion/<int:workshop_id>/annuler", methods=["GET", "POST"])
@login_required
def cancel_workshop(workshop_id: int):
    workshop = _managed(workshop_id)
    if workshop.is_cancelled:
        flash(_("Cet atelier est annulé."), "info")
        return _to_roster(workshop.id)
    form = ReasonForm()
    if form.validate_on_submit():
        service.cancel_workshop(acting_user(), workshop, form.reason.data)
        flash(_("L'atelier est annulé. Les personnes inscrites sont prévenues par courriel."), "success")
        return _to_roster(workshop_id)
    return render_template("workshops/manage/cancel.html", workshop=workshop, form=form,
                           registrations=_active(workshop))


@bp.post("/gestion/<int:workshop_id>/dupliquer")
@login_required
def duplicate_workshop(workshop_id: int):
    workshop = _managed(workshop_id)
    if not ConfirmForm().validate_on_submit():
        _form_expired()
        return _to_roster(workshop.id)
    copy = service.duplicate_workshop(acting_user(), workshop)
    flash(_("Une copie en brouillon a été créée une semaine plus tard : vérifiez la date et les informations."),
          "success")
    return redirect(url_for("workshops.edit_workshop", workshop_id=copy.id))


@bp.post("/gestion/<int:workshop_id>/nouveau-lien")
@login_required
def regenerate_link(workshop_id: int):
    workshop = _managed(workshop_id)
    if ConfirmForm().validate_on_submit():
        service.regenerate_invite_token(acting_user(), workshop)
        flash(_("Le lien d'invitation a été renouvelé : l'ancien ne fonctionne plus."), "success")
    else:
        _form_expired()
    return _to_roster(workshop_id)


@bp.route("/gestion/<int:workshop_id>/inscrire", methods=["GET", "POST"])
@login_required
def register_on_behalf(workshop_id: int):
    workshop = _managed(workshop_id)
    form = build_signup_form(workshop, on_behalf=True)
    if form.validate_on_submit():
        try:
            registration = signup.register_on_behalf(
                acting_user(), workshop, name=form.guest_name.data, phone=form.guest_phone.data,
                category_id=form.category_id.data if hasattr(form, "category_id") else None,
                answers=answers_from(form, workshop))
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            if registration.status is RegistrationStatus.confirmed:
                flash(_("%(name)s est inscrit·e, place confirmée. Code de présence : %(code)s.",
                        name=registration.guest_name, code=registration.code), "success")
            elif registration.status is RegistrationStatus.in_review:
                flash(_seat_message(registration), "success")
            else:
                flash(_("L'atelier est complet : %(name)s est sur la liste d'attente, en position %(n)d.",
                        name=registration.guest_name, n=queries.waitlist_position(registration)), "success")
            return _to_roster(workshop_id)
    return render_template("workshops/manage/on_behalf.html", workshop=workshop, form=form,
                           figures=queries.seat_figures([workshop.id])[workshop.id])


@bp.route("/gestion/<int:workshop_id>/message", methods=["GET", "POST"])
@login_required
def message_participants(workshop_id: int):
    workshop = _managed(workshop_id)
    form = MessageForm()
    if form.validate_on_submit():
        count = service.message_participants(acting_user(), workshop, form.subject.data, form.body.data)
        flash(ngettext("Message envoyé à %(num)d personne.", "Message envoyé à %(num)d personnes.", count),
              "success")
        return _to_roster(workshop_id)
    return render_template("workshops/manage/message.html", workshop=workshop, form=form,
                           confirmed=queries.roster(workshop)[RegistrationStatus.confirmed])


# --- one registration ----------------------------------------------------------------------------

@bp.post("/gestion/inscriptions/<int:registration_id>/promouvoir")
@login_required
def promote_registration(registration_id: int):
    registration = _managed_registration(registration_id)
    workshop_id = registration.workshop_id
    if not ConfirmForm().validate_on_submit():
        _form_expired()
        return _to_roster(workshop_id)
    try:
        registration = signup.promote_by_hand(acting_user(), registration)
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(_seat_message(registration), "success")
    return _to_roster(workshop_id)


def _seat_message(registration: Registration) -> str:
    if registration.status is RegistrationStatus.in_review:
        return _("Une place est réservée à %(name)s, en attendant que sa catégorie soit confirmée.",
                 name=registration.person_name)
    return _("La place de %(name)s est confirmée.", name=registration.person_name)


def _after_category_decision(form: CategoryDecisionForm, registration: Registration):
    if form.back.data == "check_in":
        return redirect(url_for("workshops.check_in", workshop_id=registration.workshop_id, q=form.q.data or None))
    return _to_roster(registration.workshop_id)


@bp.post("/gestion/inscriptions/<int:registration_id>/categorie/confirmer")
@login_required
def confirm_category(registration_id: int):
    registration = _managed_registration(registration_id)
    form = CategoryDecisionForm()
    if not form.validate_on_submit():
        _form_expired()
        return _to_roster(registration.workshop_id)
    try:
        registration = signup.confirm_category(acting_user(), registration, check_in=form.present.data == "1")
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(_("La catégorie « %(category)s » de %(name)s est confirmée.", category=registration.category.name,
                name=registration.person_name)
              + (" " + _("%(name)s est pointé·e présent·e.", name=registration.person_name)
                 if registration.checked_in_at else ""), "success")
    return _after_category_decision(form, registration)


@bp.post("/gestion/inscriptions/<int:registration_id>/categorie/changer")
@login_required
def move_registration(registration_id: int):
    registration = _managed_registration(registration_id)
    form = CategoryDecisionForm()
    if not form.validate_on_submit() or form.category_id.data is None:
        _form_expired()
        return _to_roster(registration.workshop_id)
    try:
        registration = signup.move_to_category(acting_user(), registration, form.category_id.data)
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        if registration.status is RegistrationStatus.waitlisted:
            flash(_("%(name)s passe en « %(category)s » : aucune place n'y est libre, la personne est sur sa "
                    "liste d'attente.", name=registration.person_name, category=registration.category.name),
                  "success")
        else:
            flash(_("%(name)s passe en « %(category)s », place confirmée.", name=registration.person_name,
                    category=registration.category.name), "success")
    return _after_category_decision(form, registration)


@bp.route("/gestion/inscriptions/<int:registration_id>/annuler", methods=["GET", "POST"])
@login_required
def staff_cancel_registration(registration_id: int):
    registration = _managed_registration(registration_id)
    workshop_id = registration.workshop_id
    if registration.effective_status() is RegistrationStatus.cancelled:
        flash(_("Cette inscription est déjà annulée."), "info")
        return _to_roster(workshop_id)
    form = StaffCancelForm()
    if form.validate_on_submit():
        try:
            signup.cancel_registration(registration, acting_user(), form.message.data or "")
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("L'inscription de %(name)s est annulée.", name=registration.person_name), "success")
        return _to_roster(workshop_id)
    return render_template("workshops/manage/cancel_registration.html", registration=registration,
                           workshop=registration.workshop, form=form)


# --- export --------------------------------------------------------------------------------------

def _status_label(status: RegistrationStatus) -> str:
    return {RegistrationStatus.confirmed: _("Confirmée"), RegistrationStatus.offered: _("Place proposée"),
            RegistrationStatus.waitlisted: _("Liste d'attente"), RegistrationStatus.cancelled: _("Annulée"),
            RegistrationStatus.in_review: _("Catégorie à vérifier")}[status]


def _category_confirmed(reg: Registration) -> str:
    """Whether the declared category is confirmed: empty for a category the team does not check."""
    if not reg.category.is_checked:
        return ""
    return _("Oui") if reg.category_confirmed_at else _("Non")


def _roster_rows(workshop) -> tuple[list[str], list[list]]:
    """The roster as a table: one row per registration, one column per registration question."""
    context = _roster_context(workshop)
    groups, positions, answers = context["groups"], context["positions"], context["answers"]
    questions = list(workshop.questions)
    header = [_("Nom"), _("Adresse électronique"), _("Téléphone"), _("Catégorie"), _("Catégorie confirmée"),
              _("Statut"),
              _("Position sur la liste d'attente"), _("Code de présence"), _("Présent·e"),
              *[q.label for q in questions]]
    rows = []
    for status in RegistrationStatus:
        for reg in groups[status.value]:
            mine = answers.get(reg.id, {})
            rows.append([reg.person_name, reg.user.email if reg.user and not reg.user.is_deleted else "",
                         reg.guest_phone if reg.user is None else "", reg.category.name, _category_confirmed(reg),
                         _status_label(status),
                         positions.get(reg.id, ""), reg.code, _("Oui") if reg.checked_in_at else _("Non"),
                         *[mine.get(q.id, "") for q in questions]])
    return header, rows


@bp.get("/gestion/<int:workshop_id>/inscrits.csv")
@login_required
def export_roster(workshop_id: int):
    workshop = _managed(workshop_id)
    header, rows = _roster_rows(workshop)
    return Response(write_csv(rows, header), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="atelier-{workshop.id}-inscrits.csv"',
                             "Cache-Control": "no-store"})


# --- check-in on the day -------------------------------------------------------------------------

@bp.get("/gestion/<int:workshop_id>/pointage")
@login_required
def check_in(workshop_id: int):
    workshop = _managed(workshop_id)
    query = request.args.get("q", "").strip()[:100]
    is_open = checkin.check_in_open(workshop)
    return render_template("workshops/manage/check_in.html", workshop=workshop, query=query if is_open else "",
                           matches=queries.find_for_check_in(workshop, query) if is_open else [],
                           attendance=queries.attendance(workshop), is_open=is_open,
                           opens_at=checkin.check_in_opens_at(workshop),
                           open_categories=_open_categories(workshop))


@bp.post("/gestion/inscriptions/<int:registration_id>/pointer")
@login_required
def mark_present(registration_id: int):
    registration = _managed_registration(registration_id)
    form = CheckInForm()
    if form.validate_on_submit():
        present = form.present.data == "1"
        try:
            service.check_in(acting_user(), registration, present=present)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("%(name)s est pointé·e présent·e.", name=registration.person_name) if present
                  else _("Pointage annulé pour %(name)s.", name=registration.person_name), "success")
    else:
        _form_expired()
    return redirect(url_for("workshops.check_in", workshop_id=registration.workshop_id, q=form.q.data or None))
