from flask import Blueprint

bp = Blueprint("opendata", __name__, url_prefix="/donnees-ouvertes")

from . import routes  # noqa: E402,F401
