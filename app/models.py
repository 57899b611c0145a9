"""Imports every area's models so Alembic and ``flask shell`` see them all. Defines nothing."""

from .accounts.models import User  # noqa: F401
from .barometer.models import PublishedFigure  # noqa: F401
from .boards.models import (  # noqa: F401
    Board,
    BoardColumn,
    BoardEvent,
    ClientChange,
    Cluster,
    Dot,
    Idea,
    ModerationEntry,
    Participant,
    Reaction,
)
from .catalog.models import LifeEvent, Membership, Organisation, Service  # noqa: F401
from .consultations.models import Ballot, BallotChoice, Consultation, ConsultationProposal  # noqa: F401
from .decisions.models import Answer, AnswerSettings, AnswerVersion, MeasureService  # noqa: F401
from .feedback.models import (  # noqa: F401
    EmbedOrigin,
    Experience,
    FeedbackAnswer,
    FeedbackContact,
    FeedbackMonthlyCount,
    FeedbackResponse,
    IrritantTag,
)
from .mail.models import OutboxMessage  # noqa: F401
from .notifications.models import Notification, NotificationPreference  # noqa: F401
from .proposals.models import (  # noqa: F401
    Comment,
    Follow,
    Proposal,
    ProposalModerationEntry,
    ProposalOrigin,
    ProposalSettings,
    ProposalVersion,
    Report,
    StateLabel,
    Support,
)
from .reports.models import DataVersion  # noqa: F401
from .workshops.models import (  # noqa: F401
    CalendarFeed,
    Registration,
    RegistrationAnswer,
    Workshop,
    WorkshopCategory,
    WorkshopEvaluation,
    WorkshopQuestion,
)
