"""Admins read recent mail locally (development and support)."""

from flask import render_template

from ..extensions import db
from ..permissions import can_read_outbox, requires
from . import bp
from .models import OutboxMessage
from .service import list_recent


@bp.get("/")
@requires(can_read_outbox)
def list_messages():
    return render_template("mail/list.html", messages=list_recent())


@bp.get("/<int:message_id>")
@requires(can_read_outbox)
def show_message(message_id: int):
    message = db.get_or_404(OutboxMessage, message_id)
    return render_template("mail/show.html", message=message)
