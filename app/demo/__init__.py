"""Demo data for ``make run``, built from the reference data of ``app/data/reference`` (its README names the
sources and licences). All or nothing: the reference data is checked before anything is written, and the whole
demo is loaded in one transaction.

Every object is found by its natural key (slug, e-mail) before being created, so a second run
changes nothing and later issues can extend the demo without a reset.

All the demo lives here, for the one command that runs it (``flask seed-demo``): this module seeds the catalogue,
the accounts and the workshops, and ``proposals``, ``consultations`` and ``decisions`` beside it seed theirs.
Everything goes through the areas' services, so the demo obeys the same rules as people do; no area imports it.
"""

import csv
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import select, update
from sqlalchemy.orm import scoped_session, sessionmaker

from ..accounts.models import User
from ..accounts.passwords import hash_password
from ..catalog.models import LifeEvent, Membership, Organisation, OrganisationKind, Role, Service
from ..clock import utcnow
from ..extensions import db
from ..workshops import jobs as workshop_jobs
from ..workshops import service as workshops
from ..workshops import signup as workshop_signup
from ..workshops.models import CategoryCheck, QuestionKind, Registration, Visibility, Workshop, WorkshopFormat
from .barometer import read_observatory, seed_barometer
from .consultations import seed_consultations
from .decisions import seed_decisions
from .feedback import seed_feedback
from .proposals import seed_proposals

DEMO_PASSWORD = "atelier-demo-2026"  # noqa: S105 (documented demo accounts, never in production)

DEMO_USERS = [
    # email, display name, admin, verified, (org slug, role) or None
    ("admin@atelier.example", "Alix Admin", True, True, None),
    ("citoyenne@atelier.example", "Camille Citoyenne", False, True, None),
    ("nonverifie@atelier.example", "Noé Non-vérifié", False, False, None),
    ("animatrice@atelier.example", "Fatou Animatrice", False, True, ("dinum", Role.facilitator)),
    ("editeur@atelier.example", "Étienne Éditeur", False, True, ("dinum", Role.editor)),
    ("animateur.caf@atelier.example", "Hugo Animateur", False, True, ("cnaf", Role.facilitator)),
] + [(f"participant{n}@atelier.example", name, False, True, None) for n, name in enumerate(
    ["Amina", "Bastien", "Chloé", "David", "Élise", "Farid", "Gaëlle", "Henri"], start=1)]

ORGANISATIONS = [
    ("dinum", "Direction interministérielle du numérique (DINUM)", OrganisationKind.ministry,
     "https://www.numerique.gouv.fr/"),
    ("dgfip", "Direction générale des Finances publiques", OrganisationKind.ministry, "https://www.impots.gouv.fr/"),
    ("cnam", "Assurance Maladie", OrganisationKind.agency, "https://www.ameli.fr/"),
    ("cnaf", "Caisse nationale des allocations familiales", OrganisationKind.agency, "https://www.caf.fr/"),
    ("france-travail", "France Travail", OrganisationKind.agency, "https://www.francetravail.fr/"),
    ("ants", "Agence nationale des titres sécurisés", OrganisationKind.agency, "https://ants.gouv.fr/"),
    ("urssaf", "Urssaf", OrganisationKind.agency, "https://www.urssaf.fr/"),
    ("assurance-retraite", "L'Assurance retraite", OrganisationKind.agency, "https://www.lassuranceretraite.fr/"),
    ("dila", "Direction de l'information légale et administrative", OrganisationKind.ministry,
     "https://www.service-public.gouv.fr/"),
    ("cnous", "Réseau des Crous", OrganisationKind.agency, "https://www.etudiant.gouv.fr/"),
    ("anah", "Agence nationale de l'habitat", OrganisationKind.agency, "https://www.anah.gouv.fr/"),
    ("ville-de-lyon", "Ville de Lyon", OrganisationKind.local_authority, "https://www.lyon.fr/"),
]

