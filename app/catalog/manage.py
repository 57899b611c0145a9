"""Catalogue administration: organisations, memberships, services, life events (admins only)."""

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from ..accounts.forms import ConfirmForm
from ..errors import DomainError
from ..extensions import db
from ..permissions import can_manage_catalog, requires
from . import bp, service
from .forms import LifeEventForm, MemberForm, OrganisationForm, ServiceForm
from .models import LifeEvent, Membership, Organisation, OrganisationKind, Role, Service


@bp.get("/admin/")
@requires(can_manage_catalog)
def admin_home():
    return render_template("admin/home.html", organisations=service.list_organisations(),
                           life_events=service.list_life_events(),
                           services=db.session.scalars(select(Service).order_by(Service.name)).all())


def _save(form, save, redirect_endpoint):
    """Run a save service with a validated form's fields; a unique clash becomes a field error."""
    fields = {k: v for k, v in form.data.items() if k not in ("csrf_token", "submit")}
    try:
        obj = save(**fields)
    except service.SlugTaken as err:
        form.slug.errors = [str(err.message)]
        return None
    flash(_("Les modifications sont enregistrées."), "success")
    return redirect(url_for(redirect_endpoint, slug=obj.slug))


@bp.route("/admin/organisations/nouvelle", methods=["GET", "POST"])
@bp.route("/admin/organisations/<slug>/modifier", methods=["GET", "POST"])
@requires(can_manage_catalog)
def edit_organisation(slug: str | None = None):
    organisation = service.get_by_slug(Organisation, slug) if slug else None
    form = OrganisationForm(obj=organisation, data=None if organisation else {"kind": "ministry"})
    if organisation and not form.is_submitted():
        form.kind.data = organisation.kind.value
    if form.validate_on_submit():
        form.kind.data = OrganisationKind(form.kind.data)
        response = _save(form, lambda **f: service.save_organisation(current_user, organisation, **f),
                         "catalog.show_organisation")
        if response:
            return response
        form.kind.data = form.kind.data.value
    return render_template("admin/form.html", form=form, organisation=organisation,
                           title=_("Modifier l'organisation") if organisation else _("Nouvelle organisation"))


@bp.route("/admin/organisations/<slug>/membres", methods=["GET", "POST"])
@requires(can_manage_catalog)
def manage_members(slug: str):
    organisation = service.get_by_slug(Organisation, slug)
    form = MemberForm()
    if form.validate_on_submit():
        try:
            service.add_member(current_user, organisation, form.email.data, Role(form.role.data))
        except DomainError as err:
            form.email.errors = [str(err.message)]
        else:
            flash(_("Le rôle est attribué."), "success")
            return redirect(url_for("catalog.manage_members", slug=slug))
    return render_template("admin/members.html", organisation=organisation, form=form,
                           members=service.list_members(organisation))


@bp.post("/admin/membres/<int:membership_id>/retirer")
@requires(can_manage_catalog)
def remove_member(membership_id: int):
    membership = db.get_or_404(Membership, membership_id)
    slug = membership.organisation.slug
    if ConfirmForm().validate_on_submit():
        service.remove_member(current_user, membership)
        flash(_("Le rôle est retiré."), "success")
    return redirect(url_for("catalog.manage_members", slug=slug))


@bp.route("/admin/demarches/nouvelle", methods=["GET", "POST"])
@bp.route("/admin/demarches/<slug>/modifier", methods=["GET", "POST"])
@requires(can_manage_catalog)
def edit_service(slug: str | None = None):
    item = service.get_by_slug(Service, slug) if slug else None
    form = ServiceForm(obj=item)
    form.organisation_id.choices = [SelectChoice(o.id, o.name) for o in service.list_organisations()]
    form.life_event_ids.choices = [SelectChoice(e.id, e.name_fr) for e in service.list_life_events(with_services=False)]
    if item and not form.is_submitted():
        form.life_event_ids.data = [e.id for e in item.life_events]
    if form.validate_on_submit():
        response = _save(form, lambda **f: service.save_service(current_user, item, **f),
                         "catalog.show_service")
        if response:
            return response
    return render_template("admin/form.html", form=form,
                           title=_("Modifier la démarche") if item else _("Nouvelle démarche"))


@bp.route("/admin/moments-de-vie/nouveau", methods=["GET", "POST"])
@bp.route("/admin/moments-de-vie/<slug>/modifier", methods=["GET", "POST"])
@requires(can_manage_catalog)
def edit_life_event(slug: str | None = None):
    item = service.get_by_slug(LifeEvent, slug) if slug else None
    form = LifeEventForm(obj=item)
    form.service_ids.choices = [SelectChoice(s.id, f"{s.name} — {s.organisation.name}")
                                for s in db.session.scalars(select(Service).order_by(Service.name))]
    if item and not form.is_submitted():
        form.service_ids.data = [s.id for s in item.services]
    if form.validate_on_submit():
        response = _save(form, lambda **f: service.save_life_event(current_user, item, **f),
                         "catalog.show_life_event")
        if response:
            return response
    return render_template("admin/form.html", form=form,
                           title=_("Modifier le moment de vie") if item else _("Nouveau moment de vie"))
