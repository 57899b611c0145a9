from flask import Blueprint

bp = Blueprint("mail", __name__, url_prefix="/admin/courriels")

from . import routes  # noqa: E402,F401
