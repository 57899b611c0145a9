"""Each server process tells its connections, every few seconds, the last change of their boards they were sent.

A change is acknowledged once the database holds it, then broadcast; with several processes the broadcast crosses
Redis. If Redis is down (or a message is lost), the change stands but the connections of other processes never
hear of it. So each process reads its boards' last change per audience from the database every
``BOARD_SEQ_ANNOUNCE_SECONDS`` and emits ``board_seq`` to its own connections only (``ignore_queue``: it needs no
bus); a client behind that seq joins again from its last one and gets what it missed. Nothing acknowledged stays
unseen for longer than that.
"""

import logging

from sqlalchemy import select

from ..bus import bus_reachable
from ..errors import is_database_unavailable
from ..extensions import db, socketio
from .models import Board
from .rooms import facilitators_room, participants_room
from .sockets import NAMESPACE, boards_joined_here

log = logging.getLogger(__name__)


def announce_once() -> int:
    """Emit ``board_seq`` to this process's connections on each board they joined; how many boards."""
    board_ids = boards_joined_here()
    if not board_ids:
        return 0
    try:
        rows = db.session.execute(select(Board.id, Board.facilitators_seq, Board.participants_seq)
                                  .where(Board.id.in_(board_ids))).all()
    finally:
        db.session.remove()
    for board_id, facilitators_seq, participants_seq in rows:  # each audience: the last change it was sent
        for room, seq in ((facilitators_room(board_id), facilitators_seq), (participants_room(board_id),
                                                                            participants_seq)):
            socketio.emit("board_seq", {"board_id": board_id, "seq": seq}, to=room, namespace=NAMESPACE,
                          ignore_queue=True)
    return len(rows)


def announce_forever(app) -> None:
    """``announce_once`` every ``BOARD_SEQ_ANNOUNCE_SECONDS``, for as long as the process serves; the bus's losses and
    returns are logged once each."""
    interval = app.config["BOARD_SEQ_ANNOUNCE_SECONDS"]
    bus_was_up = True
    while True:
        socketio.sleep(interval)
        with app.app_context():
            bus_up = bus_reachable()
            if bus_up is False and bus_was_up:
                log.warning("message bus (Redis) unreachable: live events of other processes wait; clients resync "
                            "from the board_seq announcements")
            elif bus_up and not bus_was_up:
                log.info("message bus (Redis) reachable again")
            bus_was_up = bus_up is not False
            try:
                announce_once()
            except Exception as err:  # noqa: BLE001 — the next round tries again
                if is_database_unavailable(err):
                    log.warning("board_seq announcements: database unavailable")
                else:
                    log.exception("board_seq announcements failed")
