"""Board tests against live servers (serve.py subprocesses, gevent): accounts and boards written through the
app, people logged in over HTTP, and ``BoardClient``, the browser client's sync logic (app/static/js/board.js)
ported to python-socketio's client.

``BoardClient`` keeps to board.js on every point that decides what is lost or doubled:

- it starts from the snapshot embedded in the board page (``#board-snapshot``), like the page does;
- on every connect it sends ``join_board`` with the last ``seq`` it saw, then applies the snapshot or the
  missed events from the acknowledgement, then resends every unacknowledged change, with its client id;
- each change gets a client-made id and stays in ``pending`` until its acknowledgement arrives (an ack,
  refused or not, removes it; a lost ack leaves it for the next connect);
- a live ``change`` is applied through the same ``apply_change``: one whose ``seq`` is not above the last one
  seen is skipped; one whose ``after`` (the previous change sent to this audience) is above it means a change was
  lost, and the client joins again from its last ``seq``; otherwise it is applied with the ``private_change`` of
  the same ``seq`` held before it.

The pytest process is never monkey-patched: python-socketio's client runs on threads here, so the state is
guarded by a lock.
"""

import contextlib
import copy
import html
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests
import socketio
from sqlalchemy import create_engine, select, text

from tests.waiting import eventually, wait_until  # noqa: F401 (the board tests import them from here)

NS = "/boards"
USER_AGENT = "atelier-live-tests/1.0"  # the same for the login and the socket: sessions are bound to it
PASSWORD = "correct horse battery"
# board.js holds live events while its join_board is unanswered (one may overtake the ack), then applies them
# with the seq rule; applied at once, one would move ``seq`` past the missed events the ack brings, and those
# would be skipped as already seen (see test_resync_race.py).
BOARD_JS_HOLDS_LIVE_EVENTS_WHILE_JOINING = True
CSRF_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
SNAPSHOT_RE = re.compile(r'<script type="application/json" id="board-snapshot">(.*?)</script>', re.S)


# --- data, written through the app against the live server's database ------------------------------------

@dataclass
class LiveBoard:
    board_id: int
    join_code: str
    columns: list[int]
    facilitator_email: str
    emails: list[str] = field(default_factory=list)


def data_app(database_url: str):
    """The app in this (unpatched) process, on the live server's database, to write and read data."""
    from app import create_app

    return create_app("test", {"SQLALCHEMY_DATABASE_URI": database_url, "ARGON2_TIME_COST": 1,
                               "ARGON2_MEMORY_COST": 1024})


def migrate(server) -> None:
    """The live server's database, migrated from zero like `make run` does (no demo data: not needed here)."""
    server.prepare_database(demo=False)


def make_live_board(database_url: str, participants: int, prefix: str = "live", phase: str = "brainstorm",
                    **settings) -> LiveBoard:
    """An organisation's facilitator, ``participants`` verified accounts (not yet on the board), and a board
    in ``phase``; settings (``dot_budget``, ``hide_votes``...) are written as they are."""
    from app.boards import service
    from app.catalog.models import Organisation, Role
    from app.extensions import db
    from tests.factories import make_member, make_organisation, make_user

    app = data_app(database_url)
    with app.app_context():
        organisation = db.session.scalar(select(Organisation).where(Organisation.slug == f"{prefix}-org")) \
            or make_organisation(slug=f"{prefix}-org")
        facilitator = make_member(organisation, Role.facilitator, email=f"{prefix}.animation@example.org",
                                  name="Animatrice du test")
        emails = [make_user(email=f"{prefix}.{n}@example.org", name=f"Personne {n}").email
                  for n in range(participants)]
        db.session.commit()
        board = service.create_board(facilitator, organisation, "Tableau en direct", "irritants")
        for name, value in settings.items():
            setattr(board, name, value)
        db.session.commit()
        facilitator_pid = service.participant_for(board, facilitator).id
        if phase != "preparation":
            service.set_phase(board.id, facilitator_pid, phase=phase)
        board = service.get_board(board.id)
        result = LiveBoard(board.id, board.join_code, [c.id for c in board.columns], facilitator.email, emails)
        db.session.remove()
        db.engine.dispose()
    return result


# --- HTTP: logging in, joining, the no-JavaScript form -----------------------------------------------------

def csrf_token(page: str) -> str:
    return CSRF_RE.search(page).group(1)


def login(base_url: str, email: str, password: str = PASSWORD) -> requests.Session:
    http = requests.Session()
    http.headers["User-Agent"] = USER_AGENT
    token = csrf_token(http.get(base_url + "/compte/connexion", timeout=10).text)
    response = http.post(base_url + "/compte/connexion", data={"csrf_token": token, "email": email,
                                                               "password": password},
                         timeout=10, allow_redirects=False)
    assert response.status_code == 302, response.text[:1000]
    return http


def session_cookie(http: requests.Session) -> str:
    return "; ".join(f"{name}={value}" for name, value in http.cookies.items())


def join_by_code(http: requests.Session, base_url: str, code: str) -> dict:
    """Join through the code link and its confirmation button, land on the board page; return the snapshot the
    page embeds. (Someone already on the board goes straight to it.)"""
    url = f"{base_url}/tableaux/rejoindre/{code}"
    response = http.get(url, timeout=10)
    if response.url == url:  # the confirmation page: joining is its form's POST
        response = http.post(url, data={"csrf_token": csrf_token(response.text)}, headers={"Referer": url},
                             timeout=10)  # a browser sends the Referer, which HTTPS needs (Flask-WTF)
    assert response.status_code == 200 and re.search(r"/tableaux/\d+$", response.url), \
        (response.status_code, response.url)
    return page_snapshot(response.text)


def page_snapshot(page: str) -> dict:
    return json.loads(html.unescape(SNAPSHOT_RE.search(page).group(1)))


def board_page(http: requests.Session, base_url: str, board_id: int) -> str:
    response = http.get(f"{base_url}/tableaux/{board_id}", timeout=10)
    assert response.status_code == 200, response.status_code
    return response.text


def post_idea_form(http: requests.Session, base_url: str, board_id: int, column_id: int, idea: str) -> None:
    """The plain form a browser without JavaScript posts."""
    token = csrf_token(board_page(http, base_url, board_id))
    response = http.post(f"{base_url}/tableaux/{board_id}/idees", timeout=10, allow_redirects=False,
                         data={"csrf_token": token, "column_id": str(column_id), "text": idea})
    assert response.status_code == 302, response.text[:1000]


# --- the browser client's logic ---------------------------------------------------------------------------

