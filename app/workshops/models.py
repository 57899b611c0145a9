"""Workshops: co-design sessions with seats, quotas per category, a waiting list with offers, check-in."""

import enum
from datetime import datetime, timedelta

from sqlalchemy import (
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalog.permissions import can_facilitate
from ..clock import utcnow
from ..extensions import db


def _enum(cls, name, length=20):
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=length)


class WorkshopFormat(enum.Enum):
    in_person = "in_person"
    online = "online"
    hybrid = "hybrid"


class WorkshopStatus(enum.Enum):
    draft = "draft"
    published = "published"
    cancelled = "cancelled"


class Visibility(enum.Enum):
    public = "public"
    invitation = "invitation"


class QuestionKind(enum.Enum):
    short_text = "short_text"
    single_choice = "single_choice"
    multiple_choice = "multiple_choice"
    consent = "consent"


class CategoryCheck(enum.Enum):
    """Whether, and when, the team confirms the category a person declares (for categories ``requires_check``)."""

    none = "none"
    at_review = "at_review"  # before the seat is confirmed: the person waits ``in_review``, holding the seat
    at_check_in = "at_check_in"  # on the day: check-in waits for the category to be confirmed


class RegistrationStatus(enum.Enum):
    confirmed = "confirmed"
    offered = "offered"
    waitlisted = "waitlisted"
    cancelled = "cancelled"
    # A seat held in a category to check, until the team confirms the declared category (CategoryCheck.at_review).
    in_review = "in_review"


