"""The triggers that move ``data_versions['reports']`` when a table the report figures read changes.

Written in the database, not in Python, so that every write moves it: the ORM, bulk ``UPDATE`` statements,
imports, other processes, a ``psql`` session. They are created by a DDL event after ``db.create_all()`` (tests)
and by the migration ``a8e3c5d7f9b1`` (the same statements, copied there as a migration must be).

What is watched is what the report pages read (``app/reports/service.py`` and ``decisions.service``'s deadline
rule): proposals (their state, visibility, organisation, dates, life event and title; not their support or
comment counters, which change far more often and are not in any report figure), answers and the deadline
settings, measures with their proposals and milestones, the closing of consultations and the proposals they
selected, and organisations' names and addresses. Board ideas are not watched: they change by the hundred during a
live workshop, so the dashboard counts them on every view.

* SQLite allows one writer at a time: a row trigger updates the row in the writer's transaction.
* PostgreSQL: a *deferred* constraint trigger, so the row is updated at commit, after every other lock the
  transaction takes (no lock-order deadlock with the rows it changes), once per transaction (a transaction-local
  setting remembers it was done), and the lock on the version row is held only while the transaction commits.
"""

from sqlalchemy import DDL, event

from ..extensions import db

NAME = "reports"

# table -> the columns whose update matters (None: any update). Inserts and deletes always count.
WATCHED: dict[str, tuple[str, ...] | None] = {
    "proposals": ("state", "hidden_at", "organisation_id", "published_at", "life_event_id", "title", "updated_at",
                  "merged_into_id"),
    "answers": None,
    "answer_settings": None,
    "measures": None,
    "measure_proposals": None,
    "measure_milestones": None,
    "consultations": ("state", "closed_at"),
    "consultation_proposals": None,
    "organisations": ("name", "slug"),
}

PG_FUNCTION = "atelier_reports_changed"
PG_TRIGGER = "reports_changed"


def _of(columns: tuple[str, ...] | None) -> str:
    return f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"


def sqlite_statements() -> list[str]:
    bump = (f"INSERT INTO data_versions (name, epoch, version) VALUES ('{NAME}', lower(hex(randomblob(16))), 1) "  # noqa: S608 - constants
            "ON CONFLICT (name) DO UPDATE SET version = version + 1;")
    out = []
    for table, columns in WATCHED.items():
        for suffix, event_name in (("ai", "INSERT"), ("ad", "DELETE"), ("au", _of(columns))):
            out.append(f"CREATE TRIGGER IF NOT EXISTS {PG_TRIGGER}_{table}_{suffix} AFTER {event_name} ON {table} "
                       f"BEGIN {bump} END")
    return out


def postgresql_statements() -> list[str]:
    out = [f"""CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('atelier.reports_changed', true) IS DISTINCT FROM txid_current()::text THEN
    PERFORM set_config('atelier.reports_changed', txid_current()::text, true);
    INSERT INTO data_versions (name, epoch, version)
      VALUES ('{NAME}', md5(random()::text || clock_timestamp()::text), 1)
      ON CONFLICT (name) DO UPDATE SET version = data_versions.version + 1;
  END IF;
  RETURN NULL;
END $$"""]  # noqa: S608 - built from this module's constants
    for table, columns in WATCHED.items():
        out.append(f"DROP TRIGGER IF EXISTS {PG_TRIGGER} ON {table}")
        out.append(f"CREATE CONSTRAINT TRIGGER {PG_TRIGGER} AFTER INSERT OR DELETE OR {_of(columns)} ON {table} "
                   f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()")
    return out


def sqlite_drop_statements() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {PG_TRIGGER}_{table}_{suffix}"
            for table in WATCHED for suffix in ("ai", "ad", "au")]


def postgresql_drop_statements() -> list[str]:
    return ([f"DROP TRIGGER IF EXISTS {PG_TRIGGER} ON {table}" for table in WATCHED]
            + [f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()"])


for _statement in sqlite_statements():
    event.listen(db.metadata, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in postgresql_statements():
    event.listen(db.metadata, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
event.listen(db.metadata, "after_drop",
             DDL(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()").execute_if(dialect="postgresql"))
