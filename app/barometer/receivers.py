"""How the barometer reacts to other areas' signals."""

from .. import signals
from . import published


@signals.personal_data_requested.connect
def _personal_data(user):
    """« Mes données »: the published figures an editor imported."""
    return "barometer", published.personal_data(user)
