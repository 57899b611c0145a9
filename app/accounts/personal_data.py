"""What « Mes données » holds, table by table: the declared map the export is checked against.

Each area exports what it holds about a person through its receiver of ``signals.personal_data_requested``
(areas own their tables). This module names, for every column that points at a person, the place of the export
where that person's rows of the table are: ``SECTIONS`` maps ``(table, column)`` to a path in the export.

A column points at a person when it is a foreign key to ``users.id``, or a foreign key to a table of
``PERSON_ROWS`` (rows that stand for one person in one area: their board participant, their registration, their
ballot), or one of the few ``REFERENCES_WITHOUT_KEY``. tests/accounts/test_personal_data.py walks the schema: a
column pointing at a person that is in neither ``SECTIONS`` nor ``NOT_EXPORTED`` fails it, so a table added later
must say where its rows go in the export.
"""

PERSON_ROWS: dict[str, str] = {
    # table -> its column naming the account: a row of these is the person in one area, and rows pointing at it
    # (ideas, dots, reactions; registration answers; ballot choices) are that person's.
    "board_participants": "user_id",
    "registrations": "user_id",
    "ballots": "user_id",
}

REFERENCES_WITHOUT_KEY: dict[tuple[str, str], str] = {
    # Columns that name a person without a foreign key: (table, column) -> what they hold.
    ("outbox_messages", "recipient"): "users.email",  # mail is kept by address (the outbox imports no area)
    ("board_events", "participant_id"): "board_participants",  # events for one participant (Audience.participant)
}

# (table, column) -> path in the export; "*" stands for each entry of a list. The rows of the table about the
# person are the entries found there, one each (a list's items, a record's one dict).
SECTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    # accounts: the ``users`` row itself is the "account" section.
    # catalog
    ("memberships", "user_id"): ("memberships",),
    # workshops
    ("registrations", "user_id"): ("workshops", "registrations"),
    ("registration_answers", "registration_id"): ("workshops", "registrations", "*", "answers"),
    ("registrations", "registered_by_id"): ("workshops", "registered_for_others"),
    ("registrations", "category_confirmed_by_id"): ("workshops", "categories_confirmed"),
    ("workshop_topics", "proposed_by_id"): ("workshops", "topics_proposed"),
    ("workshop_topics", "taken_up_by_id"): ("workshops", "topics_taken_up"),
    ("calendar_feeds", "user_id"): ("workshops", "calendar_feed"),
    ("workshops", "created_by_id"): ("workshops", "created"),
    # boards
    ("board_participants", "user_id"): ("boards", "participations"),
    ("ideas", "participant_id"): ("boards", "ideas"),
    ("board_dots", "participant_id"): ("boards", "votes"),
    ("board_reactions", "participant_id"): ("boards", "reactions"),
    ("board_client_changes", "participant_id"): ("boards", "change_receipts"),
    ("board_moderation_log", "participant_id"): ("boards", "removals"),
    ("board_moderation_log", "actor_id"): ("boards", "moderation_actions"),
    ("boards", "created_by_id"): ("boards", "created"),
    # proposals
    ("proposals", "author_id"): ("proposals", "proposals"),
    ("proposal_supports", "user_id"): ("proposals", "supported"),
    ("proposal_follows", "user_id"): ("proposals", "followed"),
    ("proposal_comments", "author_id"): ("proposals", "comments"),
    ("proposal_reports", "reporter_id"): ("proposals", "reports"),
    ("proposal_moderation_log", "actor_id"): ("proposals", "moderation_actions"),
    # consultations
    ("ballots", "user_id"): ("consultations", "ballots"),
    ("ballot_choices", "ballot_id"): ("consultations", "ballots", "*", "choices"),
    ("consultations", "created_by_id"): ("consultations", "created"),
    # decisions
    ("answers", "editor_id"): ("decisions", "answers"),
    ("answer_versions", "editor_id"): ("decisions", "earlier_answers"),
    ("measures", "created_by_id"): ("decisions", "measures_created"),
    ("measure_updates", "author_id"): ("decisions", "measure_updates"),
    ("measure_feedback", "linked_by_id"): ("decisions", "feedback_linked_to_measures"),
    # notifications
    ("notifications", "user_id"): ("notifications", "notifications"),
    ("notification_preferences", "user_id"): ("notifications", "preferences"),
    # mail
    ("outbox_messages", "recipient"): ("mails",),
    # feedback (the answers are anonymous; editors moderate experiences and reply to them)
    ("feedback_experiences", "moderated_by_id"): ("feedback", "moderations"),
    ("feedback_experiences", "reply_author_id"): ("feedback", "replies"),
    # barometer (editors import figures published elsewhere)
    ("barometer_published_figures", "imported_by_id"): ("barometer", "figures_imported"),
}

# (table, column) -> why its rows about the person are not in the export. Keep it short: only rows that add
# nothing the export does not already hold.
NOT_EXPORTED: dict[tuple[str, str], str] = {
    ("board_events", "participant_id"):
        "the replay log of live board changes sent to this participant alone (their idea awaiting approval, their "
        "dots), kept so a reconnecting screen catches up: copies of what the boards section holds",
}


def entries_at(export: dict, path: tuple[str, ...]) -> int:
    """How many entries the export holds at ``path``: a list's items, one for a record (a dict), none when the
    path is missing or empty; ``"*"`` adds up over each item of a list."""
    values = [export]
    for key in path:
        if key == "*":
            values = [item for value in values for item in (value or [])]
        else:
            values = [value.get(key) if isinstance(value, dict) else None for value in values]
    return sum(len(v) if isinstance(v, list) else int(bool(v)) for v in values)
