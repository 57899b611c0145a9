"""Public trail pages and the trail sections other areas' pages include: a workshop's report, and the template
globals behind ``decisions/_trail_*.html`` (the idea, proposal and consultation results pages include them, so
those lower areas never import this one). Data comes from ``trail.py`` in a fixed number of queries."""

from flask import abort, current_app, g, render_template, request
from flask_babel import gettext
from flask_login import current_user
from markupsafe import Markup, escape

from ..boards.models import IdeaStatus
from ..workshops import queries as workshop_queries
from . import bp, trail


@bp.app_template_filter("join_clauses")
def join_clauses(items) -> Markup:
    """Clauses joined the way the reader's language does: « a ; b » in French, "a; b" in English. Each item is
    escaped unless it already is markup (a translated string with its escaped placeholders, a link)."""
    joined = Markup("")
    for k, item in enumerate(items):
        if k == 0:
            joined = escape(item)
        else:  # the pattern comes from our catalogs; Markup's % escapes the item
            joined = Markup(gettext("%(previous)s ; %(next)s")) % {"previous": joined, "next": item}  # noqa: S704
    return joined


@bp.app_template_global("unshown_idea_label")
def unshown_idea_label(idea) -> str:
    """Why a board idea's text is not shown with what came of it: still awaiting the facilitators' approval,
    hidden by them, or withdrawn by its author."""
    if idea.status is IdeaStatus.pending:
        return gettext("en attente de validation sur le tableau")
    if idea.status is IdeaStatus.withdrawn:
        return gettext("retirée par son auteur ou son autrice")
    return gettext("retirée du tableau")


@bp.app_template_global("proposal_trail")
def proposal_trail(proposal, origins=None, merged_from=None) -> dict:
    """Where a proposal came from (ideas, boards, workshops, votes) and what it led to (its answer and measures
    as the page's answer block read them, when it did; its origins and the proposals merged into it, as the page
    read them, when it passes them)."""
    return trail.proposal_trail(proposal, g.get("_proposal_decisions", {}).get(proposal.id), origins=origins,
                                merged_from=merged_from)


@bp.app_template_global("idea_trail")
def idea_trail(idea) -> dict:
    """What an idea led to: each proposal from it (that the reader may see), its answer and its measures."""
    return trail.idea_outcomes(idea, current_user)


@bp.app_template_global("consultation_outcomes")
def consultation_outcomes(consultation) -> dict:
    """proposal id -> what became of it, for a consultation's results page."""
    return trail.consultation_outcomes(consultation)


@bp.get("/ateliers/<int:workshop_id>/bilan")
def workshop_report(workshop_id: int):
    """A workshop's public report: participants, attendance, evaluation, ideas, proposals and what became of
    them."""
    workshop = workshop_queries.get_workshop(workshop_id)
    if not workshop_queries.can_view(workshop, current_user, request.args.get("invitation")):
        abort(404)
    over = workshop.is_over()
    return render_template("decisions/workshop_report.html", workshop=workshop, over=over,
                           attendance=workshop_queries.attendance(workshop) if over else None,
                           evaluation=workshop_queries.evaluation_summary(workshop) if over else None,
                           minimum=current_app.config["WORKSHOP_EVALUATION_MIN"],
                           report=trail.workshop_report(workshop))


@bp.app_template_global("measure_ancestry")
def measure_ancestry(measure) -> trail.Ancestry:
    """Everything upstream of a measure, for its page."""
    return trail.measure_ancestry(measure)
