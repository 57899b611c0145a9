"""Admins read recent mail locally (development and support), with the secrets of its links hidden."""

from flask import render_template

from ..extensions import db
from ..permissions import can_read_outbox, requires
from . import bp
from .masking import mask_secrets
from .models import OutboxMessage
from .service import list_recent


@bp.get("/")
@requires(can_read_outbox)
def list_messages():
    messages = list_recent()
    return render_template("mail/list.html", messages=messages,
                           subjects={m.id: mask_secrets(m.subject) for m in messages})


@bp.get("/<int:message_id>")
@requires(can_read_outbox)
def show_message(message_id: int):
    message = db.get_or_404(OutboxMessage, message_id)
    # What is shown is masked; the stored message is left as it is sent.
    return render_template("mail/show.html", message=message, subject=mask_secrets(message.subject),
                           body_text=mask_secrets(message.body_text))
