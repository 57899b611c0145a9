"""Proposal forms (Flask-WTF: CSRF on every one). The honeypot field must stay empty."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from ..inputs import DB_INT_MAX, db_int
from .service import COMMENT_MAX, TEXT_MAX, TITLE_MAX


class HoneypotMixin:
    # Hidden from people by CSS and from assistive technologies (aria-hidden wrapper, tabindex=-1); bots fill it.
    website = StringField(_l("Ne pas remplir ce champ"), render_kw={"tabindex": "-1", "autocomplete": "off"})


class ProposalForm(HoneypotMixin, FlaskForm):
    title = StringField(_l("Titre"), validators=[DataRequired(message=_l("Donnez un titre à votre proposition.")),
                                                 Length(max=TITLE_MAX)],
                        description=_l("Une phrase qui résume le changement proposé."),
                        render_kw={"autocomplete": "off", "data-similar-source": "1"})
    service_id = SelectField(_l("Démarche concernée"), coerce=db_int, validators=[Optional()])
    life_event_id = SelectField(_l("Moment de vie concerné"), coerce=db_int, validators=[Optional()])
    organisation_id = SelectField(_l("Organisation destinataire (administration)"), coerce=db_int,
                                  validators=[Optional()],
                                  description=_l("À choisir seulement quand la proposition ne vise aucune démarche."))
    problem = TextAreaField(_l("Le problème rencontré (irritant)"),
                            validators=[DataRequired(message=_l("Décrivez le problème rencontré.")),
                                        Length(max=TEXT_MAX)])
    change = TextAreaField(_l("Le changement proposé"),
                           validators=[DataRequired(message=_l("Décrivez le changement proposé.")),
                                       Length(max=TEXT_MAX)])
    benefit = TextAreaField(_l("Le bénéfice attendu"), validators=[Optional(), Length(max=TEXT_MAX)])
    confirmed = HiddenField(default="")
    submit = SubmitField(_l("Vérifier et envoyer"))


class EditForm(FlaskForm):
    title = StringField(_l("Titre"), validators=[DataRequired(message=_l("Donnez un titre à votre proposition.")),
                                                 Length(max=TITLE_MAX)])
    problem = TextAreaField(_l("Le problème rencontré (irritant)"),
                            validators=[DataRequired(message=_l("Décrivez le problème rencontré.")),
                                        Length(max=TEXT_MAX)])
    change = TextAreaField(_l("Le changement proposé"),
                           validators=[DataRequired(message=_l("Décrivez le changement proposé.")),
                                       Length(max=TEXT_MAX)])
    benefit = TextAreaField(_l("Le bénéfice attendu"), validators=[Optional(), Length(max=TEXT_MAX)])
    submit = SubmitField(_l("Enregistrer"))


class CommentForm(HoneypotMixin, FlaskForm):
    body = TextAreaField(_l("Votre commentaire"), validators=[DataRequired(message=_l("Écrivez votre commentaire.")),
                                                               Length(max=COMMENT_MAX)])
    parent_id = HiddenField()
    submit = SubmitField(_l("Publier le commentaire"))


class ReportForm(FlaskForm):
    reason = TextAreaField(_l("Pourquoi signalez-vous ce contenu ?"), validators=[Optional(), Length(max=1000)])
    comment_id = HiddenField()
    submit = SubmitField(_l("Signaler"))


class HideForm(FlaskForm):
    reason = StringField(_l("Raison affichée publiquement"),
                         validators=[DataRequired(message=_l("Indiquez la raison, elle sera affichée publiquement.")),
                                     Length(max=500)])
    submit = SubmitField(_l("Masquer"))


class DismissForm(FlaskForm):
    note = StringField(_l("Note pour le journal de modération"), validators=[Optional(), Length(max=500)],
                       description=_l("Facultative ; lue par l'équipe de modération, jamais publiée."))
    submit = SubmitField(_l("Classer sans suite"))


class MergeForm(FlaskForm):
    target_id = IntegerField(_l("Numéro de la proposition qui reçoit la fusion"),
                             validators=[InputRequired(message=_l("Indiquez le numéro d'une proposition.")),
                                         NumberRange(min=1, max=DB_INT_MAX)])
    submit = SubmitField(_l("Fusionner"))


class SettingsForm(FlaskForm):
    moderation = RadioField(_l("Modération"), choices=[
        SelectChoice("after", _l("Après publication : les propositions paraissent aussitôt")),
        SelectChoice("before", _l("Avant publication : un·e éditeur·rice valide chaque proposition"))],
        validators=[InputRequired()])
    submit = SubmitField(_l("Enregistrer"))
