"""Importing measures under real concurrency (SQLite and PostgreSQL): one preview confirmed many times at once
(double clicks, several tabs) imports its measures once; the others are refused and write nothing."""

import pytest
from sqlalchemy import func, select

from app.accounts.models import User
from app.catalog.models import Organisation
from app.decisions import measures
from app.decisions.models import Measure, Milestone
from app.extensions import db
from tests.concurrency import run_together, threads_app_fixture
from tests.decisions.helpers import World

pytestmark = pytest.mark.both_databases("app.decisions.measures")

N = 8
DATA = ("mesure;jalon;date_prevue\r\nAdresse unique;Marché;15/01/2027\r\nAdresse unique;Mise en service;"
        "01/06/2027\r\nGuichet unique;;\r\n").encode()


app = threads_app_fixture(N)


def test_one_preview_confirmed_at_once_imports_once(app):
    world = World()
    organisation_id, editor_ids = world.organisation.id, [world.editor.id, world.admin.id]
    stamp = measures.preview_measure_import(world.organisation, world.editor, DATA).stamp

    def job_for(i):
        def job(barrier):
            user, organisation = db.session.get(User, editor_ids[i % 2]), db.session.get(Organisation, organisation_id)
            db.session.rollback()
            barrier.wait()
            return [m.id for m in measures.import_measures(organisation, user, DATA, stamp=stamp)]
        return job

    results, errors = run_together(app, [job_for(i) for i in range(N)])
    db.session.rollback()
    assert len(errors) == N - 1 and all(isinstance(exc, measures.ImportOutdated) for _i, exc in errors)
    (created,) = [r for r in results if r is not None]
    assert len(created) == 2
    assert db.session.scalar(select(func.count()).select_from(Measure)) == 2
    assert db.session.scalar(select(func.count()).select_from(Milestone)) == 2
