"""How the consultations area reacts to other areas' signals."""

from .. import signals
from . import service


@signals.personal_data_requested.connect
def _personal_data(user):
    return "consultations", service.personal_data(user)
