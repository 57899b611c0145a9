"""The refusals of the proposals area: each rule a use case can break is a ``DomainError`` subclass with its code
(the JSON error's ``code``) and its French message, shared by ``service``, ``moderation`` and ``merging``. Nothing
else lives here."""

from flask_babel import lazy_gettext as _l

from ..errors import Conflict, DomainError, InvalidInput, NotAllowed, NotFound


class NotVerified(NotAllowed):
    code = "not_verified"
    message = _l("Vérifiez d'abord votre adresse électronique : ouvrez le lien que nous vous avons envoyé.")


class SpamSuspected(InvalidInput):
    code = "spam_suspected"
    message = _l("Votre envoi n'a pas pu être accepté. Réessayez sans remplir le champ caché.")


class OrganisationRequired(InvalidInput):
    code = "organisation_required"
    message = _l("Choisissez une démarche, ou (administration) l'organisation qui recevra la proposition.")


class SubjectRequired(InvalidInput):
    code = "subject_required"
    message = _l("Choisissez la démarche ou le moment de vie concerné.")


class AlreadySupported(Conflict):
    code = "already_supported"
    message = _l("Vous soutenez déjà cette proposition.")


class AlreadyReported(Conflict):
    code = "already_reported"
    message = _l("Vous avez déjà signalé ce contenu : l'équipe de modération l'examinera.")


class NotSupported(Conflict):
    code = "not_supported"
    message = _l("Vous ne soutenez pas cette proposition.")


class SupportClosed(DomainError):
    code = "support_closed"
    message = _l("Cette proposition ne peut plus recevoir de soutiens.")


class WrongState(DomainError):
    code = "wrong_state"
    message = _l("Cette action n'est pas possible dans l'état actuel de la proposition.")


class InVote(DomainError):
    code = "in_vote"
    message = _l("Cette proposition est soumise à un vote en cours : elle ne peut être ni retirée ni fusionnée.")


class MergeIntoItself(InvalidInput):
    code = "merge_into_itself"
    message = _l("Une proposition ne peut pas être fusionnée avec elle-même.")


class MergeIntoMerged(InvalidInput):
    code = "merge_into_merged"
    message = _l("Cette proposition a déjà été fusionnée : choisissez la proposition qui l'a reçue.")


class MergeAcrossOrganisations(NotAllowed):
    code = "merge_across_organisations"
    message = _l("Seule l'administration peut fusionner des propositions de deux organisations.")


class ReplyToReply(InvalidInput):
    code = "reply_to_reply"
    message = _l("On ne peut répondre qu'à un commentaire, pas à une réponse.")


class CommentHidden(DomainError):
    code = "comment_hidden"
    message = _l("Ce commentaire a été masqué par la modération.")


class ProposalHidden(DomainError):
    code = "proposal_hidden"
    message = _l("Cette proposition a été masquée par la modération.")


class ReasonRequired(InvalidInput):
    code = "reason_required"
    message = _l("Indiquez la raison, elle sera affichée publiquement.")


class ReportNotFound(NotFound):
    code = "report_not_found"
    message = _l("Ce signalement n'existe pas.")


class ReportResolved(Conflict):
    code = "report_resolved"
    message = _l("Ce signalement a déjà été traité.")


class AlreadyPromoted(Conflict):
    code = "already_promoted"
    message = _l("Une proposition a déjà été créée à partir de cet élément.")
