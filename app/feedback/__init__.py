from flask import Blueprint

bp = Blueprint("feedback", __name__, url_prefix="/avis")

# routes: the public form; embed: a service's form on its own website (and the editors' page that gives the
# button, link, QR code and iframe); manage: the editors' triage, moderation and replies; public: published
# experiences and replies; outcomes: verbatims turned into proposals, workshop topics and measure links;
# receivers: the area's part of « Mes données ».
from . import embed, manage, outcomes, public, receivers, routes  # noqa: E402,F401
