"""Recording the SQL statements a piece of code issues, for query-count tests."""

from contextlib import contextmanager

from sqlalchemy import event

from app.extensions import db


@contextmanager
def _recorded(entry):
    """Yields a list that receives ``entry(statement, parameters)`` for each statement while the block runs."""
    seen: list = []

    def record(_conn, _cursor, statement, parameters, *_args):
        seen.append(entry(statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def recorded_statements():
    """Yields the list of statements sent to the database while the block runs."""
    return _recorded(lambda statement, _parameters: statement)


def recorded_executions():
    """Yields the list of ``(statement, parameters)`` sent to the database while the block runs."""
    return _recorded(lambda statement, parameters: (statement, parameters))
