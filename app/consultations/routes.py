"""Public consultation pages: list, a consultation, its ballot (with a review step), its results."""

from math import ceil

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.routing import BuildError

from ..accounts.current import acting_user
from ..accounts.forms import ConfirmForm
from ..errors import DomainError
from ..inputs import PAGE_MAX, int_arg
from ..markdown import render_markdown
from ..permissions import is_verified
from ..proposals import settings as proposals_settings
from . import bp, service
from .forms import BallotForm, grade_labels, read_ballot
from .models import ConsultationMethod, managed_organisations


def proposal_url(proposal) -> str | None:
    """The proposal's own page, if the proposals area serves one."""
    for endpoint in ("proposals.show_proposal", "proposals.show"):
        if endpoint in current_app.view_functions:
            try:
                return url_for(endpoint, proposal_id=proposal.id)
            except BuildError:
                return None
    return None


@bp.app_context_processor
def _helpers():
    # Labels as plain strings, translated once per call (lazy strings would translate again at every output).
    return {"proposal_url": proposal_url,
            "grade_labels": lambda: {grade: str(label) for grade, label in grade_labels().items()}}


def _load_visible(consultation_id: int):
    consultation = service.get_consultation(consultation_id)
    if not consultation.can_view(current_user):
        abort(404)
    return consultation


class Page:
    """A page of a list: its items, the total, and where the previous and next pages are."""

    def __init__(self, items, total: int, page: int, per_page: int):
        self.items, self.total, self.page = items, total, page
        self.pages = max(1, ceil(total / per_page))
        self.has_prev, self.has_next = page > 1, page < self.pages
        self.prev_num, self.next_num = page - 1, page + 1


def _page_arg() -> int:
    return int_arg("page", 1, maximum=PAGE_MAX)


@bp.get("/")
def list_consultations():
    page = _page_arg()
    per_page = current_app.config.get("CONSULTATIONS_PER_PAGE", service.CLOSED_PER_PAGE)
    groups = service.list_consultations(current_user, page=page, per_page=per_page)
    return render_template("consultations/list.html", groups=groups,
                           closed=Page(groups["closed"], groups["closed_total"], page, per_page),
                           can_create=bool(managed_organisations(current_user)))


@bp.get("/<int:consultation_id>")
def show_consultation(consultation_id: int):
    consultation = _load_visible(consultation_id)
    ballot = service.ballot_for(consultation, current_user)
    live = service.live_tally(consultation).by_proposal() if consultation.counts_visible() and \
        not consultation.is_closed else None
    sorts = [s for s in service.ITEM_SORTS if s != "rank" or consultation.is_closed]
    sort = request.args.get("tri", "")
    sort = sort if sort in sorts else ("rank" if consultation.is_closed else "newest")
    q = request.args.get("q", "").strip()[:200]
    page = _page_arg()
    per_page = current_app.config.get("CONSULTATION_ITEMS_PER_PAGE", service.ITEMS_PER_PAGE)
    items, total = service.list_items(consultation, q=q, sort=sort, page=page, per_page=per_page)
    return render_template("consultations/show.html", consultation=consultation, ballot=ballot,
                           description=render_markdown(consultation.description_md), live=live,
                           live_items=([i for i in service.ballot_items(consultation) if i.proposal_id in live]
                                       if live else []),
                           items=Page(items, total, page, per_page), item_count=service.item_count(consultation),
                           q=q, sort=sort, sorts=sorts,
                           # A consultation's proposals are all of its organisation: one query, any page.
                           labels=proposals_settings.state_labels([consultation.organisation_id]),
                           ballots_cast=service.ballot_count(consultation) if live is not None else None,
                           can_manage=consultation.can_manage(current_user), form=ConfirmForm())


def _render_ballot(consultation, values, errors=None, status=200, message=None):
    return render_template("consultations/ballot.html", consultation=consultation, values=values,
                           errors=errors or {}, message=message, form=BallotForm(),
                           has_ballot=service.ballot_for(consultation, current_user) is not None), status


@bp.route("/<int:consultation_id>/vote", methods=["GET", "POST"])
@login_required
def cast_ballot(consultation_id: int):
    consultation = _load_visible(consultation_id)
    back = url_for("consultations.show_consultation", consultation_id=consultation.id)
    if not is_verified(current_user):
        flash(str(service.NotVerified.message), "error")
        return redirect(back)
    if request.method == "GET" or request.form.get("action") == "edit":
        if not consultation.voting_open():
            flash(_("Le vote n'est pas ouvert."), "info")
            return redirect(back)
        if request.method == "POST":  # back from the review step, with what was entered
            ids = [item.proposal_id for item in consultation.votable_items]
            return _render_ballot(consultation, read_ballot(consultation.method, ids, request.form)[0])
        return _render_ballot(consultation, service.ballot_values(service.ballot_for(consultation, current_user)))
    form = BallotForm()
    ids = [item.proposal_id for item in consultation.votable_items]
    choices, errors = read_ballot(consultation.method, ids, request.form)
    if not form.validate_on_submit():
        return _render_ballot(consultation, choices, errors, 400,
                              _("Le formulaire a expiré. Vérifiez vos saisies et envoyez-le à nouveau."))
    if errors:
        return _render_ballot(consultation, choices, errors, 422)
    try:
        clean = service.validate_choices(consultation, set(ids), choices)
    except DomainError as err:
        return _render_ballot(consultation, choices, {}, 422, str(err.message))
    if request.form.get("action") != "confirm":
        if not consultation.voting_open():  # the service refuses the same at confirmation, under its lock
            error = service.VotingNotOpen if consultation.is_upcoming() or consultation.is_draft else \
                service.VotingClosed
            return _render_ballot(consultation, choices, {}, 400, str(error.message))
        # The review step: what will be stored, ungraded proposals shown as « À rejeter ».
        return render_template("consultations/review.html", consultation=consultation, values=clean, form=form)
    get_locale()
    try:
        service.cast_ballot(consultation, acting_user(), choices)
    except DomainError as err:
        return _render_ballot(consultation, choices, {}, err.status, str(err.message))
    flash(_("Votre vote est enregistré. Vous pouvez le modifier jusqu'à la clôture."), "success")
    return redirect(back)


@bp.post("/<int:consultation_id>/vote/retirer")
@login_required
def withdraw_ballot(consultation_id: int):
    consultation = _load_visible(consultation_id)
    if ConfirmForm().validate_on_submit():
        try:
            withdrawn = service.withdraw_ballot(consultation, acting_user())
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            if withdrawn:
                flash(_("Votre vote est retiré."), "success")
    return redirect(url_for("consultations.show_consultation", consultation_id=consultation.id))


@bp.get("/<int:consultation_id>/resultats")
def show_results(consultation_id: int):
    consultation = _load_visible(consultation_id)
    if not consultation.is_closed:
        flash(_("Les résultats seront publiés à la clôture du vote."), "info")
        return redirect(url_for("consultations.show_consultation", consultation_id=consultation.id))
    # Withdrawn proposals (no rank) come last. Loaded only when the page is rendered (it is kept between views).
    def ranked_items():
        return sorted(consultation.items, key=lambda i: (i.rank is None, i.rank or 0, i.position))

    return render_template("consultations/results.html", consultation=consultation, ranked_items=ranked_items,
                           majority=consultation.method is ConsultationMethod.majority)
