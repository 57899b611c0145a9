"""How the decisions area reacts to other areas' signals."""

from .. import signals
from . import service


@signals.personal_data_requested.connect
def _personal_data(user):
    """« Mes données »: the answers an editor wrote (the current wording and the earlier ones), the measures they
    created and the timeline updates they posted."""
    return "decisions", service.personal_data(user)
