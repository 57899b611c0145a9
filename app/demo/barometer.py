"""The demo's barometer: the state's observatory reproduced. Every procedure of ``procedures.csv`` with published
edition-window figures (``procedure_indicators.csv``) becomes a service (unless a demo service already carries its
``jdma:<id>``); the 123 whose figures rest on at most 2,000 answers get demo answers, dated over the last twelve
months, that give exactly their six published indicators (``app/barometer/observatoire.py``); the others get their
published figures, imported as an editor imports them and shown beside (``flask feedback load-observatoire`` loads
their full counts on PostgreSQL).

Services without a published name are named by their site's host (``jdma:<id>`` without a URL), in an organisation
of their own, « Démarches suivies par l'observatoire ». Idempotent: a service that has responses, or published
figures, is left as it is.
"""

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from ..accounts.models import User
from ..barometer import importing, observatoire
from ..barometer.models import PublishedFigure
from ..catalog.models import Organisation, OrganisationKind, Service
from ..catalog.service import slugify
from ..clock import utcnow
from ..extensions import db
from ..feedback.models import FeedbackResponse

DEMO_MAX_ANSWERS = 2000  # the demo loads the services whose figures rest on at most this many answers
ORGANISATION_SLUG = "observatoire"
ORGANISATION_NAME = "Démarches suivies par l'observatoire"
ORGANISATION_URL = "https://observatoire.numerique.gouv.fr/"

_JDMA = re.compile(r"jdma:(\d+)")


@dataclass(frozen=True)
class Procedure:
    """A row of ``procedures.csv`` that names a JDMA product."""

    ref: str  # jdma:<id>
    name: str
    url: str

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc.lower()

    @property
    def number(self) -> str:
        return self.ref.split(":", 1)[1]


@dataclass(frozen=True)
class Observatory:
    procedures: tuple[Procedure, ...]  # in the file's order
    hosts: dict[str, int]  # host -> rows of procedures.csv on it
    lines: tuple[observatoire.Line, ...]
    published: dict[str, observatoire.Published]  # procedure -> edition-window figures

    def followed(self) -> list[Procedure]:
        """The procedures with published figures."""
        return [p for p in self.procedures if p.ref in self.published]

    def small(self) -> list[Procedure]:
        return [p for p in self.followed() if self.published[p.ref].responses <= DEMO_MAX_ANSWERS]

    def large(self) -> list[Procedure]:
        return [p for p in self.followed() if self.published[p.ref].responses > DEMO_MAX_ANSWERS]