class BoardClient:
    """board.js's state, pending changes and resync, over python-socketio's client (see the module doc)."""

    def __init__(self, name: str, board_id: int, http: requests.Session, snapshot: dict,
                 hold_live_events_while_joining: bool = BOARD_JS_HOLDS_LIVE_EVENTS_WHILE_JOINING):
        self.name, self.board_id, self.http = name, board_id, http
        # True: hold live events until the join_board ack is applied, then apply them (see the constant).
        self.hold = hold_live_events_while_joining
        self.overtaken_joins = 0  # joins whose ack came after a live event with a higher seq
        self.held: list[tuple[str, dict]] | None = None
        self.lock = threading.RLock()
        self.state = None
        self.set_snapshot(snapshot)
        self.pending: list[dict] = []
        self.acks: dict[str, dict] = {}  # client id -> acknowledgement received
        self.sent: dict[str, dict] = {}  # client id -> change, everything ever sent
        self.drop_next_ack = set()  # client ids whose first ack is lost (as if the connection died first)
        self.joined = threading.Event()
        self.events: list[tuple[str, dict]] = []  # every live message received, in order
        self.own_held: dict[int, list[dict]] = {}  # private_change events waiting for their change
        self.gaps = 0  # live changes that showed an earlier one was lost
        self.resyncs_announced = 0  # joins made because a board_seq showed this client behind
        self.sio: socketio.Client | None = None
        self.last_join: dict = {}

    # -- state, as board.js keeps it
    def set_snapshot(self, snap: dict) -> None:
        with self.lock:
            self.state = {"seq": snap["seq"], "board": copy.deepcopy(snap["board"]), "columns": snap["columns"],
                          "me": dict(snap["me"]), "ideas": {i["id"]: dict(i) for i in snap["ideas"]},
                          "hidden": {h["id"]: h for h in snap["hidden_ideas"]},
                          "clusters": {c["id"]: c for c in snap["clusters"]},
                          "participants": {p["id"]: p for p in snap["participants"]}}

    def _upsert_idea(self, p):
        s, idea = self.state, dict(p["idea"])
        known = s["ideas"].get(idea["id"])
        if known and known.get("mine"):
            idea["mine"] = True
        if known and "my_dots" not in idea and "my_dots" in known:
            idea["my_dots"] = known["my_dots"]
        if idea["status"] == "withdrawn" or (not s["me"]["facilitator"] and not idea.get("mine")
                                             and idea["status"] != "visible"):
            s["ideas"].pop(idea["id"], None)
        else:
            s["ideas"][idea["id"]] = idea
        s["hidden"].pop(idea["id"], None)

    def _replace_ideas(self, p):
        s = self.state
        mine = {k: v for k, v in s["ideas"].items() if v.get("mine")}
        s["ideas"], s["hidden"] = dict(mine), {}
        for i in p["ideas"]:
            i = dict(i)
            if i["id"] in mine:
                i["mine"], i["my_dots"] = True, mine[i["id"]].get("my_dots")
            s["ideas"][i["id"]] = i

    def _handle(self, name, p):
        s = self.state
        ideas = s["ideas"]
        if name in ("idea_posted", "idea_edited", "idea_moved", "idea_moderated", "idea_withdrawn"):
            self._upsert_idea(p)
        elif name == "idea_removed":
            ideas.pop(p["id"], None)
            s["hidden"].pop(p["id"], None)
        elif name == "idea_placeholder":
            if p["id"] not in ideas:
                s["hidden"][p["id"]] = p
        elif name in ("ideas_revealed", "ideas_refreshed"):
            self._replace_ideas(p)
        elif name == "votes_changed":
            if p["idea_id"] in ideas:
                ideas[p["idea_id"]]["votes"] = p["votes"]
        elif name == "votes_revealed":
            for idea_id, votes in p["votes"].items():
                if int(idea_id) in ideas:
                    ideas[int(idea_id)]["votes"] = votes
        elif name == "my_dots_changed":
            if p["idea_id"] in ideas:
                ideas[p["idea_id"]]["my_dots"] = p["mine"]
            if "dots_left" in p:
                s["me"]["dots_left"] = p["dots_left"]
            elif p.get("refunded"):
                s["me"]["dots_left"] += p["refunded"]
        elif name == "reactions_changed":
            if p["idea_id"] in ideas:
                ideas[p["idea_id"]]["reactions"] = p["reactions"]
        elif name == "phase_changed":
            s["board"]["phase"] = p["phase"]
        elif name == "timer_changed":
            s["board"]["timer"] = p["timer"]
        elif name == "settings_changed":
            s["board"]["settings"] = p["settings"]
        elif name == "focus_changed":
            s["board"]["focused_idea_id"] = p["idea_id"]
        elif name == "columns_changed":
            s["columns"] = p["columns"]
        elif name == "ideas_grouped":
            s["clusters"][p["cluster"]["id"]] = p["cluster"]
            for idea_id in p["idea_ids"]:
                if idea_id in ideas:
                    ideas[idea_id]["cluster_id"] = p["cluster"]["id"]
        elif name == "ideas_ungrouped":
            for idea_id in p["idea_ids"]:
                if idea_id in ideas:
                    ideas[idea_id]["cluster_id"] = None
        elif name == "participant_joined":
            s["participants"][p["participant"]["id"]] = p["participant"]
        elif name == "participant_ready":
            if p["participant_id"] in s["participants"]:
                s["participants"][p["participant_id"]]["ready"] = p["ready"]
        elif name == "participant_removed":
            s["participants"].pop(p["participant_id"], None)
        else:
            return False
        return True

    HANDLED = ("idea_posted", "idea_edited", "idea_moved", "idea_moderated", "idea_withdrawn", "idea_removed",
               "idea_placeholder", "ideas_revealed", "ideas_refreshed", "votes_changed", "votes_revealed",
               "my_dots_changed", "reactions_changed", "phase_changed", "timer_changed", "settings_changed",
               "focus_changed", "columns_changed", "ideas_grouped", "ideas_ungrouped", "participant_joined",
               "participant_ready", "participant_removed")

    def apply_events(self, events: list[dict]) -> None:
        with self.lock:
            for event in events:
                if event["name"] in self.HANDLED:
                    self._handle(event["name"], event["payload"])

    def apply_change(self, change: dict) -> bool:
        """board.js's ``applyChange``: False when a change was lost before this one (join again)."""
        with self.lock:
            if self.state is None or change["seq"] <= self.state["seq"]:
                return True
            if change["after"] > self.state["seq"]:
                self.gaps += 1
                return False
            self.apply_events(change["events"])
            self.apply_events(self.own_held.pop(change["seq"], []))
            self.state["seq"] = change["seq"]
            return True

    def apply_own(self, change: dict) -> None:
        """board.js's ``applyOwn``: held for its change, or applied at once when its audience gets none."""
        with self.lock:
            if self.state is None or change["seq"] <= self.state["seq"]:
                return
            if ("facilitators" if self.state["me"]["facilitator"] else "participants") in change["with_change_for"]:
                self.own_held[change["seq"]] = change["events"]
            else:
                self.apply_events(change["events"])

    # -- sending, as board.js sends
    def send(self, event: str, lose_ack: bool = False, **fields) -> str:
        client_id = f"{int(time.time() * 1000):x}-{uuid.uuid4().hex[:8]}"
        change = {"event": event, "payload": {"board_id": self.board_id, "client_id": client_id, **fields}}
        with self.lock:
            self.pending.append(change)
            self.sent[client_id] = change
            if lose_ack:
                self.drop_next_ack.add(client_id)
        if self.connected:
            self._emit(change)
        return client_id

    def _emit(self, change: dict) -> None:
        client_id = change["payload"]["client_id"]

        def on_ack(ack=None):
            with self.lock:
                if client_id in self.drop_next_ack:  # the ack is lost: the change stays pending
                    self.drop_next_ack.discard(client_id)
                    return
                self.pending = [c for c in self.pending if c["payload"]["client_id"] != client_id]
                self.acks[client_id] = ack
                if ack and ack.get("ok") and change["event"] == "post_idea" and ack.get("idea_id") in \
                        self.state["ideas"]:
                    self.state["ideas"][ack["idea_id"]]["mine"] = True

        # The connection may have died meanwhile: then the change stays pending.
        with contextlib.suppress(Exception):
            self.sio.emit(change["event"], change["payload"], namespace=NS, callback=on_ack)

    # -- connection
    @property
    def connected(self) -> bool:
        sio = self.sio
        return sio is not None and sio.connected and NS in sio.namespaces

    def connect(self, base_url: str) -> None:
        """Connect (or reconnect, to a restarted server's URL): join_board with the last seq, then resend."""
        self.close()
        self.joined.clear()
        sio = socketio.Client(reconnection=False)
        in_order(sio)

        def join():
            with self.lock:
                last_seq = self.state["seq"] if self.state else None
                self.join_sent_seq = last_seq
                self.own_held = {}
                if self.hold:
                    self.held = []
            sio.emit("join_board", {"board_id": self.board_id, "last_seq": last_seq}, namespace=NS,
                     callback=on_join)

        def on_join(ack=None):
            if not ack or not ack.get("ok"):
                self.join_error = ack
                self.joined.set()
                return
            with self.lock:  # what was already there when the ack came (for diagnostics)
                self.last_join = {"sent_seq": self.join_sent_seq, "seq_at_ack": self.state["seq"],
                                  "ack_seqs": [c["seq"] for c in ack.get("changes", [])]}
                if any(seq <= self.state["seq"] for seq in self.last_join["ack_seqs"]):
                    self.overtaken_joins += 1
                if "snapshot" in ack:
                    self.set_snapshot(ack["snapshot"])
                else:
                    for change in ack["changes"]:
                        self.apply_events(change["events"])
                    self.state["seq"] = ack["seq"]
                held, self.held = self.held or [], None
                caught_up = True
                for event, payload in held:  # a change the answer covered is skipped
                    if event == "private_change":
                        self.apply_own(payload)
                    elif event == "change" and caught_up:
                        caught_up = self.apply_change(payload)
                resend = list(self.pending)
            if not caught_up:  # a change was lost while joining: join again from the last seq
                join()
                return
            for change in resend:  # resend what was never acknowledged, same client ids
                self._emit(change)
            self.joined.set()

        def behind(seq: int) -> None:  # board.js's board_seq: look again a moment later, then catch up
            with self.lock:
                if self.held is not None or self.state["seq"] >= seq:
                    return
                self.resyncs_announced += 1
            with contextlib.suppress(Exception):  # the connection may have gone meanwhile: its next connect joins
                join()

        def on_any(event, payload=None):
            if event == "board_seq":
                with self.lock:
                    if self.state is not None and payload["seq"] > self.state["seq"]:
                        threading.Timer(1.0, behind, args=(payload["seq"],)).start()
                return
            with self.lock:
                self.events.append((event, payload))
                if self.held is not None:
                    self.held.append((event, payload))
                    return
                if event == "private_change":
                    self.apply_own(payload)
                    return
                if event != "change" or self.apply_change(payload):
                    return
            join()  # a change was lost on the way: catch up from the last seq

        sio.on("connect", join, namespace=NS)
        sio.on("*", on_any, namespace=NS)
        self.sio = sio
        self.join_error = None
        sio.connect(base_url, namespaces=[NS], transports=["websocket"], wait_timeout=10,
                    headers={"Cookie": session_cookie(self.http), "User-Agent": USER_AGENT})

    def wait_joined(self, timeout: float = 20) -> None:
        assert self.joined.wait(timeout), f"{self.name}: no join_board ack within {timeout}s"
        assert self.join_error is None, f"{self.name}: join refused: {self.join_error}"

    def close(self) -> None:
        if self.sio is not None:
            with contextlib.suppress(Exception):  # already gone with its server
                self.sio.disconnect()
            # After a dead server the engine.io client leaves its websocket open: close the socket too.
            ws = getattr(self.sio.eio, "ws", None)
            if ws is not None:
                with contextlib.suppress(Exception):
                    ws.shutdown()
            self.sio = None

    def received(self, name: str) -> list[tuple[int, dict]]:
        """(seq, payload) of every live event called ``name``, in the order received (changes and private ones)."""
        with self.lock:
            return [(message["seq"], event["payload"]) for kind, message in self.events
                    if kind in ("change", "private_change") for event in message["events"] if event["name"] == name]

    # -- views to compare
    def idea_views(self) -> dict[int, dict]:
        with self.lock:
            return {i: normalised(v) for i, v in self.state["ideas"].items()}


