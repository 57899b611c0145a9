from flask import Blueprint

bp = Blueprint("barometer", __name__, url_prefix="/barometre")

# routes: the public barometer (national, service, organisation, life event) and its method; manage: the editors'
# import of figures published elsewhere; effects: the before/after of measures, shown on measure and service pages;
# receivers: the area's part of « Mes données ».
from . import effects, manage, receivers, routes  # noqa: E402,F401
