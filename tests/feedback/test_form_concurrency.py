"""The « Je donne mon avis » form under concurrent submissions over HTTP (issue 22, points 4 and 9): 500 step POSTs
at once against two serve.py (gevent) processes sharing one PostgreSQL, double clicks and resent steps included.

80 people each open the first step (their CSRF token and one-time submission key), then, released together, go
through the form as a browser without JavaScript does, each on "their" process: POST a page, then the next one at
the address the redirect gives (the pages themselves are not fetched again: the POSTs are what is under test). Every
person double-clicks one page: the same POST sent twice at once, one copy to each process. 60 of them also send an
earlier page again (the browser's back button, then the button again) at the same moment as their last page. 360
pages + 80 second clicks + 60 resent pages = 500 step submissions. Then the database holds one response per
submission key, each answer once (one row per response, field and option) and exactly what was sent, every step
done, and the contact e-mail and the experience where the last step asked for them.
"""

import functools
import re
import threading
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from app.catalog.models import Service
from app.extensions import db
from app.feedback.models import Experience, FeedbackAnswer, FeedbackContact, FeedbackResponse
from tests.boards.live import data_app
from tests.conftest import csrf_from
from tests.factories import make_service
from tests.races import Race, in_threads, new_database, server_pair

pytestmark = [pytest.mark.slow, pytest.mark.postgres("app.feedback.service", "app.database")]

PEOPLE = 80
TIMEOUT = 120  # seconds per request and per thread; more is a hang, reported as a failure
# The form's POSTs are rate-limited per client address, and every person here is 127.0.0.1.
ENV = {"ATELIER_RUN_JOBS": "0", "FEEDBACK_RATE_LIMIT": "100000 per hour"}
KEY_RE = r'name="submission_key" type="hidden" value="([^"]+)"'


def pages_of(i: int) -> list[tuple[str, dict]]:
    """Person ``i``'s pages, in the order the form asks them, with what they answer on each. Even people ask for
    help at a counter and by other means, which brings step 3's follow-up page; odd ones needed no help."""
    pages = [("step1", {"satisfaction": [1 + i % 3]}), ("step2", {"comprehension": [4 + i % 5]})]
    if i % 2 == 0:
        pages += [("step3", {"contact_tried": [9, 16]}),
                  ("step3+", {"contact_tried_verbatim": f"Une association ({i})", "contact_reached": [17],
                              "contact_satisfaction": [19 + i % 5]})]
    else:
        pages.append(("step3", {"contact_tried": [17]}))
    last = {"verbatim": f"Commentaire de la personne {i}."}
    if i % 3 == 0:
        last["consent"] = True
    if i % 5 == 0:
        last["contact_email"] = f"personne{i}@example.org"
    pages.append(("step4", last))
    return pages


def form_data(answers: dict, hidden: dict) -> list[tuple[str, str]]:
    data = [*hidden.items(), ("website", "")]  # the honeypot, left empty
    for code, value in answers.items():
        if code == "consent":
            data.append(("consent", "y"))
        elif isinstance(value, list):
            data += [(code, str(v)) for v in value]
        else:
            data.append((code, value))
    return data


def expected_answers(i: int) -> set[tuple]:
    rows = set()
    for _, answers in pages_of(i):
        for code, value in answers.items():
            if code in ("consent", "contact_email"):
                continue
            if isinstance(value, list):
                rows.update((code, v, None) for v in value)
            else:
                rows.add((code, 0, value))
    return rows


def at_once(*sends):
    """Each ``send()`` in its own thread, released together; their results in order."""
    gate = threading.Barrier(len(sends), timeout=TIMEOUT)
    results = [None] * len(sends)

    def run(k):
        gate.wait()
        results[k] = sends[k]()

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a submission hung"
    return results


def test_500_concurrent_step_submissions_store_each_answer_once(pg_server, smtp_server):
    with new_database(pg_server, "atelier_feedback_race") as url:
        app = data_app(url)
        try:
            with server_pair(url, smtp_server.port, ENV, demo=False, start=False) as servers:
                race = Race(servers, app)
                with app.app_context():
                    slug = make_service().slug
                    db.session.commit()
                in_threads(lambda k: servers[k].start(), 2, TIMEOUT)  # both at once: half the wait
                keys = run_the_race(race, slug)
                with app.app_context():
                    check_database(slug, keys)
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def post(url: str, data: list, cookies: dict) -> requests.Response:
    return requests.post(url, data=data, cookies=cookies, timeout=TIMEOUT, allow_redirects=False)


