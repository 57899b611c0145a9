from flask import Blueprint

bp = Blueprint("mail", __name__, url_prefix="/admin/courriels")

from . import receivers, routes  # noqa: E402,F401
