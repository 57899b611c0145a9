"""Board rules (app/boards/service.py), each with its refusals, on SQLite and PostgreSQL.

Services are called directly, as the socket handlers and the no-JS form call them; what each audience
would receive is read back from ``board_events``, where every committed event is stored.
"""

import json
import threading
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from app import signals
from app.boards import errors, export, service, views
from app.boards.models import (
    Board,
    BoardColumn,
    BoardEvent,
    ClientChange,
    Cluster,
    Dot,
    Idea,
    IdeaStatus,
    ModerationEntry,
    Participant,
    Reaction,
)
from app.boards.sortkey import key_between
from app.boards.templates import TEMPLATES
from app.catalog.models import Membership, Role
from app.clock import utcnow
from app.errors import InvalidInput, NotAllowed, NotFound
from app.extensions import db
from app.workshops import signup as workshop_signup
from app.workshops.models import RegistrationStatus, Workshop, WorkshopCategory
from tests.factories import make_member, make_organisation, make_user, make_workshop
from tests.queries import recorded_statements

from .helpers import (
    SECRET,
    add_participant,
    dumps,
    events,
    last_seq,
    make_world,
    post,
    seen_by,
    set_phase,
    set_settings,
)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def reload(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def names(evs) -> list[str]:
    return [e["name"] for e in evs]


@pytest.fixture
def brainstorm(world):
    set_phase(world, "brainstorm")
    return world


@pytest.fixture
def voting(world):
    """A board in the voting phase with one idea by the citizen (returned as ``world.idea``)."""
    set_phase(world, "brainstorm")
    world.idea = post(world, world.cit, "Moins de papiers")
    set_phase(world, "voting")
    return world


# --- creating boards -------------------------------------------------------------------------------

@pytest.mark.parametrize("template", list(TEMPLATES))
def test_create_board_from_each_template(app, template):
    organisation = make_organisation()
    facilitator = make_member(organisation, Role.facilitator)
    db.session.commit()
    board = service.create_board(facilitator, organisation, "  Atelier du 12  ", template)
    board = reload(Board, board.id)
    assert board.title == "Atelier du 12"
    assert board.template == template
    assert board.workshop_id is None  # a board of the organisation
    expected = [(str(title), str(prompt)) for title, prompt in TEMPLATES[template][1]]
    assert [(c.title, c.prompt) for c in board.columns] == expected
    assert [c.position for c in board.columns] == list(range(len(expected)))
    assert len(board.join_code) == 6
    [creator] = db.session.scalars(select(Participant).where(Participant.board_id == board.id)).all()
    assert (creator.user_id, creator.is_facilitator) == (facilitator.id, True)


def test_create_board_for_a_workshop(world):
    board = world.board
    assert board.workshop_id == world.workshop.id
    assert [c.title for c in board.columns] == ["Irritants", "Idées", "Questions"]


@pytest.mark.parametrize("role", ["citizen", "editor", "facilitator_elsewhere"])
def test_create_board_refused_for_a_non_facilitator(app, role):
    organisation = make_organisation()
    actor = {"citizen": lambda: make_user(),
             "editor": lambda: make_member(organisation, Role.editor),
             "facilitator_elsewhere": lambda: make_member(make_organisation(), Role.facilitator)}[role]()
    db.session.commit()
    with pytest.raises(NotAllowed):
        service.create_board(actor, organisation, "Tableau")
    assert count(Board) == 0


def test_create_board_refused_for_a_workshop_of_another_organisation(app):
    organisation = make_organisation()
    facilitator = make_member(organisation, Role.facilitator)
    foreign = make_workshop(make_organisation())
    with pytest.raises(NotAllowed):
        service.create_board(facilitator, organisation, "Tableau", workshop=foreign)
    assert count(Board) == 0


def test_create_board_refused_for_an_unknown_template(app):
    organisation = make_organisation()
    facilitator = make_member(organisation, Role.facilitator)
    db.session.commit()
    with pytest.raises(InvalidInput) as err:
        service.create_board(facilitator, organisation, "Tableau", "kanban")
    assert err.value.code == "unknown_template"
    assert count(Board) == 0


# --- columns -----------------------------------------------------------------------------------------

def test_update_columns_renames_adds_and_removes_empty_ones(world):
    first, second, third = world.columns
    board = service.update_columns(world.facilitator, world.board, [
        {"id": second, "title": " Solutions ", "prompt": " Et alors ? "},
        {"id": first, "title": "Irritants"},
        {"id": None, "title": "Nouvelle", "prompt": ""},
    ])
    board = reload(Board, board.id)
    assert [(c.title, c.prompt, c.position) for c in board.columns] == [
        ("Solutions", "Et alors ?", 0), ("Irritants", board.columns[1].prompt, 1), ("Nouvelle", "", 2)]
    assert [c.id for c in board.columns][:2] == [second, first]
    assert db.session.get(BoardColumn, third) is None
    [event] = events(world.board_id, after=last_seq(world.board_id) - 1)
    assert event["name"] == "columns_changed" and event["audience"] == "everyone"
    assert [c["title"] for c in event["payload"]["columns"]] == ["Solutions", "Irritants", "Nouvelle"]


def test_update_columns_refuses_removing_a_column_with_ideas(brainstorm):
    world = brainstorm
    post(world, world.cit, column=2)
    seq = last_seq(world.board_id)
    with pytest.raises(InvalidInput) as err:
        service.update_columns(world.facilitator, world.board, [
            {"id": world.columns[0], "title": "Renommée"}, {"id": world.columns[1], "title": "Idées"}])
    assert err.value.code == "column_not_empty"
    board = reload(Board, world.board_id)
    assert [c.id for c in board.columns] == world.columns
    assert board.columns[0].title == "Irritants"  # nothing of the refused change was kept
    assert last_seq(world.board_id) == seq


def test_update_columns_refused_for_a_participant(world):
    with pytest.raises(NotAllowed):
        service.update_columns(world.citizen, world.board, [{"id": world.columns[0], "title": "X"}])
    assert reload(Board, world.board_id).columns[0].title == "Irritants"


# --- joining -----------------------------------------------------------------------------------------

def test_facilitators_of_the_organisation_join_as_facilitators(world):
    colleague = make_member(world.organisation, Role.facilitator)
    db.session.commit()
    assert service.may_join(world.board, colleague)
    participant = service.join(world.board, colleague)
    assert participant.is_facilitator
    assert reload(Participant, world.fac).is_facilitator


@pytest.mark.both_databases("app.boards.service")
def test_confirmed_registrant_joins_as_participant(world):
    participant = reload(Participant, world.cit)
    assert (participant.user_id, participant.is_facilitator) == (world.citizen.id, False)
    assert service.join(world.board, world.citizen).id == world.cit  # joining again is the same seat


def test_join_announces_the_newcomer_to_each_audience(world):
    seq = last_seq(world.board_id)
    user, pid = add_participant(world, name="Nouvelle Personne")
    evs = events(world.board_id, after=seq)
    assert [(e["name"], e["audience"]) for e in evs] == [("participant_joined", "facilitators"),
                                                         ("participant_joined", "participants")]
    assert evs[0]["payload"]["participant"] == {"id": pid, "name": "Nouvelle Personne", "ready": False,
                                                "facilitator": False, "guest": False}
    assert evs[1]["payload"]["participant"]["name"] == "Nouvelle Personne"


def test_waitlisted_registrant_is_refused(app):
    world = make_world()
    db.session.execute(update(WorkshopCategory).where(WorkshopCategory.workshop_id == world.workshop.id)
                       .values(seats=1))  # the citizen holds the only seat from now on
    db.session.commit()
    waiting = make_user()
    db.session.commit()
    registration = workshop_signup.sign_up(db.session.get(Workshop, world.workshop.id), waiting)
    assert registration.status is RegistrationStatus.waitlisted
    assert not service.may_join(world.board, waiting)
    with pytest.raises(errors.NotMember):
        service.join(world.board, waiting)
    assert service.participant_for(world.board, waiting) is None


def test_others_are_refused_without_the_code_and_allowed_with_it(world):
    stranger = make_user()
    db.session.commit()
    assert not service.may_join(world.board, stranger)
    with pytest.raises(errors.NotMember):
        service.join(world.board, stranger)
    participant = service.join(world.board, stranger, by_code=True)
    assert participant.user_id == stranger.id and not participant.is_facilitator


def test_organisation_board_admits_only_facilitators_without_the_code(app):
    organisation = make_organisation()
    facilitator = make_member(organisation, Role.facilitator)
    citizen = make_user()
    db.session.commit()
    board = service.create_board(facilitator, organisation, "Tableau")
    assert not service.may_join(board, citizen)
    with pytest.raises(errors.NotMember):
        service.join(board, citizen)


def test_guests_join_with_the_code_when_allowed(world):
    guest = service.join(world.board, None, guest_name="  Dominique  ", by_code=True)
    assert (guest.user_id, guest.guest_name, guest.is_guest) == (None, "Dominique", True)
    assert len(guest.guest_token) >= 32
    assert service.participant_for(world.board, None, guest.guest_token).id == guest.id


def test_guests_are_refused_when_the_board_does_not_allow_them(app):
    world = make_world(allow_guests=False)
    with pytest.raises(errors.GuestsNotAllowed):
        service.join(world.board, None, guest_name="Dominique", by_code=True)
    assert count(Participant) == 2


def test_guests_are_refused_without_the_code(world):
    with pytest.raises(errors.GuestsNotAllowed):
        service.join(world.board, None, guest_name="Dominique")


@pytest.mark.parametrize("name", ["", "   ", "x" * 61])
def test_guests_need_a_display_name_of_1_to_60_characters(world, name):
    with pytest.raises(InvalidInput) as err:
        service.join(world.board, None, guest_name=name, by_code=True)
    assert err.value.code == "guest_name"


def test_removed_people_cannot_join_again(world):
    service.remove_participant(world.board_id, world.fac, target_id=world.cit)
    with pytest.raises(errors.Removed):
        service.join(world.board, world.citizen)
    with pytest.raises(errors.Removed):
        service.join(world.board, world.citizen, by_code=True)


# --- join code ---------------------------------------------------------------------------------------

def test_regenerate_join_code_stops_the_old_one(world):
    old = world.board.join_code
    assert service.board_by_code(old.lower() + " ").id == world.board_id
    new = service.regenerate_join_code(world.facilitator, world.board)
    assert new != old and len(new) == 6
    with pytest.raises(errors.BadJoinCode):
        service.board_by_code(old)
    assert service.board_by_code(new).id == world.board_id


def test_regenerate_join_code_refused_for_a_participant(world):
    old = world.board.join_code
    with pytest.raises(NotAllowed):
        service.regenerate_join_code(world.citizen, world.board)
    assert reload(Board, world.board_id).join_code == old


def test_join_code_of_a_closed_board_is_refused(world):
    set_phase(world, "closed")
    with pytest.raises(errors.BadJoinCode):
        service.board_by_code(world.board.join_code)


def test_unknown_join_code_is_refused(world):
    with pytest.raises(errors.BadJoinCode):
        service.board_by_code("ZZZZZZ")
    with pytest.raises(errors.BadJoinCode):
        service.board_by_code(None)


# --- posting ideas -----------------------------------------------------------------------------------

def test_post_idea(brainstorm):
    world = brainstorm
    seq = last_seq(world.board_id)
    ack = service.post_idea(world.board_id, world.cit, column_id=world.columns[1], text="  Un seul guichet  ")
    idea = reload(Idea, ack["idea_id"])
    assert ack == {"ok": True, "seq": last_seq(world.board_id), "idea_id": idea.id, "status": "visible"}
    assert (idea.text, idea.column_id, idea.participant_id, idea.status) == (
        "Un seul guichet", world.columns[1], world.cit, IdeaStatus.visible)
    evs = events(world.board_id, after=seq)
    assert [(e["name"], e["audience"]) for e in evs] == [
        ("idea_posted", "facilitators"), ("idea_posted", "participant"), ("idea_posted", "participants")]
    assert evs[0]["payload"]["idea"]["author"] == "Camille Citoyenne"
    assert evs[0]["payload"]["idea"]["author_participant_id"] == world.cit
    assert evs[1]["participant_id"] == world.cit and evs[1]["payload"]["idea"]["mine"] is True
    assert "author_participant_id" not in evs[2]["payload"]["idea"]


@pytest.mark.both_databases("app.boards.models")
def test_ideas_of_a_column_get_increasing_sort_keys(brainstorm):
    world = brainstorm
    ids = [post(world, world.cit, f"Idée {n}") for n in range(70)]
    keys = [reload(Idea, i).sort_key for i in ids]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


@pytest.mark.parametrize("text", ["", "   ", "x" * 501])
def test_post_idea_refuses_a_bad_length(brainstorm, text):
    world = brainstorm
    with pytest.raises(InvalidInput) as err:
        service.post_idea(world.board_id, world.cit, column_id=world.columns[0], text=text)
    assert err.value.code == "idea_length"
    assert count(Idea) == 0


def test_post_idea_accepts_500_characters(brainstorm):
    world = brainstorm
    assert len(reload(Idea, post(world, world.cit, "é" * 500)).text) == 500


@pytest.mark.parametrize("phase", ["preparation", "grouping", "voting", "discussion"])
def test_post_idea_refused_outside_the_brainstorm(world, phase):
    set_phase(world, phase)
    with pytest.raises(errors.WrongPhase):
        post(world, world.cit)
    assert count(Idea) == 0
    assert post(world, world.fac, "Idée de l'animatrice")  # facilitators may post in any open phase


def test_post_idea_refused_on_a_closed_board_even_for_facilitators(world):
    set_phase(world, "closed")
    for participant in (world.cit, world.fac):
        with pytest.raises(errors.WrongPhase):
            post(world, participant)
    assert count(Idea) == 0


def test_post_idea_refused_on_a_locked_board(brainstorm):
    world = brainstorm
    set_settings(world, locked=True)
    with pytest.raises(errors.BoardLocked):
        post(world, world.cit)
    assert count(Idea) == 0
    post(world, world.fac)  # facilitators keep working on a locked board


def test_post_idea_refused_over_the_idea_cap(brainstorm):
    world = brainstorm
    set_settings(world, idea_cap=2)
    first = post(world, world.cit)
    post(world, world.cit)
    with pytest.raises(errors.IdeaCapReached):
        post(world, world.cit)
    service.withdraw_idea(world.board_id, world.cit, idea_id=first)  # withdrawn ideas do not count
    post(world, world.cit)
    for _ in range(3):
        post(world, world.fac)  # facilitators have no cap


def test_post_idea_refused_in_an_unknown_column_or_one_of_another_board(brainstorm):
    world = brainstorm
    other = make_world()
    for column_id in (999_999, other.columns[0], "1", None):
        with pytest.raises(errors.UnknownColumn):
            service.post_idea(world.board_id, world.cit, column_id=column_id, text="Idée")
    assert count(Idea) == 0


def test_moderated_idea_is_seen_only_by_facilitators_and_its_author(brainstorm):
    world = brainstorm
    set_settings(world, moderation="approve")
    other, other_pid = add_participant(world)
    seq = last_seq(world.board_id)
    ack = service.post_idea(world.board_id, world.cit, column_id=world.columns[0], text=SECRET)
    assert ack["status"] == "pending"
    evs = events(world.board_id, after=seq)
    assert SECRET in dumps(seen_by(evs, world.fac, facilitator=True))
    assert SECRET in dumps(seen_by(evs, world.cit))
    assert SECRET not in dumps(seen_by(evs, other_pid))
    assert names(seen_by(evs, other_pid)) == ["idea_removed"]
    assert SECRET not in dumps(service.snapshot(world.board, reload(Participant, other_pid)))
    assert SECRET in dumps(service.snapshot(world.board, reload(Participant, world.cit)))
    assert SECRET in dumps(service.snapshot(world.board, reload(Participant, world.fac)))
    # Facilitators' ideas need no approval; approving shows the pending one to everyone.
    assert service.post_idea(world.board_id, world.fac, column_id=world.columns[0], text="x")["status"] == "visible"
    service.moderate_idea(world.board_id, world.fac, idea_id=ack["idea_id"], action="approve")
    assert SECRET in dumps(service.snapshot(world.board, reload(Participant, other_pid)))


def _view(author, *, column_id, mine=False, facilitator=False, votes=True, status="visible") -> dict:
    """A first idea of a column ("Un seul guichet") as one audience sees it, its ids replaced by names."""
    view = {"id": "IDEA", "column_id": column_id, "cluster_id": None, "sort_key": key_between(None, None),
            "text": "Un seul guichet", "status": status, "version": 1, "author": author, "mine": mine, "reactions": {}}
    if votes or facilitator:
        view["votes"] = 0
    if facilitator:
        view["author_participant_id"] = "AUTHOR"
        view["hidden_reason"] = ""
    return view


def _expected_post_events(scenario: str, column_id: int) -> list[tuple]:
    """The events of the first idea of a column, as each setting shapes them: (name, audience, person, payload)."""
    name = {"guest": "Dominique", "anonymous_guest": "Dominique", "facilitator": "Fanny Animatrice"}.get(
        scenario, "Camille Citoyenne")
    status = "pending" if scenario == "moderated" else "visible"
    for_facilitators = ("idea_posted", "facilitators", None,
                        {"idea": _view(name, facilitator=True, status=status, column_id=column_id)})
    if scenario == "facilitator":  # no event of the author's own: they are in the facilitators' room
        return [for_facilitators, ("idea_posted", "participants", None, {"idea": _view(name, column_id=column_id)})]
    shown = None if scenario.startswith("anonymous") else name
    votes = scenario != "hide_votes"
    mine = ("idea_posted", "participant", "AUTHOR",
            {"idea": _view(shown, mine=True, votes=votes, status=status, column_id=column_id)})
    if scenario == "moderated":
        others = ("idea_removed", "participants", None, {"id": "IDEA"})
    elif scenario == "hidden":
        others = ("idea_placeholder", "participants", None, {"id": "IDEA", "column_id": column_id})
    else:
        others = ("idea_posted", "participants", None, {"idea": _view(shown, votes=votes, column_id=column_id)})
    return [for_facilitators, mine, others]


def _named(evs: list[dict], idea_id: int, author_id: int) -> list[tuple]:
    names = {"id": {idea_id: "IDEA"}, "author_participant_id": {author_id: "AUTHOR"}}

    def swap(value, key=None):
        if isinstance(value, dict):
            return {k: swap(v, k) for k, v in value.items()}
        return names[key].get(value, value) if key in names else value

    return [(e["name"], e["audience"], "AUTHOR" if e["participant_id"] == author_id else e["participant_id"],
             swap(e["payload"])) for e in evs]


POST_SETTINGS = {"plain": {}, "anonymous": {"anonymous": True}, "hidden": {"hide_ideas": True},
                 "moderated": {"moderation": "approve"}, "hide_votes": {"hide_votes": True}, "facilitator": {},
                 "guest": {}, "anonymous_guest": {"anonymous": True}}


@pytest.mark.parametrize("scenario", list(POST_SETTINGS))
def test_a_post_sends_each_audience_what_it_may_see_in_one_change(brainstorm, scenario):
    """Every event of a post, written out in full for each setting that shapes them; one change (one seq), the idea
    stored as acknowledged, and a resend that gets the same ack back and applies nothing."""
    world = brainstorm
    if POST_SETTINGS[scenario]:
        set_settings(world, **POST_SETTINGS[scenario])
    author = {"facilitator": world.fac, "guest": None, "anonymous_guest": None}.get(scenario, world.cit)
    if author is None:
        author = service.join(world.board, None, guest_name="Dominique", by_code=True).id
        db.session.commit()
    seq = last_seq(world.board_id)
    ack = service.post_idea(world.board_id, author, column_id=world.columns[1], text="  Un seul guichet ",
                            client_id="idée-1")
    evs = events(world.board_id, after=seq)
    assert _named(evs, ack["idea_id"], author) == _expected_post_events(scenario, world.columns[1])
    assert [(e["seq"], e["position"]) for e in evs] == [(seq + 1, n) for n in range(len(evs))]
    status = "pending" if scenario == "moderated" else "visible"
    assert ack == {"ok": True, "seq": seq + 1, "idea_id": ack["idea_id"], "status": status}
    idea = reload(Idea, ack["idea_id"])
    assert (idea.text, idea.column_id, idea.participant_id, idea.sort_key, idea.status.value, idea.votes,
            idea.version, idea.cluster_id, idea.hidden_reason) == (
        "Un seul guichet", world.columns[1], author, key_between(None, None), status, 0, 1, None, "")
    assert reload(Board, world.board_id).seq == seq + 1
    again = service.post_idea(world.board_id, author, column_id=world.columns[1], text="Un seul guichet",
                              client_id="idée-1")
    assert again == {**ack, "replayed": True}
    assert last_seq(world.board_id) == seq + 1


@pytest.mark.both_databases("app.boards.models")
def test_the_next_ideas_of_a_column_follow_one_moved_to_its_end(brainstorm):
    world = brainstorm
    first = post(world, world.cit, "a", column=0)
    service.move_idea(world.board_id, world.fac, idea_id=first, column_id=world.columns[0])
    ids = [post(world, world.cit, f"Idée {n}", column=0) for n in range(3)]
    keys = [reload(Idea, i).sort_key for i in [first, *ids]]
    assert keys == sorted(keys) and len(set(keys)) == 4


def test_a_post_by_a_facilitator_whose_role_was_withdrawn_stores_the_role_then_is_refused(world):
    """The role is re-read with the post: the change of role is stored (``participant_role_changed``, which closes
    their connections) even though the post itself, outside the brainstorm, is then refused."""
    db.session.execute(db.delete(Membership).where(Membership.user_id == world.facilitator.id))
    db.session.commit()
    seq = last_seq(world.board_id)
    with pytest.raises(errors.WrongPhase):
        post(world, world.fac)
    assert count(Idea) == 0
    assert names(events(world.board_id, after=seq)) == ["participant_role_changed"] * 2
    assert reload(Participant, world.fac).is_facilitator is False


# --- editing and withdrawing -------------------------------------------------------------------------

def test_edit_own_idea(brainstorm):
    world = brainstorm
    idea_id = post(world, world.cit, "Avant")
    ack = service.edit_idea(world.board_id, world.cit, idea_id=idea_id, text=" Après ", version=1)
    assert (ack["ok"], ack["version"], ack["overtaken"]) == (True, 2, False)
    idea = reload(Idea, idea_id)
    assert (idea.text, idea.version) == ("Après", 2)
    assert "idea_edited" in names(events(world.board_id, after=ack["seq"] - 1))


def test_edit_with_a_stale_version_wins_and_says_it_was_overtaken(brainstorm):
    world = brainstorm
    idea_id = post(world, world.cit, "Avant")
    service.edit_idea(world.board_id, world.fac, idea_id=idea_id, text="Par l'animatrice", version=1)
    ack = service.edit_idea(world.board_id, world.cit, idea_id=idea_id, text="Par l'autrice", version=1)
    assert (ack["version"], ack["overtaken"]) == (3, True)
    assert reload(Idea, idea_id).text == "Par l'autrice"  # last writer wins


def test_edit_refused_for_someone_elses_idea(brainstorm):
    world = brainstorm
    _other, other_pid = add_participant(world)
    idea_id = post(world, other_pid, "À moi")
    with pytest.raises(errors.NotYourIdea):
        service.edit_idea(world.board_id, world.cit, idea_id=idea_id, text="Volé")
    assert reload(Idea, idea_id).text == "À moi"


def test_edit_refused_once_grouping_starts_except_for_facilitators(brainstorm):
    world = brainstorm
    idea_id = post(world, world.cit, "Avant")
    set_phase(world, "grouping")
    with pytest.raises(errors.WrongPhase):
        service.edit_idea(world.board_id, world.cit, idea_id=idea_id, text="Après")
    service.edit_idea(world.board_id, world.fac, idea_id=idea_id, text="Reformulée")
    assert reload(Idea, idea_id).text == "Reformulée"


@pytest.mark.parametrize("text", ["", " ", "y" * 501])
def test_edit_refuses_a_bad_length(brainstorm, text):
    world = brainstorm
    idea_id = post(world, world.cit, "Avant")
    with pytest.raises(InvalidInput):
        service.edit_idea(world.board_id, world.cit, idea_id=idea_id, text=text)
    assert reload(Idea, idea_id).text == "Avant"


def test_edit_refused_for_a_withdrawn_idea(brainstorm):
    world = brainstorm
    idea_id = post(world, world.cit, "Avant")
    service.withdraw_idea(world.board_id, world.cit, idea_id=idea_id)
    with pytest.raises(errors.UnknownIdea):
        service.edit_idea(world.board_id, world.cit, idea_id=idea_id, text="Après")
    assert reload(Idea, idea_id).text == "Avant"


def test_withdraw_own_idea_refunds_its_dots(voting):
    world = voting
    _other, other_pid = add_participant(world)
    service.vote(world.board_id, other_pid, idea_id=world.idea, delta=1)
    service.vote(world.board_id, other_pid, idea_id=world.idea, delta=1)
    set_phase(world, "brainstorm")
    seq = last_seq(world.board_id)
    service.withdraw_idea(world.board_id, world.cit, idea_id=world.idea)
    idea = reload(Idea, world.idea)
    assert (idea.status, idea.votes) == (IdeaStatus.withdrawn, 0)
    assert reload(Participant, other_pid).dots_used == 0
    assert count(Dot) == 0
    evs = events(world.board_id, after=seq)
    [refund] = [e for e in evs if e["name"] == "my_dots_changed"]
    assert (refund["participant_id"], refund["payload"]["refunded"]) == (other_pid, 2)
    assert names(seen_by(evs, other_pid)) == ["my_dots_changed", "idea_removed"]
    # Withdrawing again changes nothing.
    assert service.withdraw_idea(world.board_id, world.cit, idea_id=world.idea)["ok"]


def test_withdraw_refused_for_someone_elses_idea_or_after_brainstorm(brainstorm):
    world = brainstorm
    idea_id = post(world, world.cit)
    with pytest.raises(errors.NotYourIdea):
        service.withdraw_idea(world.board_id, world.fac, idea_id=idea_id)
    set_phase(world, "grouping")
    with pytest.raises(errors.WrongPhase):
        service.withdraw_idea(world.board_id, world.cit, idea_id=idea_id)
    assert reload(Idea, idea_id).status is IdeaStatus.visible


def test_withdrawing_the_focused_idea_clears_the_focus(brainstorm):
    world = brainstorm
    idea_id = post(world, world.cit)
    service.focus_idea(world.board_id, world.fac, idea_id=idea_id)
    seq = last_seq(world.board_id)
    service.withdraw_idea(world.board_id, world.cit, idea_id=idea_id)
    assert reload(Board, world.board_id).focused_idea_id is None
    assert ("focus_changed", {"idea_id": None}) in [(e["name"], e["payload"])
                                                    for e in events(world.board_id, after=seq)]


# --- moving --------------------------------------------------------------------------------------------

def keys(world, column=0) -> list[int]:
    """Idea ids of a column in sort order."""
    return list(db.session.scalars(select(Idea.id).where(Idea.column_id == world.columns[column])
                                   .order_by(Idea.sort_key)))


@pytest.mark.both_databases("app.boards.models")
def test_move_to_the_end_of_another_column(brainstorm):
    world = brainstorm
    a, b = post(world, world.cit, "a", column=0), post(world, world.cit, "b", column=1)
    ack = service.move_idea(world.board_id, world.fac, idea_id=a, column_id=world.columns[1])
    assert keys(world, 1) == [b, a] and keys(world, 0) == []
    assert ack["sort_key"] == reload(Idea, a).sort_key


@pytest.mark.both_databases("app.boards.models")
def test_move_between_neighbours(brainstorm):
    world = brainstorm
    a, b, c, d = (post(world, world.cit, t) for t in "abcd")
    column = world.columns[0]
    service.move_idea(world.board_id, world.fac, idea_id=d, column_id=column, before_id=a, after_id=b)
    assert keys(world) == [a, d, b, c]
    service.move_idea(world.board_id, world.fac, idea_id=a, column_id=column, before_id=b, after_id=c)
    assert keys(world) == [d, b, a, c]
    service.move_idea(world.board_id, world.fac, idea_id=c, column_id=column, before_id=None, after_id=d)
    assert keys(world) == [c, d, b, a]


@pytest.mark.both_databases("app.boards.models")
def test_move_with_one_neighbour_lands_next_to_it(brainstorm):
    world = brainstorm
    a, b, c, d = (post(world, world.cit, t) for t in "abcd")
    column = world.columns[0]
    service.move_idea(world.board_id, world.fac, idea_id=d, column_id=column, before_id=a)
    assert keys(world) == [a, d, b, c]
    service.move_idea(world.board_id, world.fac, idea_id=a, column_id=column, after_id=c)
    assert keys(world) == [d, b, a, c]
    sort_keys = [reload(Idea, i).sort_key for i in keys(world)]
    assert len(set(sort_keys)) == 4


@pytest.mark.both_databases("app.boards.models")
def test_many_moves_keep_keys_distinct_and_short(brainstorm):
    world = brainstorm
    a, b, c = (post(world, world.cit, t) for t in "abc")
    column = world.columns[0]
    for n in range(40):  # keep squeezing between the first two
        moving = c if n % 2 == 0 else b
        first, second = keys(world)[:2]
        if moving in (first, second):
            first, second = [i for i in keys(world) if i != moving][:2]
        service.move_idea(world.board_id, world.fac, idea_id=moving, column_id=column, before_id=first,
                          after_id=second)
        assert keys(world)[1] == moving
    sort_keys = [reload(Idea, i).sort_key for i in keys(world)]
    assert len(set(sort_keys)) == 3 and max(map(len, sort_keys)) <= 64


def test_move_to_another_column_takes_the_idea_out_of_its_cluster(brainstorm):
    world = brainstorm
    a, b = post(world, world.cit, "a"), post(world, world.cit, "b")
    service.group_ideas(world.board_id, world.fac, idea_ids=[a, b], name="Groupe")
    service.move_idea(world.board_id, world.fac, idea_id=a, column_id=world.columns[2])
    assert reload(Idea, a).cluster_id is None and reload(Idea, b).cluster_id is not None


@pytest.mark.parametrize("case", ["other_column", "itself", "reversed", "not_adjacent"])
def test_move_refuses_bad_neighbours(brainstorm, case):
    world = brainstorm
    a, b, c = (post(world, world.cit, t) for t in "abc")
    elsewhere = post(world, world.cit, "x", column=1)
    column = world.columns[0]
    before, after = {"other_column": (elsewhere, None), "itself": (c, None), "reversed": (b, a),
                     "not_adjacent": (a, c)}[case]
    moving = c if case != "not_adjacent" else b
    if case == "not_adjacent":
        moving = post(world, world.cit, "d")
    original = reload(Idea, moving).sort_key
    with pytest.raises(InvalidInput) as err:
        service.move_idea(world.board_id, world.fac, idea_id=moving, column_id=column, before_id=before,
                          after_id=after)
    assert err.value.code == "bad_position"
    assert reload(Idea, moving).sort_key == original


def test_move_refused_for_participants_and_unknown_or_foreign_ideas(brainstorm):
    world = brainstorm
    idea_id = post(world, world.cit)
    with pytest.raises(NotAllowed):
        service.move_idea(world.board_id, world.cit, idea_id=idea_id, column_id=world.columns[1])
    other = make_world()
    set_phase(other, "brainstorm")
    foreign = post(other, other.cit)
    for bad in (999_999, foreign):
        with pytest.raises(errors.UnknownIdea):
            service.move_idea(world.board_id, world.fac, idea_id=bad, column_id=world.columns[1])
    with pytest.raises(errors.UnknownColumn):
        service.move_idea(world.board_id, world.fac, idea_id=idea_id, column_id=other.columns[0])
    assert reload(Idea, idea_id).column_id == world.columns[0]
    assert reload(Idea, foreign).column_id == other.columns[0]


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=200))
def test_sort_keys_fall_strictly_between_their_neighbours(positions):
    """Any sequence of insertions (at the ends or between two keys) keeps keys distinct and ordered."""
    keys: list[str] = []
    for position in positions:
        i = position % (len(keys) + 1)
        before, after = keys[i - 1] if i > 0 else None, keys[i] if i < len(keys) else None
        key = key_between(before, after)
        assert (before is None or before < key) and (after is None or key < after), (before, key, after)
        assert not key.endswith("0") and len(key) <= 64
        keys.insert(i, key)
    assert keys == sorted(keys)


