"""The editors' forms: the responses list's filters (a GET form, no CSRF token: it changes nothing), irritant tags,
tagging a response, refusing an experience and replying to it. The form's own pages (steps) are in ``forms``."""


from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from ..catalog.forms import CheckboxList
from ..inputs import db_int, form_date, parse_int
from .experiences import REASON_MAX, REPLY_MAX, SIGNATURE_MAX
from .models import Source
from .triage import SATISFACTION_NAMES, SOURCE_NAMES, TAG_LABEL_MAX


def _choice_or_none(value):
    """A select's value: None for « all », the value otherwise (checked against the choices below)."""
    return None if value in (None, "") else str(value)


class ResponseFilterForm(FlaskForm):
    class Meta:
        csrf = False

    du = StringField(_l("Du"), description=_l("Date au format AAAA-MM-JJ."))
    au = StringField(_l("Au (inclus)"), description=_l("Date au format AAAA-MM-JJ."))
    source = SelectField(_l("Source"), coerce=_choice_or_none, validate_choice=False)
    satisfaction = SelectField(_l("Satisfaction"), coerce=_choice_or_none, validate_choice=False)
    irritant = SelectField(_l("Irritant"), coerce=_choice_or_none, validate_choice=False)
    texte = BooleanField(_l("Seulement les réponses avec un commentaire"))
    indesirables = BooleanField(_l("Seulement les réponses marquées comme indésirables"))

    def __init__(self, *args, tags=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.source.choices = [("", _l("Toutes"))] + [(s.value, SOURCE_NAMES[s]) for s in Source]
        self.satisfaction.choices = [("", _l("Toutes"))] + [(str(code), name)
                                                            for code, name in SATISFACTION_NAMES.items()]
        self.irritant.choices = [("", _l("Tous"))] + [(str(tag.id), tag.label) for tag in tags]

    @staticmethod
    def _in_choices(field, message):
        if field.data is not None and field.data not in {value for value, _label in field.choices if value != ""}:
            raise ValidationError(message)

    def validate_source(self, field):
        self._in_choices(field, _l("Choisissez une source de la liste."))

    def validate_satisfaction(self, field):
        self._in_choices(field, _l("Choisissez une satisfaction de la liste."))

    def validate_irritant(self, field):
        self._in_choices(field, _l("Choisissez un irritant de la liste."))

    def validate_du(self, field):
        field.parsed = form_date(field)

    def validate_au(self, field):
        field.parsed = form_date(field)
        since = getattr(self.du, "parsed", None)
        if field.parsed and since and field.parsed < since:
            raise ValidationError(_l("La fin de la période doit venir après son début."))

    @property
    def source_value(self) -> Source | None:
        return Source(self.source.data) if self.source.data else None

    @property
    def satisfaction_value(self) -> int | None:
        return parse_int(self.satisfaction.data) if self.satisfaction.data else None

    @property
    def tag_value(self) -> int | None:
        return parse_int(self.irritant.data) if self.irritant.data else None


class TagForm(FlaskForm):
    label = StringField(_l("Nom de l'irritant"), description=_l("Par exemple : « Pièce justificative refusée »."),
                        validators=[DataRequired(_l("Donnez un nom à l'irritant.")), Length(max=TAG_LABEL_MAX)])
    submit = SubmitField(_l("Ajouter l'irritant"))


class RenameTagForm(FlaskForm):
    label = StringField(_l("Nouveau nom"),
                        validators=[DataRequired(_l("Donnez un nom à l'irritant.")), Length(max=TAG_LABEL_MAX)])
    submit = SubmitField(_l("Renommer"))


class ResponseTagsForm(FlaskForm):
    tags = CheckboxList(_l("Irritants"), coerce=db_int)
    submit = SubmitField(_l("Enregistrer les irritants"))

    def __init__(self, *args, tags=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.tags.choices = [(tag.id, tag.label) for tag in tags]


class RefuseForm(FlaskForm):
    reason = TextAreaField(_l("Raison du refus"),
                           description=_l("Au regard de la charte de modération. Gardée pour les éditeurs et "
                                          "éditrices de l'organisation, jamais publiée."),
                           validators=[DataRequired(_l("Indiquez la raison du refus, au regard de la charte de "
                                                       "modération (elle n'est jamais publiée).")),
                                       Length(max=REASON_MAX)])
    submit = SubmitField(_l("Refuser"), id="refuse-submit")  # the page may show the reply form's button too


class ReplyForm(FlaskForm):
    text = TextAreaField(_l("Réponse de l'organisation"),
                         description=_l("Publiée sous l'expérience, avec sa date et la signature ci-dessous."),
                         validators=[DataRequired(_l("Écrivez la réponse de l'organisation.")),
                                     Length(max=REPLY_MAX)])
    signature = StringField(_l("Signature"),
                            description=_l("Publiée telle que vous l'écrivez : un nom et une fonction ou une "
                                           "organisation."),
                            validators=[DataRequired(_l("Indiquez qui signe la réponse : un nom et une fonction ou "
                                                        "une organisation.")), Length(max=SIGNATURE_MAX)])
    submit = SubmitField(_l("Publier la réponse"), id="reply-submit")