def read_observatory(data_dir: str | Path) -> Observatory:
    """The procedures and their published figures from the reference data (``OSError`` or ``ValueError`` when a
    file is missing or unreadable)."""
    data = Path(data_dir)
    procedures, hosts, seen = [], {}, set()
    with (data / "procedures.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            url = row.get("url") or ""
            host = urlsplit(url).netloc.lower()
            if host:
                hosts[host] = hosts.get(host, 0) + 1
            match = _JDMA.search(row.get("source") or "")
            if match and f"jdma:{match.group(1)}" not in seen:
                seen.add(f"jdma:{match.group(1)}")
                procedures.append(Procedure(f"jdma:{match.group(1)}", (row.get("name") or "").strip(), url))
    lines = tuple(observatoire.read_lines(data / "procedure_indicators.csv"))
    return Observatory(tuple(procedures), hosts, lines, observatoire.published_figures(lines))


def _organisation() -> Organisation:
    organisation = db.session.scalar(select(Organisation).where(Organisation.slug == ORGANISATION_SLUG))
    if organisation is None:
        organisation = Organisation(slug=ORGANISATION_SLUG, name=ORGANISATION_NAME, kind=OrganisationKind.other,
                                    url=ORGANISATION_URL, description="")
        db.session.add(organisation)
        db.session.flush()
    return organisation


def _slug(procedure: Procedure, observatory: Observatory, taken: set[str]) -> str:
    """From the host when it is the host of this procedure only (``www.`` left out), else ``jdma-<id>``."""
    host = procedure.host
    if host and observatory.hosts.get(host) == 1:
        slug = slugify(host.removeprefix("www."))
        if slug not in taken:
            return slug
    return f"jdma-{procedure.number}"


def observatory_services(observatory: Observatory) -> dict[str, Service]:
    """procedure -> its service, for every procedure with published figures; the missing ones are made (in the
    caller's transaction)."""
    followed = observatory.followed()
    services = {s.external_ref: s for s in db.session.scalars(
        select(Service).where(Service.external_ref.in_([p.ref for p in followed])))}
    taken = set(db.session.scalars(select(Service.slug)))
    organisation = None
    for procedure in followed:
        if procedure.ref in services:
            continue
        organisation = organisation or _organisation()
        slug = _slug(procedure, observatory, taken)
        taken.add(slug)
        service = Service(slug=slug, name=procedure.name or procedure.host or procedure.ref,
                          organisation=organisation, url=procedure.url or None, external_ref=procedure.ref,
                          description="", online=True)
        db.session.add(service)
        services[procedure.ref] = service
    db.session.flush()
    return services


def _answered(service_ids: list[int]) -> set[int]:
    return set(db.session.scalars(select(FeedbackResponse.service_id).distinct()
                                  .where(FeedbackResponse.service_id.in_(service_ids))))


def load_answers(observatory: Observatory, procedures: list[Procedure], services: dict[str, Service],
                 now: datetime, copy: bool = True) -> tuple[observatoire.Loaded, list[observatoire.Plan]]:
    """Answers for ``procedures`` whose services have none yet (in the caller's transaction); the plans, whose
    ``deviations`` say where the form could not give the published figure (``observatoire.load``'s ``copy``)."""
    answered = _answered([services[p.ref].id for p in procedures])
    plans = [(services[p.ref].id, observatoire.solve(observatory.published[p.ref], nearest=True))
             for p in procedures if services[p.ref].id not in answered and observatory.published[p.ref].responses]
    rows = ((service_id, response) for service_id, plan in plans for response in observatoire.answers(plan))
    return observatoire.load(rows, now, copy=copy), [plan for _id, plan in plans]


def _csv_text(lines: list[observatoire.Line]) -> str:
    """``lines`` as a file in the format of ``procedure_indicators.csv``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("procedure", "edition_or_period", "indicator", "value", "unit_or_scale", "source"))
    writer.writerows((line.procedure, line.period, line.indicator, line.value, line.unit, line.source)
                     for line in lines)
    return out.getvalue()


def import_published(observatory: Observatory, procedures: list[Procedure], services: dict[str, Service],
                     importer: User) -> int:
    """The published figures of ``procedures`` whose services have none yet, imported by ``importer`` as an editor
    imports a file (``barometer.importing``); the figures added."""
    ids = [services[p.ref].id for p in procedures]
    having = set(db.session.scalars(select(PublishedFigure.service_id).distinct()
                                    .where(PublishedFigure.service_id.in_(ids))))
    wanted = {p.ref for p in procedures if services[p.ref].id not in having}
    if not wanted:
        return 0
    text = _csv_text([line for line in observatory.lines if line.procedure in wanted])
    return importing.import_figures(importer, text).added


def seed_barometer(observatory: Observatory, importer: User | None, now: datetime | None = None) -> bool:
    """The observatory's services, the answers of the small ones and, imported by ``importer`` (the demo's admin),
    the published figures of the others; True when anything was created. Each part is committed before the next:
    the import starts a write transaction of its own."""
    before = db.session.scalar(select(db.func.count(Service.id)))
    services = observatory_services(observatory)
    created = db.session.scalar(select(db.func.count(Service.id))) != before
    db.session.commit()
    loaded, _plans = load_answers(observatory, observatory.small(), services, now or utcnow())
    db.session.commit()
    imported = import_published(observatory, observatory.large(), services, importer) if importer else 0
    return created or loaded.responses > 0 or imported > 0
