"""Feedback: « Je donne mon avis » answers on catalogue services, the experiences their authors agreed to publish,
and the organisation's public replies.

A response is anonymous: no account, no address, no cookie. It is stored step by step (a person who stops after the
first step still counts), and can be finished or corrected for an hour through its own link, whose token is kept
only as a hash. An e-mail left to be contacted back lives apart from the answers (``FeedbackContact``) and is erased
once used or after 90 days.
"""

import enum
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..catalog.models import Role
from ..catalog.permissions import has_org_role
from ..clock import utcnow
from ..extensions import db
from ..permissions import is_admin


def _enum(cls, name, length=20):
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=length)


FORM_VERSION = "v2_2024_static"  # the JDMA questionnaire the form asks (app/data/reference/jdma_form.csv)


class Source(enum.Enum):
    """Where a response came from: what the service's own website (or a counter) offered."""

    button = "button"  # the « Je donne mon avis » button image, linked from the service's site
    link = "link"  # a plain link
    embed = "embed"  # the form in an iframe on the service's site
    qr = "qr"  # the QR code at a counter
    atelier = "atelier"  # Atelier's own service pages


class ExperienceStatus(enum.Enum):
    pending = "pending"  # consented, waiting for moderation
    published = "published"
    refused = "refused"  # with a reason, never shown


class FeedbackResponse(db.Model):
    """One person's answers about one service, from one visit to the form."""

    __tablename__ = "feedback_responses"
    __table_args__ = (
        CheckConstraint("steps_done >= 0", name="steps_done_non_negative"),
        # The editors' list and the barometer read a service's responses by date.
        Index("ix_feedback_responses_service_created", "service_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    form_version: Mapped[str] = mapped_column(String(40), default=FORM_VERSION)
    source: Mapped[Source] = mapped_column(_enum(Source, "feedback_source"))
    # The one-time key of the first step's form as it was rendered: a double click, or the first step sent again,
    # finds the response it already made instead of making a second one.
    submission_key: Mapped[str] = mapped_column(String(64), unique=True)
    # sha256 of the token in the response's own link (finish or correct within the hour); the token itself is
    # never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    steps_done: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    editable_until: Mapped[datetime]
    publish_consent: Mapped[bool] = mapped_column(default=False)  # the free text may become a public experience
    is_spam: Mapped[bool] = mapped_column(default=False)
    spam_marked_at: Mapped[datetime | None]

    service = relationship("Service", lazy="joined")
    answers = relationship("FeedbackAnswer", back_populates="response", cascade="all, delete-orphan",
                           order_by="FeedbackAnswer.id")
    tags = relationship("IrritantTag", secondary="feedback_response_tags", order_by="IrritantTag.label")

    def can_triage(self, user) -> bool:
        return can_triage(user, self.service)


class FeedbackAnswer(db.Model):
    """One answer: a field's stored option code (JDMA's ``answer_item_id``) and its text, or free text (code 0)."""

    __tablename__ = "feedback_answers"
    __table_args__ = (
        UniqueConstraint("response_id", "field_code", "answer_item_id", name="one_answer_per_option"),
        CheckConstraint("answer_item_id >= 0", name="answer_item_id_non_negative"),
        Index("ix_feedback_answers_field_item", "field_code", "answer_item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("feedback_responses.id", ondelete="CASCADE"), index=True)
    field_code: Mapped[str] = mapped_column(String(40))
    answer_item_id: Mapped[int] = mapped_column(default=0)
    answer_text: Mapped[str] = mapped_column(Text, default="")

    response = relationship("FeedbackResponse", back_populates="answers")


class FeedbackMonthlyCount(db.Model):
    """The barometer's aggregate: how many answers a service had for each option of each scored question in one
    month (the month its response was started), spam left out. ``answer_item_id`` 0 counts the responses that
    answered the question at all (autonomy is a share of those who answered « contact_tried », a checkbox).

    Kept by the one function that stores answers (``tally.apply``, in the same transaction);
    ``flask feedback verify`` recounts it from the answers."""

    __tablename__ = "feedback_monthly_counts"
    __table_args__ = (
        CheckConstraint("count >= 0", name="count_non_negative"),
        CheckConstraint("answer_item_id >= 0", name="monthly_item_non_negative"),
        # National and organisation figures read a range of months across services.
        Index("ix_feedback_monthly_counts_month", "month", "field_code"),
    )

    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[date] = mapped_column(primary_key=True)  # its first day
    field_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    answer_item_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(default=0)


class FeedbackContact(db.Model):
    """An e-mail left to be contacted back, kept apart from the answers; erased once used or after 90 days."""

    __tablename__ = "feedback_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("feedback_responses.id", ondelete="CASCADE"), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    # The language the form was answered in: the mail that tells the author of the organisation's reply is in it.
    locale: Mapped[str] = mapped_column(String(5), default="fr")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Experience(db.Model):
    """A response's free text its author agreed to publish: moderated, then shown with the organisation's reply."""

    __tablename__ = "feedback_experiences"
    __table_args__ = (
        CheckConstraint("status <> 'refused' OR refusal_reason <> ''", name="refusal_has_a_reason"),
        CheckConstraint("status = 'published' OR published_at IS NULL", name="published_at_only_when_published"),
        Index("ix_feedback_experiences_status_published", "status", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("feedback_responses.id", ondelete="CASCADE"), unique=True)
    text: Mapped[str] = mapped_column(Text)  # the free text as its author left it
    status: Mapped[ExperienceStatus] = mapped_column(_enum(ExperienceStatus, "feedback_experience_status"),
                                                     default=ExperienceStatus.pending)
    refusal_reason: Mapped[str] = mapped_column(Text, default="")
    moderated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    moderated_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    reply_text: Mapped[str] = mapped_column(Text, default="")
    reply_signature: Mapped[str] = mapped_column(String(200), default="")  # name and role, as the reply is signed
    reply_author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    replied_at: Mapped[datetime | None]  # the first reply: the reply delay counts to it
    reply_edited_at: Mapped[datetime | None]  # the last correction of the reply (« modifiée le … »)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    response = relationship("FeedbackResponse", lazy="joined")


feedback_response_tags = Table(
    "feedback_response_tags",
    db.metadata,
    Column("response_id", ForeignKey("feedback_responses.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("feedback_tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class IrritantTag(db.Model):
    """An irritant (« irritant ») the service's editors name, to tag responses with."""

    __tablename__ = "feedback_tags"
    __table_args__ = (UniqueConstraint("service_id", "label", name="one_tag_label_per_service"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmbedOrigin(db.Model):
    """A website allowed to show a service's form in an iframe (its ``frame-ancestors``)."""

    __tablename__ = "feedback_embed_origins"
    __table_args__ = (UniqueConstraint("service_id", "origin", name="one_origin_per_service"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), index=True)
    origin: Mapped[str] = mapped_column(String(200))  # scheme://host[:port], as a browser writes an Origin
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def can_triage(user, service) -> bool:
    """Reads, triages, moderates and answers a service's feedback: its organisation's editors, and admins."""
    return is_admin(user) or (service is not None and has_org_role(user, service.organisation, Role.editor))