def in_order(sio: socketio.Client) -> None:
    """Handle messages one after the other, in the order they arrive, as a browser does.

    python-socketio's threaded client hands each incoming message to a new thread (engine.io's public
    ``start_background_task``, with python-socketio's message handler, registered through engine.io's public ``on``),
    so two events sent in order may be applied out of order, which board.js's seq rule would take for a loss. This
    client's engine.io runs that handler where the message is read instead, in order; anything else still gets a
    thread of its own."""
    eio = sio.eio
    handle_message = eio.handlers["message"]
    start_background_task = eio.start_background_task

    def start_in_order(target, *args, **kwargs):
        if target == handle_message:
            target(*args, **kwargs)
            return None
        return start_background_task(target, *args, **kwargs)

    eio.start_background_task = start_in_order


def close_at_once(*closes) -> None:
    """Run every close at once (python-socketio's client waits ~3 s for each websocket's close)."""
    threads = [threading.Thread(target=close) for close in closes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def close_all(clients: list[BoardClient]) -> None:
    """Disconnect every client at once, then close their HTTP sessions."""
    close_at_once(*(c.close for c in clients))
    for client in clients:
        client.http.close()


def normalised(idea: dict) -> dict:
    """An idea as shown: ``my_dots`` absent counts as 0 (board.js shows nothing either way)."""
    return {**idea, "my_dots": idea.get("my_dots") or 0}


# --- the database, read directly ----------------------------------------------------------------------------

def db_ideas(database_url: str, board_id: int) -> list[dict]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, column_id, text, status, sort_key, version, participant_id "
                                     "FROM ideas WHERE board_id = :b ORDER BY id"), {"b": board_id}).mappings()
            return [dict(r) for r in rows]
    finally:
        engine.dispose()


