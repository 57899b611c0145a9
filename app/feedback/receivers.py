"""How the feedback area reacts to other areas' signals."""

from .. import signals
from . import experiences


@signals.personal_data_requested.connect
def _personal_data(user):
    """« Mes données »: the experiences an editor moderated and the public replies they wrote. The answers themselves
    are anonymous: no account holds them."""
    return "feedback", experiences.personal_data(user)