# Life events beyond the reference data's life_events.csv: DINUM « moments de vie » named in its
# 2023-07-04 announcement (« Simplification de 10 moments de vie »).
EXTRA_LIFE_EVENTS = [
    ("je-cherche-un-emploi", "Je cherche un emploi"),
    ("je-prepare-ma-retraite", "Je prépare ma retraite"),
    ("je-cree-mon-entreprise", "Je crée mon entreprise"),
    ("je-perds-un-proche", "Je perds un proche"),
]

LIFE_EVENT_ENGLISH = {
    "je-demenage": "I am moving house in France",
    "je-deviens-parent": "I am becoming a parent",
    "je-pars-de-chez-mes-parents": "I am leaving my parents' home",
    "je-pars-vivre-a-l-etranger": "I am going to live abroad",
    "je-deviens-etudiant": "I am becoming a student",
    "je-pars-je-vis-et-je-rentre-de-l-etranger": "I leave, live in and come back from abroad",
    "je-renove-mon-logement": "I am renovating my home",
    "je-cherche-un-emploi": "I am looking for a job",
    "je-prepare-ma-retraite": "I am preparing my retirement",
    "je-cree-mon-entreprise": "I am starting a business",
    "je-perds-un-proche": "I have lost a loved one",
}

# slug, name, organisation, host whose first URL in procedures.csv is used, channels, life events
SERVICES = [
    ("declaration-de-revenus", "Déclarer ses revenus en ligne", "dgfip", "www.impots.gouv.fr",
     ("online", "phone", "counter"), ("je-demenage", "je-pars-vivre-a-l-etranger", "je-deviens-etudiant")),
    ("timbre-fiscal", "Acheter un timbre fiscal électronique", "dgfip", "timbres.impots.gouv.fr",
     ("online", "counter"), ("je-pars-vivre-a-l-etranger",)),
    ("compte-ameli", "Gérer son compte ameli", "cnam", "assure.ameli.fr", ("online", "phone", "counter"),
     ("je-demenage", "je-deviens-parent", "je-pars-de-chez-mes-parents", "je-deviens-etudiant")),
    ("mon-espace-sante", "Activer Mon espace santé", "cnam", "www.monespacesante.fr", ("online", "phone"),
     ("je-deviens-parent",)),
    ("prestations-caf", "Demander une prestation à la Caf", "cnaf", "wwwd.caf.fr", ("online", "phone", "counter"),
     ("je-deviens-parent", "je-demenage", "je-pars-de-chez-mes-parents", "je-perds-un-proche")),
    ("aide-au-logement", "Demander une aide au logement", "cnaf", "connect.caf.fr", ("online", "counter"),
     ("je-pars-de-chez-mes-parents", "je-deviens-etudiant", "je-demenage")),
    ("inscription-france-travail", "S'inscrire à France Travail", "france-travail", "candidat.francetravail.fr",
     ("online", "phone", "counter"), ("je-cherche-un-emploi",)),
    ("mon-compte-formation", "Utiliser son compte personnel de formation", "france-travail",
     "www.moncompteformation.gouv.fr", ("online",), ("je-cherche-un-emploi",)),
    ("carte-grise", "Changer l'adresse de sa carte grise", "ants", "immatriculation.ants.gouv.fr", ("online",),
     ("je-demenage",)),
    ("permis-de-conduire", "Demander son permis de conduire", "ants", "permisdeconduire.ants.gouv.fr", ("online",),
     ("je-deviens-etudiant",)),
    ("passeport", "Faire une demande de passeport", "ants", "passeport.ants.gouv.fr", ("online", "counter"),
     ("je-pars-vivre-a-l-etranger", "je-pars-je-vis-et-je-rentre-de-l-etranger")),
    ("auto-entrepreneur", "Créer une micro-entreprise", "urssaf", "www.autoentrepreneur.urssaf.fr",
     ("online", "phone"), ("je-cree-mon-entreprise",)),
    ("pajemploi", "Déclarer un·e assistant·e maternel·le (Pajemploi)", "urssaf", "pajemploi.urssaf.fr",
     ("online", "phone"), ("je-deviens-parent",)),
    ("retraite-en-ligne", "Demander sa retraite en ligne", "assurance-retraite", "www.info-retraite.fr",
     ("online", "phone", "counter"), ("je-prepare-ma-retraite", "je-perds-un-proche")),
    ("simulateur-retraite", "Estimer le montant de sa retraite", "assurance-retraite", "www.lassuranceretraite.fr",
     ("online",), ("je-prepare-ma-retraite",)),
    ("inscription-electorale", "S'inscrire sur les listes électorales", "dila",
     "www.inscriptionelectorale.service-public.fr", ("online", "counter"),
     ("je-demenage", "je-pars-de-chez-mes-parents", "je-pars-je-vis-et-je-rentre-de-l-etranger")),
    ("changement-adresse", "Déclarer un changement d'adresse", "dila", "www.service-public.gouv.fr", ("online",),
     ("je-demenage", "je-pars-de-chez-mes-parents")),
    ("logement-social", "Demander un logement social", "dila", "www.demande-logement-social.gouv.fr",
     ("online", "counter"), ("je-pars-de-chez-mes-parents", "je-demenage")),
    ("dossier-social-etudiant", "Constituer son dossier social étudiant", "cnous", "www.messervices.etudiant.gouv.fr",
     ("online",), ("je-deviens-etudiant",)),
    ("logement-crous", "Trouver un logement Crous", "cnous", "trouverunlogement.lescrous.fr", ("online",),
     ("je-deviens-etudiant", "je-pars-de-chez-mes-parents")),
    ("maprimerenov", "Demander MaPrimeRénov'", "anah", "www.maprimerenov.gouv.fr", ("online", "phone"),
     ("je-renove-mon-logement",)),
    ("vote-francais-etranger", "Voter depuis l'étranger", "dinum", "votefae.diplomatie.gouv.fr", ("online",),
     ("je-pars-vivre-a-l-etranger", "je-pars-je-vis-et-je-rentre-de-l-etranger")),
    ("demarches-simplifiees", "Déposer un dossier sur Démarches simplifiées", "dinum", "www.demarches-simplifiees.fr",
     ("online",), ("je-cree-mon-entreprise", "je-renove-mon-logement")),
    ("inscription-creche", "Inscrire son enfant en crèche", "ville-de-lyon", None, ("online", "counter"),
     ("je-deviens-parent",)),
]


