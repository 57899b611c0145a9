from flask import Blueprint

bp = Blueprint("feedback", __name__, url_prefix="/avis")

from . import routes  # noqa: E402,F401
