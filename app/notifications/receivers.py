"""How the notifications area reacts to other areas' signals."""

from .. import signals
from . import service


@signals.personal_data_requested.connect
def _personal_data(user):
    return "notifications", service.personal_data(user)
