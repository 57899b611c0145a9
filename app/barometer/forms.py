"""Barometer forms: the editors' import of figures published elsewhere (upload, then confirmation)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SubmitField
from wtforms.validators import DataRequired

from .importing import FileTooLarge, TooManyLines


class FigureImportForm(FlaskForm):
    """Step 1: the CSV file (read and checked by ``importing.preview_import``)."""

    file = FileField(_l("Fichier CSV"),
                     description=_l("Au format de procedure_indicators.csv : séparateur virgule, encodage UTF-8 "
                                    "(avec ou sans BOM) ; %(size)s Mo et %(lines)s lignes au plus.",
                                    size=FileTooLarge.size, lines=TooManyLines.lines),
                     validators=[FileRequired(_l("Choisissez le fichier CSV à importer."))])
    submit = SubmitField(_l("Vérifier le fichier"))


class FigureImportConfirmForm(FlaskForm):
    """Step 2: the checked file, carried signed (``manage.sign_import``) so it needs no second upload."""

    payload = HiddenField(validators=[DataRequired()])
    submit = SubmitField(_l("Importer ces chiffres"))
