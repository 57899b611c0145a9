"""Workshop forms. The sign-up form is built per workshop from its categories and questions."""

import functools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    URL,
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import HiddenInput

from ..catalog.forms import CheckboxList
from ..inputs import DB_INT_MAX, db_int
from .models import CategoryCheck, QuestionKind, Visibility, WorkshopFormat

PARIS = ZoneInfo("Europe/Paris")
# Quota rows of the creation form: one to start with, one more per « Ajouter une catégorie », up to this many.
QUOTA_MAX = 12
QUESTION_SLOTS = 5


def to_utc(local: datetime | None) -> datetime | None:
    """A naive Europe/Paris wall-clock time from a form, as naive UTC for storage."""
    if local is None:
        return None
    return local.replace(tzinfo=PARIS).astimezone(UTC).replace(tzinfo=None)


def to_local(utc: datetime | None) -> datetime | None:
    if utc is None:
        return None
    return utc.replace(tzinfo=UTC).astimezone(PARIS).replace(tzinfo=None)


def format_choices():
    return [SelectChoice(WorkshopFormat.in_person.value, _l("En présentiel")),
            SelectChoice(WorkshopFormat.online.value, _l("En ligne")),
            SelectChoice(WorkshopFormat.hybrid.value, _l("Hybride (sur place et en ligne)"))]


def visibility_choices():
    return [SelectChoice(Visibility.public.value, _l("Public : visible de tous")),
            SelectChoice(Visibility.invitation.value, _l("Sur invitation : accessible par un lien privé"))]


def category_check_choices():
    return [SelectChoice(CategoryCheck.none.value, _l("Pas de vérification : chacun·e choisit sa catégorie")),
            SelectChoice(CategoryCheck.at_review.value,
                         _l("À l'inscription : l'équipe confirme la catégorie avant de confirmer la place")),
            SelectChoice(CategoryCheck.at_check_in.value,
                         _l("À l'accueil : la catégorie est confirmée au pointage, le jour de l'atelier"))]


def question_kind_choices():
    return [SelectChoice(QuestionKind.short_text.value, _l("Texte court")),
            SelectChoice(QuestionKind.single_choice.value, _l("Choix unique")),
            SelectChoice(QuestionKind.multiple_choice.value, _l("Choix multiples")),
            SelectChoice(QuestionKind.consent.value, _l("Case de consentement"))]


class QuotaForm(Form):
    name = StringField(_l("Catégorie"), validators=[Optional(), Length(max=80)])
    seats = IntegerField(_l("Places"), validators=[Optional(), NumberRange(min=1, max=10000)])
    requires_check = BooleanField(_l("Catégorie à vérifier"))


