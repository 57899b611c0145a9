"""The barometer's own rows: figures published elsewhere (the state's observatory) that editors import for services
whose feedback is collected outside Atelier. They are shown beside Atelier's figures, with their source and date,
and never mixed with them: no computation reads them together with the monthly counts."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import utcnow
from ..extensions import db


class PublishedFigure(db.Model):
    """One published indicator of a service over one period, as a line of ``procedure_indicators.csv`` gives it
    (its ``*_count`` line, when there is one, fills ``count``)."""

    __tablename__ = "barometer_published_figures"
    __table_args__ = (
        UniqueConstraint("service_id", "period", "indicator", name="one_published_figure_per_period"),
        CheckConstraint("count IS NULL OR count >= 0", name="published_count_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(120))  # as published: « edition window, scanned 2026-08-22 »
    published_on: Mapped[date | None]  # the date the period names (its scan), when it names one
    indicator: Mapped[str] = mapped_column(String(40))  # satisfaction, …, uptime, apdex, response_time_total
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20))  # note /10, ratio 0-1, percent, 0-1, ms
    count: Mapped[int | None]  # the number of answers it rests on, when published
    source: Mapped[str] = mapped_column(String(300))
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    service = relationship("Service", lazy="joined")
