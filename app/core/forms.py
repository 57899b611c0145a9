from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired


class LanguageForm(FlaskForm):
    lang = SelectField(_l("Langue"), choices=[SelectChoice("fr", "Français"), SelectChoice("en", "English")],
                       validators=[DataRequired()])
    next = HiddenField()
