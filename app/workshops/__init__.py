from flask import Blueprint

bp = Blueprint("workshops", __name__, url_prefix="/ateliers")

from . import manage, manage_topics, receivers, routes  # noqa: E402,F401
