"""The public barometer's pages, for everyone: national (with the lists of organisations, life events and services),
one service, one organisation, one life event, and the method. Thin: the figures come from ``service``, their wording
from ``views``, the trend's picture from ``svg``.

Each scope page shows the six figures over 12 rolling months and the 24-month trend of one indicator, chosen by
``?indicateur=`` (satisfaction by default, and for a value that names no indicator).
"""

from flask import render_template, request

from ..catalog import service as catalog
from ..catalog.models import LifeEvent, Organisation, Service
from ..inputs import PAGE_MAX, int_arg
from . import bp, service, views
from .indicators import NAMES
from .published import latest_published
from .queries import LIFE_EVENT, NATIONAL_SCOPE, ORGANISATION, SERVICE, Scope
from .stats import indicators
from .svg import trend_chart

SERVICES_PER_PAGE = 50
DEFAULT_INDICATOR = "satisfaction"


def _chosen_indicator() -> str:
    slug = request.args.get("indicateur", "")
    return slug if slug in {ind.slug for ind in indicators()} else DEFAULT_INDICATOR


def _scope_page(template: str, scope: Scope, **context):
    """A scope's page: its figures, and the trend of the chosen indicator."""
    slug = _chosen_indicator()
    minimum = service.minimum_answers()
    figures, trend = service.barometer_and_trend(scope, slugs=(slug,))
    return render_template(template, barometer=figures, chart=trend_chart(slug, trend[slug], minimum),
                           indicator=slug, indicators=[ind.slug for ind in indicators()], names=NAMES, minimum=minimum,
                           **context)


def _with_satisfaction(services) -> list:
    """(service, its satisfaction figure) for a list of services, from one grouped query."""
    figures = service.service_figures([s.id for s in services])
    return [(s, figures[s.id]) for s in services]


@bp.get("/")
def show_national():
    """Every service's answers pooled; the organisations, life events and services (50 a page) to go further."""
    pagination = catalog.list_services(page=int_arg("page", 1, maximum=PAGE_MAX), per_page=SERVICES_PER_PAGE)
    return _scope_page("barometer/national.html", NATIONAL_SCOPE, pagination=pagination,
                       services=_with_satisfaction(pagination.items),
                       organisations=catalog.list_organisations(),
                       life_events=catalog.list_life_events(with_services=False))


@bp.get("/services/<slug>")
def show_service(slug: str):
    target = catalog.get_by_slug(Service, slug)
    return _scope_page("barometer/service.html", Scope(SERVICE, target.id), service=target,
                       published=latest_published(target.id))


@bp.get("/organisations/<slug>")
def show_organisation(slug: str):
    organisation = catalog.get_by_slug(Organisation, slug)
    pagination = catalog.list_services(organisation_id=organisation.id, page=int_arg("page", 1, maximum=PAGE_MAX),
                                       per_page=SERVICES_PER_PAGE)
    return _scope_page("barometer/organisation.html", Scope(ORGANISATION, organisation.id), organisation=organisation,
                       pagination=pagination, services=_with_satisfaction(pagination.items))


@bp.get("/moments-de-vie/<slug>")
def show_life_event(slug: str):
    life_event = catalog.get_by_slug(LifeEvent, slug)
    return _scope_page("barometer/life_event.html", Scope(LIFE_EVENT, life_event.id), life_event=life_event,
                       services=_with_satisfaction(life_event.services))


@bp.get("/methode")
def show_method():
    """How each figure is computed, for citizens (``docs/barometer.md`` for the statistician)."""
    return render_template("barometer/method.html", rows=views.method_rows(), minimum=service.minimum_answers())
