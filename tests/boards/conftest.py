"""Board fixtures: an app whose socket rate limit does not get in the way (the rate-limit test lowers it),
and a small world: an organisation, its facilitator, a workshop with a confirmed participant, a board."""

import pytest
from flask_socketio.test_client import SocketIOTestClient

from tests.conftest import make_app, prepared_db

from .helpers import make_world


@pytest.fixture
def app(backend, request):
    overrides = {"BOARD_EVENTS_RATE_LIMIT": "100000 per second"}
    with prepared_db(make_app(backend, request, **overrides), backend) as app:
        yield app


@pytest.fixture
def world(app):
    return make_world()


@pytest.fixture(autouse=True)
def _forget_socket_clients():
    """Flask-SocketIO's test client keeps every client (and so every app) in a class-level dict."""
    yield
    SocketIOTestClient.clients.clear()
