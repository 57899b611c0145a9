"""One table: every endpoint x every role -> the designed outcome.

The list of routes comes from ``app.url_map``: a route added without a row here fails
``test_every_route_has_an_expected_outcome``.
"""

import pytest

from app import create_app
from app.boards import service as boards
from app.catalog.models import Role
from app.extensions import db
from app.mail.service import queue_mail
from app.workshops import signup as workshop_signup
from tests.conftest import get_csrf, login
from tests.consultations.helpers import permission_values as consultation_values
from tests.decisions.helpers import permission_values as decision_values
from tests.factories import make_life_event, make_member, make_organisation, make_service, make_user, make_workshop
from tests.feedback.form_helpers import permission_values as feedback_form_values
from tests.feedback.manage_helpers import permission_values as feedback_manage_values
from tests.feedback.outcome_helpers import permission_values as feedback_outcome_values
from tests.proposals.helpers import permission_values as proposal_values

ROLES = ["anonymous", "citizen", "facilitator", "facilitator_other", "editor", "admin"]

OK, LOGIN, FORBIDDEN, REDIRECT, NOT_FOUND = "ok", "login", "forbidden", "redirect", "404"


def everyone(outcome):
    return dict.fromkeys(ROLES, outcome)


def logged_in(outcome=OK):
    return {**everyone(outcome), "anonymous": LOGIN}


def admin_only(outcome=OK):
    return {**everyone(FORBIDDEN), "anonymous": LOGIN, "admin": outcome}


def org_staff(outcome=OK):
    """Facilitators of the object's organisation and admins."""
    return {**admin_only(outcome), "facilitator": outcome}


def any_facilitator(outcome=OK):
    """Anyone who facilitates some organisation (their own objects only), and admins."""
    return {**org_staff(outcome), "facilitator_other": outcome}