def test_appending_keeps_keys_short_however_many_ideas_a_column_gets():
    """Every new idea goes to the end of its column: 100,000 of them stay ordered and at most 8 characters long.
    (Counting up one character at a time, as keys once did, passed the column's 64 characters after ~2,000 ideas:
    every later post in that column failed.)"""
    key, keys = None, []
    for _ in range(100_000):
        key = key_between(key, None)
        keys.append(key)
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert max(map(len, keys)) <= 8 and not any(k.endswith("0") for k in keys)


@pytest.mark.parametrize("before", ["V", "z", "zzzzV", "zz5zz", "Vz", "z" * 57, "z" * 63])
def test_appending_after_any_key_including_those_made_the_old_way(before):
    key = key_between(before, None)
    assert before < key and len(key) <= 64 and not key.endswith("0")
    assert len(key) <= max(len(before), 1) + 7


def test_a_column_at_the_length_limit_refuses_instead_of_overflowing():
    with pytest.raises(ValueError):
        key_between("z" * 64, None)


# --- reactions -------------------------------------------------------------------------------------------

def test_react_adds_and_removes_one_of_the_fixed_reactions(brainstorm):
    world = brainstorm
    idea_id = post(world, world.fac)
    assert service.react(world.board_id, world.cit, idea_id=idea_id, kind="heart")["reactions"] == {"heart": 1}
    assert service.react(world.board_id, world.cit, idea_id=idea_id, kind="heart")["reactions"] == {"heart": 1}
    ack = service.react(world.board_id, world.fac, idea_id=idea_id, kind="plus_one")
    assert ack["reactions"] == {"heart": 1, "plus_one": 1}
    assert service.react(world.board_id, world.cit, idea_id=idea_id, kind="heart", on=False)["reactions"] == {
        "plus_one": 1}
    assert count(Reaction) == 1
    assert events(world.board_id, after=ack["seq"] - 1)[0]["audience"] == "everyone"


