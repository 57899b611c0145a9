"""The demo seed (``flask seed-demo``) is all or nothing, and its reference data ships with the package."""

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.accounts.models import User
from app.clock import utcnow
from app.extensions import db
from tests.factories import make_user


def _row_counts() -> dict[str, int]:
    return {table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables}


def _reference_copy(app, tmp_path: Path) -> Path:
    copy = tmp_path / "reference"
    shutil.copytree(app.config["DEMO_DATA_DIR"], copy)
    app.config["DEMO_DATA_DIR"] = str(copy)  # the app fixture puts the configuration back after the test
    return copy


def test_reference_data_ships_with_the_package(app):
    data = Path(app.config["DEMO_DATA_DIR"])
    assert data.is_relative_to(Path(app.root_path)), data  # never ../shared: a clone has nothing beside it
    readme = (data / "README.md").read_text(encoding="utf-8")
    for name in ("life_events.csv", "procedures.csv"):
        assert (data / name).is_file() and f"`{name}`" in readme
    assert "Licence" in readme


def _remove_life_events(data: Path) -> None:
    (data / "life_events.csv").unlink()


def _drop_a_linked_life_event(data: Path) -> None:
    path = data / "life_events.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith("je-deviens-parent,")), encoding="utf-8")


def _truncate_procedures(data: Path) -> None:
    path = data / "procedures.csv"
    path.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:20]), encoding="utf-8")


def _cut_procedures_mid_row(data: Path) -> None:
    path = data / "procedures.csv"
    path.write_bytes(path.read_bytes()[:3000])


@pytest.mark.parametrize("damage", [_remove_life_events, _drop_a_linked_life_event, _truncate_procedures,
                                    _cut_procedures_mid_row],
                         ids=["life-events-missing", "life-event-row-missing", "procedures-truncated",
                              "procedures-cut-mid-row"])
def test_seed_demo_refuses_incomplete_reference_data_and_writes_nothing(app, tmp_path, damage):
    damage(_reference_copy(app, tmp_path))
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: demo data not loaded, nothing was written: "), lines
    assert "Traceback" not in result.output
    assert set(_row_counts().values()) == {0}, _row_counts()


@pytest.mark.both_databases("app.demo")
def test_seed_demo_failing_after_service_commits_writes_nothing(app):
    # A demo account that already exists unverified (made by hand with `flask create-user`) passes the
    # catalogue and the accounts, then stops the demo at its first sign-up of that person: after the catalogue,
    # the accounts, the first workshop, its publication and a first sign-up were each committed by their service.
    make_user(email="participant1@atelier.example", verified=False)
    db.session.commit()
    before = _row_counts()
    app_session = db.session

    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: demo data not loaded, nothing was written: NotVerified: "), \
        result.output
    assert "Traceback" not in result.output
    assert db.session is app_session  # the app's session is back, the seed's connection let go
    assert _row_counts() == before

    # Nothing was left locked or half-done: once the account is verified, the demo loads.
    db.session.scalar(select(User).where(User.email == "participant1@atelier.example")).email_verified_at = utcnow()
    db.session.commit()
    assert app.test_cli_runner().invoke(args=["seed-demo"]).output == "demo data loaded\n"
    assert db.session.scalar(select(User).where(User.email == "admin@atelier.example")).is_admin