def view_differences(clients: list[BoardClient], emails: list[str], database_url: str) -> list[str]:
    """How each client's ideas differ from what the app computes from the database for that person ([] if
    none), with what its last join_board looked like (a live event before the ack shows as seq > sent)."""
    snapshots = db_snapshots(database_url, clients[0].board_id)
    differences = []
    for client, email in zip(clients, emails, strict=True):
        mine = client.idea_views()
        truth = {i["id"]: normalised(i) for i in snapshots[email]["ideas"]}
        if mine != truth:
            changed = sorted(i for i in set(mine) & set(truth) if mine[i] != truth[i])
            differences.append(f"{client.name}: missing {sorted(set(truth) - set(mine))}, extra "
                               f"{sorted(set(mine) - set(truth))}, different {changed}; last join {client.last_join}")
    return differences


def db_snapshots(database_url: str, board_id: int) -> dict[str, dict]:
    """What each participant (by e-mail) may see of the board now, computed by the app from the database."""
    from app.accounts.models import User
    from app.boards import service
    from app.boards.models import Participant
    from app.extensions import db

    app = data_app(database_url)
    with app.app_context():
        board = service.get_board(board_id)
        snapshots = {}
        for participant, email in db.session.execute(
                select(Participant, User.email).join(User, User.id == Participant.user_id)
                .where(Participant.board_id == board_id)):
            snapshots[email] = service.snapshot(board, participant)
        db.session.remove()
        db.engine.dispose()
    return snapshots
