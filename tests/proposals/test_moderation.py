"""Reports reach the people who can act on them: the editors of the proposal's organisation (and admins). They see
them, hide the content or close the report, each action in the moderation log; editors of other organisations are
refused. On SQLite and PostgreSQL."""

from html import unescape

import pytest
from sqlalchemy import func, select

from app.catalog.models import Role
from app.errors import NotAllowed
from app.extensions import db
from app.notifications.models import Notification
from app.proposals import errors, moderation, service
from app.proposals.models import Comment, Proposal, ProposalModerationEntry, Report
from tests.conftest import get_csrf, login, post_form
from tests.factories import make_member, make_organisation, make_service, make_user
from tests.proposals.helpers import World, propose


class Reported(World):
    """The world's organisation with a reported proposal and a reported comment, and another organisation (with its
    own editor) whose proposal is reported too."""

    def __init__(self):
        super().__init__()
        self.proposal = propose(self.citizen, self, title="Proposition signalée")
        self.comment = service.add_comment(self.proposal, self.other, "Commentaire signalé")
        self.elsewhere = make_organisation(name="Ministère voisin")
        self.other_editor = make_member(self.elsewhere, Role.editor, name="Oscar Éditeur-Voisin")
        elsewhere_service = make_service(self.elsewhere, name="Démarche voisine")
        db.session.commit()
        self.foreign = propose(self.citizen, self, title="Proposition du voisin", service_id=elsewhere_service.id)
        self.on_proposal = moderation.report(self.proposal, self.other, "Hors sujet")
        self.on_comment = moderation.report(self.proposal, self.citizen, "Insultant", comment_id=self.comment.id)
        self.on_foreign = moderation.report(self.foreign, self.other, "Spam voisin")


@pytest.fixture
def world(app):
    return Reported()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def fresh(model, row):
    return db.session.get(model, row.id, populate_existing=True)


def log_lines() -> list[tuple]:
    return list(db.session.execute(select(ProposalModerationEntry.action, ProposalModerationEntry.actor_id,
                                          ProposalModerationEntry.reason, ProposalModerationEntry.comment_id)
                                   .order_by(ProposalModerationEntry.id)))


# --- who sees what -------------------------------------------------------------------------------

def test_editors_see_the_open_reports_of_their_organisation_and_admins_see_all(world):
    assert {r.id for r in moderation.open_reports(world.editor)} == {world.on_proposal.id, world.on_comment.id}
    assert {r.id for r in moderation.open_reports(world.other_editor)} == {world.on_foreign.id}
    assert {r.id for r in moderation.open_reports(world.admin)} == {world.on_proposal.id, world.on_comment.id,
                                                                    world.on_foreign.id}
    assert moderation.open_reports(world.facilitator) == [] and moderation.open_reports(world.citizen) == []
    assert moderation.count_open_reports(world.editor) == 2
    assert moderation.count_open_reports(world.admin, world.elsewhere.id) == 1


def test_reports_are_listed_once_per_reported_content(world):
    again = moderation.report(world.proposal, world.admin, "Toujours hors sujet")
    listed = moderation.list_reported(world.editor)
    assert [(item.comment.id if item.comment else None, [r.id for r in item.reports]) for item in listed] == \
        [(None, [again.id, world.on_proposal.id]), (world.comment.id, [world.on_comment.id])]
    assert listed[0].latest.id == again.id


def test_the_moderation_page_shows_an_editor_the_reports_of_their_organisation_only(client, world):
    login(client, world.editor.email)
    html = client.get("/propositions/moderation").get_data(as_text=True)
    assert f"/propositions/signalements/{world.on_proposal.id}" in html and "Hors sujet" in html
    assert f"/propositions/signalements/{world.on_comment.id}" in html and "Insultant" in html
    assert f"/propositions/signalements/{world.on_foreign.id}" not in html and "Spam voisin" not in html
    listing = client.get("/propositions/").get_data(as_text=True)
    assert 'href="/propositions/moderation"' in listing and "2 signalements à examiner" in listing
    settings = client.get(f"/propositions/organisations/{world.organisation.id}/reglages").get_data(as_text=True)
    assert 'href="/propositions/moderation"' in settings and "2 signalements à examiner" in settings


def test_admins_still_see_every_report(client, world):
    login(client, world.admin.email)
    html = client.get("/propositions/moderation").get_data(as_text=True)
    for row in (world.on_proposal, world.on_comment, world.on_foreign):
        assert f"/propositions/signalements/{row.id}" in html


