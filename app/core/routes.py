"""Site-wide pages: home, legal pages, language switch, health check."""

from flask import current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import text

from ..accounts import service as accounts_service
from ..bus import bus_reachable
from ..catalog import service as catalog_service
from ..extensions import db
from ..i18n import SESSION_KEY
from ..security import safe_next
from . import bp
from .forms import LanguageForm


@bp.get("/")
def home():
    return render_template("core/home.html", life_events=catalog_service.list_life_events())


@bp.get("/confidentialite")
def privacy():
    return render_template("core/privacy.html")


@bp.get("/accessibilite")
def accessibility():
    return render_template("core/accessibility.html")


@bp.get("/conditions-d-utilisation")
def terms():
    return render_template("core/terms.html")


@bp.post("/langue")
def set_language():
    """Switch language without JavaScript; remembered on the account when logged in."""
    form = LanguageForm()
    target = safe_next(request.form.get("next"), url_for("core.home"))
    if form.validate_on_submit():
        lang = form.lang.data
        session[SESSION_KEY] = lang
        if current_user.is_authenticated:
            accounts_service.set_locale(current_user, lang)
    else:
        flash(_("La langue n'a pas pu être changée. Réessayez."), "error")
    return redirect(target)


@bp.get("/healthz")
def healthz():
    """Liveness and database reachability, for load balancers and monitoring."""
    version = current_app.config["APP_VERSION"]
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any driver error means the database is not usable right now
        current_app.logger.warning("health check: database unreachable")
        return jsonify(status="error", database="unreachable", version=version), 503
    finally:
        db.session.remove()
    bus = bus_reachable()
    if bus is None:
        return jsonify(status="ok", database="ok", version=version)
    if not bus:  # pages and changes work; live events made in other processes wait for the bus (clients resync)
        current_app.logger.warning("health check: message bus (Redis) unreachable")
    return jsonify(status="ok" if bus else "degraded", database="ok", redis="ok" if bus else "degraded",
                   version=version)
