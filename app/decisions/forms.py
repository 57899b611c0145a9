"""Decision forms: the answer to a proposal, the organisation's answer deadline, measures and milestones."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from ..catalog.forms import CheckboxList
from ..inputs import db_int
from .measures import TITLE_MAX
from .models import ANSWER_KIND_NAMES, MAX_DEADLINE_DAYS, MEASURE_STATUS_NAMES, AnswerKind, MeasureStatus
from .service import BODY_MAX, REASON_MAX


class AnswerForm(FlaskForm):
    kind = RadioField(_l("Réponse"), validators=[InputRequired(_l("Choisissez une réponse."))])
    body = TextAreaField(_l("Texte de la réponse"),
                         description=_l("Publié sous le nom de l'organisation. Markdown accepté : **gras**, "
                                        "*italique*, listes, liens."),
                         validators=[DataRequired(_l("Écrivez la réponse de l'organisation.")),
                                     Length(max=BODY_MAX)])
    reason = TextAreaField(_l("Raison"),
                           description=_l("Obligatoire si la proposition n'est pas adoptée ; publiée avec la "
                                          "réponse."),
                           validators=[Length(max=REASON_MAX)])
    show_editor_name = BooleanField(_l("Afficher aussi mon nom sous la réponse"))
    submit = SubmitField(_l("Publier la réponse"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = [(kind.value, str(ANSWER_KIND_NAMES[kind])) for kind in AnswerKind]

    def validate_reason(self, field):
        if self.kind.data == AnswerKind.not_adopted.value and not (field.data or "").strip():
            from wtforms.validators import ValidationError

            raise ValidationError(_l("Indiquez pourquoi la proposition n'est pas adoptée : la raison sera publiée."))


class DeadlineForm(FlaskForm):
    deadline_days = IntegerField(_l("Délai de réponse (en jours)"),
                                 validators=[InputRequired(_l("Indiquez un nombre de jours.")),
                                             NumberRange(1, MAX_DEADLINE_DAYS,
                                                         _l("Entre 1 et %(max)s jours.", max=MAX_DEADLINE_DAYS))])
    from_publication = BooleanField(_l("Compter le délai dès la publication de chaque proposition"),
                                    description=_l("Sinon, le délai court à partir de la sélection de la "
                                                   "proposition par un vote."))
    submit = SubmitField(_l("Enregistrer"))


def status_choices():
    return [(status.value, str(MEASURE_STATUS_NAMES[status])) for status in MeasureStatus]


class MeasureForm(FlaskForm):
    title = StringField(_l("Titre de la mesure"), validators=[DataRequired(_l("Donnez un titre.")),
                                                              Length(max=TITLE_MAX)])
    description = TextAreaField(_l("Description"), description=_l("Markdown accepté : **gras**, *italique*, "
                                                                  "listes, liens."),
                                validators=[Length(max=BODY_MAX)])
    proposal_ids = CheckboxList(_l("Propositions dont vient la mesure"), coerce=db_int, validate_choice=False,
                                description=_l("Les propositions publiques de l'organisation."))
    # The organisation's services (the service checks them again); the route drops the field when it has none.
    service_ids = CheckboxList(_l("Démarches que la mesure change"), coerce=db_int, validate_choice=False,
                               description=_l("Les démarches de l'organisation. Le baromètre compare leurs avis "
                                              "des six mois avant et des six mois après la réalisation."))
    # Shown only for an implemented measure (the route drops it otherwise); empty keeps the date it has.
    implemented_on = DateField(_l("Date de réalisation"), validators=[Optional()],
                               description=_l("Le jour où la mesure a pris effet pour les usagers."))
    submit = SubmitField(_l("Enregistrer la mesure"))


class MeasureUpdateForm(FlaskForm):
    status = SelectField(_l("État"), validators=[InputRequired(_l("Choisissez un état."))])
    progress = IntegerField(_l("Avancement (en %)"),
                            validators=[InputRequired(_l("Indiquez l'avancement, de 0 à 100.")),
                                        NumberRange(0, 100, _l("L'avancement est un pourcentage entre 0 et 100."))])
    implemented_on = DateField(_l("Date de réalisation"), validators=[Optional()],
                               description=_l("Si l'état est « Réalisée » : le jour où la mesure a pris effet pour "
                                              "les usagers (pas dans le futur). Vide : aujourd'hui, ou la date déjà "
                                              "enregistrée."))
    reason = TextAreaField(_l("Raison de l'abandon"), description=_l("Obligatoire si la mesure est abandonnée ; "
                                                                     "publiée."),
                           validators=[Length(max=REASON_MAX)])
    body = TextAreaField(_l("Ce qui a changé"), description=_l("Publié dans l'historique de la mesure."),
                         validators=[DataRequired(_l("Décrivez ce qui a changé.")), Length(max=BODY_MAX)])
    submit = SubmitField(_l("Publier la mise à jour"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status.choices = status_choices()

    def validate_reason(self, field):
        if self.status.data == "abandoned" and not (field.data or "").strip():
            from wtforms.validators import ValidationError

            raise ValidationError(_l("Indiquez pourquoi la mesure est abandonnée : la raison sera publiée."))


class MilestoneForm(FlaskForm):
    title = StringField(_l("Jalon"), validators=[DataRequired(_l("Donnez un titre.")), Length(max=TITLE_MAX)])
    planned_on = DateField(_l("Date prévue"), validators=[InputRequired(_l("Indiquez une date."))])
    submit = SubmitField(_l("Ajouter le jalon"))


class MilestoneDoneForm(FlaskForm):
    done_on = DateField(_l("Réalisé le"), validators=[InputRequired(_l("Indiquez une date."))])
    submit = SubmitField(_l("Marquer comme réalisé"))


class MeasureImportForm(FlaskForm):
    """Step 1 of an import: the CSV file (read and checked by ``measures.preview_measure_import``)."""

    file = FileField(_l("Fichier CSV"),
                     description=_l("Enregistré depuis votre tableur au format CSV (séparateur point-virgule ou "
                                    "virgule), en UTF-8 ou en Windows-1252 ; 256 Ko au plus."),
                     validators=[FileRequired(_l("Choisissez le fichier CSV à importer."))])
    submit = SubmitField(_l("Vérifier le fichier"))


class MeasureImportConfirmForm(FlaskForm):
    """Step 2: the checked file, carried signed (``routes.sign_import``) so it needs no second upload."""

    payload = HiddenField(validators=[DataRequired()])
    submit = SubmitField(_l("Importer ces mesures"))
