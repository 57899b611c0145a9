"""Helpers for proposal tests."""

from app.boards.models import Cluster, Idea
from app.catalog.models import Role
from app.extensions import db
from app.proposals import moderation, service
from tests.factories import make_life_event, make_member, make_organisation, make_service, make_user


class World:
    """An organisation with a service, an editor, a facilitator, and two verified citizens."""

    def __init__(self):
        self.organisation = make_organisation(name="Caisse des démarches")
        self.life_event = make_life_event(name_fr="Je déménage")
        self.service = make_service(self.organisation, name="Changement d'adresse", life_events=[self.life_event])
        self.editor = make_member(self.organisation, Role.editor, name="Élise Éditrice")
        self.facilitator = make_member(self.organisation, Role.facilitator, name="Fanny Animatrice")
        self.citizen = make_user(name="Camille Citoyenne")
        self.other = make_user(name="Dominique Autre")
        self.unverified = make_user(name="Non Vérifié", verified=False)
        self.admin = make_user(name="Ada Admin", admin=True)
        db.session.commit()


def propose(user, world, title="Un seul formulaire pour changer d'adresse", **kwargs):
    fields = {"problem": "Il faut déclarer son déménagement cinq fois.", "change": "Un formulaire unique.",
              "benefit": "Moins de temps perdu.", "service_id": world.service.id}
    fields.update(kwargs)
    return service.create_proposal(user, title=title, **fields)


def make_idea(world, text="Déclarer son déménagement une seule fois", cluster_name=None):
    """A board of the world's organisation with one idea (and a cluster around it if ``cluster_name``)."""
    from app.boards import service as boards

    board = boards.create_board(world.facilitator, world.organisation, "Tableau", "irritants")
    participant = boards.participant_for(boards.get_board(board.id), world.facilitator)
    cluster = None
    column_id = board.columns[0].id
    if cluster_name:
        cluster = Cluster(board_id=board.id, column_id=column_id, name=cluster_name)
        db.session.add(cluster)
        db.session.flush()
    idea = Idea(board_id=board.id, column_id=column_id, participant_id=participant.id, text=text, sort_key="m",
                cluster_id=cluster.id if cluster else None)
    db.session.add(idea)
    db.session.commit()
    return board, idea, cluster


def permission_values(organisation, citizen, facilitator, board) -> dict:
    """Placeholders for tests/test_permissions.py: proposals of ``organisation`` by ``citizen``, a comment and an
    open report on it, and an idea of ``board`` that led to nothing yet."""
    from tests.factories import make_service

    svc = make_service(organisation)
    db.session.commit()
    fields = {"problem": "Cinq déclarations.", "change": "Une seule.", "service_id": svc.id}
    proposal = service.create_proposal(citizen, title="Une seule déclaration de déménagement", **fields)
    to_withdraw = service.create_proposal(citizen, title="Proposition à retirer", **fields)
    commenter = make_user()
    db.session.commit()
    comment = service.add_comment(proposal, commenter, "Bonne idée")
    report = moderation.report(proposal, commenter, "Doublon ?", comment_id=comment.id)
    from app.boards.models import Participant

    # The board's creator is its first participant: the idea is theirs.
    participant = db.session.scalar(db.select(Participant).where(Participant.board_id == board.id)
                                    .order_by(Participant.id))
    idea = Idea(board_id=board.id, column_id=board.columns[0].id, participant_id=participant.id,
                text="Une idée du tableau", sort_key="m")
    db.session.add(idea)
    db.session.commit()
    return {"proposal": proposal.id, "proposal_withdraw": to_withdraw.id, "pcomment": comment.id,
            "preport": report.id, "idea": idea.id, "org_id": organisation.id}


def accessibility_values(rows, board_id: int) -> dict:
    """Placeholders for tests/browser/test_accessibility.py, read from the live demo database with ``rows``."""
    from app.demo.proposals import PROPOSALS

    def one(sql, params=()):
        found = rows(sql, params)
        assert found, f"no demo row for {sql} {params}"
        return found[0][0]

    by_title = "SELECT id FROM proposals WHERE title = ?"
    return {"proposal": one(by_title, (PROPOSALS[0][0],)),
            "proposal_versions": one(by_title, (PROPOSALS[3][0],)),
            "proposal_merged": one(by_title, (PROPOSALS[6][0],)),
            "proposal_overdue": one(by_title, (PROPOSALS[7][0],)),  # selected long ago, its answer overdue
            "proposal_admin": one(by_title, (PROPOSALS[11][0],)),
            "pcomment": one("SELECT c.id FROM proposal_comments c JOIN proposals p ON p.id = c.proposal_id "
                            "WHERE p.title = ? ORDER BY c.id", (PROPOSALS[0][0],)),
            "preport": one("SELECT id FROM proposal_reports WHERE resolved_at IS NULL ORDER BY id"),
            "dinum_id": one("SELECT id FROM organisations WHERE slug = 'dinum'"),
            "board_idea": one("SELECT id FROM ideas WHERE board_id = ? ORDER BY id", (board_id,))}
