"""Public « Je donne mon avis » pages."""

from . import bp  # noqa: F401
