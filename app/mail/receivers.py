"""How the mail area reacts to other areas' signals."""

from .. import signals
from ..clock import iso
from ..extensions import db
from .masking import mask_secrets
from .models import OutboxMessage


@signals.personal_data_requested.connect
def _personal_data(user):
    """« Mes données »: the mail still kept for the person's current address (until the retention period ends),
    with the secrets of its links hidden as on the admin pages."""
    from sqlalchemy import select

    messages = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == user.email)
                                  .order_by(OutboxMessage.created_at, OutboxMessage.id))
    return "mails", [{"kind": m.template, "subject": mask_secrets(m.subject), "body": mask_secrets(m.body_text),
                      "status": m.status.value, "queued_at": iso(m.created_at), "sent_at": iso(m.sent_at)}
                     for m in messages]
