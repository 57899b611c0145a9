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


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return run_cpu_bound(_hasher().verify, password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


_DUMMY = {}


def burn_time(password: str) -> None:
    """Spend a hash's worth of time for an unknown account, so timing does not reveal which exist."""
    key = tuple(sorted((k, v) for k, v in current_app.config.items() if k.startswith("ARGON2_")))
    if key not in _DUMMY:
        _DUMMY[key] = hash_password("not-a-real-password")
    verify_password(_DUMMY[key], password)
