"""The refusals of the feedback area: each rule a use case can break is a ``DomainError`` subclass with its stable
code and its French message. The form's (``service``) come first; the other modules of the area add theirs below."""

from flask_babel import lazy_gettext as _l

from ..errors import Conflict, DomainError, InvalidInput, NotFound


class ResponseNotFound(NotFound):
    code = "response_not_found"
    message = _l("Ce lien ne correspond à aucune réponse. Vérifiez qu'il est complet.")


class ResponseClosed(DomainError):
    """A response's own link works for an hour after its first step; then the answers are kept as they are."""

    code = "response_closed"
    message = _l("Cette réponse ne peut plus être modifiée : son lien ne sert qu'une heure après le début de la "
                 "réponse. Merci pour votre avis, il est bien enregistré.")
    status = 410


class InvalidSubmissionKey(InvalidInput):
    code = "submission_key_invalid"
    message = _l("Le formulaire a expiré. Vérifiez vos réponses et envoyez-le à nouveau.")


class InvalidAnswer(InvalidInput):
    """One field's answer refused; ``field`` is the questionnaire's field code, shown on that field."""

    code = "invalid_answer"

    def __init__(self, field: str, code: str, message):
        self.field = field
        super().__init__(message, code)


class InvalidAnswers(InvalidInput):
    """A step's answers refused, nothing written: ``problems`` lists each field's ``InvalidAnswer``."""

    code = "invalid_answers"

    def __init__(self, problems: list[InvalidAnswer]):
        self.problems = problems
        super().__init__(problems[0].message if len(problems) == 1 else None)

    def to_dict(self) -> dict:
        body = super().to_dict()
        body["error"]["fields"] = [{"field": p.field, "code": p.code, "message": str(p.message)}
                                   for p in self.problems]
        return body


# --- the form on the service's own website (embed.py, embedding.py) -------------------------------------------------

class OriginRequired(InvalidInput):
    code = "origin_required"
    message = _l("Indiquez l'adresse du site, par exemple https://www.exemple.gouv.fr.")


class OriginMalformed(InvalidInput):
    code = "origin_malformed"
    message = _l("Écrivez l'adresse complète du site, sans espace, par exemple https://www.exemple.gouv.fr.")


class OriginNotHttps(InvalidInput):
    code = "origin_not_https"
    message = _l("Le site doit être en https (http n'est accepté que pour localhost et 127.0.0.1).")


class OriginHasPath(InvalidInput):
    code = "origin_has_path"
    message = _l("Indiquez seulement le protocole, le nom du site et, s'il y en a un, le port : sans chemin, "
                 "paramètre ni identifiant (https://www.exemple.gouv.fr, pas https://www.exemple.gouv.fr/page).")


class OriginHostInvalid(InvalidInput):
    code = "origin_host_invalid"
    message = _l("Le nom du site ou le port n'est pas valide.")


class OriginAlreadyAllowed(Conflict):
    code = "origin_already_allowed"
    message = _l("Ce site peut déjà intégrer le formulaire de cette démarche.")


class TooManyOrigins(Conflict):
    code = "too_many_origins"
    message = _l("Une démarche peut autoriser au plus 20 sites : retirez-en un avant d'en ajouter un autre.")


class EmbedTokenInvalid(DomainError):
    code = "embed_token_invalid"
    message = _l("Ce formulaire n'a pas pu être vérifié. Rouvrez-le avec le lien ci-dessous, puis envoyez à nouveau "
                 "vos réponses de cette page.")
    status = 400


class EmbedTokenExpired(EmbedTokenInvalid):
    code = "embed_token_expired"
    message = _l("Ce formulaire a expiré. Rouvrez-le avec le lien ci-dessous, puis envoyez à nouveau vos réponses de "
                 "cette page.")


class EmbedForeignOrigin(DomainError):
    code = "embed_foreign_origin"
    message = _l("Cet envoi ne vient pas du formulaire « Je donne mon avis » : il n'a pas été enregistré.")
    status = 400


# --- triage and experiences (triage.py, experiences.py) -------------------------------------------------------------

