"""Public proposal pages: list and search, submit (with a review step), show, edit, support, follow, discuss."""

from math import ceil

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required
from wtforms.fields.choices import SelectChoice

from ..accounts.current import acting_user
from ..accounts.forms import ConfirmForm
from ..catalog import service as catalog
from ..catalog.models import Organisation, Service
from ..errors import DomainError, InvalidInput
from ..extensions import db, limiter
from ..inputs import PAGE_MAX, enum_member, int_arg, parse_int
from ..permissions import is_admin
from . import bp, merging, moderation, queries, service, settings
from .forms import CommentForm, EditForm, ProposalForm, ReportForm
from .loaders import load_proposal
from .models import STATE_NAMES, Proposal, ProposalState


def _post_limit():
    return current_app.config["PROPOSAL_POST_RATE_LIMIT"]


def _comment_limit():
    return current_app.config["PROPOSAL_COMMENT_RATE_LIMIT"]


def _per_account() -> str:
    """Posting limits count per account (many people may share one library's or one office's address)."""
    if current_user.is_authenticated:
        return f"account:{current_user.id}"
    return get_remote_address()


def _form_id(raw) -> int | None:
    """A row id posted in a form: None when absent; 0 (no such row: the service refuses it) when it is not an id
    of the database's 32-bit range."""
    if not raw:
        return None
    return parse_int(raw) or 0


def _field_error(form, name, err) -> None:
    field = getattr(form, name, None)
    if field is None:
        flash(str(err.message), "error")
    else:
        field.errors = [*field.errors, str(err.message)]


class Page:
    """Just enough of a pagination object for ``workshops/_pagination.html``."""

    def __init__(self, items, total, page, per_page):
        self.items, self.total, self.page = items, total, page
        self.pages = max(1, ceil(total / per_page))
        self.has_prev, self.has_next = page > 1, page < self.pages
        self.prev_num, self.next_num = page - 1, page + 1


@bp.get("/")
def list_proposals():
    state = enum_member(ProposalState, request.args.get("etat", ""))
    sort = request.args.get("tri", "newest")
    sort = sort if sort in ("newest", "supported", "relevance") else "newest"
    page = int_arg("page", 1, maximum=PAGE_MAX)
    per_page = current_app.config.get("PROPOSALS_PER_PAGE", queries.PER_PAGE)
    q = request.args.get("q", "").strip()[:200]
    items, total = queries.list_proposals(organisation_id=int_arg("organisation"), service_id=int_arg("demarche"),
                                          life_event_id=int_arg("moment"), state=state, q=q, sort=sort,
                                          page=page, per_page=per_page)
    return render_template("proposals/list.html", pagination=Page(items, total, page, per_page), args=request.args,
                           q=q, labels=settings.state_labels(p.organisation_id for p in items),
                           organisations=catalog.list_organisations(),
                           life_events=catalog.list_life_events(with_services=False), services=catalog.service_names(),
                           states=[s for s in ProposalState if s in (ProposalState.published, ProposalState.in_vote,
                                                                     ProposalState.selected, ProposalState.answered)],
                           state_names=STATE_NAMES,
                           open_reports=moderation.count_open_reports(current_user)
                           if moderation.is_moderator(current_user) else None)


@bp.get("/similaires")
@limiter.limit("120 per minute")
def similar():
    """JSON: public proposals resembling ``q`` (duplicate hints while typing a title)."""
    q = request.args.get("q", "")
    if len(q) > 200:
        err = InvalidInput(_("La recherche est trop longue."))
        return jsonify(err.to_dict()), 422
    items = queries.similar_proposals(q, organisation_id=int_arg("organisation"), limit=5)
    return jsonify({"items": [{"id": p.id, "title": p.title, "url": url_for("proposals.show_proposal",
                                                                              proposal_id=p.id),
                               "supports": p.support_count, "organisation": p.organisation.name} for p in items]})


def _subject_choices(form):
    none = [SelectChoice(0, _("— Aucun·e —"))]
    form.service_id.choices = none + [SelectChoice(s.id, f"{s.name} ({s.organisation.name})") for s in
                                      db.session.scalars(db.select(Service).order_by(Service.name))]
    form.life_event_id.choices = none + [SelectChoice(e.id, e.name_fr)
                                         for e in catalog.list_life_events(with_services=False)]
    form.organisation_id.choices = none + [SelectChoice(o.id, o.name) for o in
                                           db.session.scalars(db.select(Organisation).order_by(Organisation.name))]


@bp.route("/nouvelle", methods=["GET", "POST"])
@login_required
@limiter.limit(_post_limit, methods=["POST"], key_func=_per_account)
def new_proposal():
    form = ProposalForm()
    _subject_choices(form)
    if request.method == "GET":
        form.service_id.data = int_arg("demarche", 0)
        form.life_event_id.data = int_arg("moment", 0)
    similar_items = None
    if form.validate_on_submit():
        if form.confirmed.data != "1":
            # Review step (works without JavaScript): show look-alikes before anything is stored.
            similar_items = queries.similar_proposals(f"{form.title.data} {form.problem.data}", limit=5)
            form.confirmed.data = "1"
        else:
            try:
                proposal = service.create_proposal(
                    acting_user(), title=form.title.data, problem=form.problem.data, change=form.change.data,
                    benefit=form.benefit.data or "", service_id=form.service_id.data or None,
                    life_event_id=form.life_event_id.data or None,
                    organisation_id=form.organisation_id.data or None, honeypot=form.website.data)
            except DomainError as err:
                name = {"title_required": "title", "problem_required": "problem", "change_required": "change",
                        "subject_required": "service_id", "organisation_required": "organisation_id",
                        "spam_suspected": "website"}.get(err.code)
                _field_error(form, name or "title", err)
                form.confirmed.data = ""
            else:
                if proposal.state is ProposalState.published:
                    flash(_("Votre proposition est publiée."), "success")
                else:
                    flash(_("Votre proposition est envoyée : elle sera publiée après relecture."), "success")
                return redirect(url_for("proposals.show_proposal", proposal_id=proposal.id))
    return render_template("proposals/new.html", form=form, similar=similar_items,
                           is_admin=is_admin(current_user))