class QuestionForm(Form):
    label = StringField(_l("Question"), validators=[Optional(), Length(max=300)])
    kind = SelectField(_l("Type de réponse"))
    choices_text = TextAreaField(_l("Options (une par ligne, pour les choix)"), validators=[Length(max=2000)])
    required = BooleanField(_l("Réponse obligatoire"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = question_kind_choices()


class WorkshopForm(FlaskForm):
    organisation_id = SelectField(_l("Organisation"), coerce=db_int)
    title = StringField(_l("Titre"), validators=[DataRequired(message=_l("Donnez un titre à l'atelier.")),
                                                 Length(max=200)])
    expected_change = TextAreaField(
        _l("Ce que l'atelier va changer"), validators=[Length(max=2000)],
        description=_l("En une ou deux phrases : la démarche concernée et ce que vous voulez améliorer avec les "
                       "participant·es."))
    description_md = TextAreaField(_l("Description"), validators=[Length(max=20000)],
                                   description=_l("Mise en forme Markdown simple : **gras**, listes, liens."))
    format = RadioField(_l("Format"), validators=[InputRequired(message=_l("Choisissez un format."))])
    address = StringField(_l("Adresse (sur place)"), validators=[Length(max=300)])
    access_info = TextAreaField(_l("Comment venir"), validators=[Length(max=2000)])
    meeting_link = StringField(
        _l("Lien de la visioconférence (en ligne)"),
        validators=[Optional(), URL(message=_l("Saisissez une adresse web complète, commençant par https://.")),
                    Length(max=500)],
        description=_l("Montré seulement aux personnes dont l'inscription est confirmée."))
    accessibility_info = TextAreaField(_l("Accessibilité"), validators=[Length(max=2000)],
                                       description=_l("Accès en fauteuil, boucle magnétique, interprète LSF…"))
    starts_at = DateTimeLocalField(_l("Début (heure de Paris)"), format="%Y-%m-%dT%H:%M",
                                   validators=[InputRequired(message=_l("Indiquez la date et l'heure de début."))])
    ends_at = DateTimeLocalField(_l("Fin (heure de Paris)"), format="%Y-%m-%dT%H:%M",
                                 validators=[InputRequired(message=_l("Indiquez la date et l'heure de fin."))])
    capacity = IntegerField(_l("Nombre de places"),
                            validators=[InputRequired(message=_l("Indiquez le nombre de places.")),
                                        NumberRange(min=1, max=10000,
                                                    message=_l("Entre 1 et 10 000 places."))])
    # Only the rows that exist (the workshop's categories, or those sent back): never a fixed set of empty slots.
    quotas = FieldList(FormField(QuotaForm), label=_l("Quotas par catégorie (facultatif)"), min_entries=1,
                       max_entries=QUOTA_MAX)
    add_quota = SubmitField(_l("Ajouter une catégorie"))
    category_check = RadioField(_l("Vérification de la catégorie déclarée"), default=CategoryCheck.none.value,
                                description=_l("Pour les catégories cochées « à vérifier » : les places qui leur "
                                               "sont réservées ne vont qu'aux personnes qui en font partie."))
    signup_opens_at = DateTimeLocalField(_l("Ouverture des inscriptions (facultatif)"), format="%Y-%m-%dT%H:%M",
                                         validators=[Optional()])
    signup_closes_at = DateTimeLocalField(_l("Clôture des inscriptions (facultatif)"), format="%Y-%m-%dT%H:%M",
                                          validators=[Optional()],
                                          description=_l("Sans date, les inscriptions restent ouvertes jusqu'au "
                                                         "début."))
    visibility = RadioField(_l("Visibilité"), default=Visibility.public.value)
    service_ids = CheckboxList(_l("Démarches concernées"), coerce=db_int)
    life_event_ids = CheckboxList(_l("Moments de vie concernés"), coerce=db_int)
    ask_accessibility = BooleanField(_l("Demander les besoins d'accessibilité à l'inscription"), default=True)
    questions = FieldList(FormField(QuestionForm), label=_l("Questions à l'inscription (facultatif)"),
                          min_entries=QUESTION_SLOTS, max_entries=QUESTION_SLOTS)
    submit = SubmitField(_l("Enregistrer"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.format.choices = format_choices()
        self.visibility.choices = visibility_choices()
        self.category_check.choices = category_check_choices()

    def add_quota_row(self) -> bool:
        """« Ajouter une catégorie » was pressed: one more empty row (up to ``QUOTA_MAX``), nothing saved."""
        if not self.add_quota.data:
            return False
        if len(self.quotas) < QUOTA_MAX:
            self.quotas.append_entry()
        return True

    def validate_quotas(self, field):
        # A half-filled row would reach the service with no seat count (or no name): say so here.
        for entry in field:
            name, seats = (entry.form.name.data or "").strip(), entry.form.seats.data
            if (name or seats) and not (name and seats):
                raise ValidationError(_l("Chaque catégorie doit avoir un nom et un nombre de places."))

    def quota_list(self) -> list[tuple[str, int, bool]]:
        return [(q.form.name.data.strip(), q.form.seats.data, bool(q.form.requires_check.data)) for q in self.quotas
                if (q.form.name.data or "").strip() or q.form.seats.data]

    def question_list(self) -> list[dict]:
        result = []
        if self.ask_accessibility.data:
            result.append({"kind": QuestionKind.short_text, "label": str(ACCESSIBILITY_QUESTION),
                           "required": False, "is_accessibility": True})
        for q in self.questions:
            label = (q.form.label.data or "").strip()
            if label and label != str(ACCESSIBILITY_QUESTION):
                result.append({"kind": QuestionKind(q.form.kind.data), "label": label,
                               "choices_text": q.form.choices_text.data or "", "required": q.form.required.data})
        return result


ACCESSIBILITY_QUESTION = _l("Avez-vous des besoins d'accessibilité (accès, interprétation, documents adaptés…) ?")


def build_signup_form(workshop, *, on_behalf: bool = False, formdata=None):
    """A sign-up form with a category choice (for quotas) and one field per registration question."""
    categories = tuple((c.id, c.name) for c in workshop.categories) if workshop.has_categories else None
    checked = tuple(c.name for c in workshop.categories if c.is_checked) if categories else ()
    check = (workshop.category_check, checked) if checked else None
    questions = tuple((q.id, q.kind, q.label, q.required, tuple(q.choices)) for q in workshop.questions)
    form_class = _signup_form_class(on_behalf, categories, check, questions)
    return form_class(formdata=formdata) if formdata is not None else form_class()


def _category_check_note(check):
    """What the category field tells about the categories the team checks, and when."""
    if check is None:
        return ""
    when, names = check
    names = ", ".join(f"« {name} »" for name in names)
    if when is CategoryCheck.at_review:
        return _l("L'équipe vérifie ces catégories avant de confirmer la place : %(names)s.", names=names)
    return _l("Ces catégories sont vérifiées à l'accueil, le jour de l'atelier : %(names)s.", names=names)


@functools.lru_cache(maxsize=256)
def _signup_form_class(on_behalf: bool, categories, check, questions):
    """The form class for one content of categories and questions, built once per process: building a
    class with its fields costs more than the rest of the form's work in a sign-up. The key is the content
    itself, so an edited workshop gets a new class; labels stay lazy, translated per request."""

    class SignUpForm(FlaskForm):
        pass

    if on_behalf:
        SignUpForm.guest_name = StringField(
            _l("Nom de la personne"), validators=[DataRequired(message=_l("Indiquez le nom de la personne.")),
                                                  Length(max=120)])
        SignUpForm.guest_phone = StringField(
            _l("Téléphone"), validators=[DataRequired(message=_l("Indiquez un numéro de téléphone.")),
                                         Length(max=40)],
            description=_l("Pour la rappeler ; effacé après l'atelier selon la durée de conservation."))
    if categories is not None:
        SignUpForm.category_id = RadioField(
            _l("La personne participe en tant que") if on_behalf else _l("Vous participez en tant que"), coerce=db_int,
            choices=[SelectChoice(cid, name) for cid, name in categories],
            validators=[InputRequired(message=_l("Choisissez une catégorie."))],
            description=_category_check_note(check))
    for qid, kind, label, required, choices in questions:
        name = f"q_{qid}"
        validators = [InputRequired(message=_l("Répondez à cette question."))] if required else [Optional()]
        if kind is QuestionKind.short_text:
            field = StringField(label, validators=[*validators, Length(max=1000)])
        elif kind is QuestionKind.single_choice:
            field = RadioField(label, choices=[SelectChoice(c, c) for c in choices], validators=validators)
        elif kind is QuestionKind.multiple_choice:
            field = CheckboxList(label, choices=[SelectChoice(c, c) for c in choices],
                                 validators=[DataRequired(message=_l("Cochez au moins une réponse."))]
                                 if required else [Optional()])
        else:
            field = BooleanField(label, validators=[DataRequired(message=_l("Cochez cette case pour "
                                                                            "continuer."))]
                                 if required else [])
        setattr(SignUpForm, name, field)
    SignUpForm.submit = SubmitField(_l("Inscrire cette personne") if on_behalf else _l("M'inscrire"))
    return SignUpForm


def answers_from(form, workshop) -> dict:
    return {q.id: getattr(form, f"q_{q.id}").data for q in workshop.questions}


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Motif, envoyé aux personnes inscrites"),
                           validators=[DataRequired(message=_l("Indiquez le motif.")), Length(max=2000)])
    submit = SubmitField(_l("Annuler l'atelier"))


class StaffCancelForm(FlaskForm):
    message = TextAreaField(_l("Message à la personne (facultatif)"), validators=[Length(max=2000)])
    submit = SubmitField(_l("Annuler cette inscription"))


class MessageForm(FlaskForm):
    subject = StringField(_l("Objet du message"), validators=[DataRequired(message=_l("Indiquez un objet.")),
                                                               Length(max=150)])
    body = TextAreaField(_l("Message"), validators=[DataRequired(message=_l("Écrivez le message.")),
                                                    Length(max=5000)])
    submit = SubmitField(_l("Envoyer aux personnes inscrites"))


class EvaluationForm(FlaskForm):
    overall = RadioField(_l("Dans l'ensemble, comment avez-vous trouvé l'atelier ?"), coerce=db_int,
                         validators=[InputRequired(message=_l("Choisissez une note."))])
    felt_heard = RadioField(_l("Vous êtes-vous senti·e écouté·e ?"),
                            validators=[InputRequired(message=_l("Choisissez une réponse."))])
    would_return = RadioField(_l("Reviendriez-vous à un autre atelier ?"),
                              validators=[InputRequired(message=_l("Choisissez une réponse."))])
    comment = TextAreaField(_l("Un commentaire ? (facultatif)"), validators=[Length(max=2000)],
                            description=_l("Votre réponse est anonyme : elle n'est pas reliée à votre compte."))
    submit = SubmitField(_l("Envoyer mon avis"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.overall.choices = [SelectChoice(5, _l("5 — Excellent")), SelectChoice(4, _l("4 — Bien")),
                                SelectChoice(3, _l("3 — Moyen")), SelectChoice(2, _l("2 — Décevant")),
                                SelectChoice(1, _l("1 — Très décevant"))]
        self.felt_heard.choices = [SelectChoice("yes", _l("Oui")), SelectChoice("partly", _l("En partie")),
                                   SelectChoice("no", _l("Non"))]
        self.would_return.choices = [SelectChoice("yes", _l("Oui")), SelectChoice("maybe", _l("Peut-être")),
                                     SelectChoice("no", _l("Non"))]


class CheckInForm(FlaskForm):
    """One check-in button: mark present (1) or undo (0), keeping the search the facilitator typed."""

    present = HiddenField(validators=[AnyOf(["0", "1"])])
    q = HiddenField(validators=[Length(max=100)])


class CategoryDecisionForm(FlaskForm):
    """A button deciding on a declared category, from the roster or from the check-in page (``back``): confirm it
    (and check the person in, ``present`` = 1) or move the person to ``category_id``."""

    category_id = IntegerField(widget=HiddenInput(), validators=[Optional(), NumberRange(min=1, max=DB_INT_MAX)])
    present = HiddenField(validators=[Optional(), AnyOf(["0", "1"])])
    back = HiddenField(validators=[AnyOf(["roster", "check_in"])])
    q = HiddenField(validators=[Length(max=100)])
