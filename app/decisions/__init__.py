from flask import Blueprint

bp = Blueprint("decisions", __name__, url_prefix="/decisions")

from . import public, receivers, routes  # noqa: E402,F401
