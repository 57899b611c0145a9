"""The form of one page of the questionnaire, built from it (``questionnaire``): a radio group per single choice, a
list of checkboxes for several, a text area or an e-mail field for free text; the first step carries its one-time
submission key and source, the last the consent to publish the comment. Every page has the honeypot field.

The fields check nothing but what a browser cannot send otherwise: the codes, lengths and conditions are the
service's to check (``service.check_answers``), so that every way in (these pages, the embed) follows one rule.
"""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice

from ..catalog.forms import CheckboxList
from .questionnaire import Field, lazy

HONEYPOT = "website"


class StepForm(FlaskForm):
    # Hidden from people by CSS and from assistive technologies (aria-hidden wrapper, tabindex=-1); bots fill it.
    website = StringField(_l("Ne pas remplir ce champ"), render_kw={"tabindex": "-1", "autocomplete": "off"})

    def answers(self, fields: tuple[Field, ...]) -> dict:
        """What was sent for ``fields``, as the service reads answers."""
        return {f.code: self[f.code].data for f in fields}


def _choices(field: Field) -> list[SelectChoice]:
    return [SelectChoice(str(o.code), lazy(o.label)) for o in field.options]


def _form_field(field: Field):
    label, hint = lazy(field.question), lazy(field.hint)
    if field.is_multiple:
        return CheckboxList(label, description=hint, choices=_choices(field), validate_choice=False)
    if field.is_choice:
        return RadioField(label, description=hint, choices=_choices(field), validate_choice=False)
    attrs = {"maxlength": field.max_length} if field.max_length else {}
    if field.kind == "input-email":
        return EmailField(label, description=hint, render_kw={**attrs, "autocomplete": "email", "spellcheck": "false"})
    return TextAreaField(label, description=hint, render_kw={**attrs, "rows": 6 if field.code == "verbatim" else 3})


def step_form(fields: tuple[Field, ...], *, first: bool = False, last: bool = False, csrf: bool = True,
              data: dict | None = None, formdata=None) -> StepForm:
    """The form of a page asking ``fields``; ``csrf=False`` where the caller checks its own token (the embed).
    ``data`` fills it (stored answers: lists of codes, or text); ``formdata`` None reads the request's form."""

    class PageForm(StepForm):
        pass

    for field in fields:
        setattr(PageForm, field.code, _form_field(field))
    if first:
        PageForm.submission_key = HiddenField()
        PageForm.source = HiddenField()
    if last:
        PageForm.consent = BooleanField(
            _l("J'accepte que mon commentaire soit publié, sans mon adresse ni rien qui m'identifie, avec la réponse "
               "de l'administration"),
            description=_l("Facultatif. Votre commentaire sera relu avant publication ; vous pourrez retirer votre "
                           "accord pendant l'heure où votre réponse reste modifiable."))
    PageForm.submit = SubmitField(_l("Envoyer mon avis") if last else _l("Continuer"))
    values = {f.code: _form_value(f, data[f.code]) for f in fields if f.code in (data or {})}
    kwargs = {"meta": {"csrf": csrf}, "data": values}
    if formdata is not None:
        kwargs["formdata"] = formdata
    return PageForm(**kwargs)


def _form_value(field: Field, value):
    """A stored answer as its field holds it: codes as the strings the choices carry."""
    if field.is_multiple:
        return [str(v) for v in value]
    if field.is_choice:
        return str(value[0]) if value else None
    return value
