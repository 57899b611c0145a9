"""Fractional indexing: string keys that sort between their neighbours (moving an idea writes one row)."""

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # ASCII order
BASE = len(DIGITS)
MAX_LENGTH = 64


def key_between(before: str | None, after: str | None) -> str:
    """A key strictly between ``before`` and ``after`` (either may be None for the open ends).

    Keys never end with the lowest digit, so there is always room below any key.
    """
    if before is not None and after is not None and not before < after:
        raise ValueError(f"{before!r} must sort before {after!r}")
    if after is None and before:
        return _after(before)
    # Prepending steps by one digit instead of halving, so many keys at the start of a column grow by one
    # character per ~60 keys, not per ~6 (moves to the top are a facilitator's, one at a time).
    if before is None and after:
        index = DIGITS.index(after[0])
        if index > 1:
            return DIGITS[index - 1]
        return after[0] + key_between(None, after[1:] or None) if index == 0 else "0" + key_between(None, None)
    low = before or ""
    high = after
    result = []
    i = 0
    while True:
        lo = DIGITS.index(low[i]) if i < len(low) else 0
        hi = DIGITS.index(high[i]) if high is not None and i < len(high) else BASE
        if hi - lo > 1:
            result.append(DIGITS[(lo + hi) // 2])
            break
        # No room at this position: keep the lower digit and look one position further.
        result.append(DIGITS[lo])
        if high is not None and i < len(high) and hi > lo:
            high = None  # from here on only the lower bound constrains us
        i += 1
        if i >= MAX_LENGTH:
            raise ValueError("sort keys too long: rebalance the column")
    return "".join(result)


APPEND_BLOCK = 7  # digits added when a key can no longer be counted up at its length: 61 x 62^5 more keys


def _after(before: str) -> str:
    """A key after ``before``, for the end of a column (every new idea goes there).

    One character while one is free ("V", "W", ... "z"); then a count in base 62 at a fixed length: the last digit
    that is not the highest goes up by one and every digit after it starts again from the lowest (the last one
    from "1": keys never end with the lowest digit). Only a key made of highest digits alone grows, by a block of
    ``APPEND_BLOCK`` digits, so keys stay short however many ideas a column receives: the first character per
    ~60 keys, as this once did, reached the column's 64 characters after some 2,000 ideas."""
    index = DIGITS.index(before[0])
    if index < BASE - 1:
        return DIGITS[index + 1]
    top = DIGITS[-1]
    position = len(before.rstrip(top)) - 1
    if position < 0:  # nothing left to count up at this length
        room = MAX_LENGTH - len(before)
        if room < 1:
            raise ValueError("sort keys too long: rebalance the column")
        return before + DIGITS[0] * (min(room, APPEND_BLOCK) - 1) + DIGITS[1]
    rest = len(before) - position - 1
    key = before[:position] + DIGITS[DIGITS.index(before[position]) + 1]
    return key + (DIGITS[0] * (rest - 1) + DIGITS[1] if rest else "")


def keys_after(last: str | None, count: int) -> list[str]:
    keys = []
    for _ in range(count):
        last = key_between(last, None)
        keys.append(last)
    return keys