# rule -> (method, sample URL (format fields filled from the fixture data), outcome per role)
EXPECTED = {
    "/": ("GET", "/", everyone(OK)),
    "/accessibilite": ("GET", "/accessibilite", everyone(OK)),
    "/confidentialite": ("GET", "/confidentialite", everyone(OK)),
    "/conditions-d-utilisation": ("GET", "/conditions-d-utilisation", everyone(OK)),
    "/healthz": ("GET", "/healthz", everyone(OK)),
    "/langue": ("POST", "/langue", everyone(REDIRECT)),
    "/moments-de-vie/": ("GET", "/moments-de-vie/", everyone(OK)),
    "/moments-de-vie/<slug>": ("GET", "/moments-de-vie/{event}", everyone(OK)),
    "/organisations/": ("GET", "/organisations/", everyone(OK)),
    "/organisations/<slug>": ("GET", "/organisations/{org}", everyone(OK)),
    "/demarches/": ("GET", "/demarches/", everyone(OK)),
    "/demarches/<slug>": ("GET", "/demarches/{service}", everyone(OK)),
    "/compte/inscription": ("GET", "/compte/inscription", {**everyone(REDIRECT), "anonymous": OK}),
    "/compte/inscription/courriel-envoye": ("GET", "/compte/inscription/courriel-envoye", everyone(OK)),
    "/compte/connexion": ("GET", "/compte/connexion", everyone(OK)),
    "/compte/deconnexion": ("POST", "/compte/deconnexion", logged_in(REDIRECT)),
    # A bad link sends people back to their account page, or to the login page when logged out.
    "/compte/verifier/<token>": ("GET", "/compte/verifier/not-a-token", logged_in(REDIRECT)),
    "/compte/renvoyer-verification": ("POST", "/compte/renvoyer-verification", logged_in(REDIRECT)),
    "/compte/mot-de-passe-oublie": ("GET", "/compte/mot-de-passe-oublie", everyone(OK)),
    "/compte/reinitialiser/<token>": ("GET", "/compte/reinitialiser/not-a-token", everyone(REDIRECT)),
    "/compte/": ("GET", "/compte/", logged_in()),
    "/compte/mot-de-passe": ("GET", "/compte/mot-de-passe", logged_in()),
    "/compte/adresse": ("GET", "/compte/adresse", logged_in()),
    "/compte/adresse/confirmer/<token>": ("GET", "/compte/adresse/confirmer/not-a-token", logged_in(REDIRECT)),
    # Logging out everywhere ends this session too: back to the login page.
    "/compte/deconnexion-partout": ("POST", "/compte/deconnexion-partout", everyone(LOGIN)),
    "/compte/mes-donnees": ("GET", "/compte/mes-donnees", logged_in()),
    "/compte/mes-donnees/telecharger": ("POST", "/compte/mes-donnees/telecharger", logged_in()),
    "/compte/supprimer": ("GET", "/compte/supprimer", logged_in()),
    "/admin/": ("GET", "/admin/", admin_only()),
    "/admin/courriels/": ("GET", "/admin/courriels/", admin_only()),
    "/admin/courriels/<int:message_id>": ("GET", "/admin/courriels/{message}", admin_only()),
    "/admin/organisations/nouvelle": ("GET", "/admin/organisations/nouvelle", admin_only()),
    "/admin/organisations/<slug>/modifier": ("GET", "/admin/organisations/{org}/modifier", admin_only()),
    "/admin/organisations/<slug>/membres": ("GET", "/admin/organisations/{org}/membres", admin_only()),
    "/admin/membres/<int:membership_id>/retirer": ("POST", "/admin/membres/{membership}/retirer",
                                                   admin_only(REDIRECT)),
    "/admin/demarches/nouvelle": ("GET", "/admin/demarches/nouvelle", admin_only()),
    "/admin/demarches/<slug>/modifier": ("GET", "/admin/demarches/{service}/modifier", admin_only()),
    "/admin/moments-de-vie/nouveau": ("GET", "/admin/moments-de-vie/nouveau", admin_only()),
    "/admin/moments-de-vie/<slug>/modifier": ("GET", "/admin/moments-de-vie/{event}/modifier", admin_only()),
    # Workshops, public side. Nobody in this table is registered to the workshop: the pages about
    # one's own registration answer 404.
    "/ateliers/": ("GET", "/ateliers/", everyone(OK)),
    "/ateliers/passes": ("GET", "/ateliers/passes", everyone(OK)),
    "/ateliers/<int:workshop_id>": ("GET", "/ateliers/{workshop}", everyone(OK)),
    "/ateliers/<int:workshop_id>.ics": ("GET", "/ateliers/{workshop}.ics", everyone(OK)),
    "/ateliers/calendrier.ics": ("GET", "/ateliers/calendrier.ics", everyone(OK)),
    "/ateliers/organisations/<slug>.ics": ("GET", "/ateliers/organisations/{org}.ics", everyone(OK)),
    "/ateliers/mon-calendrier/<token>.ics": ("GET", "/ateliers/mon-calendrier/not-a-token.ics", everyone(NOT_FOUND)),
    "/ateliers/<int:workshop_id>/inscription": ("GET", "/ateliers/{workshop}/inscription", logged_in()),
    "/ateliers/<int:workshop_id>/desinscription": ("POST", "/ateliers/{workshop}/desinscription",
                                                   logged_in(NOT_FOUND)),
    "/ateliers/<int:workshop_id>/confirmer": ("POST", "/ateliers/{workshop}/confirmer", logged_in(NOT_FOUND)),
    "/ateliers/<int:workshop_id>/convocation": ("GET", "/ateliers/{workshop}/convocation", logged_in(NOT_FOUND)),
    "/ateliers/<int:workshop_id>/evaluation": ("GET", "/ateliers/{workshop}/evaluation", logged_in(NOT_FOUND)),
    "/ateliers/mes-ateliers": ("GET", "/ateliers/mes-ateliers", logged_in()),
    "/ateliers/mon-calendrier/regenerer": ("POST", "/ateliers/mon-calendrier/regenerer", logged_in(REDIRECT)),
    # Workshops, staff side: the organisation's facilitators and admins.
    "/ateliers/gestion/": ("GET", "/ateliers/gestion/", any_facilitator()),
    "/ateliers/gestion/nouveau": ("GET", "/ateliers/gestion/nouveau", any_facilitator()),
    "/ateliers/gestion/<int:workshop_id>": ("GET", "/ateliers/gestion/{workshop}", org_staff()),
    "/ateliers/gestion/<int:workshop_id>/modifier": ("GET", "/ateliers/gestion/{workshop}/modifier", org_staff()),
    "/ateliers/gestion/<int:workshop_id>/annuler": ("GET", "/ateliers/gestion/{workshop}/annuler", org_staff()),
    "/ateliers/gestion/<int:workshop_id>/inscrire": ("GET", "/ateliers/gestion/{workshop}/inscrire", org_staff()),
    "/ateliers/gestion/<int:workshop_id>/message": ("GET", "/ateliers/gestion/{workshop}/message", org_staff()),
    "/ateliers/gestion/<int:workshop_id>/pointage": ("GET", "/ateliers/gestion/{workshop}/pointage", org_staff()),
    "/ateliers/gestion/<int:workshop_id>/inscrits.csv": ("GET", "/ateliers/gestion/{workshop}/inscrits.csv",
                                                         org_staff()),
    "/ateliers/gestion/<int:workshop_id>/publier": ("POST", "/ateliers/gestion/{workshop}/publier",
                                                    org_staff(REDIRECT)),
    "/ateliers/gestion/<int:workshop_id>/nouveau-lien": ("POST", "/ateliers/gestion/{workshop}/nouveau-lien",
                                                         org_staff(REDIRECT)),
    "/ateliers/gestion/<int:workshop_id>/dupliquer": ("POST", "/ateliers/gestion/{workshop}/dupliquer",
                                                      org_staff(REDIRECT)),
    "/ateliers/gestion/inscriptions/<int:registration_id>/categorie/confirmer": (
        "POST", "/ateliers/gestion/inscriptions/{registration}/categorie/confirmer", org_staff(REDIRECT)),
    "/ateliers/gestion/inscriptions/<int:registration_id>/categorie/changer": (
        "POST", "/ateliers/gestion/inscriptions/{registration}/categorie/changer", org_staff(REDIRECT)),
    "/ateliers/gestion/inscriptions/<int:registration_id>/annuler": (
        "GET", "/ateliers/gestion/inscriptions/{registration}/annuler", org_staff()),
    "/ateliers/gestion/inscriptions/<int:registration_id>/pointer": (
        "POST", "/ateliers/gestion/inscriptions/{registration}/pointer", org_staff(REDIRECT)),
    "/ateliers/gestion/inscriptions/<int:registration_id>/promouvoir": (
        "POST", "/ateliers/gestion/inscriptions/{registration}/promouvoir", org_staff(REDIRECT)),
    # Live boards (board of organisation A, outside any workshop).
    "/tableaux/": ("GET", "/tableaux/", logged_in()),
    "/tableaux/nouveau": ("GET", "/tableaux/nouveau", any_facilitator()),
    "/tableaux/<int:board_id>": ("GET", "/tableaux/{board}", org_staff()),
    "/tableaux/<int:board_id>/colonnes": ("GET", "/tableaux/{board}/colonnes", org_staff()),
    "/tableaux/<int:board_id>/presentation": ("GET", "/tableaux/{board}/presentation", org_staff()),
    "/tableaux/<int:board_id>/export.<fmt>": ("GET", "/tableaux/{board}/export.csv", org_staff()),
    "/tableaux/<int:board_id>/code": ("POST", "/tableaux/{board}/code", org_staff(REDIRECT)),
    # Only people on the board post; anonymous visitors may be guests, so they get 403, not the login page.
    "/tableaux/<int:board_id>/idees": ("POST", "/tableaux/{board}/idees",
                                       {**org_staff(REDIRECT), "anonymous": FORBIDDEN}),
    "/tableaux/rejoindre": ("GET", "/tableaux/rejoindre", everyone(OK)),
    "/tableaux/rejoindre/<code>": ("GET", "/tableaux/rejoindre/NOPE00", everyone(REDIRECT)),
    # Consultations: {consultation} is open (voting now), {consultation_draft} a draft, {consultation_closed}
    # closed; all of organisation A. Organisers are A's editors and facilitators, and admins.
    "/consultations/": ("GET", "/consultations/", everyone(OK)),
    "/consultations/<int:consultation_id>": ("GET", "/consultations/{consultation}", everyone(OK)),
    "/consultations/<int:consultation_id>/vote": ("GET", "/consultations/{consultation}/vote", logged_in()),
    "/consultations/<int:consultation_id>/vote/retirer": ("POST", "/consultations/{consultation}/vote/retirer",
                                                          logged_in(REDIRECT)),
    "/consultations/<int:consultation_id>/resultats": ("GET", "/consultations/{consultation_closed}/resultats",
                                                       everyone(OK)),
    "/consultations/nouvelle": ("GET", "/consultations/nouvelle", {**any_facilitator(), "editor": OK}),
    "/consultations/<int:consultation_id>/modifier": ("GET", "/consultations/{consultation_draft}/modifier",
                                                      {**org_staff(), "editor": OK}),
    "/consultations/<int:consultation_id>/gestion": ("GET", "/consultations/{consultation_draft}/gestion",
                                                     {**org_staff(), "editor": OK}),
    # Refused by the service (the consultation is open / not open): back to the management page.
    "/consultations/<int:consultation_id>/propositions/<int:proposal_id>/retirer": (
        "POST", "/consultations/{consultation}/propositions/{cproposal}/retirer", {**org_staff(REDIRECT),
                                                                                   "editor": REDIRECT}),
    "/consultations/<int:consultation_id>/ouvrir": ("POST", "/consultations/{consultation}/ouvrir",
                                                    {**org_staff(REDIRECT), "editor": REDIRECT}),
    "/consultations/<int:consultation_id>/clore": ("POST", "/consultations/{consultation_draft}/clore",
                                                   {**org_staff(REDIRECT), "editor": REDIRECT}),
    # Proposals: {proposal} and {proposal_withdraw} are published proposals of organisation A by the citizen,
    # {pcomment} a comment on {proposal}, {idea} an idea of board A that led to no proposal yet. One-button
    # POSTs the service refuses (nothing to submit, not supported...) flash the reason and redirect.
    "/propositions/": ("GET", "/propositions/", everyone(OK)),
    "/propositions/similaires": ("GET", "/propositions/similaires?q=demenagement", everyone(OK)),
    "/propositions/nouvelle": ("GET", "/propositions/nouvelle", logged_in()),
    "/propositions/mes-propositions": ("GET", "/propositions/mes-propositions", logged_in()),
    "/propositions/<int:proposal_id>": ("GET", "/propositions/{proposal}", everyone(OK)),
    "/propositions/<int:proposal_id>/modifier": ("GET", "/propositions/{proposal}/modifier",
                                                 {**everyone(FORBIDDEN), "anonymous": LOGIN, "citizen": OK}),
    "/propositions/<int:proposal_id>/masquer": ("GET", "/propositions/{proposal}/masquer",
                                                {**admin_only(), "editor": OK}),
    "/propositions/commentaires/<int:comment_id>/masquer": ("GET", "/propositions/commentaires/{pcomment}/masquer",
                                                            {**admin_only(), "editor": OK}),
    "/propositions/<int:proposal_id>/fusionner": ("GET", "/propositions/{proposal}/fusionner",
                                                  {**org_staff(), "editor": OK}),
    "/propositions/moderation": ("GET", "/propositions/moderation", {**any_facilitator(), "editor": OK}),
    # {preport}: an open report on {pcomment}, for the editors of the proposal's organisation and admins. Hiding
    # without a reason gives them the form back with its error (422); closing it needs no note.
    "/propositions/signalements/<int:report_id>": ("GET", "/propositions/signalements/{preport}",
                                                   {**admin_only(), "editor": OK}),
    "/propositions/signalements/<int:report_id>/masquer": ("POST", "/propositions/signalements/{preport}/masquer",
                                                           {**admin_only("422"), "editor": "422"}),
    "/propositions/signalements/<int:report_id>/classer": ("POST", "/propositions/signalements/{preport}/classer",
                                                           {**admin_only(REDIRECT), "editor": REDIRECT}),
    "/propositions/organisations/<int:organisation_id>/reglages": (
        "GET", "/propositions/organisations/{org_id}/reglages", {**admin_only(), "editor": OK}),
    "/propositions/tableaux/<int:board_id>": ("GET", "/propositions/tableaux/{board}", org_staff()),
    "/propositions/idees/<int:idea_id>": ("GET", "/propositions/idees/{idea}",
                                          {**everyone(NOT_FOUND), "facilitator": OK, "admin": OK}),
    "/propositions/<int:proposal_id>/soumettre": ("POST", "/propositions/{proposal}/soumettre", logged_in(REDIRECT)),
    "/propositions/<int:proposal_id>/retirer": ("POST", "/propositions/{proposal_withdraw}/retirer",
                                                logged_in(REDIRECT)),
    "/propositions/<int:proposal_id>/soutenir": ("POST", "/propositions/{proposal}/soutenir", logged_in(REDIRECT)),
    "/propositions/<int:proposal_id>/retirer-soutien": ("POST", "/propositions/{proposal}/retirer-soutien",
                                                        logged_in(REDIRECT)),
    "/propositions/<int:proposal_id>/suivre": ("POST", "/propositions/{proposal}/suivre", logged_in(REDIRECT)),
    "/propositions/<int:proposal_id>/ne-plus-suivre": ("POST", "/propositions/{proposal}/ne-plus-suivre",
                                                       logged_in(REDIRECT)),
    "/propositions/<int:proposal_id>/commentaires": ("POST", "/propositions/{proposal}/commentaires",
                                                     logged_in(REDIRECT)),
    "/propositions/<int:proposal_id>/signaler": ("POST", "/propositions/{proposal}/signaler", logged_in(REDIRECT)),
    "/propositions/<int:proposal_id>/publier": ("POST", "/propositions/{proposal}/publier",
                                                {**admin_only(REDIRECT), "editor": REDIRECT}),
    "/propositions/tableaux/<int:board_id>/promouvoir": ("POST", "/propositions/tableaux/{board}/promouvoir",
                                                         org_staff(NOT_FOUND)),
    # Notifications: one's own only.
    "/notifications/": ("GET", "/notifications/", logged_in()),
    "/notifications/lues": ("POST", "/notifications/lues", logged_in(REDIRECT)),
    "/notifications/preferences": ("POST", "/notifications/preferences", logged_in(REDIRECT)),
    "/notifications/parcours": ("POST", "/notifications/parcours", logged_in(REDIRECT)),
    # Reports: public and read-only (the dashboard's filters are a GET form).
    "/rapports/": ("GET", "/rapports/", everyone(OK)),
    "/rapports/organisations/<slug>": ("GET", "/rapports/organisations/{org}", everyone(OK)),
    # Decisions: the editors of the proposal's organisation and admins (facilitators do not answer).
    "/decisions/propositions/<int:proposal_id>/reponse": ("GET", "/decisions/propositions/{d_proposal}/reponse",
                                                          {**admin_only(), "editor": OK}),
    "/decisions/organisations/<int:organisation_id>/a-repondre": (
        "GET", "/decisions/organisations/{d_org_id}/a-repondre", {**admin_only(), "editor": OK}),
    "/decisions/organisations/<int:organisation_id>/delai": ("GET", "/decisions/organisations/{d_org_id}/delai",
                                                             {**admin_only(), "editor": OK}),
    "/decisions/mesures/<int:measure_id>": ("GET", "/decisions/mesures/{d_measure}", everyone(OK)),
    # The trail: a public workshop's report is public.
    "/decisions/ateliers/<int:workshop_id>/bilan": ("GET", "/decisions/ateliers/{workshop}/bilan", everyone(OK)),
    "/decisions/organisations/<int:organisation_id>/mesures/nouvelle": (
        "GET", "/decisions/organisations/{d_org_id}/mesures/nouvelle", {**admin_only(), "editor": OK}),
    "/decisions/mesures/<int:measure_id>/modifier": ("GET", "/decisions/mesures/{d_measure}/modifier",
                                                     {**admin_only(), "editor": OK}),
    "/decisions/mesures/<int:measure_id>/avancement": ("GET", "/decisions/mesures/{d_measure}/avancement",
                                                       {**admin_only(), "editor": OK}),
    # Sent empty: the editors get the form back with its errors (422).
    "/decisions/mesures/<int:measure_id>/jalons": ("POST", "/decisions/mesures/{d_measure}/jalons",
                                                   {**admin_only("422"), "editor": "422"}),
    "/decisions/jalons/<int:milestone_id>/realise": ("POST", "/decisions/jalons/{d_milestone}/realise",
                                                     {**admin_only(REDIRECT), "editor": REDIRECT}),
    # Importing measures from CSV: the organisation's editors and admins; a confirmation sent without its signed
    # preview gives the editors the upload page back with the error (422). The template is public.
    "/decisions/organisations/<int:organisation_id>/mesures/import": (
        "GET", "/decisions/organisations/{d_org_id}/mesures/import", {**admin_only(), "editor": OK}),
    "/decisions/organisations/<int:organisation_id>/mesures/import/confirmer": (
        "POST", "/decisions/organisations/{d_org_id}/mesures/import/confirmer", {**admin_only("422"), "editor": "422"}),
    "/decisions/mesures/modele-import.csv": ("GET", "/decisions/mesures/modele-import.csv", everyone(OK)),
    # Open data and the read-only API: public, the same for everyone.
    "/donnees-ouvertes/": ("GET", "/donnees-ouvertes/", everyone(OK)),
    "/donnees-ouvertes/datapackage.json": ("GET", "/donnees-ouvertes/datapackage.json", everyone(OK)),
    "/donnees-ouvertes/<name>.<any(csv, json):fmt>": ("GET", "/donnees-ouvertes/proposals.csv", everyone(OK)),
    "/donnees-ouvertes/flux.atom": ("GET", "/donnees-ouvertes/flux.atom", everyone(OK)),
    "/donnees-ouvertes/reponses-aux-avis.atom": ("GET", "/donnees-ouvertes/reponses-aux-avis.atom", everyone(OK)),
    "/api/v1/": ("GET", "/api/v1/", everyone(OK)),
    "/api/v1/openapi.json": ("GET", "/api/v1/openapi.json", everyone(OK)),
    "/api/v1/<resource>": ("GET", "/api/v1/proposals", everyone(OK)),
    "/api/v1/<resource>/<int:item_id>": ("GET", "/api/v1/measures/{d_measure}", everyone(OK)),
    "/api/v1/barometer": ("GET", "/api/v1/barometer", everyone(OK)),
    "/api/v1/barometer/services": ("GET", "/api/v1/barometer/services", everyone(OK)),
    "/api/v1/barometer/services/<slug>": ("GET", "/api/v1/barometer/services/{service}", everyone(OK)),
    "/api/v1/barometer/services/<slug>/monthly": ("GET", "/api/v1/barometer/services/{service}/monthly",
                                                  everyone(OK)),
    "/api/v1/barometer/organisations/<slug>": ("GET", "/api/v1/barometer/organisations/{org}", everyone(OK)),
    "/api/v1/barometer/life-events/<slug>": ("GET", "/api/v1/barometer/life-events/{event}", everyone(OK)),
    # The « Je donne mon avis » form (app/feedback/routes.py): public, without an account; {feedback_token} is the link
    # of an open response of {service}, its third step answered so that its follow-up questions show.
    "/avis/<service_slug>": ("GET", "/avis/{service}", everyone(OK)),
    "/avis/reponse/<token>": ("GET", "/avis/reponse/{feedback_token}", everyone(OK)),
    "/avis/reponse/<token>/etape/<int:step>": ("GET", "/avis/reponse/{feedback_token}/etape/2", everyone(OK)),
    "/avis/reponse/<token>/etape/<int:step>/suite": ("GET", "/avis/reponse/{feedback_token}/etape/3/suite",
                                                     everyone(OK)),
    "/avis/reponse/<token>/merci": ("GET", "/avis/reponse/{feedback_token}/merci", everyone(OK)),
    # Feedback on the service's own website (app/feedback/embed.py): the « Diffuser » page, its allowed origins and the
    # QR code are for the service's organisation's editors and admins (an empty origin comes back with its error,
    # 422; withdrawing an origin the service does not have, 404); the button images and the embed are for everyone
    # (an unknown response token: 404).
    "/avis/gestion/<service_slug>/diffuser": ("GET", "/avis/gestion/{service}/diffuser",
                                              {**admin_only(), "editor": OK}),
    "/avis/gestion/<service_slug>/diffuser/sites": ("POST", "/avis/gestion/{service}/diffuser/sites",
                                                    {**admin_only("422"), "editor": "422"}),
    "/avis/gestion/<service_slug>/diffuser/sites/<int:origin_id>/retirer": (
        "POST", "/avis/gestion/{service}/diffuser/sites/999999/retirer",
        {**admin_only(NOT_FOUND), "editor": NOT_FOUND}),
    "/avis/gestion/<service_slug>/code-qr.svg": ("GET", "/avis/gestion/{service}/code-qr.svg",
                                                 {**admin_only(), "editor": OK}),
    "/avis/boutons/<lang>/<variant>.svg": ("GET", "/avis/boutons/fr/plein-clair.svg", everyone(OK)),
    "/avis/<service_slug>/integre": ("GET", "/avis/{service}/integre", everyone(OK)),
    "/avis/<service_slug>/integre/<token>": ("GET", "/avis/{service}/integre/not-a-token", everyone(NOT_FOUND)),
    "/avis/<service_slug>/integre/<token>/etape/<int:step>": ("GET", "/avis/{service}/integre/not-a-token/etape/2",
                                                              everyone(NOT_FOUND)),
    "/avis/<service_slug>/integre/<token>/etape/<int:step>/suite": (
        "GET", "/avis/{service}/integre/not-a-token/etape/3/suite", everyone(NOT_FOUND)),
    "/avis/<service_slug>/integre/<token>/merci": ("GET", "/avis/{service}/integre/not-a-token/merci",
                                                   everyone(NOT_FOUND)),
    # Triage and experiences (app/feedback/manage.py): the editors of the service's organisation and admins.
    # {fb_response} is a response of {service} with a comment, {fb_experience} its experience (pending, its author's
    # hour over), {fb_tag} an irritant of {service}. One-button POSTs redirect back; refusing without a reason and
    # replying without a text give the form back with its errors (422). Rows run in this order: the irritant is
    # renamed before it is removed.
    "/avis/gestion": ("GET", "/avis/gestion", {**admin_only(), "editor": OK}),
    "/avis/gestion/<service_slug>/reponses": ("GET", "/avis/gestion/{service}/reponses",
                                              {**admin_only(), "editor": OK}),
    "/avis/gestion/<service_slug>/reponses.csv": ("GET", "/avis/gestion/{service}/reponses.csv",
                                                  {**admin_only(), "editor": OK}),
    "/avis/gestion/reponses/<int:response_id>/indesirable": ("POST", "/avis/gestion/reponses/{fb_response}/indesirable",
                                                             {**admin_only(REDIRECT), "editor": REDIRECT}),
    "/avis/gestion/reponses/<int:response_id>/pas-indesirable": (
        "POST", "/avis/gestion/reponses/{fb_response}/pas-indesirable", {**admin_only(REDIRECT), "editor": REDIRECT}),
    "/avis/gestion/reponses/<int:response_id>/irritants": ("POST", "/avis/gestion/reponses/{fb_response}/irritants",
                                                           {**admin_only(REDIRECT), "editor": REDIRECT}),
    "/avis/gestion/<service_slug>/irritants": ("GET", "/avis/gestion/{service}/irritants",
                                               {**admin_only(), "editor": OK}),
    "/avis/gestion/irritants/<int:tag_id>/renommer": ("POST", "/avis/gestion/irritants/{fb_tag}/renommer",
                                                      {**admin_only(REDIRECT), "editor": REDIRECT}),
    "/avis/gestion/irritants/<int:tag_id>/supprimer": ("POST", "/avis/gestion/irritants/{fb_tag}/supprimer",
                                                       {**admin_only(REDIRECT), "editor": REDIRECT}),
    "/avis/gestion/<service_slug>/experiences": ("GET", "/avis/gestion/{service}/experiences",
                                                 {**admin_only(), "editor": OK}),
    "/avis/gestion/experiences/<int:experience_id>": ("GET", "/avis/gestion/experiences/{fb_experience}",
                                                      {**admin_only(), "editor": OK}),
    "/avis/gestion/experiences/<int:experience_id>/refuser": (
        "POST", "/avis/gestion/experiences/{fb_experience}/refuser", {**admin_only("422"), "editor": "422"}),
    "/avis/gestion/experiences/<int:experience_id>/publier": (
        "POST", "/avis/gestion/experiences/{fb_experience}/publier", {**admin_only(REDIRECT), "editor": REDIRECT}),
    "/avis/gestion/experiences/<int:experience_id>/repondre": (
        "POST", "/avis/gestion/experiences/{fb_experience}/repondre", {**admin_only("422"), "editor": "422"}),
    # Published experiences, the organisations' replies and the moderation charter: public.
    "/avis/charte": ("GET", "/avis/charte", everyone(OK)),
    "/avis/experiences": ("GET", "/avis/experiences", everyone(OK)),
    "/avis/experiences/<service_slug>": ("GET", "/avis/experiences/{service}", everyone(OK)),
    # Verbatims turned into proposals, workshop topics and links (app/feedback/outcomes.py): the editors of the
    # service's organisation and admins (the page; its form POSTs to the same rule).
    "/avis/gestion/<service_slug>/suites": ("GET", "/avis/gestion/{service}/suites", {**admin_only(), "editor": OK}),
    # The barometer (app/barometer/routes.py): public and read-only, the same for everyone.
    "/barometre/": ("GET", "/barometre/", everyone(OK)),
    "/barometre/services/<slug>": ("GET", "/barometre/services/{service}", everyone(OK)),
    "/barometre/organisations/<slug>": ("GET", "/barometre/organisations/{org}", everyone(OK)),
    "/barometre/moments-de-vie/<slug>": ("GET", "/barometre/moments-de-vie/{event}", everyone(OK)),
    "/barometre/methode": ("GET", "/barometre/methode", everyone(OK)),
    # Importing figures published elsewhere (app/barometer/manage.py): editors of any organisation (for their own
    # services) and admins; a confirmation sent without its signed preview gives them the upload page back (422).
    "/barometre/gestion/import": ("GET", "/barometre/gestion/import", {**admin_only(), "editor": OK}),
    "/barometre/gestion/import/confirmer": ("POST", "/barometre/gestion/import/confirmer",
                                            {**admin_only("422"), "editor": "422"}),
    # Workshop topics proposed from users' feedback (app/workshops/manage_topics.py): facilitators, their own
    # organisations' topics; {w_topic} is one of A's, sent without a workshop: back to the list with the error.
    "/ateliers/gestion/sujets": ("GET", "/ateliers/gestion/sujets", any_facilitator()),
    "/ateliers/gestion/sujets/<int:topic_id>/atelier": ("POST", "/ateliers/gestion/sujets/{w_topic}/atelier",
                                                         org_staff(REDIRECT)),
}


