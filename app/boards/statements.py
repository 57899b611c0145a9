"""Ideas posted in two SQL statements on PostgreSQL, outside any transaction (``service.post_idea``).

A post under the board's row lock takes about a dozen round trips to the database (BEGIN, the lock, the
participant, the column, the last sort key, the inserts, the events, COMMIT). Here the posts waiting for a
board's turn in this process take two, together:

1. ``facts``: one read of everything the rules look at, for each post: the board's settings and ``seq``, the
   participant, their account and role, the column, the column's last sort key, their idea count when capped, a
   stored result for the client id; and each new idea's id, taken from its sequence.
2. ``write``: one statement that moves the board's ``seq`` on only if it still is the one read in 1 (a
   conditional update: PostgreSQL reads the row again once a concurrent writer commits), and the accounts still
   hold; only then does it insert the ideas, their events and the client ids' results. Every change of a board
   moves its ``seq`` under that same row, so an unchanged ``seq`` means nothing the rules read has changed since.

Each statement is its own transaction (autocommit): no BEGIN or COMMIT round trip. Whatever is not a plain
success (a refusal, a role to store, a ``seq`` that moved, a unique constraint met) writes nothing here and goes
to the locked path, which decides and explains. SQLite has no data-modifying ``WITH``.
"""

import json
from types import SimpleNamespace

from sqlalchemy import text

from ..catalog.models import Role
from .models import Audience, IdeaStatus

_FACTS = text("""
SELECT row_to_json(f) FROM (
  SELECT i.ord, b.seq, b.facilitators_seq, b.participants_seq,
         b.phase, b.locked, b.anonymous, b.hide_ideas, b.hide_votes, b.moderation, b.idea_cap,
         p.board_id AS participant_board_id, p.removed_at IS NULL AS present, p.is_facilitator, p.user_id,
         p.guest_name, u.display_name, u.session_version, u.deleted_at IS NULL AS not_deleted,
         u.is_admin OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id
                               AND m.organisation_id = b.organisation_id AND m.role = :facilitator) AS may_facilitate,
         EXISTS (SELECT 1 FROM board_columns c WHERE c.id = i.column_id AND c.board_id = b.id) AS column_found,
         (SELECT max(x.sort_key) FROM ideas x WHERE x.board_id = b.id AND x.column_id = i.column_id) AS last_key,
         CASE WHEN b.idea_cap IS NOT NULL THEN
           (SELECT count(*) FROM ideas x WHERE x.participant_id = i.participant_id AND x.status <> :withdrawn)
         END AS mine,
         r.result AS stored,
         CASE WHEN r.result IS NULL THEN nextval(pg_get_serial_sequence('ideas', 'id')) END AS idea_id
  FROM json_to_recordset(CAST(:posts AS json)) AS i(ord integer, participant_id integer, column_id integer,
                                                     client_id varchar)
  CROSS JOIN boards b
  LEFT JOIN board_participants p ON p.id = i.participant_id
  LEFT JOIN users u ON u.id = p.user_id
  LEFT JOIN board_client_changes r ON r.participant_id = i.participant_id AND r.client_id = i.client_id
  WHERE b.id = :board_id
  ORDER BY i.ord
) AS f
""").bindparams(facilitator=Role.facilitator.name, withdrawn=IdeaStatus.withdrawn.name)

_WRITE = text("""
WITH board AS (
  UPDATE boards SET seq = :new_seq, facilitators_seq = :facilitators_seq, participants_seq = :participants_seq
  WHERE id = :board_id AND seq = :seq
    AND NOT EXISTS (
      SELECT 1 FROM json_to_recordset(CAST(:accounts AS json)) AS a(user_id integer, version integer)
      WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.user_id AND u.session_version = a.version
                                                AND u.deleted_at IS NULL))
  RETURNING id
), idea AS (
  INSERT INTO ideas (id, board_id, column_id, participant_id, cluster_id, text, sort_key, status, hidden_reason,
                     votes, version, created_at, updated_at)
  SELECT n.id, board.id, n.column_id, n.participant_id, NULL, n.text, n.sort_key, n.status, '', 0, 1, :now, :now
  FROM board CROSS JOIN json_to_recordset(CAST(:ideas AS json))
                        AS n(id integer, column_id integer, participant_id integer, text text, sort_key varchar,
                             status varchar)
  RETURNING id
), events AS (
  INSERT INTO board_events (board_id, seq, position, name, audience, participant_id, payload, created_at)
  SELECT board.id, e.seq, e.position, e.name, e.audience, e.participant_id, e.payload, :now
  FROM board CROSS JOIN json_to_recordset(CAST(:events AS json))
                        AS e(seq integer, position smallint, name varchar, audience varchar, participant_id integer,
                             payload text)
), change AS (
  INSERT INTO board_client_changes (participant_id, client_id, result, created_at)
  SELECT c.participant_id, c.client_id, c.result, :now
  FROM board CROSS JOIN json_to_recordset(CAST(:changes AS json))
                        AS c(participant_id integer, client_id varchar, result text)
)
SELECT count(*) FROM idea
""")


# The batch travels as a few JSON documents, and the read comes back as one JSON object per post: PostgreSQL
# unpacks them (json_to_recordset, row_to_json), which costs this process one string each way instead of a
# conversion per array element and a result column.
def facts(connection, board_id: int, posts: list[tuple[int, int, str | None]]) -> list[SimpleNamespace]:
    """What ``post_idea``'s rules read for each (participant id, column id, client id), in order, in one statement
    without a lock; an empty list when the board does not exist."""
    batch = json.dumps([{"ord": n, "participant_id": p[0], "column_id": p[1], "client_id": p[2]}
                        for n, p in enumerate(posts, 1)])
    return [SimpleNamespace(**row) for row in connection.execute(_FACTS, {"board_id": board_id, "posts": batch})
            .scalars()]


def write(connection, *, board_id: int, seq: int, accounts: list[tuple[int, int]], ideas: list[dict],
          events: list[dict], changes: list[tuple[int, str, str]], now, audience_seqs: tuple[int, int]) -> bool:
    """Store ``ideas``, their ``events`` and the client ids' results (``changes``: participant id, client id, ack)
    if the board's ``seq`` is still ``seq`` and every one of ``accounts`` (user id, session version) still holds;
    False, and nothing written, otherwise."""
    stored = connection.execute(_WRITE, {
        "board_id": board_id, "seq": seq, "new_seq": events[-1]["seq"], "now": now,
        "facilitators_seq": audience_seqs[0], "participants_seq": audience_seqs[1],
        "accounts": json.dumps([{"user_id": a[0], "version": a[1]} for a in accounts]),
        "ideas": json.dumps([{"id": i["id"], "column_id": i["column_id"], "participant_id": i["participant_id"],
                              "text": i["text"], "sort_key": i["sort_key"], "status": i["status"].name}
                             for i in ideas], ensure_ascii=False),
        "events": json.dumps([{"seq": e["seq"], "position": e["position"], "name": e["name"],
                               "audience": Audience(e["audience"]).name,
                               "participant_id": e["participant_id"], "payload": e["payload"]} for e in events],
                             ensure_ascii=False),
        "changes": json.dumps([{"participant_id": c[0], "client_id": c[1], "result": c[2]} for c in changes],
                              ensure_ascii=False),
    }).scalar()
    return stored == len(ideas)
