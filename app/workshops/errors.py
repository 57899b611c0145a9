"""The workshops area's refusals: each broken rule of a workshop, a sign-up, a seat, a check-in or an evaluation
is a ``DomainError`` subclass with its code and its French message, raised by the area's use cases and turned
into a page, a JSON error or a socket ack by ``app.errors``."""

from flask_babel import lazy_gettext as _l

from ..errors import Conflict, DomainError, InvalidInput, NotAllowed


class SignupClosed(DomainError):
    code = "signup_closed"
    message = _l("Les inscriptions à cet atelier ne sont pas ouvertes.")


class WorkshopCancelled(DomainError):
    code = "workshop_cancelled"
    message = _l("Cet atelier est annulé.")


class NotVerified(NotAllowed):
    code = "not_verified"
    message = _l("Vérifiez d'abord votre adresse électronique : ouvrez le lien que nous vous avons envoyé.")


class AlreadyRegistered(Conflict):
    code = "already_registered"
    message = _l("Vous êtes déjà inscrit·e à cet atelier.")


class UnknownCategory(InvalidInput):
    code = "unknown_category"
    message = _l("Choisissez une catégorie de participant·e proposée.")


class AnswerRequired(InvalidInput):
    code = "answer_required"
    message = _l("Répondez aux questions obligatoires.")


class OfferExpired(DomainError):
    code = "offer_expired"
    message = _l("Le délai pour confirmer cette place est dépassé. La place a été proposée à la personne suivante.")


class NotOffered(DomainError):
    code = "not_offered"
    message = _l("Aucune place ne vous est proposée pour cet atelier.")


class TooLateToCancel(DomainError):
    code = "too_late"
    message = _l("L'atelier a commencé : l'inscription ne peut plus être annulée.")


class NoSeatFree(Conflict):
    code = "no_seat_free"
    message = _l("Aucune place n'est libre dans cette catégorie.")


class InvalidQuotas(InvalidInput):
    code = "invalid_quotas"
    message = _l("La somme des places par catégorie doit être égale à la capacité.")


class CapacityBelowTaken(InvalidInput):
    code = "capacity_below_taken"
    message = _l("La capacité ne peut pas descendre sous le nombre de places déjà attribuées.")


class AlreadyEvaluated(Conflict):
    code = "already_evaluated"
    message = _l("Vous avez déjà donné votre avis sur cet atelier. Merci !")


class EvaluationNotOpen(DomainError):
    code = "evaluation_not_open"
    message = _l("Seules les personnes présentes peuvent évaluer l'atelier, une fois celui-ci terminé.")


class CheckInNotOpen(DomainError):
    code = "check_in_not_open"
    message = _l("Le pointage n'est pas encore ouvert.")


class CategoryNotConfirmed(DomainError):
    code = "category_not_confirmed"
    message = _l("Confirmez d'abord la catégorie déclarée par la personne, ou changez-la de catégorie.")


class CategoryNotChecked(InvalidInput):
    code = "category_not_checked"
    message = _l("La catégorie de cette personne n'est pas à vérifier.")


class RegistrationChanged(Conflict):
    code = "registration_changed"
    message = _l("Cette inscription vient d'être modifiée : rechargez la page et recommencez.")
