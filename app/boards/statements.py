"""The common idea post in two SQL statements on PostgreSQL, outside any transaction (``service.post_idea``).

A post under the board's row lock takes about a dozen round trips to the database (BEGIN, the lock, the
participant, the column, the last sort key, the inserts, the events, COMMIT). Under gevent each one waits its
turn behind every greenlet ready at that moment, and on a board with a thousand people those are the writers
of the previous idea's broadcast: the post, not the fan-out, becomes the queue. Here it takes two:

1. ``facts``: one read of everything the rules look at (the board's settings and ``seq``, the participant,
   their account and role, the column, the column's last sort key, their idea count when capped, a stored
   result for this client id) and the new idea's id, taken from its sequence.
2. ``write``: one statement that moves the board's ``seq`` on only if it still is the one read in 1
   (a conditional update: PostgreSQL re-reads the row once any concurrent writer commits), and only then
   inserts the idea, its events and the client id's result. Every change of a board moves its ``seq`` under
   the same row, so an unchanged ``seq`` means nothing the rules read in 1 has changed since.

Each statement is its own transaction (autocommit): there is no BEGIN or COMMIT round trip. Anything else
than a plain success (a refusal, a role to store, a ``seq`` that moved, a unique constraint met) writes
nothing here and goes to the locked path, which decides and explains. SQLite has no data-modifying ``WITH``.
"""

from sqlalchemy import text

from ..catalog.models import Role
from .models import Audience, IdeaStatus

_FACTS = text("""
SELECT b.seq, b.phase, b.locked, b.anonymous, b.hide_ideas, b.hide_votes, b.moderation, b.idea_cap,
       p.board_id AS participant_board_id, p.removed_at IS NULL AS present, p.is_facilitator, p.user_id,
       p.guest_name, u.display_name, u.session_version, u.deleted_at IS NULL AS not_deleted,
       u.is_admin OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id
                             AND m.organisation_id = b.organisation_id AND m.role = :facilitator) AS may_facilitate,
       EXISTS (SELECT 1 FROM board_columns c WHERE c.id = :column_id AND c.board_id = b.id) AS column_found,
       (SELECT max(i.sort_key) FROM ideas i WHERE i.board_id = b.id AND i.column_id = :column_id) AS last_key,
       CASE WHEN b.idea_cap IS NOT NULL THEN
         (SELECT count(*) FROM ideas i WHERE i.participant_id = :participant_id AND i.status <> :withdrawn)
       END AS mine,
       r.result AS stored,
       CASE WHEN r.result IS NULL THEN nextval(pg_get_serial_sequence('ideas', 'id')) END AS idea_id
FROM boards b
LEFT JOIN board_participants p ON p.id = :participant_id
LEFT JOIN users u ON u.id = p.user_id
LEFT JOIN board_client_changes r ON r.participant_id = :participant_id AND r.client_id = :client_id
WHERE b.id = :board_id
""").bindparams(facilitator=Role.facilitator.name, withdrawn=IdeaStatus.withdrawn.name)

_WRITE = text("""
WITH board AS (
  UPDATE boards SET seq = :new_seq
  WHERE id = :board_id AND seq = :seq
    AND (CAST(:user_id AS integer) IS NULL OR EXISTS (
      SELECT 1 FROM users u WHERE u.id = :user_id AND u.session_version = :session_version
                              AND u.deleted_at IS NULL))
  RETURNING id
), idea AS (
  INSERT INTO ideas (id, board_id, column_id, participant_id, cluster_id, text, sort_key, status, hidden_reason,
                     votes, version, created_at, updated_at)
  SELECT :idea_id, board.id, :column_id, :participant_id, NULL, :text, :sort_key, :status, '', 0, 1, :now, :now
  FROM board
  RETURNING id
), events AS (
  INSERT INTO board_events (board_id, seq, name, audience, participant_id, payload, created_at)
  SELECT :board_id, e.seq, e.name, e.audience, e.participant_id, e.payload, :now
  FROM idea CROSS JOIN unnest(CAST(:seqs AS integer[]), CAST(:names AS varchar[]), CAST(:audiences AS varchar[]),
                              CAST(:participant_ids AS integer[]), CAST(:payloads AS text[]))
                       AS e(seq, name, audience, participant_id, payload)
), change AS (
  INSERT INTO board_client_changes (participant_id, client_id, result, created_at)
  SELECT :participant_id, CAST(:client_id AS varchar), :result, :now FROM idea
  WHERE CAST(:client_id AS varchar) IS NOT NULL
)
SELECT id FROM idea
""")


def facts(connection, board_id: int, participant_id: int, column_id: int, client_id: str | None):
    """What ``post_idea``'s rules read, in one statement without a lock; None when the board does not exist."""
    return connection.execute(_FACTS, {"board_id": board_id, "participant_id": participant_id,
                                       "column_id": column_id, "client_id": client_id}).one_or_none()


def write(connection, *, board_id: int, seq: int, account: tuple[int, int] | None, idea: dict, events: list[dict],
          client_id: str | None, result: str, now) -> bool:
    """Store the idea, its events and its result if the board's ``seq`` is still ``seq`` (and ``account``, when
    given, still holds); False, and nothing written, otherwise."""
    row = connection.execute(_WRITE, {
        "board_id": board_id, "seq": seq, "new_seq": events[-1]["seq"],
        "user_id": account[0] if account else None, "session_version": account[1] if account else None,
        "idea_id": idea["id"], "column_id": idea["column_id"], "participant_id": idea["participant_id"],
        "text": idea["text"], "sort_key": idea["sort_key"], "status": idea["status"].name,
        "seqs": [e["seq"] for e in events], "names": [e["name"] for e in events],
        "audiences": [Audience(e["audience"]).name for e in events],
        "participant_ids": [e["participant_id"] for e in events], "payloads": [e["payload"] for e in events],
        "client_id": client_id, "result": result, "now": now,
    }).one_or_none()
    return row is not None