def test_react_refuses_an_unknown_kind_a_hidden_idea_and_a_locked_board(brainstorm):
    world = brainstorm
    idea_id = post(world, world.fac)
    with pytest.raises(InvalidInput) as err:
        service.react(world.board_id, world.cit, idea_id=idea_id, kind="angry")
    assert err.value.code == "unknown_reaction"
    set_settings(world, locked=True)
    with pytest.raises(errors.BoardLocked):
        service.react(world.board_id, world.cit, idea_id=idea_id, kind="heart")
    set_settings(world, locked=False)
    service.moderate_idea(world.board_id, world.fac, idea_id=idea_id, action="hide", reason="Hors sujet")
    with pytest.raises(errors.UnknownIdea):
        service.react(world.board_id, world.cit, idea_id=idea_id, kind="heart")
    assert count(Reaction) == 0


def test_reactions_on_ideas_hidden_from_participants_go_to_facilitators_only(brainstorm):
    world = brainstorm
    set_settings(world, hide_ideas=True)
    idea_id = post(world, world.fac)
    ack = service.react(world.board_id, world.fac, idea_id=idea_id, kind="idea")
    assert events(world.board_id, after=ack["seq"] - 1)[0]["audience"] == "facilitators"


# --- votes ------------------------------------------------------------------------------------------------