def test_every_route_has_an_expected_outcome():
    app = create_app("test")
    rules = {r.rule for r in app.url_map.iter_rules() if r.endpoint != "static"}
    assert rules - set(EXPECTED) == set(), "routes without a row in the permission table"
    assert set(EXPECTED) - rules == set(), "rows for routes that no longer exist"


def _world():
    """Organisation A with a facilitator and an editor; organisation B with its own facilitator."""
    org = make_organisation(slug="org-a")
    other = make_organisation(slug="org-b")
    event = make_life_event(slug="moment-a")
    service = make_service(org, slug="service-a", life_events=[event])
    users = {
        "citizen": make_user(email="citizen@example.org"),
        "facilitator": make_member(org, Role.facilitator, email="facilitator@example.org"),
        "facilitator_other": make_member(other, Role.facilitator, email="facilitator.b@example.org"),
        "editor": make_member(org, Role.editor, email="editor@example.org"),
        "admin": make_user(email="admin@example.org", admin=True),
    }
    message = queue_mail("x@example.org", "verify_email", "fr", user=users["citizen"], link="http://x")
    workshop = make_workshop(org, creator=users["admin"])
    registrant = make_user(email="registrant@example.org")
    db.session.commit()
    registration = workshop_signup.sign_up(workshop, registrant)
    board = boards.create_board(users["admin"], org, "Tableau A", "irritants")
    values = {"org": org.slug, "service": service.slug, "event": event.slug, "message": message.id,
              "workshop": workshop.id, "registration": registration.id, "board": board.id,
              "membership": users["facilitator_other"].memberships[0].id}
    values.update(consultation_values(org, users["editor"]))
    values.update(proposal_values(org, users["citizen"], users["facilitator"], board))
    values.update(decision_values(org, users["citizen"]))
    values.update(feedback_form_values(service))
    values.update(feedback_manage_values(service))
    values.update(feedback_outcome_values(org))
    return users, values


def _outcome(response) -> str:
    if response.status_code == 200:
        return OK
    if response.status_code == 403:
        return FORBIDDEN
    if response.status_code == 302:
        return LOGIN if "/compte/connexion" in response.headers["Location"] else REDIRECT
    return str(response.status_code)


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(client, role):
    users, values = _world()
    if role != "anonymous":
        login(client, users[role].email)
    failures = []
    for rule, (method, url, outcomes) in EXPECTED.items():
        url = url.format(**values)
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={"csrf_token": get_csrf(client, "/")})
        got = _outcome(response)
        if got != outcomes[role]:
            failures.append(f"{method} {rule}: expected {outcomes[role]}, got {got}")
        if role != "anonymous" and rule in ("/compte/deconnexion", "/compte/deconnexion-partout"):
            _relogin(client, users[role])
    assert not failures, "\n".join(failures)


def _relogin(client, user):
    db.session.refresh(user)
    login(client, user.email)