workshop_services = Table(
    "workshop_services", db.metadata,
    Column("workshop_id", ForeignKey("workshops.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)

workshop_life_events = Table(
    "workshop_life_events", db.metadata,
    Column("workshop_id", ForeignKey("workshops.id", ondelete="CASCADE"), primary_key=True),
    Column("life_event_id", ForeignKey("life_events.id", ondelete="CASCADE"), primary_key=True),
)


class Workshop(db.Model):
    __tablename__ = "workshops"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        Index("ix_workshops_status_starts_at", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description_md: Mapped[str] = mapped_column(Text, default="")
    expected_change: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[WorkshopFormat] = mapped_column(_enum(WorkshopFormat, "workshop_format"))
    address: Mapped[str] = mapped_column(String(300), default="")
    access_info: Mapped[str] = mapped_column(Text, default="")
    meeting_link: Mapped[str] = mapped_column(String(500), default="")
    accessibility_info: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    capacity: Mapped[int]
    signup_opens_at: Mapped[datetime | None]
    signup_closes_at: Mapped[datetime | None]
    visibility: Mapped[Visibility] = mapped_column(_enum(Visibility, "workshop_visibility"),
                                                   default=Visibility.public)
    invite_token: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[WorkshopStatus] = mapped_column(_enum(WorkshopStatus, "workshop_status"),
                                                   default=WorkshopStatus.draft)
    category_check: Mapped[CategoryCheck] = mapped_column(_enum(CategoryCheck, "workshop_category_check"),
                                                          default=CategoryCheck.none, server_default="none")
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Figures frozen once the workshop is over (they survive the purge of registration answers).
    attended_count: Mapped[int | None]
    no_show_count: Mapped[int | None]
    reminders_sent_at: Mapped[datetime | None]
    answers_purged_at: Mapped[datetime | None]

    organisation = relationship("Organisation", lazy="joined")
    services = relationship("Service", secondary=workshop_services, order_by="Service.name")
    life_events = relationship("LifeEvent", secondary=workshop_life_events, order_by="LifeEvent.position")
    categories = relationship("WorkshopCategory", back_populates="workshop", order_by="WorkshopCategory.position",
                              cascade="all, delete-orphan")
    questions = relationship("WorkshopQuestion", back_populates="workshop", order_by="WorkshopQuestion.position",
                             cascade="all, delete-orphan")

    @property
    def is_published(self) -> bool:
        return self.status is WorkshopStatus.published

    @property
    def is_cancelled(self) -> bool:
        return self.status is WorkshopStatus.cancelled

    @property
    def has_categories(self) -> bool:
        return len(self.categories) > 1 or bool(self.categories and self.categories[0].name)

    @property
    def checks_categories(self) -> bool:
        """The team confirms the declared category of people in the categories that ``requires_check``."""
        return self.category_check is not CategoryCheck.none

    def check_in_opens_at(self, opens_before: timedelta) -> datetime:
        return self.starts_at - opens_before

    def check_in_open(self, opens_before: timedelta, now: datetime | None = None) -> bool:
        """Check-in opens ``opens_before`` the start, and stays open after the workshop (late entries)."""
        return (now or utcnow()) >= self.check_in_opens_at(opens_before)

    def is_over(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.ends_at

    def has_started(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.starts_at

    def signup_open(self, now: datetime | None = None) -> bool:
        """Published, not started, within the sign-up window."""
        now = now or utcnow()
        if not self.is_published or self.has_started(now):
            return False
        if self.signup_opens_at and now < self.signup_opens_at:
            return False
        return not (self.signup_closes_at and now >= self.signup_closes_at)

    def can_manage(self, user) -> bool:
        return can_facilitate(user, self.organisation)


class WorkshopCategory(db.Model):
    """A pool of seats. A workshop without quotas has one category with an empty name."""

    __tablename__ = "workshop_categories"
    __table_args__ = (
        UniqueConstraint("workshop_id", "name"),
        CheckConstraint("seats > 0", name="seats_positive"),
        # The database itself refuses overbooking, whatever a service computed.
        CheckConstraint("seats_taken >= 0 AND seats_taken <= seats", name="seats_taken_within_seats"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshops.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    seats: Mapped[int]
    # Confirmed, offered and in-review registrations: an offered seat is held until confirmed or lapsed, a seat in
    # review until the team decides on the declared category.
    seats_taken: Mapped[int] = mapped_column(default=0)
    # Next waiting-list number; taken under the category's row lock, so numbers follow commit order.
    next_waitlist_number: Mapped[int] = mapped_column(default=1)
    position: Mapped[int] = mapped_column(default=0)
    # Seats kept for people who really belong to the category: the declared category is confirmed by the team
    # when the workshop checks categories (``Workshop.category_check``). Only quota categories (named) have it.
    requires_check: Mapped[bool] = mapped_column(default=False, server_default=false())

    workshop = relationship("Workshop", back_populates="categories")

    @property
    def is_checked(self) -> bool:
        """People declaring this category have it confirmed by the team."""
        return self.requires_check and self.workshop.checks_categories


class WorkshopQuestion(db.Model):
    __tablename__ = "workshop_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshops.id", ondelete="CASCADE"), index=True)
    kind: Mapped[QuestionKind] = mapped_column(_enum(QuestionKind, "question_kind"))
    label: Mapped[str] = mapped_column(String(300))
    # Newline-separated options for choice questions.
    choices_text: Mapped[str] = mapped_column(Text, default="")
    required: Mapped[bool] = mapped_column(default=False)
    is_accessibility: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)

    workshop = relationship("Workshop", back_populates="questions")

    @property
    def choices(self) -> list[str]:
        return [c.strip() for c in self.choices_text.splitlines() if c.strip()]


class Registration(db.Model):
    __tablename__ = "registrations"
    __table_args__ = (
        # One registration per person per workshop (people without an account have user_id NULL).
        UniqueConstraint("workshop_id", "user_id"),
        UniqueConstraint("workshop_id", "code"),
        UniqueConstraint("category_id", "waitlist_number"),
        CheckConstraint("user_id IS NOT NULL OR guest_name <> ''", name="has_a_person"),
        CheckConstraint("status <> 'offered' OR offer_expires_at IS NOT NULL", name="offer_has_deadline"),
        CheckConstraint("category_confirmed_by_id IS NULL OR category_confirmed_at IS NOT NULL",
                        name="category_confirmation_dated"),
        # A seat in review is one whose category is still to be confirmed.
        CheckConstraint("status <> 'in_review' OR category_confirmed_at IS NULL", name="in_review_unconfirmed"),
        Index("ix_registrations_category_status", "category_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshops.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("workshop_categories.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    guest_name: Mapped[str] = mapped_column(String(120), default="")
    guest_phone: Mapped[str] = mapped_column(String(40), default="")
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[RegistrationStatus] = mapped_column(_enum(RegistrationStatus, "registration_status"))
    waitlist_number: Mapped[int | None]
    offer_expires_at: Mapped[datetime | None]
    code: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_message: Mapped[str] = mapped_column(Text, default="")
    offer_lapsed: Mapped[bool] = mapped_column(default=False)
    checked_in_at: Mapped[datetime | None]
    # When and by whom the team confirmed the category the person declared (categories that ``requires_check``).
    category_confirmed_at: Mapped[datetime | None]
    category_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reminder_sent_at: Mapped[datetime | None]
    has_evaluated: Mapped[bool] = mapped_column(default=False)

    workshop = relationship("Workshop", lazy="joined")
    category = relationship("WorkshopCategory", lazy="joined")
    user = relationship("User", foreign_keys=[user_id], lazy="joined")
    answers = relationship("RegistrationAnswer", cascade="all, delete-orphan", order_by="RegistrationAnswer.id")

    @property
    def person_name(self) -> str:
        return self.user.public_name if self.user else self.guest_name

    @property
    def category_unconfirmed(self) -> bool:
        """The person's declared category is one the team checks, and it has not been confirmed yet."""
        return self.category.is_checked and self.category_confirmed_at is None

    @property
    def check_in_waits_for_category(self) -> bool:
        """Check-in waits for the team to confirm (or change) the declared category."""
        return self.category_unconfirmed and self.workshop.category_check is CategoryCheck.at_check_in

    def offer_is_live(self, now: datetime | None = None) -> bool:
        return self.status is RegistrationStatus.offered and (now or utcnow()) < self.offer_expires_at

    def effective_status(self, now: datetime | None = None) -> RegistrationStatus:
        """An expired offer reads as cancelled (lapsed) at once, before any job has passed it on."""
        if self.status is RegistrationStatus.offered and not self.offer_is_live(now):
            return RegistrationStatus.cancelled
        return self.status


class RegistrationAnswer(db.Model):
    """An answer to a registration question; erased after the retention period."""

    __tablename__ = "registration_answers"
    __table_args__ = (UniqueConstraint("registration_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("workshop_questions.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(Text, default="")

    question = relationship("WorkshopQuestion", lazy="joined")


class WorkshopEvaluation(db.Model):
    """An anonymous evaluation: no link to the person (only ``Registration.has_evaluated`` is kept)."""

    __tablename__ = "workshop_evaluations"
    __table_args__ = (CheckConstraint("overall BETWEEN 1 AND 5", name="overall_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshops.id", ondelete="CASCADE"), index=True)
    overall: Mapped[int]
    felt_heard: Mapped[str] = mapped_column(String(10))  # yes / partly / no
    would_return: Mapped[str] = mapped_column(String(10))  # yes / maybe / no
    comment: Mapped[str] = mapped_column(Text, default="")


class CalendarFeed(db.Model):
    """A person's private calendar feed token (regenerable)."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)


class WorkshopTopic(db.Model):
    """A subject proposed to an organisation's facilitators for a coming workshop, from what users said about a
    service (« Je donne mon avis »); a facilitator takes it up by naming the workshop that will work on it, and the
    trail then runs on from that workshop."""

    __tablename__ = "workshop_topics"
    __table_args__ = (
        CheckConstraint("workshop_id IS NULL OR taken_up_at IS NOT NULL", name="taken_up_dated"),
        Index("ix_workshop_topics_organisation_created", "organisation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")  # the users' words, quoted
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    workshop_id: Mapped[int | None] = mapped_column(ForeignKey("workshops.id", ondelete="SET NULL"), index=True)
    taken_up_at: Mapped[datetime | None]
    taken_up_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    organisation = relationship("Organisation", lazy="joined")
    service = relationship("Service", lazy="joined")
    workshop = relationship("Workshop", lazy="joined")
    proposed_by = relationship("User", foreign_keys=[proposed_by_id], lazy="joined")

    def can_take_up(self, user) -> bool:
        """The organisation's facilitators, and admins."""
        return can_facilitate(user, self.organisation)


class WorkshopTopicResponse(db.Model):
    """A « Je donne mon avis » response a topic came from, named by its id in ``feedback_responses`` (a foreign key
    by table name: the feedback area writes these rows through ``topics.add_topic``; workshops never imports it)."""

    __tablename__ = "workshop_topic_responses"

    topic_id: Mapped[int] = mapped_column(ForeignKey("workshop_topics.id", ondelete="CASCADE"), primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("feedback_responses.id", ondelete="CASCADE"),
                                             primary_key=True, index=True)