def test_vote_places_and_removes_dots(voting):
    world = voting
    ack = service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1)
    assert (ack["mine"], ack["dots_left"]) == (1, 4)
    ack = service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1)
    assert (ack["mine"], ack["dots_left"]) == (2, 3)
    assert reload(Idea, world.idea).votes == 2
    ack = service.vote(world.board_id, world.cit, idea_id=world.idea, delta=-1)
    assert (ack["mine"], ack["dots_left"]) == (1, 4)
    ack = service.vote(world.board_id, world.cit, idea_id=world.idea, delta=-1)
    assert (ack["mine"], ack["dots_left"]) == (0, 5)
    assert count(Dot) == 0 and reload(Idea, world.idea).votes == 0
    with pytest.raises(errors.NoDotToRemove):
        service.vote(world.board_id, world.cit, idea_id=world.idea, delta=-1)
    assert reload(Participant, world.cit).dots_used == 0


def test_vote_refused_when_the_budget_is_spent(voting):
    world = voting
    set_settings(world, dot_budget=2)
    second = post(world, world.fac, "Autre")
    service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1)
    service.vote(world.board_id, world.cit, idea_id=second, delta=1)
    with pytest.raises(errors.BudgetSpent):
        service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1)
    assert reload(Participant, world.cit).dots_used == 2
    assert reload(Idea, world.idea).votes == 1


def test_vote_refused_over_the_cap_per_idea(voting):
    world = voting
    set_settings(world, dot_cap=1)
    service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1)
    with pytest.raises(errors.DotCapReached):
        service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1)
    assert reload(Idea, world.idea).votes == 1


@pytest.mark.parametrize("delta", [0, 2, -2, 100])
def test_vote_refuses_a_delta_other_than_one_dot(voting, delta):
    world = voting
    with pytest.raises(InvalidInput):
        service.vote(world.board_id, world.cit, idea_id=world.idea, delta=delta)
    assert reload(Idea, world.idea).votes == 0


@pytest.mark.parametrize("phase", ["brainstorm", "grouping", "discussion"])
def test_vote_refused_outside_the_voting_phase(voting, phase):
    world = voting
    set_phase(world, phase)
    for participant in (world.cit, world.fac):
        with pytest.raises(errors.WrongPhase):
            service.vote(world.board_id, participant, idea_id=world.idea, delta=1)
    assert count(Dot) == 0


def test_vote_refused_on_a_locked_board(voting):
    world = voting
    set_settings(world, locked=True)
    with pytest.raises(errors.BoardLocked):
        service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1)


