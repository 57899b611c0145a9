from flask import Blueprint

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

from . import receivers, routes  # noqa: E402,F401
