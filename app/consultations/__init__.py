from flask import Blueprint

bp = Blueprint("consultations", __name__, url_prefix="/consultations")

from . import manage, receivers, routes  # noqa: E402,F401
