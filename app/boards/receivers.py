"""Broadcast committed board events to their audiences; close the connections of people who lost access."""

import logging
from itertools import groupby
from operator import itemgetter

from .. import signals
from ..catalog.permissions import is_facilitator
from ..extensions import socketio
from ..i18n import current_language
from ..urls import public_origin
from . import service
from .models import PHASE_ORDER
from .rooms import facilitators_room, participant_room, participants_room, user_room

log = logging.getLogger(__name__)
NAMESPACE = "/boards"


def _disconnect_local(room: str) -> None:
    """Disconnect this process's connections in ``room`` (other processes refuse their next event)."""
    server = socketio.server
    if server is None:
        return
    for sid, _eio_sid in list(server.manager.get_participants(NAMESPACE, room)):
        server.disconnect(sid, namespace=NAMESPACE)


@signals.board_events.connect
def broadcast(board_id, events, afters=None):
    """After commit, each change goes out once to each connection that has something in it: first, to each person
    with events of their own in it, a ``private_change``; then a ``change`` with the events of its audience to the
    facilitators' room and to the participants' room. Each names the previous change its audience was sent
    (``after``): a client whose last seq is below it missed one, and resyncs."""
    afters = afters or {}
    for seq, group in groupby(events, key=itemgetter("seq")):
        group = list(group)
        private: dict[int, list[dict]] = {}
        for event in group:
            if event["audience"] == "participant":
                private.setdefault(event["participant_id"], []).append(
                    {"name": event["name"], "payload": event["payload"]})
        shared = sorted(afters.get(seq, {}))  # the audiences that get a ``change`` of this seq
        for participant_id, own in private.items():
            socketio.emit("private_change", {"seq": seq, "events": own, "with_change_for": shared},
                          to=participant_room(board_id, participant_id), namespace=NAMESPACE)
        for audience, room, facilitator in (("facilitators", facilitators_room(board_id), True),
                                            ("participants", participants_room(board_id), False)):
            if audience in afters.get(seq, {}):
                [change] = service.changes_for(group, facilitator)
                socketio.emit("change", {"seq": seq, "after": afters[seq][audience], "events": change["events"]},
                              to=room, namespace=NAMESPACE)
        for event in group:
            _close_connections_after(board_id, event)


def _close_connections_after(board_id: int, event: dict) -> None:
    if event["name"] == "participant_removed":
        room = participant_room(board_id, event["payload"]["participant_id"])
        socketio.emit("session_ended", {"reason": "removed"}, to=room, namespace=NAMESPACE)
        _disconnect_local(room)
    elif event["name"] == "participant_role_changed" and event["audience"] == "facilitators":
        # Their sockets sit in the audience room of their former role: close them (board.js reloads
        # the page, which rejoins with the right role). A socket held by another process is moved at
        # its next event, or as soon as the client obeys ``session_ended``.
        room = participant_room(board_id, event["payload"]["participant"]["id"])
        socketio.emit("session_ended", {"reason": "role_changed"}, to=room, namespace=NAMESPACE)
        _disconnect_local(room)


@signals.personal_data_requested.connect
def _personal_data(user):
    return "boards", service.personal_data(user)


@signals.user_sessions_revoked.connect
def close_user_connections(user):
    """Log out everywhere / account deletion: that person's live connections end now."""
    room = user_room(user.id)
    socketio.emit("session_ended", {"reason": "signed_out"}, to=room, namespace=NAMESPACE)
    _disconnect_local(room)


def phase_label(phase) -> str:
    from flask_babel import gettext as _

    value = getattr(phase, "value", phase)
    return {"preparation": _("Préparation"), "brainstorm": _("Idées"), "grouping": _("Regroupement"),
            "voting": _("Vote"), "discussion": _("Discussion"), "closed": _("Terminée")}.get(value, value)


def idea_status_label(status) -> str:
    from flask_babel import gettext as _

    value = getattr(status, "value", status)
    return {"pending": _("en attente d'approbation"), "visible": _("visible"), "hidden": _("masquée"),
            "withdrawn": _("retirée")}.get(value, value)


def board_texts() -> dict:
    """Translated strings the board's JavaScript needs (it has no catalog of its own)."""
    from flask_babel import gettext as _

    return {
        "connected": _("Connecté·e"), "offline": _("Hors ligne : vos idées seront envoyées au retour de la "
                                                     "connexion."),
        "reconnecting": _("Reconnexion…"), "pending": _("en attente d'envoi"),
        "live_origin": public_origin(),
        # Left unformatted: the client fills the two addresses in.
        "origin_refused": _("Connexion en direct refusée : cette page est ouverte à l'adresse %(here)s, mais le "
                            "serveur n'accepte les connexions en direct que depuis %(expected)s. Ouvrez le tableau "
                            "à cette adresse-là (si elle est fausse, l'administrateur doit corriger le réglage "
                            "BASE_URL)."),
        "new_ideas_one": _("%(num)s nouvelle idée"), "new_ideas_many": _("%(num)s nouvelles idées"),
        "anonymous": _("anonyme"),
        "votes_one": _("%(num)s vote"), "votes_many": _("%(num)s votes"),
        "vote_add": _("Ajouter une gommette"), "vote_remove": _("Retirer une gommette"),
        "move": _("Déplacer"), "move_to": _("Déplacer vers la colonne"), "edit": _("Modifier"),
        "withdraw": _("Retirer"), "save": _("Enregistrer"), "cancel": _("Annuler"), "hide": _("Masquer"),
        "hide_reason": _("Motif du masquage"), "approve": _("Approuver"), "focus": _("Mettre en avant"),
        "group": _("Regrouper"), "group_name": _("Nom du groupe"), "ungroup": _("Dégrouper"),
        "hidden_count_one": _("%(num)s idée cachée jusqu'à la révélation"),
        "hidden_count_many": _("%(num)s idées cachées jusqu'à la révélation"),
        # French counts 0 as singular, English as plural.
        "zero_is_singular": current_language() == "fr", "mine": _("votre idée"),
        "timer_left": _("Temps restant : %(time)s"), "timer_paused": _("Minuteur en pause : %(time)s"),
        "timer_done": _("Temps écoulé"), "removed": _("Vous avez été retiré·e de cette séance."),
        "signed_out": _("Votre session est terminée. Reconnectez-vous."), "phase": _("Phase : %(phase)s"),
        # Left unformatted (no variables passed): the client fills %(num)s in.
        "participants_one": _("%(num)s participant·e"),
        "participants_many": _("%(num)s participant·es"),
        "ready": _("Je suis prêt·e"), "not_ready": _("Je ne suis plus prêt·e"), "dots_left": _("Gommettes restantes :"),
        "phases": {p: phase_label(p) for p in ("preparation", "brainstorm", "grouping", "voting", "discussion",
                                               "closed")},
        "statuses": {s: idea_status_label(s) for s in ("pending", "hidden", "withdrawn")},
        "empty": _("Écrivez votre idée."),
        "reactions": {"plus_one": _("+1"), "heart": _("J'aime"), "question": _("Question"), "idea": _("Bonne idée")},
    }


def init_app(app) -> None:
    app.jinja_env.globals.update(phase_label=phase_label, idea_status_label=idea_status_label,
                                 board_texts=board_texts, phases=PHASE_ORDER, is_facilitator=is_facilitator)
