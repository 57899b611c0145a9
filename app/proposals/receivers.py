"""How the proposals area reacts to other areas' signals, and what it adds to templates."""

from .. import signals
from .models import STATE_NAMES
from .personal_data import personal_data


@signals.personal_data_requested.connect
def _personal_data(user):
    return "proposals", personal_data(user)


def state_label(proposal, labels=None) -> str:
    """How the proposal's organisation names its state (its own label, else the default)."""
    from flask_babel import get_locale

    custom = (labels or {}).get((proposal.organisation_id, proposal.state))
    if custom is not None:
        if str(get_locale() or "fr").startswith("en") and custom.label_en:
            return custom.label_en
        return custom.label_fr
    return str(STATE_NAMES[proposal.state])


def init_app(app) -> None:
    app.jinja_env.globals["proposal_state_label"] = state_label
