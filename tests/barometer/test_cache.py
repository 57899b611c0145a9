"""The barometer's reads of the monthly counts are kept ``BAROMETER_CACHE_SECONDS`` per process (0 in the tests'
configuration, so every other test reads afresh): an answer shows once the time has passed, never mixed across
databases; and an organisation's services are listed 50 a page."""

import time

import pytest

from app.barometer import queries
from app.barometer.queries import NATIONAL_SCOPE
from app.barometer.service import barometer, window
from app.extensions import db
from tests.factories import make_organisation, make_service

from .test_pages import answer, months, words


@pytest.fixture
def cached(app):
    app.config["BAROMETER_CACHE_SECONDS"] = 3600
    queries._CACHE.clear()
    yield app
    queries._CACHE.clear()


def test_a_read_is_kept_for_the_setting_then_read_again(cached):
    service = make_service()
    db.session.commit()
    answer(service, months()[-1], good=3)
    assert barometer(NATIONAL_SCOPE).responses == 3
    answer(service, months()[-1], good=2)
    assert barometer(NATIONAL_SCOPE).responses == 3, "kept: read less than BAROMETER_CACHE_SECONDS ago"
    for key, (_until, value) in list(queries._CACHE.items()):
        queries._CACHE[key] = (time.monotonic() - 1, value)  # the time has passed
    assert barometer(NATIONAL_SCOPE).responses == 5


def test_without_the_setting_every_read_is_fresh(app):
    assert app.config["BAROMETER_CACHE_SECONDS"] == 0
    service = make_service()
    db.session.commit()
    answer(service, months()[-1], good=3)
    assert barometer(NATIONAL_SCOPE).responses == 3
    answer(service, months()[-1], good=2)
    assert barometer(NATIONAL_SCOPE).responses == 5
    assert queries._CACHE == {}


def test_reads_are_kept_per_database(cached):
    service = make_service()
    db.session.commit()
    answer(service, months()[-1], good=3)
    first, last = window()
    assert queries.counts(NATIONAL_SCOPE, first, last)
    key = next(iter(queries._CACHE))
    assert key[0] == cached.config["SQLALCHEMY_DATABASE_URI"]


def test_an_organisations_services_are_listed_50_a_page(client):
    organisation = make_organisation(slug="caisse")
    for index in range(55):
        make_service(organisation, name=f"Démarche {index:02d}")
    db.session.commit()
    first = words(client.get("/barometre/organisations/caisse").get_data(as_text=True))
    assert "Démarche 49" in first and "Démarche 50" not in first and "Page 1 sur 2" in first
    second = client.get("/barometre/organisations/caisse?page=2")
    assert second.status_code == 200
    text = words(second.get_data(as_text=True))
    assert "Démarche 54" in text and "Démarche 00" not in text
