"""The refusals of the boards area: each rule a change can break is a ``DomainError`` subclass with its code (the
ack's ``error.code``, listed in docs/realtime-protocol.md) and its French message. Nothing else lives here."""

from flask_babel import lazy_gettext as _l

from ..errors import Conflict, DomainError, NotAllowed, NotFound


class WrongPhase(DomainError):
    code = "wrong_phase"
    message = _l("Ce n'est pas possible pendant cette phase de la séance.")


class BoardLocked(DomainError):
    code = "locked"
    message = _l("Le tableau est verrouillé : il est en lecture seule.")


class BudgetSpent(DomainError):
    code = "budget_spent"
    message = _l("Vous avez déjà placé toutes vos gommettes.")


class DotCapReached(DomainError):
    code = "dot_cap_reached"
    message = _l("Vous avez placé le maximum de gommettes sur cette idée.")


class NoDotToRemove(DomainError):
    code = "no_dot"
    message = _l("Vous n'avez pas de gommette sur cette idée.")


class IdeaCapReached(DomainError):
    code = "idea_cap_reached"
    message = _l("Vous avez atteint le nombre maximal d'idées pour ce tableau.")


class NotMember(NotAllowed):
    code = "not_member"
    message = _l("Vous ne participez pas à ce tableau.")


class Removed(NotAllowed):
    code = "removed"
    message = _l("Vous avez été retiré·e de cette séance.")


class UnknownIdea(NotFound):
    code = "unknown_idea"
    message = _l("Cette idée n'existe pas sur ce tableau.")


class UnknownColumn(NotFound):
    code = "unknown_column"
    message = _l("Cette colonne n'existe pas sur ce tableau.")


class NotYourIdea(NotAllowed):
    code = "not_your_idea"
    message = _l("Vous ne pouvez modifier que vos propres idées.")


class GuestsNotAllowed(NotAllowed):
    code = "guests_not_allowed"
    message = _l("Ce tableau n'accepte pas les invité·es sans compte.")


class BadJoinCode(NotFound):
    code = "bad_join_code"
    message = _l("Ce code ne correspond à aucun tableau ouvert.")


class StaleVersion(Conflict):
    code = "stale_version"
    message = _l("Quelqu'un a modifié cet élément entre-temps : la version à jour est affichée.")
