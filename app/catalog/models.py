"""The catalogue: organisations, their public services, life events; and staff memberships."""

import enum
from datetime import datetime

from sqlalchemy import Column, Enum, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import utcnow
from ..extensions import db


class Role(enum.Enum):
    facilitator = "facilitator"
    editor = "editor"


class OrganisationKind(enum.Enum):
    ministry = "ministry"
    agency = "agency"
    local_authority = "local_authority"
    other = "other"


life_event_services = Table(
    "life_event_services",
    db.metadata,
    Column("life_event_id", ForeignKey("life_events.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)


class Organisation(db.Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrganisationKind] = mapped_column(
        Enum(OrganisationKind, name="organisation_kind", native_enum=False, create_constraint=True, length=20))
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    services = relationship("Service", back_populates="organisation", order_by="Service.name")
    memberships = relationship("Membership", back_populates="organisation", cascade="all, delete-orphan")


class Service(db.Model):
    """A public service or procedure (« démarche »)."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(500))
    online: Mapped[bool] = mapped_column(default=False)
    phone: Mapped[bool] = mapped_column(default=False)
    counter: Mapped[bool] = mapped_column(default=False)
    # Reference to an external catalogue entry, e.g. ``jdma:44`` for « Je donne mon avis ».
    external_ref: Mapped[str | None] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation = relationship("Organisation", back_populates="services", lazy="joined")
    life_events = relationship("LifeEvent", secondary=life_event_services, back_populates="services",
                               order_by="LifeEvent.position")

    @property
    def channels(self) -> list[str]:
        return [name for name in ("online", "phone", "counter") if getattr(self, name)]


class LifeEvent(db.Model):
    """A « moment de vie »: a situation that brings a person to several services at once."""

    __tablename__ = "life_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name_fr: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    description_fr: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)

    services = relationship("Service", secondary=life_event_services, back_populates="life_events",
                            order_by="Service.name")


class Membership(db.Model):
    """A person's role in an organisation; one row per (person, organisation, role)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(Enum(Role, name="membership_role", native_enum=False,
                                            create_constraint=True, length=20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user = relationship("User", back_populates="memberships")
    organisation = relationship("Organisation", back_populates="memberships", lazy="joined")
