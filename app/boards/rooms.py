"""Socket.IO room names. Facilitators and participants are disjoint audiences of a board."""


def board_room(board_id: int) -> str:
    return f"board:{board_id}"


def facilitators_room(board_id: int) -> str:
    return f"board:{board_id}:facilitators"


def participants_room(board_id: int) -> str:
    return f"board:{board_id}:participants"


def participant_room(board_id: int, participant_id: int) -> str:
    return f"board:{board_id}:p:{participant_id}"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"
