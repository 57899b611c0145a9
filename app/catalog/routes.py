"""Public catalogue pages: life events, organisations, services."""

from flask import render_template, request

from ..inputs import PAGE_MAX, int_arg
from . import bp, service
from .models import LifeEvent, Organisation, Service


@bp.get("/moments-de-vie/")
def list_life_events():
    return render_template("catalog/life_events.html", life_events=service.list_life_events())


@bp.get("/moments-de-vie/<slug>")
def show_life_event(slug: str):
    return render_template("catalog/life_event.html", life_event=service.get_by_slug(LifeEvent, slug))


@bp.get("/organisations/")
def list_organisations():
    return render_template("catalog/organisations.html", organisations=service.list_organisations(),
                           service_counts=service.count_services_by_organisation())


@bp.get("/organisations/<slug>")
def show_organisation(slug: str):
    return render_template("catalog/organisation.html", organisation=service.get_by_slug(Organisation, slug))


@bp.get("/demarches/")
def list_services():
    query = request.args.get("q", "")[:100]
    pagination = service.list_services(query=query, page=int_arg("page", 1, maximum=PAGE_MAX))
    return render_template("catalog/services.html", pagination=pagination, query=query)


@bp.get("/demarches/<slug>")
def show_service(slug: str):
    return render_template("catalog/service.html", service=service.get_by_slug(Service, slug))
