"""How the catalogue area reacts to other areas' signals."""

from .. import signals
from ..clock import iso
from ..extensions import db
from .models import Membership


@signals.personal_data_requested.connect
def _personal_data(user):
    """« Mes données »: the person's roles in organisations (read here, where memberships live)."""
    from sqlalchemy import select

    memberships = db.session.scalars(select(Membership).where(Membership.user_id == user.id)
                                     .order_by(Membership.created_at, Membership.id))
    return "memberships", [{"organisation": m.organisation.name, "role": m.role.value, "since": iso(m.created_at)}
                           for m in memberships]
