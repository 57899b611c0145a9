"""« Mes données » holds every table that points at the person: the schema is walked, not listed by hand.

A column points at a person when it is a foreign key to ``users.id``, a foreign key to a row standing for the person
(``personal_data.PERSON_ROWS``), or a declared reference without a key. Each must have its place in the export
(``personal_data.SECTIONS``) or a reason to stay out (``NOT_EXPORTED``); a person who used every feature then has
rows in each of those tables, and the export holds exactly as many entries as there are rows about them.
"""

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, func, select, update

from app.accounts import personal_data
from app.accounts import service as accounts
from app.accounts.models import User, utcnow
from app.barometer import importing as barometer_importing
from app.boards import service as boards
from app.catalog.models import Membership, Role
from app.consultations import service as consultations
from app.consultations.models import ConsultationMethod
from app.decisions import service as decisions
from app.decisions.models import Measure, MeasureStatus, MeasureUpdate
from app.extensions import db
from app.feedback import experiences as feedback_experiences
from app.feedback import linking as feedback_linking
from app.feedback.models import Experience
from app.jsonsafe import dumps
from app.mail.masking import MASK
from app.mail.models import OutboxMessage
from app.notifications import service as notifications
from app.proposals import moderation
from app.proposals import service as proposals
from app.workshops import service as workshops
from app.workshops import signup as workshop_signup
from app.workshops import topics as workshop_topics
from app.workshops.models import CalendarFeed, QuestionKind, Registration, Workshop
from tests.consultations.helpers import make_consultation
from tests.factories import make_member, make_organisation, make_service, make_user, make_workshop
from tests.feedback.helpers import make_response


def person_references(metadata: MetaData) -> dict[tuple[str, str], str]:
    """Every column of the schema that points at a person -> what it points at: ``users.id``, a table of
    ``PERSON_ROWS``, or what a declared reference without a key holds."""
    found = {}
    for table in metadata.sorted_tables:
        for column in table.columns:
            for key in column.foreign_keys:
                target = key.column.table.name
                if target == "users" or target in personal_data.PERSON_ROWS:
                    found[(table.name, column.name)] = target
    for (table, column), target in personal_data.REFERENCES_WITHOUT_KEY.items():
        if table in metadata.tables:
            found[(table, column)] = target
    return found


def undeclared(metadata: MetaData) -> list[str]:
    declared = set(personal_data.SECTIONS) | set(personal_data.NOT_EXPORTED)
    return sorted(f"{table}.{column}" for (table, column) in person_references(metadata)
                  if (table, column) not in declared)


def rows_about(user: User, table: str, column: str, target: str) -> int:
    """How many rows of ``table`` point at ``user`` through ``column``."""
    tables = db.metadata.tables
    value = tables[table].c[column]
    if target == "users":
        condition = value == user.id
    elif target == "users.email":
        condition = value == user.email
    else:  # a row standing for the person: the rows of that table whose account column names them
        rows = tables[target]
        condition = value.in_(select(rows.c.id).where(rows.c[personal_data.PERSON_ROWS[target]] == user.id))
    return db.session.scalar(select(func.count()).select_from(tables[table]).where(condition))


def test_every_column_pointing_at_a_person_has_a_place_in_the_export(app):
    assert undeclared(db.metadata) == [], "give these columns a section in app/accounts/personal_data.py"
    references = person_references(db.metadata)
    declared = set(personal_data.SECTIONS) | set(personal_data.NOT_EXPORTED)
    assert sorted(declared - set(references)) == [], "declared but not in the schema (renamed or dropped?)"
    assert not set(personal_data.SECTIONS) & set(personal_data.NOT_EXPORTED)
    # The walk finds what it must: the foreign keys to users, and those through a person's board, workshop or ballot.
    assert {("ideas", "participant_id"), ("registration_answers", "registration_id"), ("ballot_choices", "ballot_id"),
            ("registrations", "registered_by_id"), ("proposal_follows", "user_id")} <= set(references)


def test_a_table_added_later_without_a_section_fails_the_walk():
    metadata = MetaData()
    Table("users", metadata, Column("id", Integer, primary_key=True))
    Table("board_participants", metadata, Column("id", Integer, primary_key=True),
          Column("user_id", ForeignKey("users.id")))
    Table("bookmarks", metadata, Column("id", Integer, primary_key=True), Column("owner_id", ForeignKey("users.id")),
          Column("note", String(20)))
    Table("stickers", metadata, Column("id", Integer, primary_key=True),
          Column("participant_id", ForeignKey("board_participants.id")))
    assert undeclared(metadata) == ["bookmarks.owner_id", "stickers.participant_id"]


def experience_of(response) -> Experience:
    return db.session.scalar(select(Experience).where(Experience.response_id == response.id))


