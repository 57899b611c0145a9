from flask import Blueprint

bp = Blueprint("catalog", __name__)

from . import manage, receivers, routes  # noqa: E402,F401
