"""Flask commands: ``flask seed-demo``, ``flask create-user``, ``flask jobs run``, ``flask feedback verify``."""

import sys
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from .accounts import service as accounts
from .catalog import service as catalog
from .catalog.models import Membership, Organisation, Role
from .demo import ReferenceDataError, seed
from .errors import DomainError
from .extensions import db
from .feedback import tally
from .jobs import run_forever, run_once


def register_cli(app: Flask) -> None:
    app.cli.add_command(seed_demo)
    app.cli.add_command(create_user)
    app.cli.add_command(jobs_group)
    app.cli.add_command(feedback_group)


@click.command("seed-demo")
def seed_demo():
    """Load the demo data once, all or nothing (idempotent: a second run changes nothing)."""

    try:
        created = seed(current_app.config["DEMO_DATA_DIR"])
    except ReferenceDataError as err:
        raise click.ClickException(f"demo data not loaded, nothing was written: {err}") from err
    except DomainError as err:  # a rule the demo broke, e.g. an existing demo account is not verified
        raise click.ClickException(f"demo data not loaded, nothing was written: {type(err).__name__}: "
                                   f"{err.message}") from err
    click.echo("demo data loaded" if created else "demo data already present")


@click.command("create-user")
@click.argument("email")
@click.option("--name", required=True, help="display name")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--verified", is_flag=True, help="mark the e-mail address as verified")
@click.option("--admin", is_flag=True, help="make a platform administrator")
@click.option("--org", "org_slug", help="organisation slug for --role")
@click.option("--role", type=click.Choice(["facilitator", "editor"]), help="role in --org")
def create_user(email, name, password_stdin, verified, admin, org_slug, role):
    """Create an account (operators and load tests)."""

    if bool(org_slug) != bool(role):
        raise click.UsageError("--org and --role go together")
    if not password_stdin:
        raise click.UsageError("pass the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\n")
    if len(password) < 12:
        raise click.UsageError("the password must have at least 12 characters")
    try:
        # Resolve the organisation first, so a bad --org leaves no account behind.
        organisation = catalog.get_by_slug(Organisation, org_slug) if org_slug else None
        user = accounts.create_user(email, name, password, verified=verified, admin=admin)
        if organisation:
            _grant_role(user, organisation, Role(role))
    except DomainError as err:
        raise click.ClickException(str(err.message)) from err
    click.echo(f"created user {user.id} <{user.email}>")


def _grant_role(user, organisation, role):
    db.session.add(Membership(user=user, organisation=organisation, role=role))
    db.session.commit()


jobs_group = AppGroup("jobs", help="Periodic jobs (mail outbox; later seat offers, reminders, digests).")


@jobs_group.command("run")
@click.option("--once", is_flag=True, help="run every job once and exit")
@click.option("--interval", type=float, default=None, help="seconds between rounds")
def jobs_run(once, interval):
    """Run the periodic jobs (forever, or once)."""

    app = current_app._get_current_object()
    if once:
        click.echo(run_once(app))
        return
    try:
        run_forever(app, interval)
    except KeyboardInterrupt:
        time.sleep(0)


feedback_group = AppGroup("feedback", help="« Je donne mon avis »: the barometer's monthly counts.")


@feedback_group.command("verify")
@click.option("--limit", type=int, default=20, show_default=True, help="differences listed at most")
def feedback_verify(limit):
    """Recount the barometer's monthly counts from the answers and report every difference (exit status 1 if any)."""

    differences = tally.verify()
    db.session.rollback()
    if not differences:
        click.echo("monthly counts verified: they match the answers")
        return
    click.echo(f"{len(differences)} monthly count(s) differ from the answers:", err=True)
    for d in differences[:limit]:
        click.echo(f"  service {d.service_id}, {d.month:%Y-%m}, {d.field_code} option {d.answer_item_id}: "
                   f"stored {d.stored}, recounted {d.recounted}", err=True)
    if len(differences) > limit:
        click.echo(f"  … and {len(differences) - limit} more", err=True)
    sys.exit(1)


@feedback_group.command("load-observatoire")
@click.option("--procedure", "procedures", multiple=True, metavar="jdma:ID",
              help="load this procedure only (repeatable); by default every one of more than 2,000 answers")
@click.option("--no-copy", is_flag=True, help="INSERT in batches instead of PostgreSQL's COPY")
def feedback_load_observatoire(procedures, no_copy):
    """Load the answers that give the observatory's published figures of its large procedures (PostgreSQL only).

    The demo (``flask seed-demo``) loads the procedures whose figures rest on at most 2,000 answers; this loads the
    others' full counts (about 1.8 million responses), one procedure per transaction, with the same solver and
    loader (app/barometer/observatoire.py). A procedure whose service already has responses is left as it is."""

    from .barometer.observatoire import Infeasible
    from .clock import utcnow
    from .database import is_sqlite
    from .demo.barometer import load_answers, observatory_services, read_observatory

    if is_sqlite():
        raise click.ClickException("load-observatoire needs PostgreSQL (about 1.8 million responses); on SQLite, "
                                   "flask seed-demo loads the procedures of at most 2,000 answers")
    observatory = read_observatory(current_app.config["DEMO_DATA_DIR"])
    followed = {p.ref: p for p in observatory.followed()}
    unknown = [ref for ref in procedures if ref not in followed]
    if unknown:
        raise click.ClickException(f"no published figures for {', '.join(unknown)}")
    chosen = [followed[ref] for ref in procedures] if procedures else observatory.large()
    services = observatory_services(observatory)
    db.session.commit()
    started = time.monotonic()
    responses = answers = 0
    for procedure in chosen:
        began = time.monotonic()
        try:
            loaded, plans = load_answers(observatory, [procedure], services, utcnow(), copy=not no_copy)
        except Infeasible as err:
            db.session.rollback()
            raise click.ClickException(f"{procedure.ref} not loaded: {err}") from err
        db.session.commit()
        responses += loaded.responses
        answers += loaded.answers
        if not loaded.responses:
            click.echo(f"{procedure.ref}: nothing loaded (its service has responses already, or none are published)")
            continue
        click.echo(f"{procedure.ref}: {loaded.responses} responses, {loaded.answers} answers "
                   f"({time.monotonic() - began:.1f} s)")
        for plan in plans:
            for d in plan.deviations:
                value = "no value" if d.value is None else f"{d.value:.4f}"
                click.echo(f"  {d.indicator}: {value} on {d.count} answers instead of {d.published_value} on "
                           f"{d.published_count} ({d.reason})")
    click.echo(f"loaded {responses} responses, {answers} answers in {time.monotonic() - started:.1f} s")