@pytest.fixture
def everything(app):
    """Pat used every feature: citizen of organisation B (workshop, board, proposals, vote), editor and facilitator
    of organisation A (their own workshop, board, consultation, answers, measures, moderation)."""
    org_a, org_b = make_organisation(name="Organisation A"), make_organisation(name="Organisation B")
    pat = make_member(org_a, Role.editor, name="Pat Partout")
    db.session.add(Membership(user=pat, organisation=org_a, role=Role.facilitator))
    fanny = make_member(org_b, Role.facilitator, name="Fanny B")
    other = make_user(name="Dominique Autre")
    service_a, service_b = make_service(org_a), make_service(org_b)
    db.session.commit()

    # Workshops: Pat creates one (and registers someone by phone there), signs up for B's with an answer, and
    # subscribes to their calendar.
    own_workshop = make_workshop(org_a, creator=pat, title="Atelier de Pat")
    by_phone = workshop_signup.register_on_behalf(pat, own_workshop, name="Gaston Sans-Courriel", phone="0600000000")
    # Pat confirmed the category Gaston declared (as ``workshop_signup.confirm_category`` leaves the row).
    db.session.execute(update(Registration).where(Registration.id == by_phone.id)
                       .values(category_confirmed_at=utcnow(), category_confirmed_by_id=pat.id))
    db.session.commit()
    b_workshop = make_workshop(org_b, creator=fanny, title="Atelier B",
                               questions=[{"kind": QuestionKind.short_text, "label": "Besoins ?"}])
    b_workshop = db.session.get(Workshop, b_workshop.id)
    workshop_signup.sign_up(b_workshop, pat, answers={b_workshop.questions[0].id: "Boucle magnétique"})
    workshops.feed_token_for(pat)

    # Boards: on B's board Pat posts (with a client id), votes and reacts, then is removed; on their own board
    # they hide an idea.
    board_b = boards.create_board(fanny, org_b, "Tableau B", "irritants", workshop=b_workshop)
    board_b_id, column_b = board_b.id, board_b.columns[0].id
    fac_b = boards.participant_for(boards.get_board(board_b_id), fanny).id
    pat_b = boards.join(boards.get_board(board_b_id), pat).id
    boards.set_phase(board_b_id, fac_b, phase="brainstorm")
    idea_b = boards.post_idea(board_b_id, pat_b, column_id=column_b, text="Un guichet unique",
                              client_id="ecran-1")["idea_id"]
    boards.react(board_b_id, pat_b, idea_id=idea_b, kind="heart")
    boards.set_phase(board_b_id, fac_b, phase="voting")
    boards.vote(board_b_id, pat_b, idea_id=idea_b, delta=1)
    boards.remove_participant(board_b_id, fac_b, target_id=pat_b)
    board_a = boards.create_board(pat, org_a, "Tableau A", "irritants")
    board_a_id, column_a = board_a.id, board_a.columns[0].id
    pat_a = boards.participant_for(boards.get_board(board_a_id), pat).id
    boards.set_phase(board_a_id, pat_a, phase="brainstorm")
    idea_a = boards.post_idea(board_a_id, pat_a, column_id=column_a, text="Idée hors sujet")["idea_id"]
    boards.moderate_idea(board_a_id, pat_a, idea_id=idea_a, action="hide", reason="Hors sujet")

    # Proposals: Pat proposes (a reply from someone else notifies them), supports, follows, comments on and
    # reports someone else's, and, as editor of A, hides a comment there.
    fields = {"problem": "Cinq formulaires.", "change": "Un seul.", "benefit": "Du temps."}
    mine = proposals.create_proposal(pat, title="La proposition de Pat", service_id=service_b.id, **fields)
    theirs = proposals.create_proposal(other, title="La proposition de Dominique", service_id=service_b.id, **fields)
    proposals.add_comment(mine, other, "Bonne idée")
    proposals.support(theirs, pat)
    proposals.follow(theirs, pat)
    proposals.add_comment(theirs, pat, "Je soutiens")
    moderation.report(theirs, pat, "Doublon")
    in_a = proposals.create_proposal(other, title="Une proposition pour A", service_id=service_a.id, **fields)
    moderation.hide_comment(proposals.add_comment(in_a, other, "Hors sujet"), pat, "Propos hors sujet")

    # Decisions: Pat answers, then rewords the answer; creates a measure and posts an update (rows as the measures'
    # services leave them: those services are moving within their area).
    decisions.answer_proposal(in_a, pat, kind="adopted", body="Nous le faisons.")
    decisions.answer_proposal(in_a, pat, kind="partly_adopted", body="Nous en faisons une partie.")
    measure = Measure(organisation_id=org_a.id, title="Un formulaire unique", created_by_id=pat.id)
    db.session.add(measure)
    db.session.flush()
    db.session.add(MeasureUpdate(measure_id=measure.id, author_id=pat.id, body_md="Les travaux commencent.",
                                 status=MeasureStatus.in_progress, progress=10))
    db.session.commit()

    # Feedback: on a service of A, Pat refuses one experience, and publishes and answers another.
    refused, answered = (make_response(service_a, verbatim=text, consent=True, created_at=utcnow() - timedelta(hours=2))
                         for text in ("Hors sujet", "Trop de pièces à fournir"))
    db.session.commit()
    feedback_experiences.refuse_experience(experience_of(refused), pat, "Hors sujet (charte)")
    published = feedback_experiences.publish_experience(experience_of(answered), pat)
    feedback_experiences.reply_to_experience(published, pat, "Nous simplifions la liste.", "Pat Partout, Agence A")
    # ... links the answered one to the measure, and proposes the other as a workshop topic, taken up by their own.
    feedback_linking.link_to_measure(pat, measure.id, response_ids=[answered.id])
    topic = feedback_linking.propose_workshop_topic(pat, response_ids=[refused.id], title="Les pièces à fournir")
    workshop_topics.take_up_topic(topic.target.id, own_workshop.id, pat)
    # Barometer: Pat imports a figure published elsewhere for a service of A.
    service_a.external_ref = "jdma:990001"
    db.session.commit()
    barometer_importing.import_figures(pat, "procedure,edition_or_period,indicator,value,unit_or_scale,source\n"
                                            "jdma:990001,\"edition window, scanned 2026-08-22\",satisfaction,8.5,"
                                            "note /10,observatoire\n")

    # Consultations: Pat creates one in A and votes in B's.
    now = utcnow()
    consultations.create_consultation(pat, org_a, title="Consultation de Pat", method=ConsultationMethod.support,
                                      opens_at=now + timedelta(days=1), closes_at=now + timedelta(days=8))
    vote, _organiser, _proposals = make_consultation(organisation=org_b)
    consultations.cast_ballot(vote, pat, {consultations.proposal_ids(vote)[0]: 1})

    # Notifications and mail: a preference, and a reset link on its way.
    notifications.set_digest_frequency(pat, "none")
    accounts.request_password_reset(pat.email)
    db.session.expire_all()
    return db.session.get(User, pat.id)


