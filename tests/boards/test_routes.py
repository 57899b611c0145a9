"""Board pages over HTTP: joining with the code link (a POST, never a GET), and the exports, whose participants'
text is neutralised in every format."""

import csv
import html
import io
import json
import re

import pytest
from markdown_it import MarkdownIt
from sqlalchemy import func, select

from app.boards import service
from app.boards.models import Participant
from app.extensions import db
from tests.conftest import csrf_from, login
from tests.factories import make_user

from .helpers import post, set_phase


def participants_of(board_id: int, user) -> int:
    return db.session.scalar(select(func.count(Participant.id)).where(Participant.board_id == board_id,
                                                                      Participant.user_id == user.id))


# --- joining with the code link ------------------------------------------------------------------------------

def test_the_code_link_shows_a_confirmation_page_and_only_its_post_joins(client, world):
    newcomer = make_user(name="Noa Nouvelle")
    db.session.commit()
    login(client, newcomer.email)
    url = f"/tableaux/rejoindre/{world.board.join_code}"
    page = client.get(url)  # a link followed from another site: a plain GET
    assert page.status_code == 200
    assert participants_of(world.board_id, newcomer) == 0, "a GET joined the board"
    body = page.get_data(as_text=True)
    assert "Rejoindre « Tableau »" in body and world.organisation.name in body and "Noa Nouvelle" in body
    form = re.search(r'<main.*?<form method="post"[^>]*>(.*?)</form>', body, re.S).group(1)
    assert 'name="csrf_token"' in form and "Rejoindre le tableau" in form
    response = client.post(url, data={"csrf_token": csrf_from(body)})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/tableaux/{world.board_id}")
    assert participants_of(world.board_id, newcomer) == 1


def test_a_join_posted_without_its_csrf_token_joins_no_one(client, world):
    newcomer = make_user()
    db.session.commit()
    login(client, newcomer.email)
    response = client.post(f"/tableaux/rejoindre/{world.board.join_code}", data={})
    assert response.status_code == 400  # app-wide CSRF protection
    assert participants_of(world.board_id, newcomer) == 0


def test_someone_already_on_the_board_goes_straight_to_it(client, world):
    login(client, world.citizen.email)
    response = client.get(f"/tableaux/rejoindre/{world.board.join_code}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/tableaux/{world.board_id}")
    assert participants_of(world.board_id, world.citizen) == 1


def test_a_removed_participant_is_refused_on_the_post(client, world):
    service.remove_participant(world.board_id, world.fac, target_id=world.cit)
    login(client, world.citizen.email)
    url = f"/tableaux/rejoindre/{world.board.join_code}"
    page = client.get(url)
    assert page.status_code == 200
    response = client.post(url, data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302 and response.headers["Location"].endswith("/tableaux/rejoindre")
    assert db.session.get(Participant, world.cit).removed_at is not None


def test_guests_still_join_with_the_name_form(client, world):
    url = f"/tableaux/rejoindre/{world.board.join_code}"
    page = client.get(url)
    assert page.status_code == 200 and 'name="name"' in page.get_data(as_text=True)
    response = client.post(url, data={"name": "Dominique", "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert db.session.scalar(select(Participant).where(Participant.guest_name == "Dominique")) is not None


# --- exports: what participants typed is neutralised in every format ---------------------------------------

HOSTILE = {
    "link": "[clic](javascript:alert(1))",
    "script": "<script>alert(1)</script>",
    "autolink": "<javascript:alert(1)>",
    "image": "![pixel](http://evil.example/p.png)",
    "html": '<a href="javascript:alert(2)">ici</a> & &lt;b&gt;',
    "list": "1. pas une liste\n# pas un titre\n> pas une citation",
    "formula_after_comma": 'Bonjour,=HYPERLINK("http://evil.example","clic")',
    "formula_after_line_break": "Première ligne\n@SUM(A1:A9)",
    "formula_first": "=1+1 en tête",
}
HOSTILE_NAME = "<img src=x onerror=alert(3)>"


@pytest.fixture
def hostile(world):
    set_phase(world, "brainstorm")
    guest = service.join(world.board, None, guest_name=HOSTILE_NAME, by_code=True)
    ideas = [post(world, guest.id if key == "html" else world.cit, text) for key, text in HOSTILE.items()]
    set_phase(world, "grouping")
    service.group_ideas(world.board_id, world.fac, idea_ids=ideas[:2], name="[groupe](javascript:alert(4))")
    db.session.commit()
    return world


def export(client, world, fmt):
    login(client, world.facilitator.email)
    response = client.get(f"/tableaux/{world.board_id}/export.{fmt}")
    assert response.status_code == 200
    return response


def test_markdown_export_shows_links_images_and_html_as_typed(client, hostile):
    world = hostile
    markdown = export(client, world, "md").get_data(as_text=True)
    # The most trusting renderer: raw HTML on, and every link destination accepted (javascript: included).
    renderer = MarkdownIt("commonmark", {"html": True})
    renderer.validateLink = lambda url: True
    rendered = renderer.render(markdown)
    for tag in ("<a", "<img", "<script", "<h1>pas", "<ol", "<blockquote"):
        assert tag not in rendered, f"{tag} made from participants' text:\n{rendered}"
    shown = html.unescape(rendered)
    for key, typed in HOSTILE.items():
        if key not in ("list", "formula_after_line_break"):
            assert typed in shown, key
    assert "1. pas une liste # pas un titre > pas une citation" in shown  # on one line, as text
    assert HOSTILE_NAME in shown and "[groupe](javascript:alert(4))" in shown


def test_csv_export_has_no_cell_a_spreadsheet_would_run(client, hostile):
    """Read as written (';', quoted), no cell starts a formula, after spaces or not; text inside a cell is kept as
    typed (a formula after a comma is text in its cell)."""
    world = hostile
    data = export(client, world, "csv").get_data()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    runnable = [cell for row in rows for cell in row if re.match(r"[\s\u200b-\u200d\u2060\ufeff]*[=+\-@]", cell)]
    assert not runnable, runnable
    records = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    texts = {row["text"] for row in records}
    assert HOSTILE["formula_after_comma"] in texts and HOSTILE["formula_after_line_break"] in texts
    assert "'=1+1 en tête" in texts  # a cell that starts with a formula gets its apostrophe
    assert HOSTILE["script"] in texts and HOSTILE_NAME in {row["author"] for row in records}


def test_json_export_is_the_typed_text_and_never_markup(client, hostile):
    world = hostile
    response = export(client, world, "json")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    body = response.get_data()
    assert not set(b"<>&") & set(body), "a byte that opens a tag or an entity"
    data = json.loads(body)
    assert {idea["text"] for idea in data["ideas"]} == {text.strip() for text in HOSTILE.values()}
    assert HOSTILE_NAME in {idea["author"] for idea in data["ideas"]}
    assert set(data["ideas"][0]) == {"column", "cluster", "text", "author", "votes", "reactions", "created_at"}


@pytest.mark.parametrize("fmt", ["csv", "json", "md"])
def test_exports_are_downloads_that_run_nothing_if_shown(client, world, fmt):
    response = export(client, world, fmt)
    assert response.headers["Content-Disposition"] == f'attachment; filename="tableau-{world.board_id}.{fmt}"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy
