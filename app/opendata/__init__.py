"""Open data: the public datasets as files (CSV, JSON, ``datapackage.json``) and an Atom feed; ``app/api`` serves
the same datasets as JSON.

It sits above the areas it publishes and only reads them, through their models (never their services, never a
write): ``catalog`` (organisations, services, life events), ``proposals``, ``decisions`` (answers, measures,
milestones, updates), ``workshops`` (with registrations and evaluations), ``consultations`` (with
``consultations.results`` for the grades), ``feedback`` (published experiences and their replies) and ``barometer``
(its monthly counts, and its figures computed by ``barometer.serialize``, which only reads). No area imports it but
``api``.
"""

from flask import Blueprint

bp = Blueprint("opendata", __name__, url_prefix="/donnees-ouvertes")

from . import routes  # noqa: E402,F401
