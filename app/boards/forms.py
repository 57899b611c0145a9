"""Board forms (HTTP side): creation, columns, joining, the no-JavaScript idea form."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from ..inputs import db_int
from .checks import IDEA_MAX
from .templates import TEMPLATES

COLUMN_SLOTS = 6


class BoardForm(FlaskForm):
    organisation_id = SelectField(_l("Organisation"), coerce=db_int)
    workshop_id = SelectField(_l("Atelier (facultatif)"), coerce=db_int)
    title = StringField(_l("Titre du tableau"), validators=[DataRequired(message=_l("Donnez un titre au tableau.")),
                                                            Length(max=200)])
    template = RadioField(_l("Modèle"), default="irritants")
    allow_guests = BooleanField(_l("Accepter des invité·es sans compte, avec le code du tableau"))
    submit = SubmitField(_l("Créer le tableau"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.template.choices = [SelectChoice(key, label) for key, (label, _cols) in TEMPLATES.items()]


class ColumnForm(Form):
    id = HiddenField()
    title = StringField(_l("Titre de la colonne"), validators=[Optional(), Length(max=120)])
    prompt = StringField(_l("Consigne"), validators=[Optional(), Length(max=300)])


class ColumnsForm(FlaskForm):
    columns = FieldList(FormField(ColumnForm), min_entries=COLUMN_SLOTS, max_entries=COLUMN_SLOTS)
    submit = SubmitField(_l("Enregistrer les colonnes"))


class IdeaForm(FlaskForm):
    column_id = SelectField(_l("Colonne"), coerce=db_int)
    text = TextAreaField(_l("Votre idée"), validators=[DataRequired(message=_l("Écrivez votre idée.")),
                                                       Length(max=IDEA_MAX, message=_l("500 caractères au plus."))],
                         description=_l("500 caractères au plus."))
    submit = SubmitField(_l("Publier l'idée"))


class JoinCodeForm(FlaskForm):
    code = StringField(_l("Code du tableau"), validators=[DataRequired(message=_l("Saisissez le code.")),
                                                          Length(max=12)],
                       description=_l("Six lettres et chiffres, affichés par l'animateur·rice."))
    submit = SubmitField(_l("Rejoindre"))


class GuestForm(FlaskForm):
    name = StringField(_l("Nom affiché sur ce tableau"),
                       validators=[DataRequired(message=_l("Choisissez un nom.")), Length(max=60)],
                       description=_l("Un prénom ou un pseudonyme. Il n'existe que sur ce tableau et est effacé "
                                      "après la séance."))
    submit = SubmitField(_l("Entrer comme invité·e"))