class ReferenceDataError(Exception):
    """The reference data lacks a file, a column or a row the demo links to (nothing was written)."""


def _read_csv(path: Path, columns: set[str]) -> list[dict]:
    """The rows of a reference file that has ``columns``, each row whole."""
    rows = []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            lacking = columns - set(reader.fieldnames or ())
            if lacking:
                raise ReferenceDataError(f"{path} has no column {', '.join(sorted(lacking))}")
            for row in reader:
                if None in row.values():  # a file cut short
                    raise ReferenceDataError(f"{path}: line {reader.line_num} has too few fields")
                rows.append(row)
    except FileNotFoundError as err:
        raise ReferenceDataError(f"{path} is missing") from err
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ReferenceDataError(f"{path} cannot be read: {err}") from err
    return rows


def read_reference_data(data_dir: str | Path) -> tuple[list[tuple], dict[str, tuple[str, str | None]]]:
    """The life events of life_events.csv as (slug, name, source), and the first (url, jdma ref) per host of
    procedures.csv. ``ReferenceDataError`` unless they hold every life event and every host the demo links."""
    data = Path(data_dir)
    rows = _read_csv(data / "life_events.csv", {"slug", "name_fr"})
    events = [(r["slug"], r["name_fr"], r.get("source")) for r in rows]
    urls = _procedure_urls(_read_csv(data / "procedures.csv", {"url"}))
    known = {slug for slug, _name, _source in events} | {slug for slug, _name in EXTRA_LIFE_EVENTS}
    missing_events = sorted({slug for *_service, event_slugs in SERVICES for slug in event_slugs} - known)
    missing_hosts = [host for _slug, _name, _org, host, *_rest in SERVICES if host and host not in urls]
    lacking = []
    if missing_events:
        lacking.append(f"life_events.csv has no {', '.join(missing_events)}")
    if missing_hosts:
        lacking.append(f"procedures.csv has no URL on {', '.join(missing_hosts)}")
    if lacking:
        raise ReferenceDataError(f"the reference data in {data} is incomplete: {'; '.join(lacking)}")
    return events, urls