def test_vote_refused_on_a_hidden_or_foreign_idea(voting):
    world = voting
    service.moderate_idea(world.board_id, world.fac, idea_id=world.idea, action="hide", reason="Injurieux")
    with pytest.raises(errors.UnknownIdea):
        service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1)
    other = make_world()
    set_phase(other, "brainstorm")
    foreign = post(other, other.cit)
    with pytest.raises(errors.UnknownIdea):
        service.vote(world.board_id, world.cit, idea_id=foreign, delta=1)
    assert count(Dot) == 0


def test_hidden_votes_reach_participants_only_after_voting(voting):
    world = voting
    set_settings(world, hide_votes=True)
    seq = last_seq(world.board_id)
    service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1)
    evs = events(world.board_id, after=seq)
    assert [e["audience"] for e in evs if e["name"] == "votes_changed"] == ["facilitators"]
    assert [e["payload"] for e in seen_by(evs, world.cit)] == [{"idea_id": world.idea, "mine": 1, "dots_left": 4}]
    assert "votes" not in service.snapshot(world.board, reload(Participant, world.cit))["ideas"][0]
    assert service.snapshot(world.board, reload(Participant, world.fac))["ideas"][0]["votes"] == 1
    seq = last_seq(world.board_id)
    set_phase(world, "discussion")
    revealed = [e for e in events(world.board_id, after=seq) if e["name"] == "votes_revealed"]
    assert [(e["audience"], e["payload"]) for e in revealed] == [("participants", {"votes": {str(world.idea): 1}})]
    assert service.snapshot(world.board, reload(Participant, world.cit))["ideas"][0]["votes"] == 1


def test_turning_hidden_votes_off_during_voting_reveals_the_totals(voting):
    world = voting
    set_settings(world, hide_votes=True)
    service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1)
    seq = last_seq(world.board_id)
    set_settings(world, hide_votes=False)
    assert "votes_revealed" in names(events(world.board_id, after=seq))


# --- ready, settings, phases, timer ----------------------------------------------------------------------

def test_set_ready(world):
    ack = service.set_ready(world.board_id, world.cit, ready=True)
    assert ack["ready"] is True and reload(Participant, world.cit).ready
    [event] = events(world.board_id, after=ack["seq"] - 1)
    assert (event["name"], event["audience"], event["payload"]) == (
        "participant_ready", "everyone", {"participant_id": world.cit, "ready": True})
    assert service.set_ready(world.board_id, world.cit, ready=False)["ready"] is False


def test_update_settings(world):
    ack = service.update_settings(world.board_id, world.fac, settings={
        "hide_ideas": True, "anonymous": True, "hide_votes": True, "locked": True, "allow_guests": False,
        "idea_cap": 3, "dot_budget": 0, "dot_cap": 2, "moderation": "approve"})
    assert ack["settings"] == {"hide_ideas": True, "anonymous": True, "hide_votes": True, "locked": True,
                               "allow_guests": False, "idea_cap": 3, "dot_budget": 0, "dot_cap": 2,
                               "moderation": "approve"}
    assert views.settings_view(reload(Board, world.board_id)) == ack["settings"]
    ack = service.update_settings(world.board_id, world.fac, settings={"idea_cap": None, "dot_cap": None})
    assert (ack["settings"]["idea_cap"], ack["settings"]["dot_cap"]) == (None, None)


@pytest.mark.parametrize("settings", [
    {}, {"colour": "red"}, {"hide_ideas": 1}, {"anonymous": "yes"}, {"idea_cap": 0}, {"idea_cap": 101},
    {"dot_budget": -1}, {"dot_budget": None}, {"dot_budget": True}, {"dot_cap": 1.5}, {"moderation": "strict"},
    {"locked": None}, {"hide_ideas": True, "dot_cap": 0},
])
def test_update_settings_refuses_bad_values(world, settings):
    before = views.settings_view(world.board)
    with pytest.raises(InvalidInput):
        service.update_settings(world.board_id, world.fac, settings=settings)
    assert views.settings_view(reload(Board, world.board_id)) == before


def test_update_settings_refused_for_participants(world):
    with pytest.raises(NotAllowed):
        service.update_settings(world.board_id, world.cit, settings={"locked": True})
    assert not reload(Board, world.board_id).locked


def test_reveal_sends_the_hidden_ideas_to_participants(brainstorm):
    world = brainstorm
    set_settings(world, hide_ideas=True)
    seq = last_seq(world.board_id)
    idea_id = post(world, world.fac, SECRET)
    evs = events(world.board_id, after=seq)
    assert SECRET not in dumps(seen_by(evs, world.cit))
    assert [e["payload"] for e in seen_by(evs, world.cit)] == [{"id": idea_id, "column_id": world.columns[0]}]
    snap = service.snapshot(world.board, reload(Participant, world.cit))
    assert SECRET not in dumps(snap)
    assert snap["hidden_ideas"] == [{"id": idea_id, "column_id": world.columns[0]}]
    seq = last_seq(world.board_id)
    set_settings(world, hide_ideas=False)
    [revealed] = [e for e in events(world.board_id, after=seq) if e["name"] == "ideas_revealed"]
    assert revealed["audience"] == "participants"
    assert [i["text"] for i in revealed["payload"]["ideas"]] == [SECRET]


def test_hidden_ideas_stay_hidden_when_anonymity_changes(brainstorm):
    world = brainstorm
    set_settings(world, hide_ideas=True)
    seq = last_seq(world.board_id)
    post(world, world.fac, SECRET)
    set_settings(world, anonymous=True)
    set_settings(world, anonymous=False)
    set_settings(world, dot_budget=3)
    assert SECRET not in dumps(seen_by(events(world.board_id, after=seq), world.cit))


def test_anonymous_mode_never_sends_author_names_to_participants(brainstorm):
    world = brainstorm
    post(world, world.cit, "Avant l'anonymat")
    seq = last_seq(world.board_id)
    set_settings(world, anonymous=True)
    _other, other_pid = add_participant(world, name="Octave Participant")
    post(world, world.cit, "Pendant l'anonymat")
    post(world, world.fac, "Idée de l'animatrice")
    service.set_ready(world.board_id, world.cit, ready=True)
    evs = events(world.board_id, after=seq)
    people = ("Camille Citoyenne", "Fanny Animatrice", "Octave Participant")
    for pid in (world.cit, other_pid):
        seen = dumps(seen_by(evs, pid)) + dumps(service.snapshot(world.board, reload(Participant, pid)))
        assert not [name for name in people if name in seen]
    refreshed = [e for e in evs if e["name"] == "ideas_refreshed"]
    assert refreshed and all(i["author"] is None for i in refreshed[0]["payload"]["ideas"])
    # Facilitators still see who wrote what.
    assert "Camille Citoyenne" in dumps(service.snapshot(world.board, reload(Participant, world.fac)))


def test_set_phase_walks_through_the_session_and_closing_is_final(world):
    for phase in ("brainstorm", "grouping", "voting", "discussion", "brainstorm"):
        ack = service.set_phase(world.board_id, world.fac, phase=phase)
        assert ack["phase"] == phase and reload(Board, world.board_id).phase.value == phase
    service.set_phase(world.board_id, world.fac, phase="closed")
    board = reload(Board, world.board_id)
    assert board.phase.value == "closed" and board.closed_at is not None
    with pytest.raises(errors.WrongPhase):
        service.set_phase(world.board_id, world.fac, phase="brainstorm")
    assert reload(Board, world.board_id).phase.value == "closed"


def test_set_phase_refuses_an_unknown_phase_and_participants(world):
    with pytest.raises(InvalidInput):
        service.set_phase(world.board_id, world.fac, phase="lunch")
    with pytest.raises(NotAllowed):
        service.set_phase(world.board_id, world.cit, phase="brainstorm")
    assert reload(Board, world.board_id).phase.value == "preparation"


def timer(world):
    board = reload(Board, world.board_id)
    return board.timer_ends_at, board.timer_paused_seconds


def near(value, expected, slack=3) -> bool:
    return abs((value - expected).total_seconds()) <= slack


def test_timer_is_held_by_the_server(world):
    def control(action, seconds=None):
        return service.control_timer(world.board_id, world.fac, action=action, seconds=seconds)

    ack = control("start", 300)
    ends_at, paused = timer(world)
    assert near(ends_at, utcnow() + timedelta(seconds=300)) and paused is None
    assert ack["timer"] == {"ends_at": ends_at.isoformat() + "Z", "paused_seconds": None}
    control("add", 60)
    assert near(timer(world)[0], utcnow() + timedelta(seconds=360))
    control("pause")
    ends_at, paused = timer(world)
    assert ends_at is None and 355 <= paused <= 360
    control("add", 40)
    assert timer(world)[1] == paused + 40
    control("resume")
    ends_at, paused_after = timer(world)
    assert near(ends_at, utcnow() + timedelta(seconds=paused + 40)) and paused_after is None
    control("stop")
    assert timer(world) == (None, None)
    control("add", 30)  # adding to a stopped timer starts it
    assert near(timer(world)[0], utcnow() + timedelta(seconds=30))
    timer_events = [e for e in events(world.board_id) if e["name"] == "timer_changed"]
    assert len(timer_events) == 7 and {e["audience"] for e in timer_events} == {"everyone"}


@pytest.mark.parametrize(("action", "seconds"), [("start", None), ("start", 0), ("start", 4 * 3600 + 1),
                                                 ("add", -5), ("start", True), ("rewind", 10)])
def test_timer_refuses_bad_actions_and_durations(world, action, seconds):
    with pytest.raises(InvalidInput):
        service.control_timer(world.board_id, world.fac, action=action, seconds=seconds)
    assert timer(world) == (None, None)


