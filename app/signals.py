"""Signals between areas (one blinker namespace). Each docstring is the signal's contract.

Senders emit only after their transaction has committed, so receivers see committed data and
may start their own transactions or talk to the network.
"""

from blinker import Namespace

atelier = Namespace()

user_registered = atelier.signal("user-registered")
"""Sent with the new ``User`` as sender after registration commits."""

user_sessions_revoked = atelier.signal("user-sessions-revoked")
"""Sent with the ``User`` after "log out everywhere", a password change or account deletion
commits. Live areas close that person's open connections."""

user_deleted = atelier.signal("user-deleted")
"""Sent with the ``User`` (identity already blanked) after account deletion commits."""

personal_data_requested = atelier.signal("personal-data-requested")
"""Sent with the ``User`` when they download their data; each receiver returns
``(section_name, json_serialisable_data)`` for what its area holds about them."""

workshop_published = atelier.signal("workshop-published")
"""Sent with the ``Workshop`` after it is published."""

board_events = atelier.signal("board-events")
"""Sent with the board id as sender and ``events`` (list of event dicts with seq, name, audience,
participant_id, payload) after a board change commits. The realtime layer emits them to rooms."""

consultation_closed = atelier.signal("consultation-closed")
"""Sent with the ``Consultation`` after its closing commits (results stored, selected proposals marked
``selected``, the others back to ``published``), with ``selected_ids`` (list of proposal ids). Receivers
may notify followers and authors; the consultation's results are final."""
