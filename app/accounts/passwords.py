"""argon2id hashing with parameters from configuration; rehash when they change."""

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

from ..concurrency import run_cpu_bound


def _hasher() -> PasswordHasher:
    c = current_app.config
    return PasswordHasher(time_cost=c["ARGON2_TIME_COST"], memory_cost=c["ARGON2_MEMORY_COST"],
                          parallelism=c["ARGON2_PARALLELISM"], type=Type.ID)


def hash_password(password: str) -> str:
    return run_cpu_bound(_hasher().hash, password)


def _matches(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    # Answered, not raised, inside the thread pool: gevent's pool reports an exception raised there with its whole
    # traceback, which a guessing script (every failed sign-in, every unknown address) would pour into the log.
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    return run_cpu_bound(_matches, _hasher(), password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


_DUMMY = {}


def burn_time(password: str) -> None:
    """Spend a hash's worth of time for an unknown account, so timing does not reveal which exist."""
    key = tuple(sorted((k, v) for k, v in current_app.config.items() if k.startswith("ARGON2_")))
    if key not in _DUMMY:
        _DUMMY[key] = hash_password("not-a-real-password")
    verify_password(_DUMMY[key], password)


# A sign-up's password is kept aside until the address is verified: the hash is stored behind this prefix, which
# no argon2 hash starts with (Django marks unusable passwords the same way), so it signs no one in. Otherwise
# signing in with the password just chosen would tell whether the address already had an account.
SET_ASIDE = "!"


def set_aside(password_hash: str) -> str:
    return SET_ASIDE + password_hash


def is_set_aside(password_hash: str | None) -> bool:
    return bool(password_hash) and password_hash.startswith(SET_ASIDE)


def activated(password_hash: str) -> str:
    """The usable hash of a password kept aside."""
    return password_hash.removeprefix(SET_ASIDE)