def test_timer_refused_for_participants(world):
    with pytest.raises(NotAllowed):
        service.control_timer(world.board_id, world.cit, action="start", seconds=60)
    assert timer(world) == (None, None)


# --- moderation, focus, clusters, removal ---------------------------------------------------------------

def test_hiding_an_idea_needs_a_reason_is_logged_and_refunds_dots(voting):
    world = voting
    service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1)
    service.focus_idea(world.board_id, world.fac, idea_id=world.idea)
    for reason in ("", "   ", None):
        with pytest.raises(InvalidInput) as err:
            service.moderate_idea(world.board_id, world.fac, idea_id=world.idea, action="hide", reason=reason)
        assert err.value.code == "reason_required"
    assert reload(Idea, world.idea).status is IdeaStatus.visible
    seq = last_seq(world.board_id)
    ack = service.moderate_idea(world.board_id, world.fac, idea_id=world.idea, action="hide", reason=" Injurieux ")
    assert ack["status"] == "hidden"
    idea = reload(Idea, world.idea)
    assert (idea.status, idea.hidden_reason, idea.votes) == (IdeaStatus.hidden, "Injurieux", 0)
    assert reload(Participant, world.cit).dots_used == 0
    assert reload(Board, world.board_id).focused_idea_id is None
    [entry] = db.session.scalars(select(ModerationEntry)).all()
    assert (entry.idea_id, entry.actor_id, entry.action, entry.reason) == (
        world.idea, world.facilitator.id, "hide", "Injurieux")
    evs = events(world.board_id, after=seq)
    assert "Injurieux" not in dumps(seen_by(evs, world.cit))
    assert {"my_dots_changed", "focus_changed", "idea_removed"} <= set(names(seen_by(evs, world.cit)))
    service.moderate_idea(world.board_id, world.fac, idea_id=world.idea, action="show")
    assert reload(Idea, world.idea).status is IdeaStatus.visible
    assert count(ModerationEntry) == 2


def test_moderation_refused_for_participants_and_unknown_actions(brainstorm):
    world = brainstorm
    idea_id = post(world, world.cit)
    with pytest.raises(NotAllowed):
        service.moderate_idea(world.board_id, world.cit, idea_id=idea_id, action="hide", reason="Non")
    with pytest.raises(InvalidInput):
        service.moderate_idea(world.board_id, world.fac, idea_id=idea_id, action="delete", reason="Non")
    with pytest.raises(errors.UnknownIdea):
        service.moderate_idea(world.board_id, world.fac, idea_id=idea_id + 1000, action="hide", reason="Non")
    assert reload(Idea, idea_id).status is IdeaStatus.visible and count(ModerationEntry) == 0


@pytest.mark.parametrize("action", ["approve", "show", "hide"])
def test_moderation_leaves_withdrawn_ideas_alone(brainstorm, action):
    world = brainstorm
    idea_id = post(world, world.cit)
    service.withdraw_idea(world.board_id, world.cit, idea_id=idea_id)
    with pytest.raises(errors.UnknownIdea):
        service.moderate_idea(world.board_id, world.fac, idea_id=idea_id, action=action, reason="Motif")
    assert reload(Idea, idea_id).status is IdeaStatus.withdrawn and count(ModerationEntry) == 0


def test_focus_an_idea_for_everyone(brainstorm):
    world = brainstorm
    idea_id = post(world, world.cit)
    ack = service.focus_idea(world.board_id, world.fac, idea_id=idea_id)
    assert reload(Board, world.board_id).focused_idea_id == idea_id
    [event] = events(world.board_id, after=ack["seq"] - 1)
    assert (event["name"], event["audience"], event["payload"]) == ("focus_changed", "everyone",
                                                                      {"idea_id": idea_id})
    service.focus_idea(world.board_id, world.fac, idea_id=None)
    assert reload(Board, world.board_id).focused_idea_id is None


def test_focus_refused_for_participants_and_hidden_or_unknown_ideas(brainstorm):
    world = brainstorm
    idea_id = post(world, world.cit)
    with pytest.raises(NotAllowed):
        service.focus_idea(world.board_id, world.cit, idea_id=idea_id)
    service.moderate_idea(world.board_id, world.fac, idea_id=idea_id, action="hide", reason="Hors sujet")
    for bad in (idea_id, 999_999):
        with pytest.raises(errors.UnknownIdea):
            service.focus_idea(world.board_id, world.fac, idea_id=bad)
    assert reload(Board, world.board_id).focused_idea_id is None


def test_group_and_ungroup(brainstorm):
    world = brainstorm
    a, b, c = (post(world, world.cit, t) for t in "abc")
    ack = service.group_ideas(world.board_id, world.fac, idea_ids=[a, b], name="  Justificatifs ")
    cluster = reload(Cluster, ack["cluster_id"])
    assert (cluster.name, cluster.column_id) == ("Justificatifs", world.columns[0])
    assert [reload(Idea, i).cluster_id for i in (a, b, c)] == [cluster.id, cluster.id, None]
    service.group_ideas(world.board_id, world.fac, idea_ids=[c], cluster_id=cluster.id)
    assert reload(Idea, c).cluster_id == cluster.id
    ack = service.ungroup(world.board_id, world.fac, idea_ids=[a])
    assert ack["idea_ids"] == [a] and reload(Idea, a).cluster_id is None
    ack = service.ungroup(world.board_id, world.fac, cluster_id=cluster.id)
    assert sorted(ack["idea_ids"]) == [b, c]
    assert [reload(Idea, i).cluster_id for i in (a, b, c)] == [None, None, None]
    assert {"ideas_grouped", "ideas_ungrouped"} <= set(names(events(world.board_id)))


def test_group_refuses_ideas_of_several_columns(brainstorm):
    world = brainstorm
    a, b = post(world, world.cit, "a", column=0), post(world, world.cit, "b", column=1)
    with pytest.raises(InvalidInput) as err:
        service.group_ideas(world.board_id, world.fac, idea_ids=[a, b], name="Mélange")
    assert err.value.code == "mixed_columns"
    cluster_id = service.group_ideas(world.board_id, world.fac, idea_ids=[a], name="Colonne 1")["cluster_id"]
    with pytest.raises(InvalidInput):
        service.group_ideas(world.board_id, world.fac, idea_ids=[b], cluster_id=cluster_id)
    assert count(Cluster) == 1 and reload(Idea, b).cluster_id is None


@pytest.mark.parametrize(("idea_ids", "name", "code"), [
    ([], "Groupe", "bad_idea_ids"), ("1", "Groupe", "bad_idea_ids"), (None, "Groupe", "bad_idea_ids"),
    (list(range(201)), "Groupe", "bad_idea_ids"), ("ideas", "", "cluster_name"), ("ideas", "x" * 121, "cluster_name"),
])
def test_group_refuses_bad_input(brainstorm, idea_ids, name, code):
    world = brainstorm
    ideas = [post(world, world.cit)]
    with pytest.raises(InvalidInput) as err:
        service.group_ideas(world.board_id, world.fac, idea_ids=ideas if idea_ids == "ideas" else idea_ids,
                            name=name)
    assert err.value.code == code
    assert count(Cluster) == 0


def test_group_refuses_participants_and_foreign_ideas_or_clusters(brainstorm):
    world = brainstorm
    idea_id = post(world, world.cit)
    with pytest.raises(NotAllowed):
        service.group_ideas(world.board_id, world.cit, idea_ids=[idea_id], name="Groupe")
    other = make_world()
    set_phase(other, "brainstorm")
    foreign = post(other, other.cit)
    foreign_cluster = service.group_ideas(other.board_id, other.fac, idea_ids=[foreign], name="Ailleurs")
    with pytest.raises(errors.UnknownIdea):
        service.group_ideas(world.board_id, world.fac, idea_ids=[foreign], name="Groupe")
    with pytest.raises(NotFound):
        service.group_ideas(world.board_id, world.fac, idea_ids=[idea_id], cluster_id=foreign_cluster["cluster_id"])
    with pytest.raises(NotFound):
        service.ungroup(world.board_id, world.fac, cluster_id=foreign_cluster["cluster_id"])
    with pytest.raises(NotAllowed):
        service.ungroup(world.board_id, world.cit, idea_ids=[idea_id])
    with pytest.raises(InvalidInput):
        service.ungroup(world.board_id, world.fac)
    assert reload(Idea, idea_id).cluster_id is None
    assert reload(Idea, foreign).cluster_id == foreign_cluster["cluster_id"]


def test_remove_participant_is_logged(world):
    ack = service.remove_participant(world.board_id, world.fac, target_id=world.cit)
    assert ack["participant_id"] == world.cit
    assert reload(Participant, world.cit).removed_at is not None
    [entry] = db.session.scalars(select(ModerationEntry)).all()
    assert (entry.participant_id, entry.action, entry.actor_id) == (world.cit, "remove", world.facilitator.id)
    [event] = events(world.board_id, after=ack["seq"] - 1)
    assert (event["name"], event["audience"]) == ("participant_removed", "everyone")
    snap = service.snapshot(world.board, reload(Participant, world.fac))
    assert world.cit not in [p["id"] for p in snap["participants"]]


def test_remove_participant_refuses_facilitators_unknown_people_and_participants(world):
    other = make_world()
    _user, other_pid = add_participant(world)
    for target in (world.fac, 999_999, other.cit):
        with pytest.raises(NotFound):
            service.remove_participant(world.board_id, world.fac, target_id=target)
    with pytest.raises(NotAllowed):
        service.remove_participant(world.board_id, world.cit, target_id=other_pid)
    assert count(ModerationEntry) == 0
    assert db.session.scalar(select(func.count()).where(Participant.removed_at.is_not(None))) == 0