def test_the_report_page_shows_the_reported_comment_and_both_actions(client, world):
    login(client, world.editor.email)
    response = client.get(f"/propositions/signalements/{world.on_comment.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Commentaire signalé" in html and "Insultant" in html and "Masquer ce commentaire" in html
    assert f'action="/propositions/signalements/{world.on_comment.id}/masquer"' in html
    assert f'action="/propositions/signalements/{world.on_comment.id}/classer"' in html


# --- refusals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["other_editor", "facilitator", "citizen"])
def test_people_who_do_not_moderate_the_organisation_are_refused_on_get_and_post(client, world, who):
    login(client, getattr(world, who).email)
    url = f"/propositions/signalements/{world.on_comment.id}"
    assert client.get(url).status_code == 403
    token = get_csrf(client, "/propositions/")
    assert client.post(url + "/masquer", data={"csrf_token": token, "reason": "Injurieux"}).status_code == 403
    assert client.post(url + "/classer", data={"csrf_token": token, "note": "RAS"}).status_code == 403
    assert not fresh(Report, world.on_comment).is_resolved and not fresh(Comment, world.comment).is_hidden
    assert log_lines() == []


def test_the_service_refuses_an_editor_of_another_organisation(world):
    with pytest.raises(NotAllowed):
        moderation.dismiss_report(world.on_proposal, world.other_editor)
    with pytest.raises(NotAllowed):
        moderation.hide_reported(world.on_proposal, world.other_editor, "Injurieux")
    assert not fresh(Report, world.on_proposal).is_resolved and not fresh(Proposal, world.proposal).is_hidden
    assert log_lines() == []


def test_an_unknown_report_is_not_found_with_a_clear_message(client, world):
    login(client, world.editor.email)
    response = client.get("/propositions/signalements/987654")
    assert response.status_code == 404 and "Ce signalement n'existe pas." in unescape(response.get_data(as_text=True))
    response = post_form(client, "/propositions/signalements/987654/classer", {"note": ""},
                         csrf_url="/propositions/moderation")
    assert response.status_code == 404 and "Ce signalement n'existe pas." in unescape(response.get_data(as_text=True))
    assert log_lines() == []


def test_an_already_resolved_report_is_refused_with_a_clear_message_and_nothing_is_written(client, world):
    moderation.dismiss_report(world.on_proposal, world.editor)
    login(client, world.editor.email)
    url = f"/propositions/signalements/{world.on_proposal.id}"
    response = post_form(client, url + "/classer", {"note": "encore"}, csrf_url=url, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Ce signalement a déjà été traité." in html
    response = post_form(client, url + "/masquer", {"reason": "Injurieux"}, csrf_url=url, follow_redirects=True)
    assert "Ce signalement a déjà été traité." in response.get_data(as_text=True)
    assert not fresh(Proposal, world.proposal).is_hidden
    assert [line[0] for line in log_lines()] == ["dismiss_report"]
    with pytest.raises(errors.ReportResolved):
        moderation.dismiss_report(world.on_proposal, world.admin)


def test_hiding_from_a_report_needs_a_reason(client, world):
    login(client, world.editor.email)
    url = f"/propositions/signalements/{world.on_comment.id}"
    response = post_form(client, url + "/masquer", {"reason": "   "}, csrf_url=url)
    assert response.status_code == 422
    assert "Indiquez la raison, elle sera affichée publiquement." in response.get_data(as_text=True)
    with pytest.raises(errors.ReasonRequired):
        moderation.hide_reported(world.on_comment, world.editor, "")
    assert not fresh(Comment, world.comment).is_hidden and not fresh(Report, world.on_comment).is_resolved
    assert log_lines() == []


# --- actions -------------------------------------------------------------------------------------

def test_dismissing_resolves_the_report_without_hiding_and_writes_the_log(client, world):
    login(client, world.editor.email)
    url = f"/propositions/signalements/{world.on_comment.id}"
    response = post_form(client, url + "/classer", {"note": "Critique vive mais correcte"}, csrf_url=url)
    assert response.status_code == 302 and response.headers["Location"].endswith("/propositions/moderation")
    assert fresh(Report, world.on_comment).is_resolved and not fresh(Comment, world.comment).is_hidden
    assert not fresh(Report, world.on_proposal).is_resolved  # another content's report stays open
    assert log_lines() == [("dismiss_report", world.editor.id, "Critique vive mais correcte", world.comment.id)]
    html = client.get("/propositions/moderation").get_data(as_text=True)
    assert "Le signalement est classé sans suite." in html
    assert "Signalement classé sans suite" in html and "Critique vive mais correcte" in html
    assert "Élise Éditrice" in html and f"/propositions/signalements/{world.on_comment.id}" not in html


def test_dismissing_covers_the_earlier_reports_on_the_content_not_the_later_ones(world):
    second = moderation.report(world.proposal, world.admin, "Hors sujet aussi")
    moderation.dismiss_report(world.on_proposal, world.editor, "")
    assert fresh(Report, world.on_proposal).is_resolved and not fresh(Report, second).is_resolved
    moderation.dismiss_report(second, world.editor, "")
    assert fresh(Report, second).is_resolved
    assert not fresh(Report, world.on_comment).is_resolved
    assert [line[:3] for line in log_lines()] == [("dismiss_report", world.editor.id, "")] * 2


@pytest.mark.parametrize("target", ["proposal", "comment"])
def test_hiding_from_a_report_resolves_every_open_report_on_the_content_and_writes_the_log(client, world, target):
    report = world.on_comment if target == "comment" else world.on_proposal
    again = moderation.report(world.proposal, world.admin, "Moi aussi",
                              comment_id=world.comment.id if target == "comment" else None)
    login(client, world.editor.email)
    url = f"/propositions/signalements/{report.id}"
    response = post_form(client, url + "/masquer", {"reason": "Propos injurieux"}, csrf_url=url)
    assert response.status_code == 302
    hidden = fresh(Comment, world.comment) if target == "comment" else fresh(Proposal, world.proposal)
    assert hidden.is_hidden and hidden.hidden_reason == "Propos injurieux"
    assert fresh(Report, report).is_resolved and fresh(Report, again).is_resolved
    other = world.on_proposal if target == "comment" else world.on_comment
    assert not fresh(Report, other).is_resolved
    assert log_lines() == [(f"hide_{target}", world.editor.id, "Propos injurieux",
                            world.comment.id if target == "comment" else None)]
    html = client.get("/propositions/moderation").get_data(as_text=True)
    assert "Propos injurieux" in html and ("Commentaire masqué" if target == "comment" else "Proposition masquée") \
        in html


def test_admins_act_on_any_organisations_report(world):
    moderation.dismiss_report(world.on_foreign, world.admin, "RAS")
    assert fresh(Report, world.on_foreign).is_resolved
    assert log_lines() == [("dismiss_report", world.admin.id, "RAS", None)]


# --- notifications -------------------------------------------------------------------------------

def notifications(user) -> list[tuple[str, str]]:
    return [(n.kind, n.url) for n in db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                                                        .order_by(Notification.id))]


def test_a_report_tells_the_organisations_editors_once_and_nobody_else(world):
    second_editor = make_member(world.organisation, Role.editor)
    db.session.commit()
    db.session.execute(Notification.__table__.delete())
    db.session.commit()
    row = moderation.report(world.proposal, world.facilitator, "Doublon", comment_id=world.comment.id)
    expected = [("comment_reported", f"/propositions/signalements/{row.id}")]
    assert notifications(world.editor) == expected and notifications(second_editor) == expected
    for someone in (world.other_editor, world.admin, world.facilitator, world.citizen, world.other):
        assert notifications(someone) == [], someone
    moderation.report(world.proposal, world.facilitator, "Hors sujet")
    assert [kind for kind, _url in notifications(world.editor)] == ["comment_reported", "proposal_reported"]


def test_a_report_does_not_notify_the_editor_who_files_it(world):
    db.session.execute(Notification.__table__.delete())
    db.session.commit()
    moderation.report(world.foreign, world.editor, "Spam")  # an editor of A reporting B's proposal: B's editor is told
    assert notifications(world.editor) == [] and len(notifications(world.other_editor)) == 1
    moderation.report(world.proposal, world.editor, "Spam")
    assert notifications(world.editor) == []


def test_a_report_where_the_organisation_has_no_editor_tells_the_admins(world):
    lonely = make_organisation(name="Sans éditeur")
    lonely_service = make_service(lonely)
    second_admin = make_user(admin=True)
    db.session.commit()
    proposal = propose(world.citizen, world, title="Personne pour la lire", service_id=lonely_service.id)
    db.session.execute(Notification.__table__.delete())
    db.session.commit()
    row = moderation.report(proposal, world.other, "Spam")
    expected = [("proposal_reported", f"/propositions/signalements/{row.id}")]
    assert notifications(world.admin) == expected and notifications(second_admin) == expected
    assert notifications(world.editor) == [] and notifications(world.other_editor) == []


def test_the_notification_leads_the_editor_to_the_report(client, world):
    login(client, world.other.email)
    url = f"/propositions/{world.proposal.id}"
    response = post_form(client, url + "/signaler", {"reason": "Doublon", "comment_id": str(world.comment.id)},
                         csrf_url=url)
    assert response.status_code == 302
    row = db.session.scalar(select(Report).order_by(Report.id.desc()))
    assert row.reason == "Doublon" and count(Report) == 4
    login(client, world.editor.email)
    html = client.get("/notifications/").get_data(as_text=True)
    assert "Un commentaire sur « Proposition signalée » a été signalé : à examiner." in html
    assert f'href="/propositions/signalements/{row.id}"' in html
    response = client.get(f"/propositions/signalements/{row.id}")
    assert response.status_code == 200 and "Doublon" in response.get_data(as_text=True)
