"""Per-organisation proposal settings: whether proposals are read before or after publication (the moderation
mode the use cases follow) and how the organisation names each state (``state_labels``, read by every list)."""

from sqlalchemy import select

from ..catalog.models import Organisation, Role
from ..catalog.permissions import has_org_role
from ..database import begin_write
from ..errors import InvalidInput, NotAllowed
from ..extensions import db
from ..permissions import is_admin
from .models import ModerationMode, ProposalSettings, ProposalState, StateLabel


def get_settings(organisation_id: int) -> ProposalSettings:
    settings = db.session.get(ProposalSettings, organisation_id)
    return settings or ProposalSettings(organisation_id=organisation_id, moderation=ModerationMode.after)


def update_settings(organisation: Organisation, user, moderation, labels: dict | None = None) -> ProposalSettings:
    """Editors of the organisation and admins choose the moderation mode and how each state is named."""

    if not (is_admin(user) or has_org_role(user, organisation, Role.editor)):
        raise NotAllowed()
    try:
        mode = moderation if isinstance(moderation, ModerationMode) else ModerationMode(moderation)
    except ValueError:
        raise InvalidInput() from None
    begin_write()
    settings = db.session.get(ProposalSettings, organisation.id)
    if settings is None:
        settings = ProposalSettings(organisation_id=organisation.id)
        db.session.add(settings)
    settings.moderation = mode
    for state, (label_fr, label_en) in (labels or {}).items():
        state = state if isinstance(state, ProposalState) else ProposalState(state)
        label_fr, label_en = (label_fr or "").strip()[:60], (label_en or "").strip()[:60]
        row = db.session.scalar(select(StateLabel).where(StateLabel.organisation_id == organisation.id,
                                                         StateLabel.state == state))
        if not label_fr:
            if row:
                db.session.delete(row)
            continue
        if row is None:
            db.session.add(StateLabel(organisation_id=organisation.id, state=state, label_fr=label_fr,
                                      label_en=label_en))
        else:
            row.label_fr, row.label_en = label_fr, label_en
    db.session.commit()
    return settings


def state_labels(organisation_ids) -> dict[tuple[int, ProposalState], StateLabel]:
    """Custom labels for these organisations, in one query."""
    ids = sorted(set(organisation_ids))
    if not ids:
        return {}
    rows = db.session.scalars(select(StateLabel).where(StateLabel.organisation_id.in_(ids)))
    return {(r.organisation_id, r.state): r for r in rows}
