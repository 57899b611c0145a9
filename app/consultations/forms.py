"""Consultation forms. Ballots are read by ``read_ballot`` (one field per proposal, built from the consultation)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from ..catalog.forms import CheckboxList
from ..inputs import db_int
from ..workshops.forms import to_utc
from . import results
from .models import ConsultationMethod, SelectionRule


def grade_labels() -> dict[int, str]:
    """Grade value -> label, best first (« Excellent » … « À rejeter »)."""
    return {6: _l("Excellent"), 5: _l("Très bien"), 4: _l("Bien"), 3: _l("Assez bien"), 2: _l("Passable"),
            1: _l("Insuffisant"), 0: _l("À rejeter")}


def method_choices():
    return [SelectChoice(ConsultationMethod.support.value, _l("Soutien : chacun soutient autant de propositions "
                                                              "qu'il veut")),
            SelectChoice(ConsultationMethod.dots.value, _l("Budget de points : chacun répartit des points")),
            SelectChoice(ConsultationMethod.majority.value, _l("Jugement majoritaire : chacun attribue une mention "
                                                               "à chaque proposition"))]


def rule_choices():
    return [SelectChoice(SelectionRule.top_k.value, _l("Les k premières (toutes les ex aequo au rang k sont "
                                                       "retenues)")),
            SelectChoice(SelectionRule.threshold.value, _l("Celles qui atteignent un seuil"))]


class ConsultationForm(FlaskForm):
    organisation_id = SelectField(_l("Organisation"), coerce=db_int, validators=[InputRequired()])
    title = StringField(_l("Titre"), validators=[DataRequired(), Length(max=200)],
                        description=_l("Par exemple : « Simplifier les démarches de déménagement — vote du 1er au "
                                       "15 mars »."))
    description_md = TextAreaField(_l("Description"), validators=[Optional(), Length(max=20000)],
                                   description=_l("Mise en forme Markdown possible (gras, listes, liens)."))
    opens_at = DateTimeLocalField(_l("Ouverture du vote (heure de Paris)"), format="%Y-%m-%dT%H:%M",
                                  validators=[InputRequired(_l("Indiquez la date et l'heure d'ouverture."))])
    closes_at = DateTimeLocalField(_l("Clôture du vote (heure de Paris)"), format="%Y-%m-%dT%H:%M",
                                   validators=[InputRequired(_l("Indiquez la date et l'heure de clôture."))])
    method = SelectField(_l("Méthode de vote"), choices=method_choices, validators=[InputRequired()])
    dots_budget = IntegerField(_l("Budget de points par personne"), validators=[Optional(), NumberRange(min=1,
                               max=1000)], description=_l("Pour la méthode « budget de points » seulement."))
    dots_max_per_proposal = IntegerField(_l("Points au plus par proposition"),
                                         validators=[Optional(), NumberRange(min=1, max=1000)],
                                         description=_l("Pour la méthode « budget de points » seulement."))
    selection_rule = SelectField(_l("Règle de sélection"), choices=rule_choices, validators=[InputRequired()])
    selection_value = IntegerField(_l("Valeur de la règle"), validators=[Optional(), NumberRange(min=0, max=100000)],
                                   description=_l("Nombre k de propositions retenues, ou seuil : nombre de soutiens, "
                                                  "de points, ou mention médiane minimale (0 = À rejeter … 6 = "
                                                  "Excellent). Vide : aucune sélection automatique."))
    counts_visible_while_open = BooleanField(_l("Afficher les résultats partiels pendant le vote"))
    submit = SubmitField(_l("Enregistrer"))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        # Here rather than in validate_<field>: Optional() stops a field's chain, inline validators included.
        if self.method.data == ConsultationMethod.dots.value:
            for f, message in ((self.dots_budget, _l("Indiquez le budget de points.")),
                               (self.dots_max_per_proposal, _l("Indiquez le maximum de points par proposition."))):
                if not f.data and not f.errors:
                    f.errors = [*f.errors, message]
                    ok = False
        return ok

    def settings(self) -> dict:
        return {"title": self.title.data.strip(), "description_md": self.description_md.data or "",
                "opens_at": to_utc(self.opens_at.data), "closes_at": to_utc(self.closes_at.data),
                "method": ConsultationMethod(self.method.data), "dots_budget": self.dots_budget.data,
                "dots_max_per_proposal": self.dots_max_per_proposal.data,
                "selection_rule": SelectionRule(self.selection_rule.data),
                "selection_value": self.selection_value.data,
                "counts_visible_while_open": bool(self.counts_visible_while_open.data)}


class AddProposalsForm(FlaskForm):
    proposal_ids = CheckboxList(_l("Propositions publiées de l'organisation"), coerce=db_int,
                                validators=[DataRequired(_l("Cochez au moins une proposition."))])
    submit = SubmitField(_l("Ajouter au vote"))


class BallotForm(FlaskForm):
    """CSRF only: the ballot's fields are one per proposal, read by ``read_ballot``."""


def read_ballot(method: ConsultationMethod, proposal_ids: list[int], data) -> tuple[dict[int, int], dict[int, str]]:
    """(choices, errors by proposal id) from a submitted ballot. Field names: ``p-<proposal id>``.

    Support: checkbox value "1". Dots: a whole number of points (empty = 0). Majority: a grade 0..6 (missing =
    ungraded, counted « À rejeter »). Range rules (budget, per-proposal maximum) are the service's.
    """
    choices: dict[int, int] = {}
    errors: dict[int, str] = {}
    for pid in proposal_ids:
        raw = (data.get(f"p-{pid}") or "").strip()
        if method is ConsultationMethod.support:
            if raw:
                if raw != "1":
                    errors[pid] = str(_l("Valeur non valide."))
                else:
                    choices[pid] = 1
        elif method is ConsultationMethod.dots:
            if raw:
                try:
                    value = int(raw)
                except ValueError:
                    errors[pid] = str(_l("Indiquez un nombre entier de points."))
                    continue
                if value < 0:
                    errors[pid] = str(_l("Les points ne peuvent pas être négatifs."))
                else:
                    choices[pid] = value
        elif raw:
            try:
                value = int(raw)
            except ValueError:
                value = -1
            if not results.REJECT <= value <= results.EXCELLENT:
                errors[pid] = str(_l("Choisissez une des mentions proposées."))
            else:
                choices[pid] = value
    return choices, errors
