from flask import Blueprint

bp = Blueprint("proposals", __name__, url_prefix="/propositions")

from . import routes, search  # noqa: E402,F401  (search registers the full-text DDL on the proposals table)