def _procedure_urls(rows: list[dict]) -> dict[str, tuple[str, str | None]]:
    """First (url, jdma ref) per host in procedures.csv."""
    result: dict[str, tuple[str, str | None]] = {}
    for row in rows:
        url = row.get("url") or ""
        host = urlsplit(url).netloc
        ref = row.get("source") or ""
        jdma = ref.split("jdma:", 1)[1].split(";")[0].split(")")[0].strip() if "jdma:" in ref else None
        if host and host not in result:
            result[host] = (url, f"jdma:{jdma}" if jdma else None)
    return result


def _get_or_create(model, key: dict, **fields):
    obj = db.session.scalar(select(model).filter_by(**key))
    if obj is not None:
        return obj, False
    obj = model(**key, **fields)
    db.session.add(obj)
    db.session.flush()
    return obj, True


class _SessionOnConnection(FlaskSession):
    """Flask-SQLAlchemy's session, on the connection it is bound to (Flask-SQLAlchemy's ``get_bind`` always
    picks the engine, so a session bound to a connection would still take a connection of its own)."""

    def get_bind(self, *args, **kwargs):
        return self.bind if self.bind is not None else super().get_bind(*args, **kwargs)


@contextmanager
def _one_transaction():
    """Run the block in one database transaction, committed at the end or rolled back if anything raises.

    ``db.session`` is bound to it meanwhile, joining it with a savepoint: each service's ``commit()`` only
    releases a savepoint (and ``rollback()``, ``begin_write()`` included, goes back to the last one), so
    services run unchanged. The transaction writes from the start: on SQLite it begins with ``BEGIN
    IMMEDIATE`` and the process's write lock (``sqlite_immediate``, see ``database.py``). The app's session
    is put back after, even on error. ``db.session`` is the process's: this is for a command run on its own
    (``flask seed-demo``) or a test, never beside requests.
    """
    app_session = db.session
    app_session.remove()  # nothing of the caller's stays open (on SQLite, it could hold the write lock)
    with db.engine.connect() as connection:
        connection.execution_options(sqlite_immediate=True)
        with connection.begin():
            db.session = scoped_session(sessionmaker(class_=_SessionOnConnection, db=db, bind=connection,
                                                     join_transaction_mode="create_savepoint"))
            try:
                yield
            finally:
                db.session.remove()
                db.session = app_session


def seed(data_dir: str | Path) -> bool:
    """Load the demo, all or nothing; returns True when anything was created.

    Raises ``ReferenceDataError``, having written nothing, when the reference data in ``data_dir`` lacks what
    the demo links; any error on the way rolls back everything the demo wrote.
    """
    events, urls = read_reference_data(data_dir)
    try:
        observatory = read_observatory(data_dir)
    except (OSError, ValueError, csv.Error) as err:
        raise ReferenceDataError(f"the observatory's figures in {data_dir} cannot be read: {err}") from err
    with _one_transaction():
        created = _seed(events, urls)
        return seed_barometer(observatory, _user("admin@atelier.example")) or created