@bp.get("/<int:proposal_id>")
def show_proposal(proposal_id: int):
    proposal = load_proposal(proposal_id)
    if proposal.is_merged:
        target = merging.merged_into_chain_end(proposal)
        return redirect(url_for("proposals.show_proposal", proposal_id=target.id, fusion=proposal.id))
    merged_source = None
    merged_id = int_arg("fusion")
    if merged_id:
        candidate = db.session.get(Proposal, merged_id)
        if candidate is not None and candidate.merged_into_id == proposal.id:
            merged_source = candidate
    me = current_user
    return render_template(
        "proposals/show.html", proposal=proposal, merged_source=merged_source,
        labels=settings.state_labels([proposal.organisation_id]),
        versions=service.list_versions(proposal) if proposal.support_count or proposal.version > 1 else [],
        origins=service.origins_of(proposal), merged_from=merging.merged_from(proposal),
        comments=service.list_comments(proposal), supported=service.has_supported(proposal, me),
        following=service.is_following(proposal, me), comment_form=CommentForm(), report_form=ReportForm(),
        confirm_form=ConfirmForm(), can_edit=proposal.can_edit(me), can_moderate=proposal.can_moderate(me),
        can_manage=proposal.can_manage(me), is_author=proposal.is_author(me))


@bp.route("/<int:proposal_id>/modifier", methods=["GET", "POST"])
@login_required
def edit_proposal(proposal_id: int):
    proposal = load_proposal(proposal_id)
    if not proposal.can_edit(current_user):
        abort(403)
    form = EditForm(obj=proposal)
    if form.validate_on_submit():
        try:
            service.edit_proposal(proposal, acting_user(), title=form.title.data, problem=form.problem.data,
                                  change=form.change.data, benefit=form.benefit.data or "")
        except DomainError as err:
            _field_error(form, {"title_required": "title", "problem_required": "problem",
                                "change_required": "change"}.get(err.code, "title"), err)
        else:
            flash(_("La proposition est modifiée."), "success")
            return redirect(url_for("proposals.show_proposal", proposal_id=proposal_id))
    return render_template("proposals/edit.html", form=form, proposal=proposal)


def _action(proposal_id: int, run, success: str):
    """A one-button POST: CSRF-checked, one service call, back to the proposal."""
    proposal = load_proposal(proposal_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        run(proposal, acting_user())
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(success, "success")
    return redirect(url_for("proposals.show_proposal", proposal_id=proposal_id))


@bp.post("/<int:proposal_id>/soumettre")
@login_required
def submit_proposal(proposal_id: int):
    return _action(proposal_id, service.submit_proposal, _("La proposition est envoyée."))


@bp.post("/<int:proposal_id>/retirer")
@login_required
def withdraw_proposal(proposal_id: int):
    return _action(proposal_id, service.withdraw_proposal, _("La proposition est retirée."))


@bp.post("/<int:proposal_id>/soutenir")
@login_required
def support(proposal_id: int):
    return _action(proposal_id, service.support, _("Votre soutien est enregistré."))


@bp.post("/<int:proposal_id>/retirer-soutien")
@login_required
def unsupport(proposal_id: int):
    return _action(proposal_id, service.unsupport, _("Votre soutien est retiré."))


@bp.post("/<int:proposal_id>/suivre")
@login_required
def follow(proposal_id: int):
    return _action(proposal_id, service.follow, _("Vous suivez cette proposition."))


@bp.post("/<int:proposal_id>/ne-plus-suivre")
@login_required
def unfollow(proposal_id: int):
    return _action(proposal_id, service.unfollow, _("Vous ne suivez plus cette proposition."))


@bp.post("/<int:proposal_id>/commentaires")
@login_required
@limiter.limit(_comment_limit, key_func=_per_account)
def add_comment(proposal_id: int):
    proposal = load_proposal(proposal_id)
    form = CommentForm()
    if form.validate_on_submit():
        parent_id = form.parent_id.data
        try:
            service.add_comment(proposal, acting_user(), form.body.data, honeypot=form.website.data,
                                parent_id=_form_id(parent_id))
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Votre commentaire est publié."), "success")
    else:
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
    return redirect(url_for("proposals.show_proposal", proposal_id=proposal_id) + "#discussion")


@bp.post("/<int:proposal_id>/signaler")
@login_required
@limiter.limit(_comment_limit, key_func=_per_account)
def report(proposal_id: int):
    proposal = load_proposal(proposal_id)
    form = ReportForm()
    if not form.validate_on_submit():
        abort(400)
    comment_id = form.comment_id.data
    try:
        moderation.report(proposal, acting_user(), form.reason.data or "",
                          comment_id=_form_id(comment_id))
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(_("Merci : le signalement est transmis à l'équipe de modération."), "success")
    return redirect(url_for("proposals.show_proposal", proposal_id=proposal_id))


@bp.get("/mes-propositions")
@login_required
def my_proposals():
    items = queries.list_mine(current_user)
    return render_template("proposals/mine.html", items=items,
                           labels=settings.state_labels(p.organisation_id for p in items))


from . import manage  # noqa: E402,F401
