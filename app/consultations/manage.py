"""Organisers' consultation pages: create, edit, choose the proposals, open, close by hand.

Every view: load -> authorise (``consultation.can_manage`` / a managed organisation) -> validate the form ->
call one service -> redirect or render.
"""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..accounts.current import acting_user
from ..accounts.forms import ConfirmForm
from ..errors import DomainError, show_on_form
from ..extensions import db
from ..permissions import is_authenticated, requires
from ..proposals.models import Proposal, ProposalState
from ..workshops.forms import to_local
from . import bp, service
from .forms import AddProposalsForm, ConsultationForm
from .models import managed_organisations

# Which form field shows a refusal from the service (by error code); anything else is shown above the form.
ERROR_FIELDS = {"closes_before_opening": "closes_at", "dots_settings": "dots_budget",
                "selection_value": "selection_value", "consultation_locked": "method"}



def can_run_consultations(user) -> bool:
    """Editor or facilitator of at least one organisation, or admin."""
    return is_authenticated(user) and bool(managed_organisations(user))


def _managed(consultation_id: int):
    consultation = service.get_consultation(consultation_id)
    if not consultation.can_manage(current_user):
        abort(403)
    return consultation


def _to_manage(consultation_id: int):
    return redirect(url_for("consultations.manage_consultation", consultation_id=consultation_id))


@bp.route("/nouvelle", methods=["GET", "POST"])
@requires(can_run_consultations)
def new_consultation():
    form = ConsultationForm()
    organisations = {o.id: o for o in managed_organisations(current_user)}
    form.organisation_id.choices = [(o.id, o.name) for o in organisations.values()]
    if form.validate_on_submit():
        try:
            consultation = service.create_consultation(acting_user(), organisations[form.organisation_id.data],
                                                       **form.settings())
        except DomainError as err:
            show_on_form(form, err, ERROR_FIELDS)
        else:
            flash(_("Consultation créée en préparation. Ajoutez-y des propositions puis ouvrez-la."), "success")
            return _to_manage(consultation.id)
    return render_template("consultations/manage/form.html", form=form, consultation=None), \
        422 if form.errors else 200


def _changes(consultation, settings: dict) -> dict:
    """Settings minus the fixed ones left as they were (the form's times are to the minute)."""
    if consultation.is_draft:
        return settings

    def same(key):
        new, old = settings[key], getattr(consultation, key)
        if hasattr(new, "replace") and hasattr(old, "replace") and not isinstance(new, str):
            return new.replace(second=0, microsecond=0) == old.replace(second=0, microsecond=0)
        return new == old

    return {k: v for k, v in settings.items() if k not in service.LOCKED_FIELDS or not same(k)}


@bp.route("/<int:consultation_id>/modifier", methods=["GET", "POST"])
@requires(can_run_consultations)
def edit_consultation(consultation_id: int):
    consultation = _managed(consultation_id)
    form = ConsultationForm(obj=None if request.method == "POST" else consultation)
    form.organisation_id.choices = [(consultation.organisation_id, consultation.organisation.name)]
    if request.method != "POST":
        form.organisation_id.data = consultation.organisation_id
        form.opens_at.data, form.closes_at.data = to_local(consultation.opens_at), to_local(consultation.closes_at)
        form.method.data = consultation.method.value
        form.selection_rule.data = consultation.selection_rule.value
    if form.validate_on_submit():
        try:
            service.update_consultation(acting_user(), consultation, **_changes(consultation, form.settings()))
        except DomainError as err:
            show_on_form(form, err, ERROR_FIELDS)
        else:
            flash(_("Consultation enregistrée."), "success")
            return _to_manage(consultation.id)
    return render_template("consultations/manage/form.html", form=form, consultation=consultation), \
        422 if form.errors else 200


@bp.route("/<int:consultation_id>/gestion", methods=["GET", "POST"])
@requires(can_run_consultations)
def manage_consultation(consultation_id: int):
    """The proposals on the ballot; while in draft, add published proposals of the organisation."""
    consultation = _managed(consultation_id)
    form = AddProposalsForm()
    on_ballot = {item.proposal_id for item in consultation.items}
    candidates = list(db.session.scalars(
        select(Proposal).where(Proposal.organisation_id == consultation.organisation_id,
                               Proposal.state == ProposalState.published, Proposal.hidden_at.is_(None))
        .order_by(Proposal.published_at.desc(), Proposal.id.desc()).limit(500)))
    form.proposal_ids.choices = [(p.id, p.title) for p in candidates if p.id not in on_ballot]
    if consultation.is_draft and form.validate_on_submit():
        try:
            service.add_proposals(acting_user(), consultation, form.proposal_ids.data)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Propositions ajoutées."), "success")
            return _to_manage(consultation.id)
    return render_template("consultations/manage/show.html", consultation=consultation, form=form,
                           confirm=ConfirmForm(), ballots_cast=service.ballot_count(consultation)), \
        422 if form.errors else 200


@bp.post("/<int:consultation_id>/propositions/<int:proposal_id>/retirer")
@requires(can_run_consultations)
def remove_proposal(consultation_id: int, proposal_id: int):
    consultation = _managed(consultation_id)
    if ConfirmForm().validate_on_submit():
        try:
            service.remove_proposal(acting_user(), consultation, proposal_id)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Proposition retirée du vote."), "success")
    return _to_manage(consultation.id)


@bp.post("/<int:consultation_id>/ouvrir")
@requires(can_run_consultations)
def open_consultation(consultation_id: int):
    consultation = _managed(consultation_id)
    if ConfirmForm().validate_on_submit():
        try:
            service.open_consultation(acting_user(), consultation)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("La consultation est publiée. Le vote est ouvert aux dates prévues."), "success")
    return _to_manage(consultation.id)


@bp.post("/<int:consultation_id>/clore")
@requires(can_run_consultations)
def close_consultation(consultation_id: int):
    consultation = _managed(consultation_id)
    if ConfirmForm().validate_on_submit():
        try:
            closed = service.close_consultation(consultation.id, actor=acting_user(), force=True)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            if closed is None:
                flash(_("Cette consultation n'est pas ouverte."), "error")
            else:
                flash(_("Le vote est clos et les résultats sont publiés."), "success")
                return redirect(url_for("consultations.show_results", consultation_id=consultation.id))
    return _to_manage(consultation.id)
