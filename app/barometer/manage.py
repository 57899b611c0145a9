"""The editors' import of figures published elsewhere (``importing``): upload -> preview (every line checked,
nothing written) -> confirm. Signed-in editors of any organisation (for their organisations' services) and admins.

The checked text goes from the preview to the confirmation inside a signed, expiring hidden field (compressed:
itsdangerous deflates what it signs) bound to the person, with the preview's stamp and the text's digest: no
server-side copy, and the confirmation reads and checks it all again before writing.
"""

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..accounts.current import acting_user
from ..errors import DomainError
from ..permissions import requires
from . import bp, importing
from .forms import FigureImportConfirmForm, FigureImportForm
from .published import indicator_name

IMPORT_SALT = "atelier.barometer-import"
IMPORT_MAX_AGE = 3600
MAX_ERRORS_SHOWN = 500  # a file of a service one may not edit has an error on each line: the first ones tell

# For the pages that link to the import (whether to show the link).
bp.add_app_template_global(importing.can_import_figures, "can_import_figures")


def _import_serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=IMPORT_SALT)


def sign_import(user_id: int, stamp: str, digest: str, text: str) -> str:
    return _import_serializer().dumps({"u": user_id, "s": stamp, "d": digest, "t": text})


def read_import(token: str, user_id: int) -> dict | None:
    """The signed payload, or ``None`` when forged, expired, or made for another person."""
    try:
        data = _import_serializer().loads(token or "", max_age=IMPORT_MAX_AGE)
    except BadSignature:  # SignatureExpired is one
        return None
    if not isinstance(data, dict) or data.get("u") != user_id:
        return None
    if not all(isinstance(data.get(key), str) for key in ("s", "d", "t")):
        return None
    return data


def _import_page(form, preview=None, errors=None, status=200):
    errors = preview.errors if preview is not None and errors is None else (errors or [])
    confirm = None
    if preview is not None and not errors:
        token = sign_import(current_user.id, preview.stamp, preview.digest, preview.parsed.text)
        # The confirmation must fit in a form field: a file that barely compresses may not.
        if len(token) > current_app.config["MAX_FORM_MEMORY_SIZE"] - 4096:
            form.file.errors = [*form.file.errors, _("Ce fichier est trop volumineux pour être importé en une "
                                                     "fois : découpez-le en plusieurs fichiers.")]
            preview, status = None, 422
        else:
            confirm = FigureImportConfirmForm(formdata=None, data={"payload": token})
    return render_template("barometer/import.html", form=form, preview=preview, errors=errors,
                           shown_errors=errors[:MAX_ERRORS_SHOWN], confirm=confirm, formats=_formats(),
                           limits={"size": importing.FileTooLarge.size, "lines": importing.TooManyLines.lines}), status


def _accepted(unit: str) -> str:
    low, high = importing.RANGES[unit]
    if unit == importing.COUNT:
        return _("un nombre entier, 0 ou plus")
    if high is None:
        return _("0 ou plus")
    return _("de %(low)s à %(high)s", low=low, high=high)


def _formats() -> list[tuple[str, str, str, str]]:
    """The format table of the upload page: indicator, name, unit, values accepted."""
    rows = [(slug, indicator_name(slug), unit, _accepted(unit)) for slug, unit in importing.INDICATORS.items()]
    rows.append((f"{importing.COUNTED[0]}{importing.COUNT_SUFFIX}…", _("Nombre d'avis d'un des six premiers "
                                                                       "indicateurs"),
                 importing.COUNT, _accepted(importing.COUNT)))
    return rows


@bp.route("/gestion/import", methods=["GET", "POST"])
@requires(importing.can_import_figures)
def import_figures():
    form = FigureImportForm()
    if not form.validate_on_submit():
        return _import_page(form, status=422 if form.errors else 200)
    try:
        data = form.file.data.stream.read(importing.MAX_BYTES + 1)
        preview = importing.preview_import(acting_user(), data)
    except DomainError as err:
        form.file.errors = [*form.file.errors, str(err.message)]
        return _import_page(form, status=err.status)
    return _import_page(form, preview, status=422 if preview.errors else 200)


@bp.route("/gestion/import/confirmer", methods=["POST"])
@requires(importing.can_import_figures)
def confirm_import():
    upload = FigureImportForm(formdata=None)
    form = FigureImportConfirmForm()
    payload = read_import(form.payload.data, current_user.id) if form.validate_on_submit() else None
    if payload is None:
        upload.file.errors = [_("L'aperçu a expiré ou n'est pas valide : rien n'a été importé. Envoyez le fichier "
                                "à nouveau.")]
        return _import_page(upload, status=422)
    try:
        result = importing.import_figures(acting_user(), payload["t"], stamp=payload["s"],
                                          expected_digest=payload["d"])
    except importing.ImportInvalid as err:  # a service or a permission changed since the preview: lines listed again
        return _import_page(upload, errors=err.errors, status=err.status)
    except DomainError as err:
        upload.file.errors = [str(err.message)]
        return _import_page(upload, status=err.status)
    flash(_("Chiffres importés — ajoutés : %(added)s ; remplacés : %(replaced)s.", added=result.added,
            replaced=result.replaced), "success")
    return redirect(url_for("barometer.import_figures"))
