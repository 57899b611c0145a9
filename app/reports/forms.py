"""The dashboard's filter form: read from the query string (GET, no CSRF token: it changes nothing)."""


from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import ValidationError

from ..i18n import localized
from ..inputs import form_date, parse_int


def _id_or_none(value):
    if value in (None, "", "0"):
        return None
    number = parse_int(value)
    return -1 if number is None else number  # -1: refused by the field's validator, with its message


class DashboardFilterForm(FlaskForm):
    class Meta:
        csrf = False

    organisation = SelectField(_l("Organisation"), coerce=_id_or_none, validate_choice=False)
    moment = SelectField(_l("Moment de vie"), coerce=_id_or_none, validate_choice=False)
    du = StringField(_l("Du"), description=_l("Date au format AAAA-MM-JJ."))
    au = StringField(_l("Au (inclus)"), description=_l("Date au format AAAA-MM-JJ."))

    def __init__(self, *args, organisations=(), life_events=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.organisation.choices = [("", _l("Toutes"))] + [(o.id, o.name) for o in organisations]
        self.moment.choices = [("", _l("Tous"))] + [(e.id, localized(e, "name")) for e in life_events]

    def validate_organisation(self, field):
        if field.data is not None and field.data not in {value for value, _label in field.choices if value != ""}:
            raise ValidationError(_l("Choisissez une organisation de la liste."))

    def validate_moment(self, field):
        if field.data is not None and field.data not in {value for value, _label in field.choices if value != ""}:
            raise ValidationError(_l("Choisissez un moment de vie de la liste."))

    def validate_du(self, field):
        field.parsed = form_date(field)

    def validate_au(self, field):
        field.parsed = form_date(field)
        since = getattr(self.du, "parsed", None)
        if field.parsed and since and field.parsed < since:
            raise ValidationError(_l("La fin de la période doit venir après son début."))
