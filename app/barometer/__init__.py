from flask import Blueprint

bp = Blueprint("barometer", __name__, url_prefix="/barometre")

# routes: the public barometer (national, service, organisation, life event) and its method; manage: the editors'
# import of figures published elsewhere; effects: the before/after of measures, shown on measure and service pages.
from . import effects, manage, routes  # noqa: E402,F401
