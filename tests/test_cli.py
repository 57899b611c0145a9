"""Operator commands: create-user, seed-demo, jobs run, feedback verify; request logs without personal data."""

import logging

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.accounts.passwords import verify_password
from app.catalog.models import Role
from app.extensions import db
from tests.factories import make_organisation


def test_create_user_with_role(app):
    make_organisation(slug="dinum")
    db.session.commit()
    result = app.test_cli_runner().invoke(args=[
        "create-user", "Ana@Example.org", "--name", "Ana", "--password-stdin", "--verified",
        "--org", "dinum", "--role", "facilitator"], input="a long load-test password\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "ana@example.org"))
    assert user.is_verified and not user.is_admin
    assert [(m.organisation.slug, m.role) for m in user.memberships] == [("dinum", Role.facilitator)]
    assert verify_password(user.password_hash, "a long load-test password")


def test_create_user_admin_unverified(app):
    result = app.test_cli_runner().invoke(args=["create-user", "root@example.org", "--name", "Root",
                                                "--password-stdin", "--admin"], input="another long password\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "root@example.org"))
    assert user.is_admin and not user.is_verified


def test_create_user_refusals(app):
    runner = app.test_cli_runner()
    make_organisation(slug="dinum")
    db.session.commit()
    base = ["create-user", "bob@example.org", "--name", "Bob", "--password-stdin"]
    assert runner.invoke(args=base, input="short\n").exit_code != 0
    assert runner.invoke(args=base[:-1], input="a long enough password\n").exit_code != 0
    assert runner.invoke(args=[*base, "--org", "dinum"], input="a long enough password\n").exit_code != 0
    result = runner.invoke(args=[*base, "--org", "nope", "--role", "editor"], input="a long enough password\n")
    assert result.exit_code != 0
    assert db.session.scalar(select(User).where(User.email == "bob@example.org")) is None
    assert runner.invoke(args=base, input="a long enough password\n").exit_code == 0
    result = runner.invoke(args=base, input="a long enough password\n")
    assert result.exit_code != 0 and "existe déjà" in result.output


def test_seed_demo_command_is_idempotent(app):
    runner = app.test_cli_runner()
    assert "demo data loaded" in runner.invoke(args=["seed-demo"]).output
    assert "already present" in runner.invoke(args=["seed-demo"]).output
    assert db.session.scalar(select(User).where(User.email == "admin@atelier.example")).is_admin


@pytest.mark.both_databases("app.jobs")
def test_jobs_run_once(app, smtp):
    result = app.test_cli_runner().invoke(args=["jobs", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "deliver_mail" in result.output


def test_request_log_names_the_route_not_the_path(client, caplog):
    with caplog.at_level(logging.INFO, logger="atelier.access"):
        client.get("/compte/verifier/secret-token-value?email=someone@example.org")
        client.get("/demarches/?q=my+private+search")
    lines = [r.getMessage() for r in caplog.records if r.name == "atelier.access"]
    assert any(line.startswith("GET /compte/verifier/<token> 302") for line in lines), lines
    assert any(line.startswith("GET /demarches/ 200") for line in lines), lines
    joined = "\n".join(lines)
    assert "secret-token-value" not in joined and "someone@example.org" not in joined
    assert "private" not in joined and "127.0.0.1" not in joined


def test_feedback_verify_passes_on_matching_counts_and_names_an_altered_one(app):
    from datetime import datetime

    from sqlalchemy import update

    from app.feedback import service
    from app.feedback.models import FeedbackMonthlyCount, Source
    from tests.factories import make_service

    svc = make_service()
    db.session.commit()
    when = datetime(2026, 2, 10, 9, 0)
    for key, satisfaction in (("a" * 32, 3), ("b" * 32, 3), ("c" * 32, 1)):
        service.start_response(svc, key, Source.link, {"satisfaction": satisfaction}, now=when)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["feedback", "verify"])
    assert result.exit_code == 0, result.output
    assert "match the answers" in result.output
    db.session.execute(update(FeedbackMonthlyCount).where(FeedbackMonthlyCount.service_id == svc.id,
                                                          FeedbackMonthlyCount.field_code == "satisfaction",
                                                          FeedbackMonthlyCount.answer_item_id == 3).values(count=7))
    db.session.commit()
    result = runner.invoke(args=["feedback", "verify"])
    assert result.exit_code == 1
    assert "1 monthly count(s) differ" in result.stderr
    assert f"service {svc.id}, 2026-02, satisfaction option 3: stored 7, recounted 2" in result.stderr