CHANGES = {
    "post_idea": lambda w, pid, idea: service.post_idea(w.board_id, pid, column_id=w.columns[0], text="x"),
    "edit_idea": lambda w, pid, idea: service.edit_idea(w.board_id, pid, idea_id=idea, text="y"),
    "withdraw_idea": lambda w, pid, idea: service.withdraw_idea(w.board_id, pid, idea_id=idea),
    "react": lambda w, pid, idea: service.react(w.board_id, pid, idea_id=idea, kind="heart"),
    "vote": lambda w, pid, idea: service.vote(w.board_id, pid, idea_id=idea, delta=1),
    "set_ready": lambda w, pid, idea: service.set_ready(w.board_id, pid, ready=True),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_removed_participant_can_change_nothing(brainstorm, change):
    world = brainstorm
    idea_id = post(world, world.cit, "Mon idée")
    service.remove_participant(world.board_id, world.fac, target_id=world.cit)
    seq = last_seq(world.board_id)
    with pytest.raises(errors.Removed):
        CHANGES[change](world, world.cit, idea_id)
    assert last_seq(world.board_id) == seq
    idea = reload(Idea, idea_id)
    assert (idea.text, idea.status, idea.votes) == ("Mon idée", IdeaStatus.visible, 0)


@pytest.mark.parametrize("change", list(CHANGES))
def test_participant_of_another_board_can_change_nothing(brainstorm, change):
    world = brainstorm
    idea_id = post(world, world.cit, "Mon idée")
    other = make_world()
    with pytest.raises(errors.NotMember):
        CHANGES[change](world, other.cit, idea_id)
    assert count(Idea) == 1


# --- idempotency and ordering -------------------------------------------------------------------------------

@pytest.mark.both_databases("app.boards.changes")
def test_the_same_client_id_twice_applies_once(brainstorm):
    world = brainstorm
    first = service.post_idea(world.board_id, world.cit, column_id=world.columns[0], text="Une", client_id="c-1")
    seq = last_seq(world.board_id)
    again = service.post_idea(world.board_id, world.cit, column_id=world.columns[0], text="Une", client_id="c-1")
    assert again == {**first, "replayed": True}
    assert count(Idea) == 1 and last_seq(world.board_id) == seq
    # Client ids belong to one participant: the same id from someone else is another change.
    service.post_idea(world.board_id, world.fac, column_id=world.columns[0], text="Une", client_id="c-1")
    assert count(Idea) == 2 and count(ClientChange) == 2


def test_a_refused_change_stores_no_ack(brainstorm):
    world = brainstorm
    set_settings(world, locked=True)
    with pytest.raises(errors.BoardLocked):
        service.post_idea(world.board_id, world.cit, column_id=world.columns[0], text="Une", client_id="c-2")
    set_settings(world, locked=False)
    ack = service.post_idea(world.board_id, world.cit, column_id=world.columns[0], text="Une", client_id="c-2")
    assert "replayed" not in ack and count(Idea) == 1


@pytest.mark.both_databases("app.boards.changes")
def test_votes_resent_are_counted_once(voting):
    world = voting
    for _ in range(3):
        service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1, client_id="dot-1")
    assert reload(Idea, world.idea).votes == 1 and reload(Participant, world.cit).dots_used == 1


@pytest.mark.both_databases("app.boards.changes")
def test_concurrent_double_send_applies_once(app, brainstorm):
    world = brainstorm
    rounds = 8
    for n in range(rounds):
        barrier, results, failures = threading.Barrier(2), [], []

        def send(n=n, barrier=barrier, results=results, failures=failures):
            with app.app_context():
                try:
                    barrier.wait(timeout=30)
                    results.append(service.post_idea(world.board_id, world.cit, column_id=world.columns[0],
                                                     text=f"Idée {n}", client_id=f"double-{n}"))
                except Exception as err:  # noqa: BLE001 - reported below
                    failures.append(err)
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not failures
        assert sorted(r.get("replayed", False) for r in results) == [False, True]
        assert results[0]["idea_id"] == results[1]["idea_id"] and results[0]["seq"] == results[1]["seq"]
    db.session.expire_all()
    assert count(Idea) == rounds and count(ClientChange) == rounds


def test_each_change_is_one_seq_and_every_event_is_stored(voting):
    """A change moves the board's seq by one, whatever number of events it has for its audiences: a post has a
    facilitators' and a participants' version and its author's own, a vote its totals and the voter's dots."""
    world = voting
    sent = []

    def collect(board_id, events, afters):
        sent.extend((board_id, e["seq"]) for e in events)

    with signals.board_events.connected_to(collect):
        acks = [
            service.post_idea(world.board_id, world.fac, column_id=world.columns[1], text="b"),
            service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1),
            service.set_ready(world.board_id, world.cit, ready=True),
            service.update_settings(world.board_id, world.fac, settings={"anonymous": True}),
            service.control_timer(world.board_id, world.fac, action="start", seconds=60),
            service.set_phase(world.board_id, world.fac, phase="discussion"),
        ]
    seqs = [a["seq"] for a in acks]
    assert seqs == list(range(seqs[0], seqs[0] + len(acks)))  # one seq per change, no gap
    stored = events(world.board_id)
    assert sorted({e["seq"] for e in stored}) == list(range(1, stored[-1]["seq"] + 1))  # no gap
    assert [(e["seq"], e["position"]) for e in stored] == sorted({(e["seq"], e["position"]) for e in stored})
    for seq in seqs:  # each change's events are numbered 0, 1, ... in the order they were made
        assert [e["position"] for e in stored if e["seq"] == seq] == list(range(sum(e["seq"] == seq for e in stored)))
    assert [e["name"] for e in stored if e["seq"] == seqs[1]] == ["votes_changed", "votes_changed", "my_dots_changed"]
    assert reload(Board, world.board_id).seq == stored[-1]["seq"] == seqs[-1]
    assert [s for _b, s in sent] == [e["seq"] for e in stored if e["seq"] >= sent[0][1]]
    assert {b for b, _s in sent} == {world.board_id}


def test_events_since_gives_each_audience_only_its_events(voting):
    world = voting
    _other, other_pid = add_participant(world)
    set_settings(world, hide_votes=True)
    seq = last_seq(world.board_id)
    service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1)  # private to the citizen + facilitators
    service.vote(world.board_id, other_pid, idea_id=world.idea, delta=1)
    set_phase(world, "discussion")
    board = world.board
    mine = service.events_since(board, reload(Participant, world.cit), seq)
    # Hidden votes: the other person's vote has nothing for the citizen (left out: the ack's seq covers it).
    assert [c["seq"] for c in mine] == [seq + 1, seq + 3]
    assert [[e["name"] for e in c["events"]] for c in mine] == [["my_dots_changed"], ["phase_changed",
                                                                                       "votes_revealed"]]
    assert mine[0]["events"][0]["payload"]["dots_left"] == 4
    theirs = service.events_since(board, reload(Participant, world.fac), seq)
    assert [(c["seq"], [e["name"] for e in c["events"]]) for c in theirs] == [
        (seq + 1, ["votes_changed"]), (seq + 2, ["votes_changed"]), (seq + 3, ["phase_changed"])]
    assert service.events_since(board, reload(Participant, world.cit), board.seq) == []


def test_events_since_asks_for_a_snapshot_when_too_far_behind(app, brainstorm):
    world = brainstorm
    app.config["BOARD_RESYNC_LIMIT"] = 5
    seq = last_seq(world.board_id)
    for n in range(6):
        service.set_ready(world.board_id, world.cit, ready=n % 2 == 0)
    board, me = world.board, reload(Participant, world.cit)
    assert service.events_since(board, me, seq) is None
    assert len(service.events_since(board, me, seq + 1)) == 5
    assert service.events_since(board, me, board.seq + 1) is None  # from the future: start again
    assert service.events_since(board, me, -1) is None


def test_snapshot_in_hidden_mode_holds_no_text_of_others_ideas(brainstorm):
    world = brainstorm
    set_settings(world, hide_ideas=True)
    _other, other_pid = add_participant(world)
    post(world, other_pid, SECRET)
    mine = post(world, world.cit, "Mon idée à moi")
    snap = service.snapshot(world.board, reload(Participant, world.cit))
    assert SECRET not in json.dumps(snap) and SECRET not in json.dumps(snap, ensure_ascii=False)
    assert [i["id"] for i in snap["ideas"]] == [mine]
    assert len(snap["hidden_ideas"]) == 1 and snap["board"]["join_code"] is None
    assert SECRET in dumps(service.snapshot(world.board, reload(Participant, world.fac)))


def test_snapshot_in_anonymous_mode_holds_no_author_names(brainstorm):
    world = brainstorm
    set_settings(world, anonymous=True)
    post(world, world.cit, "Une idée")
    post(world, world.fac, "Une autre")
    snap = dumps(service.snapshot(world.board, reload(Participant, world.cit)))
    assert "Camille Citoyenne" not in snap and "Fanny Animatrice" not in snap


# --- exports and retention ----------------------------------------------------------------------------------

@pytest.fixture
def exported(brainstorm):
    world = brainstorm
    guest = service.join(world.board, None, guest_name="=HYPERLINK(\"http://x\")", by_code=True)
    post(world, world.cit, "=1+2 coûte trop cher")
    post(world, guest.id, "@SUM(A1) formulaire", column=1)
    post(world, world.fac, "Idée ; avec \"guillemets\"")
    hidden = post(world, world.cit, "Idée masquée")
    service.moderate_idea(world.board_id, world.fac, idea_id=hidden, action="hide", reason="Doublon")
    return world