def test_export_represents_every_table_that_points_at_the_person(everything):
    pat = everything
    export = accounts.export_personal_data(pat)
    json.loads(dumps(export))  # the download is JSON
    missing, mismatched = [], []
    for (table, column), target in sorted(person_references(db.metadata).items()):
        if (table, column) in personal_data.NOT_EXPORTED:
            continue
        rows = rows_about(pat, table, column, target)
        if rows == 0:
            missing.append(f"{table}.{column}")
            continue
        path = personal_data.SECTIONS[(table, column)]
        if personal_data.entries_at(export, path) != rows:
            mismatched.append(f"{table}.{column}: {rows} rows, {personal_data.entries_at(export, path)} at {path}")
    assert missing == [], "the person of this test has no row there: the walk proves nothing for these"
    assert mismatched == []


def test_export_is_readable_and_holds_the_persons_own_words(everything):
    pat = everything
    export = accounts.export_personal_data(pat)
    assert export["boards"]["ideas"][0] | {"created_at": None, "updated_at": None} == {
        "board": "Tableau B", "column": export["boards"]["ideas"][0]["column"], "group": None,
        "text": "Un guichet unique", "status": "visible", "hidden_reason": None, "dots_received": 1,
        "created_at": None, "updated_at": None}
    assert export["boards"]["votes"] == [{"board": "Tableau B", "idea": "Un guichet unique", "dots": 1}]
    assert export["boards"]["reactions"] == [{"board": "Tableau B", "idea": "Un guichet unique", "reaction": "heart"}]
    assert [r["board"] for r in export["boards"]["removals"]] == ["Tableau B"]
    assert [(a["action"], a["idea"], a["reason"]) for a in export["boards"]["moderation_actions"]] == [
        ("hide", "Idée hors sujet", "Hors sujet")]
    assert [(c["proposal"], c["body"]) for c in export["proposals"]["comments"]] == [
        ("La proposition de Dominique", "Je soutiens")]
    assert [f["proposal"] for f in export["proposals"]["followed"]] == ["La proposition de Pat",
                                                                      "La proposition de Dominique"]
    [ballot] = export["consultations"]["ballots"]
    assert ballot["choices"] == [{"proposal": "Proposition 1", "value": 1}]
    assert [a["body"] for a in export["decisions"]["earlier_answers"]] == ["Nous le faisons."]
    assert export["workshops"]["registered_for_others"][0]["workshop"] == "Atelier de Pat"
    assert "Gaston" not in json.dumps(export)  # the person registered by phone is not Pat's data
    assert export["notifications"]["preferences"]["digest"] == "none"
    assert {m["kind"] for m in export["mails"]} >= {"registration_confirmed", "reset_password"}
    assert {(m["organisation"], m["role"]) for m in export["memberships"]} == {
        ("Organisation A", "editor"), ("Organisation A", "facilitator")}


def test_export_holds_no_secret(everything):
    pat = everything
    text = json.dumps(accounts.export_personal_data(pat), ensure_ascii=False)
    reset = db.session.scalar(select(OutboxMessage.body_text).where(OutboxMessage.template == "reset_password"))
    token = re.search(r"/compte/reinitialiser/(\S+)", reset)[1]
    assert token not in text and f"/compte/reinitialiser/{MASK}" in text
    assert db.session.scalar(select(CalendarFeed.token).where(CalendarFeed.user_id == pat.id)) not in text
    assert pat.password_hash not in text and "password_hash" not in text
    for board in db.session.scalars(select(boards.Board)):
        assert board.join_code not in text
