"""Staff pages: moderation (approve, hide, reports, log), merge, settings, promotion of board ideas, idea pages."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import Length, Optional

from ..accounts.current import acting_user
from ..accounts.forms import ConfirmForm
from ..boards.models import Board, Cluster, Idea, IdeaStatus
from ..catalog.models import Organisation, Role
from ..catalog.permissions import has_org_role, is_staff
from ..errors import DomainError
from ..extensions import db
from ..inputs import parse_int
from ..permissions import is_admin, requires
from . import bp, errors, merging, queries, service
from . import moderation as moderation_service  # ``moderation`` and ``settings`` also name views below
from . import settings as settings_service
from .forms import DismissForm, HideForm, MergeForm, SettingsForm
from .loaders import load_proposal
from .models import MODERATION_ACTIONS, STATE_NAMES, Comment, Proposal, ProposalState, Report, StateLabel


@bp.post("/<int:proposal_id>/publier")
@login_required
def approve_proposal(proposal_id: int):
    proposal = load_proposal(proposal_id)
    if not proposal.can_moderate(current_user):
        abort(403)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        moderation_service.approve_proposal(proposal, acting_user())
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(_("La proposition est publiée."), "success")
    return redirect(url_for("proposals.show_proposal", proposal_id=proposal_id))


@bp.route("/<int:proposal_id>/masquer", methods=["GET", "POST"])
@login_required
def hide_proposal(proposal_id: int):
    proposal = load_proposal(proposal_id)
    if not proposal.can_moderate(current_user):
        abort(403)
    form = HideForm()
    if form.validate_on_submit():
        try:
            moderation_service.hide_proposal(proposal, acting_user(), form.reason.data)
        except DomainError as err:
            form.reason.errors = [*form.reason.errors, str(err.message)]
        else:
            flash(_("La proposition est masquée."), "success")
            return redirect(url_for("proposals.show_proposal", proposal_id=proposal_id))
    return render_template("proposals/hide.html", form=form, proposal=proposal, comment=None)


@bp.route("/commentaires/<int:comment_id>/masquer", methods=["GET", "POST"])
@login_required
def hide_comment(comment_id: int):
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        abort(404)
    proposal = load_proposal(comment.proposal_id)
    if not proposal.can_moderate(current_user):
        abort(403)
    form = HideForm()
    if form.validate_on_submit():
        try:
            moderation_service.hide_comment(comment, acting_user(), form.reason.data)
        except DomainError as err:
            form.reason.errors = [*form.reason.errors, str(err.message)]
        else:
            flash(_("Le commentaire est masqué."), "success")
            return redirect(url_for("proposals.show_proposal", proposal_id=proposal.id) + "#discussion")
    return render_template("proposals/hide.html", form=form, proposal=proposal, comment=comment)


@bp.route("/<int:proposal_id>/fusionner", methods=["GET", "POST"])
@login_required
def merge_proposal(proposal_id: int):
    proposal = load_proposal(proposal_id)
    if not proposal.can_manage(current_user):
        abort(403)
    form = MergeForm()
    suggestions = queries.similar_proposals(proposal.title, organisation_id=None if is_admin(current_user)
                                            else proposal.organisation_id, exclude_id=proposal.id)
    if form.validate_on_submit():
        target = db.session.get(Proposal, form.target_id.data)
        if target is None or not target.can_view(current_user):
            form.target_id.errors = [*form.target_id.errors, _("Cette proposition n'existe pas.")]
        else:
            try:
                merging.merge_proposals(proposal, target, acting_user())
            except DomainError as err:
                form.target_id.errors = [*form.target_id.errors, str(err.message)]
            else:
                flash(_("Les propositions sont fusionnées."), "success")
                return redirect(url_for("proposals.show_proposal", proposal_id=target.id))
    return render_template("proposals/merge.html", form=form, proposal=proposal, suggestions=suggestions)


def _is_staff_or_admin(user) -> bool:
    return is_staff(user) or is_admin(user)


@bp.get("/moderation")
@requires(_is_staff_or_admin)
def moderation():
    """What waits in the organisations this person edits (all of them for admins): reported content, proposals
    awaiting publication, and their moderation log."""
    me = acting_user()
    return render_template("proposals/moderation.html", awaiting=moderation_service.list_awaiting(me),
                           reported=moderation_service.list_reported(me), log=moderation_service.moderation_log(me),
                           is_moderator=moderation_service.is_moderator(me), confirm_form=ConfirmForm(),
                           actions=MODERATION_ACTIONS)


def _load_report(report_id: int) -> Report:
    """A report, for the people who can act on it only (checked again on every request)."""
    report = db.session.get(Report, report_id)  # ids from a URL: bounded by the app's <int:> converter
    if report is None:
        raise errors.ReportNotFound()
    if not report.can_moderate(current_user):
        abort(403)
    return report


def _report_page(report: Report, hide_form=None, dismiss_form=None, status: int = 200):
    # The page's actions cover this report and the earlier open ones on the same content; later ones get their own
    # page (and their own notification), so that no one closes a report they have not read.
    open_on_content = moderation_service.open_reports_on(report)
    return render_template("proposals/report.html", report=report,
                           reports=[] if report.is_resolved else [r for r in open_on_content if r.id <= report.id],
                           newer=[r for r in open_on_content if r.id > report.id],
                           hide_form=hide_form or HideForm(formdata=None),
                           dismiss_form=dismiss_form or DismissForm(formdata=None)), status


@bp.get("/signalements/<int:report_id>")
@login_required
def show_report(report_id: int):
    """A report and what it points at, with the moderators' actions: hide the content, or close the report."""
    return _report_page(_load_report(report_id))


