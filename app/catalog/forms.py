"""Catalogue forms for admins."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, Email, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from ..inputs import db_int
from .models import OrganisationKind, Role

SLUG = Regexp(r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
              message=_l("Utilisez seulement des lettres minuscules sans accent, des chiffres et des tirets."))
SLUG_HINT = _l("Partie de l'adresse de la page, par exemple « je-demenage ».")


def _required(message):
    return DataRequired(message=message)


def _url_field():
    return StringField(_l("Adresse du site (facultatif)"),
                       validators=[Optional(), URL(message=_l("Saisissez une adresse web complète, commençant "
                                                              "par https://.")), Length(max=500)])


class CheckboxList(SelectMultipleField):
    """Multiple choice rendered as a list of checkboxes (operable without a mouse or a long list box)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def organisation_kind_choices():
    return [
        SelectChoice(OrganisationKind.ministry.value, _l("Ministère")),
        SelectChoice(OrganisationKind.agency.value, _l("Opérateur ou agence")),
        SelectChoice(OrganisationKind.local_authority.value, _l("Collectivité territoriale")),
        SelectChoice(OrganisationKind.other.value, _l("Autre")),
    ]


def role_choices():
    return [SelectChoice(Role.facilitator.value, _l("Animateur·rice")),
            SelectChoice(Role.editor.value, _l("Éditeur·rice"))]


class OrganisationForm(FlaskForm):
    name = StringField(_l("Nom"), validators=[_required(_l("Saisissez le nom de l'organisation.")),
                                              Length(max=200)])
    slug = StringField(_l("Identifiant d'adresse"), description=SLUG_HINT,
                       validators=[_required(_l("Saisissez un identifiant d'adresse.")), Length(max=80), SLUG])
    kind = SelectField(_l("Type"))
    description = TextAreaField(_l("Présentation"), validators=[Length(max=5000)])
    url = _url_field()
    submit = SubmitField(_l("Enregistrer"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = organisation_kind_choices()


class ServiceForm(FlaskForm):
    name = StringField(_l("Nom de la démarche"),
                       validators=[_required(_l("Saisissez le nom de la démarche.")), Length(max=200)])
    slug = StringField(_l("Identifiant d'adresse"), description=SLUG_HINT,
                       validators=[_required(_l("Saisissez un identifiant d'adresse.")), Length(max=120), SLUG])
    organisation_id = SelectField(_l("Organisation responsable"), coerce=db_int)
    description = TextAreaField(_l("Description"), validators=[Length(max=5000)])
    url = _url_field()
    online = BooleanField(_l("En ligne"))
    phone = BooleanField(_l("Par téléphone"))
    counter = BooleanField(_l("Au guichet"))
    life_event_ids = CheckboxList(_l("Moments de vie"), coerce=db_int)
    submit = SubmitField(_l("Enregistrer"))


class LifeEventForm(FlaskForm):
    name_fr = StringField(_l("Nom en français"),
                          validators=[_required(_l("Saisissez le nom en français.")), Length(max=200)])
    name_en = StringField(_l("Nom en anglais (facultatif)"), validators=[Optional(), Length(max=200)])
    slug = StringField(_l("Identifiant d'adresse"), description=SLUG_HINT,
                       validators=[_required(_l("Saisissez un identifiant d'adresse.")), Length(max=80), SLUG])
    description_fr = TextAreaField(_l("Description en français"), validators=[Length(max=5000)])
    description_en = TextAreaField(_l("Description en anglais (facultatif)"), validators=[Length(max=5000)])
    service_ids = CheckboxList(_l("Démarches concernées"), coerce=db_int)
    submit = SubmitField(_l("Enregistrer"))


class MemberForm(FlaskForm):
    email = EmailField(_l("Adresse électronique du compte"),
                       validators=[_required(_l("Saisissez l'adresse électronique du compte.")),
                                   Email(message=_l("Saisissez une adresse électronique valide, par exemple "
                                                    "nom@exemple.fr."), check_deliverability=False)])
    role = SelectField(_l("Rôle"))
    submit = SubmitField(_l("Ajouter"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices()
