"""How the consultations area reacts to other areas' signals."""

from .. import signals


@signals.personal_data_requested.connect
def _personal_data(user):
    from . import service

    return "consultations", service.personal_data(user)
