"""`flask db upgrade` from zero and `flask db check` are clean on SQLite and PostgreSQL."""

import subprocess
import sys

import pytest

from tests.servers import ROOT


def flask(database_url, *args):
    env = {"PATH": "/usr/bin:/bin", "ATELIER_ENV": "development", "FLASK_APP": "wsgi",
           "SECRET_KEY": "migration-test-secret-key-0123456789abcdef", "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrate.db'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"migrate_{tmp_path.name[-20:].replace('-', '_').lower()}")


def test_upgrade_from_zero_then_check_is_clean(empty_database):
    upgrade = flask(empty_database, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    check = flask(empty_database, "db", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    downgrade = flask(empty_database, "db", "downgrade", "base")
    assert downgrade.returncode == 0, downgrade.stderr


def test_the_migrated_schema_has_the_report_triggers_of_the_models(empty_database):
    """The triggers that move the report data version are not compared by `flask db check`: the migration must
    create those of app/reports/versions.py, and they must work. A migrated database starts at version 1."""
    from sqlalchemy import create_engine, text

    from app.reports.versions import PG_TRIGGER, WATCHED

    assert flask(empty_database, "db", "upgrade").returncode == 0
    engine = create_engine(empty_database)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM data_versions WHERE name = 'reports'")).scalar() == 1
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                names = set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                              "AND name LIKE 'reports_changed_%'")))
                assert names == {f"{PG_TRIGGER}_{t}_{s}" for t in WATCHED for s in ("ai", "ad", "au")}
            else:
                tables = set(conn.scalars(text("SELECT tgrelid::regclass::text FROM pg_trigger "
                                               "WHERE tgname = :name AND tgdeferrable AND tginitdeferred"),
                                          {"name": PG_TRIGGER}))
                assert tables == set(WATCHED)
            conn.execute(text("INSERT INTO organisations (name, slug, kind, description, url, created_at) "
                              "VALUES ('Org', 'org', 'ministry', '', '', CURRENT_TIMESTAMP)"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM data_versions WHERE name = 'reports'")).scalar() == 2
    finally:
        engine.dispose()
    assert flask(empty_database, "db", "downgrade", "base").returncode == 0
