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


@pytest.fixture(params=["sqlite", "postgresql"])
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
