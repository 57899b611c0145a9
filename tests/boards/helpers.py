"""Helpers for board tests: the world they run in, reading back events, and a live socket client."""

import json
from dataclasses import dataclass

from sqlalchemy import func, select

from app.accounts.models import User
from app.boards import protocol_doc, schemas, service, views
from app.boards.models import Board, BoardEvent
from app.catalog.models import Organisation, Role
from app.extensions import db, socketio
from app.workshops import signup as workshop_signup
from app.workshops.models import Workshop
from tests.conftest import login
from tests.factories import make_member, make_organisation, make_user, make_workshop

NS = "/boards"
DOCUMENTED_CODES = set(protocol_doc.error_codes())
SECRET = "TEXTE-SECRET-que-personne-ne-doit-voir"


@dataclass
class World:
    organisation: Organisation
    facilitator: User
    citizen: User
    workshop: Workshop
    board_id: int
    columns: list[int]
    fac: int  # the facilitator's participant id
    cit: int  # the citizen's participant id

    @property
    def board(self):
        return db.session.get(Board, self.board_id, populate_existing=True)


def make_world(template="irritants", allow_guests=True) -> World:
    organisation = make_organisation()
    facilitator = make_member(organisation, Role.facilitator, name="Fanny Animatrice")
    citizen = make_user(name="Camille Citoyenne")
    workshop = make_workshop(organisation, capacity=10)
    workshop_signup.sign_up(workshop, citizen)
    board = service.create_board(facilitator, organisation, "Tableau", template, workshop=workshop,
                                 allow_guests=allow_guests)
    board_id, columns = board.id, [c.id for c in board.columns]
    cit = service.join(board, citizen).id
    fac = service.participant_for(service.get_board(board_id), facilitator).id
    db.session.commit()
    return World(organisation, facilitator, citizen, workshop, board_id, columns, fac, cit)


def add_participant(world: World, name: str | None = None) -> tuple[User, int]:
    """Another confirmed participant of the workshop, joined to the board: (user, participant id)."""
    user = make_user(name=name)
    db.session.commit()
    workshop_signup.sign_up(db.session.get(Workshop, world.workshop.id), user)
    participant = service.join(service.get_board(world.board_id), user)
    return user, participant.id


def set_phase(world: World, phase: str) -> None:
    service.set_phase(world.board_id, world.fac, phase=phase)


def set_settings(world: World, **settings) -> None:
    service.update_settings(world.board_id, world.fac, settings=settings)


def post(world: World, participant_id: int, text="Une idée", column: int = 0, **kwargs) -> int:
    return service.post_idea(world.board_id, participant_id, column_id=world.columns[column], text=text,
                             **kwargs)["idea_id"]


def events(board_id: int, after: int = 0) -> list[dict]:
    rows = db.session.scalars(select(BoardEvent).where(BoardEvent.board_id == board_id, BoardEvent.seq > after)
                              .order_by(BoardEvent.seq, BoardEvent.position))
    return [views.event_dict(e) for e in rows]


def seen_by(evs: list[dict], participant_id: int, facilitator: bool = False) -> list[dict]:
    """The events one person's rooms receive."""
    shared = "facilitators" if facilitator else "participants"
    return [e for e in evs if e["audience"] in ("everyone", shared)
            or (e["audience"] == "participant" and e["participant_id"] == participant_id)]


def last_seq(board_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.max(BoardEvent.seq), 0))
                             .where(BoardEvent.board_id == board_id))


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


class Live:
    """A Socket.IO test client on /boards. Each call runs in its own app context, as every event does in
    production (the test body holds one, which Flask would otherwise share with the handlers: ``g``, the
    logged-in user and the database session). What the test prepared is committed first; the test's
    objects are expired after."""

    def __init__(self, app, http):
        self.app, self.http = app, http
        self.sio = self._call(socketio.test_client, app, namespace=NS, flask_test_client=http)

    def _call(self, fn, *args, **kwargs):
        db.session.commit()
        with self.app.app_context():
            result = fn(*args, **kwargs)
        db.session.expire_all()
        return result

    def emit(self, event, *args):
        """Send an event and return its acknowledgement; a refusal's code must be one the protocol doc lists."""
        ack = self._call(self.sio.emit, event, *args, namespace=NS, callback=True)
        if isinstance(ack, dict) and ack.get("ok") is False:
            assert ack["error"]["code"] in DOCUMENTED_CODES, f"{event}: undocumented error code {ack['error']}"
        return ack

    def send(self, event, board_id, **fields):
        return self.emit(event, {"board_id": board_id, **fields})

    def join(self, board_id, **fields):
        return self.emit("join_board", {"board_id": board_id, **fields})

    @property
    def connected(self) -> bool:
        return self.sio.is_connected(NS)

    def received(self) -> list[dict]:
        """Frames received since the last call (also after the server closed the connection). Each one must fit
        the protocol's schemas: every board test that reads what a client received checks the doc too."""
        frames = [f for f in self.sio.queue if f["namespace"] == NS]
        self.sio.queue = [f for f in self.sio.queue if f["namespace"] != NS]
        for frame in frames:
            [payload] = frame["args"]
            schemas.check_message(frame["name"], payload)
        return frames

    def disconnect(self):
        if self.connected:
            self._call(self.sio.disconnect, NS)


def logged_in(app, user) -> Live:
    """A browser of ``user``: logged in through the form, then connected to /boards."""
    http = app.test_client()
    login(http, user.email)
    return Live(app, http)


BOARD_TABLES = ("boards", "board_columns", "board_participants", "board_clusters", "ideas", "board_dots",
                "board_reactions", "board_events", "board_client_changes", "board_moderation_log")


def fingerprint() -> dict:
    """Row counts and a digest of every row of the board tables: equal before and after means nothing
    was created or changed."""
    import hashlib

    db.session.expire_all()
    result = {}
    for name in BOARD_TABLES:
        table = db.metadata.tables[name]
        rows = db.session.execute(select(table).order_by(table.c.id)).all()
        digest = hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()
        result[name] = (len(rows), digest)
    db.session.commit()
    return result


def make_foreign_board(world: World) -> tuple[int, int, int]:
    """Another board of the same organisation, with one idea: (board id, column id, idea id)."""
    board = service.create_board(world.facilitator, world.organisation, "Autre tableau", "blank")
    board_id, column_id = board.id, board.columns[0].id
    fac = service.participant_for(service.get_board(board_id), world.facilitator).id
    idea_id = service.post_idea(board_id, fac, column_id=column_id, text="Idée d'ailleurs")["idea_id"]
    return board_id, column_id, idea_id
