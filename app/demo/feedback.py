"""Demo feedback: « Je donne mon avis » answers on a DINUM service, sent through the form's own service over the past
weeks (some stop after the first step), two irritants, three experiences (two published, one answered by Étienne
Éditeur) and, when DINUM owns a measure, the comments linked to it. Idempotent: nothing is added once the service
has a response."""

from datetime import timedelta

from sqlalchemy import select

from ..accounts.models import User
from ..catalog.models import Organisation, Service
from ..clock import utcnow
from ..decisions.models import Measure
from ..extensions import db
from ..feedback import experiences, linking, triage
from ..feedback import service as feedback
from ..feedback.models import Experience, FeedbackResponse, Source

SERVICE_SLUG = "demarches-simplifiees"
EDITOR_EMAIL = "editeur@atelier.example"
# (days ago, source, satisfaction, comprehension, help sought, comment, consent to publish, irritant)
ANSWERS = [
    (30, Source.atelier, 3, 8, [17], "", False, None),
    (27, Source.link, 1, 5, [10, 11], "On m'a demandé trois fois le même justificatif de domicile, sur trois pages "
                                      "différentes.", True, "Justificatif demandé plusieurs fois"),
    (25, Source.qr, 2, None, None, "", False, None),
    (21, Source.button, 3, 7, [17], "Rapide et clair, merci.", True, None),
    (18, Source.embed, 1, 4, [9], "Le dossier s'est bloqué à l'envoi et personne au guichet ne savait pourquoi.",
     True, "Blocage à l'envoi"),
    (12, Source.link, 2, 6, [15], "", False, None),
    (9, Source.embed, 1, 5, [10], "Encore un justificatif de domicile demandé alors qu'il est déjà au dossier.",
     False, "Justificatif demandé plusieurs fois"),
    (4, Source.qr, 3, None, None, "", False, None),
]
REPLY = ("Merci pour ce retour. Le justificatif de domicile n'est plus redemandé quand il figure déjà au dossier "
         "depuis la dernière mise à jour.")


def seed_feedback() -> bool:
    """True when the demo feedback was created now."""
    service = db.session.scalar(select(Service).where(Service.slug == SERVICE_SLUG))
    editor = db.session.scalar(select(User).where(User.email == EDITOR_EMAIL))
    if service is None or editor is None or db.session.scalar(
            select(FeedbackResponse.id).where(FeedbackResponse.service_id == service.id).limit(1)) is not None:
        return False
    tags, tagged = {}, {}
    for days, source, satisfaction, comprehension, help_sought, comment, consent, irritant in ANSWERS:
        when = utcnow() - timedelta(days=days)
        response, token = feedback.start_response(service, feedback.new_submission_key(), source,
                                                  {"satisfaction": satisfaction}, now=when)
        if comprehension is not None:
            feedback.store_step(token, 2, {"comprehension": comprehension}, now=when)
            feedback.store_step(token, 3, {"contact_tried": help_sought}, page="main", now=when)
            feedback.store_step(token, 4, {"verbatim": comment}, consent=consent, now=when)
        if irritant:
            if irritant not in tags:
                tags[irritant] = triage.add_tag(service, editor, irritant)
            tagged.setdefault(irritant, []).append(response.id)
    for irritant, ids in tagged.items():
        for response_id in ids:
            triage.set_response_tags(db.session.get(FeedbackResponse, response_id), editor, [tags[irritant].id])
    pending = db.session.scalars(select(Experience).join(FeedbackResponse)
                                 .where(FeedbackResponse.service_id == service.id)
                                 .order_by(FeedbackResponse.created_at)).all()
    first, second = (experiences.publish_experience(e, editor) for e in pending[:2])
    experiences.reply_to_experience(first, editor, REPLY, experiences.default_signature(editor, service.organisation))
    dinum = db.session.scalar(select(Organisation).where(Organisation.slug == "dinum"))
    measure = db.session.scalar(select(Measure).where(Measure.organisation_id == dinum.id).order_by(Measure.id))
    if measure is not None:
        linking.link_to_measure(editor, measure.id, tag_id=tags["Justificatif demandé plusieurs fois"].id)
    return True
