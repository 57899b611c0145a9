"""Staff pages: moderation (approve, hide, log), merge, settings, promotion of board ideas, idea pages."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import Length, Optional

from ..accounts.forms import ConfirmForm
from ..boards.models import Board, Cluster, Idea, IdeaStatus
from ..catalog.models import Organisation, Role
from ..errors import DomainError
from ..extensions import db
from ..inputs import parse_int
from ..permissions import has_org_role, is_admin, is_staff, requires
from . import bp, service
from .forms import HideForm, MergeForm, SettingsForm
from .models import MODERATION_ACTIONS, STATE_NAMES, Comment, ProposalState, StateLabel
from .routes import _load, _me


@bp.post("/<int:proposal_id>/publier")
@login_required
def approve_proposal(proposal_id: int):
    proposal = _load(proposal_id)
    if not proposal.can_moderate(current_user):
        abort(403)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        service.approve_proposal(proposal, _me())
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(_("La proposition est publiée."), "success")
    return redirect(url_for("proposals.show_proposal", proposal_id=proposal_id))


@bp.route("/<int:proposal_id>/masquer", methods=["GET", "POST"])
@login_required
def hide_proposal(proposal_id: int):
    proposal = _load(proposal_id)
    if not proposal.can_moderate(current_user):
        abort(403)
    form = HideForm()
    if form.validate_on_submit():
        try:
            service.hide_proposal(proposal, _me(), form.reason.data)
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
    proposal = _load(comment.proposal_id)
    if not proposal.can_moderate(current_user):
        abort(403)
    form = HideForm()
    if form.validate_on_submit():
        try:
            service.hide_comment(comment, _me(), form.reason.data)
        except DomainError as err:
            form.reason.errors = [*form.reason.errors, str(err.message)]
        else:
            flash(_("Le commentaire est masqué."), "success")
            return redirect(url_for("proposals.show_proposal", proposal_id=proposal.id) + "#discussion")
    return render_template("proposals/hide.html", form=form, proposal=proposal, comment=comment)


@bp.route("/<int:proposal_id>/fusionner", methods=["GET", "POST"])
@login_required
def merge_proposal(proposal_id: int):
    proposal = _load(proposal_id)
    if not proposal.can_manage(current_user):
        abort(403)
    form = MergeForm()
    suggestions = service.similar_proposals(proposal.title, organisation_id=None if is_admin(current_user)
                                            else proposal.organisation_id, exclude_id=proposal.id)
    if form.validate_on_submit():
        target = db.session.get(service.Proposal, form.target_id.data)
        if target is None or not target.can_view(current_user):
            form.target_id.errors = [*form.target_id.errors, _("Cette proposition n'existe pas.")]
        else:
            try:
                service.merge_proposals(proposal, target, _me())
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
    """Awaiting proposals for editors; the log and open reports for admins."""
    admin = is_admin(current_user)
    return render_template("proposals/moderation.html", awaiting=service.list_awaiting(_me()),
                           log=service.moderation_log(_me()) if admin else [],
                           reports=service.open_reports(_me()) if admin else [], is_admin=admin,
                           confirm_form=ConfirmForm(), actions=MODERATION_ACTIONS)


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
        form.moderation.data = service.get_settings(organisation.id).moderation.value
        for state, row in labels.items():
            getattr(form, f"label_{state.value}").data = row.label_fr
            getattr(form, f"label_en_{state.value}").data = row.label_en
    if form.validate_on_submit():
        new_labels = {state: (getattr(form, f"label_{state.value}").data or "",
                              getattr(form, f"label_en_{state.value}").data or "") for state in ProposalState}
        try:
            service.update_settings(organisation, _me(), form.moderation.data, labels=new_labels)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Les réglages sont enregistrés."), "success")
            return redirect(url_for("proposals.settings", organisation_id=organisation.id))
    return render_template("proposals/settings.html", form=form, organisation=organisation,
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
        proposal = service.promote(_me(), idea_id=idea_id, cluster_id=cluster_id)
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
                           labels=service.state_labels(p.organisation_id for p in proposals))