class TagNotFound(NotFound):
    code = "tag_not_found"
    message = _l("Cet irritant n'existe pas (ou plus) pour cette démarche.")


class TagLabelRequired(InvalidInput):
    code = "tag_label_required"
    message = _l("Donnez un nom à l'irritant.")


class TagExists(Conflict):
    code = "tag_exists"
    message = _l("Cet irritant existe déjà pour cette démarche.")


class ExperienceNotFound(NotFound):
    code = "experience_not_found"
    message = _l("Cette expérience n'existe pas.")


class ExperienceStillEditable(Conflict):
    code = "experience_still_editable"
    message = _l("Son auteur ou son autrice peut encore corriger ou retirer ce texte pendant l'heure qui suit sa "
                 "saisie : vous pourrez le modérer ensuite.")


class ExperienceNotPending(Conflict):
    code = "experience_not_pending"
    message = _l("Cette expérience a déjà été modérée.")


class ExperienceNotPublished(Conflict):
    code = "experience_not_published"
    message = _l("Seule une expérience publiée reçoit une réponse publique.")


class ResponseIsSpam(Conflict):
    code = "response_is_spam"
    message = _l("Cette réponse est marquée comme indésirable : elle n'est ni publiée ni comptée.")


class RefusalReasonRequired(InvalidInput):
    code = "refusal_reason_required"
    message = _l("Indiquez la raison du refus, au regard de la charte de modération (elle n'est jamais publiée).")


class ReplyRequired(InvalidInput):
    code = "reply_required"
    message = _l("Écrivez la réponse de l'organisation.")


class SignatureRequired(InvalidInput):
    code = "signature_required"
    message = _l("Indiquez qui signe la réponse : un nom et une fonction ou une organisation.")


# --- outcomes: verbatims turned into proposals, workshop topics and links (linking.py) ----------------------------


class SelectionEmpty(InvalidInput):
    code = "selection_empty"
    message = _l("Choisissez au moins un avis, ou un irritant.")


class SelectionAndTag(InvalidInput):
    code = "selection_and_tag"
    message = _l("Choisissez des avis ou un irritant, pas les deux.")


class SelectionTooLarge(InvalidInput):
    code = "selection_too_large"
    message = _l("Choisissez au plus 500 avis à la fois, ou tous les avis d'un irritant.")


class SelectionAcrossOrganisations(InvalidInput):
    code = "selection_across_organisations"
    message = _l("Les avis choisis doivent porter sur des démarches d'une même organisation.")


class SelectedResponseNotFound(NotFound):
    code = "selected_response_not_found"
    message = _l("L'un des avis choisis n'existe pas (ou plus).")


class ResponseWithoutVerbatim(InvalidInput):
    code = "response_without_verbatim"
    message = _l("Un avis se choisit pour son commentaire : l'un des avis choisis n'en a pas.")


class TagWithoutResponses(InvalidInput):
    code = "tag_without_responses"
    message = _l("Aucun avis (hors indésirables) ne porte cet irritant.")


class OutcomeUnknown(InvalidInput):
    code = "outcome_unknown"
    message = _l("Choisissez la suite à donner à ces avis.")


class ProposalTargetNotFound(NotFound):
    code = "proposal_target_not_found"
    message = _l("Cette proposition n'existe pas.")


class MeasureTargetNotFound(NotFound):
    code = "measure_target_not_found"
    message = _l("Cette mesure n'existe pas.")


class ProposalTargetForeign(InvalidInput):
    code = "proposal_target_foreign"
    message = _l("Cette proposition relève d'une autre organisation que les avis choisis.")


class MeasureTargetForeign(InvalidInput):
    code = "measure_target_foreign"
    message = _l("Cette mesure relève d'une autre organisation que les avis choisis.")


class ProposalTargetClosed(Conflict):
    code = "proposal_target_closed"
    message = _l("Cette proposition ne reçoit plus d'avis : elle a été fusionnée, retirée ou masquée, ou c'est le "
                 "brouillon de quelqu'un d'autre.")