def test_csv_export_is_formula_safe(exported):
    data = export.as_csv(exported.board).decode("utf-8")
    assert data.startswith("\ufeffcolumn;cluster;text;author;votes;reactions;created_at\r\n")
    assert "'=1+2 coûte trop cher" in data and "'@SUM(A1) formulaire" in data
    assert "'=HYPERLINK" in data
    assert "Idée masquée" not in data
    for line in data.splitlines()[1:]:
        assert not line.split(";")[2].startswith(("=", "+", "-", "@"))


def test_json_and_markdown_exports(exported):
    data = json.loads(export.as_json(exported.board))
    assert data["board"]["columns"] == ["Irritants", "Idées", "Questions"]
    assert sorted(row["author"] for row in data["ideas"]) == ['=HYPERLINK("http://x")', "Camille Citoyenne",
                                                              "Fanny Animatrice"]
    assert "Idée masquée" not in json.dumps(data)
    markdown = export.as_markdown(exported.board).decode()
    assert markdown.startswith("# Tableau\n")
    assert "## Irritants" in markdown and "- =1+2 coûte trop cher — Camille Citoyenne (0)" in markdown


def test_exports_of_an_anonymous_board_hold_no_author_names(exported):
    world = exported
    set_settings(world, anonymous=True)
    board = world.board
    for render in (export.as_csv, export.as_json, export.as_markdown):
        data = render(board).decode("utf-8")
        assert "Camille Citoyenne" not in data and "Fanny Animatrice" not in data and "HYPERLINK" not in data
        assert "coûte trop cher" in data
    assert {row["author"] for row in json.loads(export.as_json(board))["ideas"]} == {""}


def test_purge_guest_names_after_the_retention_period_keeps_ideas(app, brainstorm):
    world = brainstorm
    guest = service.join(world.board, None, guest_name="Dominique", by_code=True)
    idea_id = post(world, guest.id, "Idée d'invité·e")
    recent = make_world()
    recent_guest = service.join(recent.board, None, guest_name="Rosalie", by_code=True)
    set_phase(world, "closed")
    set_phase(recent, "closed")
    days = app.config["BOARD_GUEST_RETENTION_DAYS"]
    db.session.execute(update(Board).where(Board.id == world.board_id)
                       .values(closed_at=utcnow() - timedelta(days=days, minutes=1)))
    db.session.execute(update(Board).where(Board.id == recent.board_id)
                       .values(closed_at=utcnow() - timedelta(days=days - 1)))
    db.session.commit()
    assert service.purge_guest_names() == 1
    assert reload(Participant, guest.id).guest_name == ""
    assert reload(Participant, world.cit).user_id == world.citizen.id
    assert reload(Participant, recent_guest.id).guest_name == "Rosalie"
    idea = reload(Idea, idea_id)
    assert idea.text == "Idée d'invité·e"
    assert views.author_label(idea, reload(Board, world.board_id), for_facilitator=True) == "invité·e"
    assert "Dominique" not in export.as_csv(reload(Board, world.board_id)).decode()
    assert service.purge_guest_names() == 0  # once per board


def test_events_are_stored_with_their_audience(brainstorm):
    world = brainstorm
    post(world, world.cit)
    rows = db.session.scalars(select(BoardEvent).where(BoardEvent.board_id == world.board_id)).all()
    assert {r.audience.value for r in rows} >= {"everyone", "facilitators", "participants", "participant"}


@pytest.mark.parametrize("board_id", [0, -1, 999_999, 2**31, 2**63])
@pytest.mark.both_databases()
def test_get_board_of_an_unknown_id_is_not_found(world, board_id):
    with pytest.raises(NotFound):
        service.get_board(board_id)


def test_a_facilitator_whose_role_is_withdrawn_loses_facilitation_at_once(app, world):
    from app.catalog.models import Membership
    from app.errors import NotAllowed

    service.set_phase(world.board_id, world.fac, phase="brainstorm")
    db.session.execute(db.delete(Membership).where(Membership.user_id == world.facilitator.id))
    db.session.commit()
    db.session.expire_all()
    with pytest.raises(NotAllowed):
        service.set_phase(world.board_id, world.fac, phase="voting")
    assert service.get_board(world.board_id).phase.value == "brainstorm"


def test_set_ready_refused_on_a_locked_board(world):
    set_settings(world, locked=True)
    seq = last_seq(world.board_id)
    with pytest.raises(errors.BoardLocked):
        service.set_ready(world.board_id, world.cit, ready=True)
    assert reload(Participant, world.cit).ready is False and last_seq(world.board_id) == seq
    assert service.set_ready(world.board_id, world.fac, ready=True)["ready"] is True  # facilitators still can
    set_settings(world, locked=False)
    assert service.set_ready(world.board_id, world.cit, ready=True)["ready"] is True


def test_ungrouping_the_last_idea_of_a_cluster_deletes_the_cluster(brainstorm):
    world = brainstorm
    a, b = post(world, world.cit, "a"), post(world, world.cit, "b")
    cluster_id = service.group_ideas(world.board_id, world.fac, idea_ids=[a, b], name="Groupe")["cluster_id"]
    seq = last_seq(world.board_id)
    service.ungroup(world.board_id, world.fac, idea_ids=[a])
    assert reload(Cluster, cluster_id) is not None  # b is still in it
    assert "cluster_removed" not in names(events(world.board_id, after=seq))
    seq = last_seq(world.board_id)
    service.ungroup(world.board_id, world.fac, idea_ids=[b])
    assert reload(Cluster, cluster_id) is None and count(Cluster) == 0
    evs = events(world.board_id, after=seq)
    assert [(e["name"], e["audience"], e["payload"]) for e in evs] == [
        ("ideas_ungrouped", "everyone", {"idea_ids": [b], "cluster_id": None}),
        ("cluster_removed", "everyone", {"cluster_id": cluster_id})]
    assert service.snapshot(service.get_board(world.board_id), reload(Participant, world.fac))["clusters"] == []


def test_dissolving_a_cluster_or_moving_its_last_idea_away_deletes_it(brainstorm):
    world = brainstorm
    a, b, c = post(world, world.cit, "a"), post(world, world.cit, "b"), post(world, world.cit, "c")
    first = service.group_ideas(world.board_id, world.fac, idea_ids=[a, b], name="Un")["cluster_id"]
    second = service.group_ideas(world.board_id, world.fac, idea_ids=[c], name="Deux")["cluster_id"]
    seq = last_seq(world.board_id)
    service.ungroup(world.board_id, world.fac, cluster_id=first)
    assert reload(Cluster, first) is None
    assert ("cluster_removed", {"cluster_id": first}) in [(e["name"], e["payload"])
                                                          for e in events(world.board_id, after=seq)]
    seq = last_seq(world.board_id)
    service.move_idea(world.board_id, world.fac, idea_id=c, column_id=world.columns[1])
    assert reload(Cluster, second) is None and reload(Idea, c).cluster_id is None
    assert names(events(world.board_id, after=seq))[-1] == "cluster_removed"
    assert count(Cluster) == 0


@pytest.mark.both_databases("app.boards.models")
def test_sort_keys_order_bytewise_on_every_backend(brainstorm):
    """Fractional keys are ASCII strings: "B" < "_" < "a" < "b" (a linguistic collation would say otherwise)."""
    world = brainstorm
    keys = ["a", "B", "_", "b", "A", "0", "z", "Z"]
    ids = [post(world, world.cit, f"idée {k}") for k in keys]
    for idea_id, key in zip(ids, keys, strict=True):
        db.session.execute(update(Idea).where(Idea.id == idea_id).values(sort_key=key))
    db.session.commit()
    ordered = db.session.scalars(select(Idea.sort_key).where(Idea.column_id == world.columns[0])
                                 .order_by(Idea.sort_key)).all()
    assert ordered == sorted(keys) == ["0", "A", "B", "Z", "_", "a", "b", "z"]
    assert db.session.scalar(select(func.max(Idea.sort_key)).where(Idea.column_id == world.columns[0])) == "z"
    # The service's neighbour queries see the same order.
    assert service._next_key(world.columns[0], -1, "B") == "Z"
    assert service._previous_key(world.columns[0], -1, "a") == "_"
    if db.engine.dialect.name == "postgresql":
        # The test cluster's default locale is C.UTF-8 (bytewise anyway); production databases are often
        # fr_FR.UTF-8, so the column itself must carry the "C" collation.
        collation = db.session.scalar(db.text(
            "SELECT collation_name FROM information_schema.columns WHERE table_name = 'ideas' "
            "AND column_name = 'sort_key'"))
        assert collation == "C"
        linguistic = db.session.scalar(db.text(
            "SELECT collname FROM pg_collation WHERE collname IN ('und-x-icu', 'en_US.utf8', 'fr_FR.utf8') LIMIT 1"))
        if linguistic:  # what the column would do without it
            other = db.session.scalars(select(Idea.sort_key).where(Idea.column_id == world.columns[0])
                                       .order_by(Idea.sort_key.collate(linguistic))).all()
            assert other != ordered


def test_a_dot_costs_few_statements(voting):
    """The hot path of a voting burst: lock, participant, idea, dot, three conditional writes, events, the
    client id, commit. A query count, not a timing (a lazy load creeping in would show here)."""
    world = voting
    with recorded_statements() as statements:
        ack = service.vote(world.board_id, world.cit, idea_id=world.idea, delta=1, client_id="dot-1")
    assert ack["dots_left"] == 4
    # client id lookup, lock, participant (+ roles), the board's ideas, the voter's dots, 3 writes (budget,
    # total, dot), events, client change; SQLite adds its explicit BEGIN IMMEDIATE.
    assert len(statements) <= 13, statements