def run_the_race(race: Race, slug: str) -> dict[int, str]:
    """Every person's form, all at once; returns each person's submission key."""
    go = threading.Barrier(PEOPLE, timeout=TIMEOUT)
    sent, errors, keys = [], [], {}  # (person, page, status, Location path) of every POST; failures; keys
    lock = threading.Lock()

    def person(i):
        mine, other = race.servers[i % 2].url, race.servers[(i + 1) % 2].url
        pages = pages_of(i)
        doubled = i % len(pages)  # the page this person double-clicks
        resent = {0: "step1", 1: "step2", 2: "step3"}.get(i % 4)  # sent again beside the last page
        try:
            with requests.Session() as http:
                first = http.get(f"{mine}/avis/{slug}", timeout=TIMEOUT)
                assert first.status_code == 200, first.text[:500]
                csrf, key = csrf_from(first.text), re.search(KEY_RE, first.text).group(1)
                with lock:
                    keys[i] = key
                go.wait()
                path, bodies = f"/avis/{slug}", {}
                for n, (name, answers) in enumerate(pages):
                    hidden = {"csrf_token": csrf}
                    if name == "step1":
                        hidden.update(submission_key=key, source="link")
                    bodies[name] = (path, form_data(answers, hidden))
                    sends = [(name, mine)]
                    if n == doubled:  # a double click: the same POST again, to the other process
                        sends.append((name, other))
                    if n == len(pages) - 1 and resent:  # an earlier page sent again, beside the last one
                        sends.append((resent, mine))
                    cookies = http.cookies.get_dict()
                    answered = at_once(*(functools.partial(post, base + bodies[page][0], bodies[page][1], cookies)
                                         for page, base in sends))
                    with lock:
                        sent.extend((i, page, r.status_code, urlsplit(r.headers.get("Location", "")).path)
                                    for (page, _), r in zip(sends, answered, strict=True))
                    assert [r.status_code for r in answered] == [302] * len(sends), answered
                    path = urlsplit(answered[0].headers["Location"]).path
                assert path.endswith("/merci"), path
        except BaseException as exc:  # noqa: BLE001 - reported below
            go.abort()
            with lock:
                errors.append((i, exc))

    in_threads(person, PEOPLE, TIMEOUT * 3)
    assert errors == [], errors[:5]
    assert len(set(keys.values())) == PEOPLE
    assert len(sent) == 500
    assert {status for _, _, status, _ in sent} == {302}
    # A second click, or a page sent again, leads where the page led the first time: the same response's next page.
    first_location = {}
    for i, page, _, location in sent:
        assert location == first_location.setdefault((i, page), location), (i, page)
    # Both processes took part (their access logs: method, rule, status).
    for server in race.servers:
        log = server.log_path.read_text()
        assert "POST /avis/<service_slug> 302" in log
        assert "POST /avis/reponse/<token>/etape/<int:step> 302" in log
    return keys


def check_database(slug: str, keys: dict[int, str]) -> None:
    service_id = db.session.scalar(select(Service.id).where(Service.slug == slug))
    responses = db.session.scalars(select(FeedbackResponse).where(FeedbackResponse.service_id == service_id)).all()
    # One response per person: the double-clicked and resent first steps found the response their key made.
    assert sorted(r.submission_key for r in responses) == sorted(keys.values())
    person_of = {key: i for i, key in keys.items()}
    contacts = dict(db.session.execute(select(FeedbackContact.response_id, FeedbackContact.email)).all())
    experiences = dict(db.session.execute(select(Experience.response_id, Experience.text)).all())
    for r in responses:
        i = person_of[r.submission_key]
        rows = db.session.execute(select(FeedbackAnswer.field_code, FeedbackAnswer.answer_item_id,
                                         FeedbackAnswer.answer_text).where(FeedbackAnswer.response_id == r.id)).all()
        answers = [(code, item, text if item == 0 else None) for code, item, text in rows]
        assert len(answers) == len(set(answers)), (i, f"an answer stored twice: {sorted(answers)}")
        assert set(answers) == expected_answers(i), (i, sorted(set(answers) ^ expected_answers(i)))
        assert r.steps_done == 4, (i, r.steps_done)
        assert contacts.get(r.id) == (f"personne{i}@example.org" if i % 5 == 0 else None), i
        assert experiences.get(r.id) == (f"Commentaire de la personne {i}." if i % 3 == 0 else None), i
        assert r.publish_consent == (i % 3 == 0), i
