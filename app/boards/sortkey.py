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
    # Open ends step by one digit instead of halving, so appending or prepending many keys grows them
    # by one character per ~60 keys, not per ~6.
    if after is None and before:
        index = DIGITS.index(before[0])
        if index < BASE - 1:
            return DIGITS[index + 1]
        return before[0] + key_between(before[1:] or None, None)
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


def keys_after(last: str | None, count: int) -> list[str]:
    keys = []
    for _ in range(count):
        last = key_between(last, None)
        keys.append(last)
    return keys
