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


def statements_of_get(client, url):
    """GETs ``url`` and reads its body to the end (a streamed one too): ``(response, the statements it sent)``."""
    with recorded_statements() as statements:
        response = client.get(url)
        response.get_data()
    return response, statements


def count_queries(client, url) -> int:
    """How many statements a GET of ``url`` sends to the database; the page must answer 200."""
    response, statements = statements_of_get(client, url)
    assert response.status_code == 200
    return len(statements)
