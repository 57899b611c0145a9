"""Reports: the version of the data the report figures are computed from.

``data_versions`` holds one row per kind of derived data (today only ``reports``). Database triggers
(``app/reports/versions.py``) move the row whenever a table the reports read changes, in the same transaction as
the change, so a copy of the figures kept under one version is exactly the figures of that version. ``epoch``
is drawn at random when the row is created: a database emptied or replaced starts a new epoch, so a copy kept by
a running process for an earlier database is never mistaken for one of the new.
"""

from sqlalchemy import BigInteger, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class DataVersion(db.Model):
    __tablename__ = "data_versions"
    __table_args__ = (CheckConstraint("version >= 1", name="version_positive"),)

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(BigInteger)


from . import versions  # noqa: E402,F401 - the triggers are created with the tables