@bp.post("/signalements/<int:report_id>/masquer")
@login_required
def hide_reported(report_id: int):
    report = _load_report(report_id)
    form = HideForm()
    if not form.validate_on_submit():
        return _report_page(report, hide_form=form, status=422)
    try:
        moderation_service.hide_reported(report, acting_user(), form.reason.data)
    except DomainError as err:
        flash(str(err.message), "error")
        return redirect(url_for("proposals.show_report", report_id=report_id))
    flash(_("Le commentaire est masqué.") if report.comment_id else _("La proposition est masquée."), "success")
    return redirect(url_for("proposals.moderation"))


@bp.post("/signalements/<int:report_id>/classer")
@login_required
def dismiss_report(report_id: int):
    report = _load_report(report_id)
    form = DismissForm()
    if not form.validate_on_submit():
        return _report_page(report, dismiss_form=form, status=422)
    try:
        moderation_service.dismiss_report(report, acting_user(), form.note.data or "")
    except DomainError as err:
        flash(str(err.message), "error")
        return redirect(url_for("proposals.show_report", report_id=report_id))
    flash(_("Le signalement est classé sans suite."), "success")
    return redirect(url_for("proposals.moderation"))


def _settings_form(organisation):
    class Form(SettingsForm):
        pass

    for state in ProposalState:
        setattr(Form, f"label_{state.value}", StringField(
            _l("Nom affiché pour « %(state)s »", state=STATE_NAMES[state]), validators=[Optional(), Length(max=60)]))
        setattr(Form, f"label_en_{state.value}", StringField(
            _l("Nom affiché en anglais pour « %(state)s »", state=STATE_NAMES[state]),
            validators=[Optional(), Length(max=60)]))
    return Form()


@bp.route("/organisations/<int:organisation_id>/reglages", methods=["GET", "POST"])
@login_required
def settings(organisation_id: int):
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        abort(404)
    if not (is_admin(current_user) or has_org_role(current_user, organisation, Role.editor)):
        abort(403)
    form = _settings_form(organisation)
    labels = {row.state: row for row in db.session.scalars(select(StateLabel).where(
        StateLabel.organisation_id == organisation.id))}
    if request.method == "GET":
        form.moderation.data = settings_service.get_settings(organisation.id).moderation.value
        for state, row in labels.items():
            getattr(form, f"label_{state.value}").data = row.label_fr
            getattr(form, f"label_en_{state.value}").data = row.label_en
    if form.validate_on_submit():
        new_labels = {state: (getattr(form, f"label_{state.value}").data or "",
                              getattr(form, f"label_en_{state.value}").data or "") for state in ProposalState}
        try:
            settings_service.update_settings(organisation, acting_user(), form.moderation.data, labels=new_labels)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Les réglages sont enregistrés."), "success")
            return redirect(url_for("proposals.settings", organisation_id=organisation.id))
    return render_template("proposals/settings.html", form=form, organisation=organisation,
                           open_reports=moderation_service.count_open_reports(acting_user(), organisation.id),
                           label_fields=[(getattr(form, f"label_{s.value}"), getattr(form, f"label_en_{s.value}"))
                                         for s in ProposalState])


# --- promotion from boards -----------------------------------------------------------------------

def _managed_board(board_id: int) -> Board:
    board = db.session.get(Board, board_id)
    if board is None:
        abort(404)
    if not board.can_manage(current_user):
        abort(403)
    return board


@bp.get("/tableaux/<int:board_id>")
@login_required
def board_ideas(board_id: int):
    """A facilitator's page: the board's ideas and clusters, each with « Créer une proposition »."""
    board = _managed_board(board_id)
    ideas = list(db.session.scalars(select(Idea).where(Idea.board_id == board.id,
                                                       Idea.status == IdeaStatus.visible).order_by(Idea.id)))
    clusters = list(db.session.scalars(select(Cluster).where(Cluster.board_id == board.id).order_by(Cluster.id)))
    promoted = service.promoted_map(board.id)
    return render_template("proposals/board_ideas.html", board=board, ideas=ideas, clusters=clusters,
                           promoted=promoted, confirm_form=ConfirmForm())


@bp.post("/tableaux/<int:board_id>/promouvoir")
@login_required
def promote(board_id: int):
    board = _managed_board(board_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    raw = request.form.get("idea_id"), request.form.get("cluster_id")
    idea_id, cluster_id = (parse_int(value) for value in raw)
    if any(value and parse_int(value) is None for value in raw):
        abort(404)  # not an id the database can hold
    source = db.session.get(Idea, idea_id) if idea_id else db.session.get(Cluster, cluster_id) if cluster_id \
        else None
    if source is None or source.board_id != board.id or (idea_id and cluster_id):
        abort(404)
    try:
        proposal = service.promote(acting_user(), idea_id=idea_id, cluster_id=cluster_id)
    except DomainError as err:
        flash(str(err.message), "error")
        return redirect(url_for("proposals.board_ideas", board_id=board.id))
    flash(_("Un brouillon de proposition est créé : complétez-le puis envoyez-le."), "success")
    return redirect(url_for("proposals.edit_proposal", proposal_id=proposal.id))


@bp.get("/idees/<int:idea_id>")
def idea_page(idea_id: int):
    """What an idea led to: its board's people see it; everyone once a proposal from it is public."""
    idea = db.session.get(Idea, idea_id)
    if idea is None or idea.status is not IdeaStatus.visible or not service.can_see_idea(idea, current_user):
        abort(404)
    proposals = [p for p in service.proposals_from_idea(idea)
                 if p.can_view(current_user) and (not p.is_hidden or p.can_manage(current_user))]
    return render_template("proposals/idea.html", idea=idea, proposals=proposals,
                           labels=settings_service.state_labels(p.organisation_id for p in proposals))