def _seed(csv_events: list[tuple], urls: dict[str, tuple[str, str | None]]) -> bool:
    """The demo, each part through its services; True when anything was created."""
    created_any = False

    orgs = {}
    for slug, name, kind, url in ORGANISATIONS:
        orgs[slug], created = _get_or_create(Organisation, {"slug": slug}, name=name, kind=kind, url=url,
                                             description="")
        created_any |= created

    events = {}
    extra = [(slug, name, "DINUM « moments de vie », communiqué du 2023-07-04") for slug, name in EXTRA_LIFE_EVENTS]
    for position, (slug, name, source) in enumerate(csv_events + extra, start=1):
        events[slug], created = _get_or_create(
            LifeEvent, {"slug": slug}, name_fr=name, name_en=LIFE_EVENT_ENGLISH.get(slug), source=source,
            position=position, description_fr="", description_en=None)
        created_any |= created

    for slug, name, org_slug, host, channels, event_slugs in SERVICES:
        url, ref = urls.get(host, (None, None)) if host else (None, None)
        service, created = _get_or_create(
            Service, {"slug": slug}, name=name, organisation=orgs[org_slug], url=url, external_ref=ref,
            description="", online="online" in channels, phone="phone" in channels, counter="counter" in channels)
        if created:
            service.life_events = [events[s] for s in event_slugs if s in events]
        created_any |= created

    password_hash = None
    for email, name, admin, verified, membership in DEMO_USERS:
        if db.session.scalar(select(User).where(User.email == email)):
            continue
        password_hash = password_hash or hash_password(DEMO_PASSWORD)
        user = User(email=email, display_name=name, password_hash=password_hash, is_admin=admin,
                    email_verified_at=utcnow() if verified else None, terms_accepted_at=utcnow())
        db.session.add(user)
        if membership:
            org_slug, role = membership
            db.session.add(Membership(user=user, organisation=orgs[org_slug], role=role))
        created_any = True

    db.session.commit()
    created_any |= _seed_workshops()
    created_any |= seed_proposals()
    created_any |= seed_consultations()
    created_any |= seed_decisions()
    created_any |= seed_feedback()
    return created_any


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def _seed_workshops() -> bool:
    """Workshops in every state: open, full with a waiting list and an offered seat, with quotas,
    invitation-only, cancelled, draft, and past with attendance and evaluations."""
    if db.session.scalar(select(Workshop.id).limit(1)) is not None:
        return False
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    dinum = db.session.scalar(select(Organisation).where(Organisation.slug == "dinum"))
    cnaf = db.session.scalar(select(Organisation).where(Organisation.slug == "cnaf"))
    fatou, hugo = _user("animatrice@atelier.example"), _user("animateur.caf@atelier.example")
    people = [_user(f"participant{n}@atelier.example") for n in range(1, 9)]
    camille = _user("citoyenne@atelier.example")
    moving = db.session.scalar(select(LifeEvent).where(LifeEvent.slug == "je-demenage"))
    parent = db.session.scalar(select(LifeEvent).where(LifeEvent.slug == "je-deviens-parent"))
    address_service = db.session.scalar(select(Service).where(Service.slug == "changement-adresse"))
    caf_service = db.session.scalar(select(Service).where(Service.slug == "prestations-caf"))
    accessibility = {"kind": QuestionKind.short_text, "is_accessibility": True, "required": False,
                     "label": "Avez-vous des besoins d'accessibilité (accès, interprétation, documents adaptés…) ?"}

    def when(days, hours=2, hour=14):
        start = (now + timedelta(days=days)).replace(hour=hour - 1)  # 14:00 Paris is 13:00 UTC in winter
        return {"starts_at": start, "ends_at": start + timedelta(hours=hours)}

    def make(actor, org, capacity, title, **fields):
        base = {"description_md": "", "expected_change": "", "address": "", "access_info": "", "meeting_link": "",
                "accessibility_info": "", "format": WorkshopFormat.in_person, "visibility": Visibility.public}
        return workshops.create_workshop(actor, org, capacity=capacity, **{**base, **fields, "title": title})

    # 1. Open, hybrid, questions; Camille is confirmed.
    open_ws = make(
        fatou, dinum, 12, "Je déménage : simplifions le changement d'adresse", **when(10),
        format=WorkshopFormat.hybrid, address="20 avenue de Ségur, 75007 Paris",
        access_info="Métro Ségur (ligne 10). Accueil au rez-de-chaussée.",
        meeting_link="https://visio.atelier.example/demenagement", accessibility_info="Salle accessible en fauteuil, "
        "boucle magnétique. Interprète LSF sur demande à l'inscription.",
        expected_change="Réduire le nombre de démarches à faire quand on change d'adresse.",
        description_md="Déménager oblige à prévenir **de nombreux organismes**. Venez raconter votre parcours "
        "et imaginer avec les équipes un changement d'adresse en une fois.\n\n- 2 heures d'échanges\n"
        "- en petits groupes\n- un café offert",
        questions=[accessibility, {"kind": QuestionKind.single_choice, "label": "Avez-vous déménagé cette année ?",
                                   "choices_text": "Oui\nNon\nBientôt", "required": True}],
        life_event_ids=[moving.id], service_ids=[address_service.id])
    workshops.publish_workshop(fatou, open_ws)
    workshop_signup.sign_up(open_ws, camille, answers={open_ws.questions[1].id: "Oui"})
    for person in people[:3]:
        workshop_signup.sign_up(open_ws, person, answers={open_ws.questions[1].id: "Bientôt"})

    # 2. Full with quotas, a waiting list and an offered seat; the agents' category is checked at check-in.
    full = make(hugo, cnaf, 3, "Je deviens parent : les démarches de la naissance", **when(5),
                address="Caf de Paris, 50 rue du Docteur Finlay, 75015 Paris",
                expected_change="Simplifier la déclaration de naissance et la demande de prestations.",
                quotas=[("Usagers", 2, False), ("Agents", 1, True)], category_check=CategoryCheck.at_check_in,
                life_event_ids=[parent.id], service_ids=[caf_service.id])
    workshops.publish_workshop(hugo, full)
    usagers, agents = full.categories
    for person in people[3:7]:
        workshop_signup.sign_up(full, person, category_id=usagers.id)
    workshop_signup.sign_up(full, people[7], category_id=agents.id)
    first = db.session.scalar(select(Registration).where(Registration.workshop_id == full.id,
                                                         Registration.user_id == people[3].id))
    workshop_signup.cancel_registration(first, people[3])  # the first waitlisted person is now offered the seat

    # 3. Invitation-only panel.
    panel = make(hugo, cnaf, 8, "Panel d'agents : l'accueil des familles", **when(15),
                 format=WorkshopFormat.online, meeting_link="https://visio.atelier.example/panel",
                 visibility=Visibility.invitation, expected_change="Recueillir l'avis des agents d'accueil.")
    workshops.publish_workshop(hugo, panel)

    # 4. Cancelled, 5. draft.
    cancelled = make(fatou, dinum, 10, "Impôts : la déclaration en ligne pas à pas", **when(20),
                     address="Bercy, 139 rue de Bercy, 75012 Paris")
    workshops.publish_workshop(fatou, cancelled)
    workshop_signup.sign_up(cancelled, people[0])
    workshops.cancel_workshop(fatou, cancelled, "La salle n'est plus disponible ; une nouvelle date sera proposée.")
    make(fatou, dinum, 15, "Je pars à la retraite : préparer son dossier (brouillon)", **when(40))

    # 6. Past, with attendance and evaluations: created ahead, then moved into the past.
    past = make(fatou, dinum, 8, "Carte grise : changer d'adresse en ligne", **when(2),
                address="20 avenue de Ségur, 75007 Paris",
                expected_change="Comprendre pourquoi le changement d'adresse de la carte grise échoue.",
                life_event_ids=[moving.id])
    workshops.publish_workshop(fatou, past)
    for person in people:
        workshop_signup.sign_up(past, person)
    db.session.execute(update(Workshop).where(Workshop.id == past.id).values(
        starts_at=now - timedelta(days=20, hours=2), ends_at=now - timedelta(days=20)))
    db.session.commit()
    regs = db.session.scalars(select(Registration).where(Registration.workshop_id == past.id)
                              .order_by(Registration.id)).all()
    for reg in regs[:6]:
        workshops.check_in(fatou, reg)
    workshop_jobs.record_attendance()
    for reg, (score, heard, again) in zip(regs[:5], [(5, "yes", "yes"), (4, "yes", "yes"), (4, "partly", "maybe"),
                                                     (5, "yes", "yes"), (3, "partly", "yes")], strict=True):
        workshops.submit_evaluation(reg, reg.user, overall=score, felt_heard=heard, would_return=again,
                                    comment="")
    return True
