"""A service's « Je donne mon avis » on its own website: the editors' « Diffuser le formulaire » page and the origins
they allow, the button images and the QR code, and the embed (the form in an iframe) with its own protection against
cross-site requests, its per-service ``frame-ancestors`` and no cookie at all."""

import html as htmllib
import re
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
import segno
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from app.catalog.models import Role
from app.errors import NotAllowed, NotFound
from app.extensions import db
from app.feedback import embedding, errors
from app.feedback.models import EmbedOrigin, FeedbackAnswer, FeedbackResponse, Source
from tests.conftest import csrf_from, get_csrf, login, make_app, prepared_db
from tests.factories import make_member, make_organisation, make_service, make_user

SVG = "{http://www.w3.org/2000/svg}"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}


@pytest.fixture
def world(app):
    org = make_organisation(slug="org-embed")
    other_org = make_organisation(slug="org-other")
    service = make_service(org, slug="carte-vitale", name="Commander une carte Vitale")
    other_service = make_service(other_org, slug="autre-demarche")
    users = {
        "editor": make_member(org, Role.editor, email="editor@example.org"),
        "other_editor": make_member(other_org, Role.editor, email="other.editor@example.org"),
        "facilitator": make_member(org, Role.facilitator, email="facilitator@example.org"),
        "citizen": make_user(email="citizen@example.org"),
        "admin": make_user(email="admin@example.org", admin=True),
    }
    db.session.commit()
    return {"service": service, "other_service": other_service, **users}


def share_url(service) -> str:
    return f"/avis/gestion/{service.slug}/diffuser"


def embed_url(service) -> str:
    return f"/avis/{service.slug}/integre"


def allow(service, *origins):
    for origin in origins:
        db.session.add(EmbedOrigin(service_id=service.id, origin=origin))
    db.session.commit()


def hidden_value(page: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    assert tag, f"no {name} field in the page"
    return htmllib.unescape(re.search(r'\bvalue="([^"]*)"', tag.group(0)).group(1))


def response_count() -> int:
    return db.session.scalar(select(func.count()).select_from(FeedbackResponse))


def no_cookie(response) -> bool:
    return not response.headers.getlist("Set-Cookie")


def frame_ancestors(response) -> str:
    return re.search(r"frame-ancestors ([^;]*)", response.headers["Content-Security-Policy"]).group(1).strip()


# --- the editors' page ------------------------------------------------------------------------------------------------

def test_an_editor_gets_the_button_in_four_styles_a_link_a_qr_code_and_the_iframe(client, world):
    service = world["service"]
    login(client, world["editor"].email)
    page = client.get(share_url(service))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    snippets = [htmllib.unescape(s) for s in re.findall(r"<textarea[^>]*readonly[^>]*>(.*?)</textarea>", text, re.S)]
    buttons = [s for s in snippets if "<img" in s]
    assert len(buttons) == 4
    for variant, snippet in zip(embedding.BUTTON_VARIANTS, buttons, strict=True):
        assert f'href="http://localhost/avis/{service.slug}?source=button"' in snippet
        assert f'src="http://localhost/avis/boutons/fr/{variant}.svg"' in snippet
        assert 'alt="Je donne mon avis"' in snippet and "<script" not in snippet
    # Each snippet has its label.
    for textarea_id in re.findall(r'<textarea id="([^"]+)"', text):
        assert f'<label for="{textarea_id}">' in text
    assert f'value="http://localhost/avis/{service.slug}?source=link"' in text
    assert f"http://localhost/avis/{service.slug}?source=qr" in text
    assert f'src="/avis/gestion/{service.slug}/code-qr.svg"' in text
    iframe = next(s for s in snippets if s.startswith("<iframe"))
    assert f'src="http://localhost/avis/{service.slug}/integre"' in iframe and 'title="' in iframe
    assert "Aucun site n&#39;est encore autorisé" in text or "Aucun site n'est encore autorisé" in text


def test_the_page_in_english_hands_out_english_buttons_and_embed(client, world):
    service = world["service"]
    login(client, world["editor"].email)
    client.post("/langue", data={"lang": "en", "next": "/", "csrf_token": get_csrf(client, "/")})
    text = client.get(share_url(service)).get_data(as_text=True)
    assert '<html lang="en">' in text
    assert "/avis/boutons/en/plein-clair.svg" in text
    assert f"/avis/{service.slug}/integre?lang=en" in htmllib.unescape(text)


@pytest.mark.parametrize("who", ["other_editor", "facilitator", "citizen"])
def test_the_page_is_refused_to_anyone_but_the_services_editors_and_admins(client, world, who):
    login(client, world[who].email)
    assert client.get(share_url(world["service"])).status_code == 403
    assert client.get(f"/avis/gestion/{world['service'].slug}/code-qr.svg").status_code == 403


def test_the_page_asks_to_sign_in_and_admins_see_it(client, world):
    response = client.get(share_url(world["service"]))
    assert response.status_code == 302 and "/compte/connexion" in response.headers["Location"]
    login(client, world["admin"].email)
    assert client.get(share_url(world["service"])).status_code == 200
    assert client.get("/avis/gestion/nulle-part/diffuser").status_code == 404


# --- allowed origins ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "stored"), [
    ("https://www.exemple.gouv.fr", "https://www.exemple.gouv.fr"),
    (" HTTPS://Www.Exemple.GOUV.fr:443/ ", "https://www.exemple.gouv.fr"),
    ("https://exemple.fr:8443", "https://exemple.fr:8443"),
    ("http://localhost:8001", "http://localhost:8001"),
    ("http://127.0.0.1", "http://127.0.0.1"),
    ("https://192.0.2.10", "https://192.0.2.10"),
])
def test_an_origin_is_stored_as_a_browser_writes_it(typed, stored):
    assert embedding.normalise_origin(typed) == stored


@pytest.mark.parametrize(("typed", "error"), [
    ("", errors.OriginRequired),
    ("   ", errors.OriginRequired),
    ("www.exemple.gouv.fr", errors.OriginMalformed),
    ("https://www.exemple.gouv.fr https://autre.fr", errors.OriginMalformed),
    ("https://*.exemple.gouv.fr", errors.OriginMalformed),
    ("https://a.fr;script-src", errors.OriginMalformed),
    ("http://www.exemple.gouv.fr", errors.OriginNotHttps),
    ("http://localhost.exemple.fr", errors.OriginNotHttps),
    ("ftp://exemple.fr", errors.OriginNotHttps),
    ("javascript://exemple.fr", errors.OriginNotHttps),
    ("https://www.exemple.gouv.fr/demarche", errors.OriginHasPath),
    ("https://www.exemple.gouv.fr/?a=1", errors.OriginHasPath),
    ("https://www.exemple.gouv.fr#top", errors.OriginHasPath),
    ("https://moi@www.exemple.gouv.fr", errors.OriginHasPath),
    ("https://exem_ple.fr", errors.OriginHostInvalid),
    ("https://-exemple.fr", errors.OriginHostInvalid),
    ("https://exemple.fr:99999", errors.OriginHostInvalid),
    ("https://exemple.fr:port", errors.OriginHostInvalid),
    ("https://exemple.fr:0", errors.OriginHostInvalid),
    ("https://[::1]", errors.OriginHostInvalid),
    ("https://", errors.OriginHostInvalid),
])
def test_an_origin_that_is_not_scheme_host_port_in_https_is_refused(typed, error):
    with pytest.raises(error):
        embedding.normalise_origin(typed)


def test_an_editor_allows_and_withdraws_an_origin(client, world):
    service = world["service"]
    login(client, world["editor"].email)
    url = share_url(service)
    response = client.post(url + "/sites", data={"origin": "https://www.ameli.fr/",
                                                 "csrf_token": get_csrf(client, url)})
    assert response.status_code == 302 and response.headers["Location"].endswith(url + "#sites")
    (row,) = db.session.scalars(select(EmbedOrigin)).all()
    assert (row.service_id, row.origin) == (service.id, "https://www.ameli.fr")
    page = client.get(url).get_data(as_text=True)
    assert "https://www.ameli.fr" in page and "peut maintenant intégrer le formulaire" in page
    response = client.post(f"{url}/sites/{row.id}/retirer", data={"csrf_token": get_csrf(client, url)})
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(EmbedOrigin)) == 0


def test_a_refused_origin_comes_back_on_its_field_and_nothing_is_stored(client, world):
    url = share_url(world["service"])
    login(client, world["editor"].email)
    response = client.post(url + "/sites", data={"origin": "http://www.ameli.fr", "csrf_token": get_csrf(client, url)})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "error-summary" in text and 'aria-invalid="true"' in text
    assert "Le site doit être en https" in text
    assert db.session.scalar(select(func.count()).select_from(EmbedOrigin)) == 0


def test_another_organisations_editor_can_neither_allow_nor_withdraw(client, world):
    service = world["service"]
    allow(service, "https://www.ameli.fr")
    origin_id = db.session.scalar(select(EmbedOrigin.id))
    login(client, world["other_editor"].email)
    token = get_csrf(client, "/")
    assert client.post(share_url(service) + "/sites", data={"origin": "https://evil.example",
                                                            "csrf_token": token}).status_code == 403
    assert client.post(f"{share_url(service)}/sites/{origin_id}/retirer", data={"csrf_token": token}).status_code == 403
    assert db.session.scalars(select(EmbedOrigin.origin)).all() == ["https://www.ameli.fr"]
    with pytest.raises(NotAllowed):
        embedding.add_origin(service, world["other_editor"], "https://evil.example")
    with pytest.raises(NotAllowed):
        embedding.remove_origin(service, world["other_editor"], origin_id)


def test_an_origin_of_another_service_cannot_be_withdrawn_through_this_one(client, world):
    allow(world["other_service"], "https://autre.example")
    origin_id = db.session.scalar(select(EmbedOrigin.id))
    login(client, world["editor"].email)
    url = share_url(world["service"])
    response = client.post(f"{url}/sites/{origin_id}/retirer", data={"csrf_token": get_csrf(client, url)})
    assert response.status_code == 404
    with pytest.raises(NotFound):
        embedding.remove_origin(world["service"], world["editor"], origin_id)
    assert db.session.scalar(select(func.count()).select_from(EmbedOrigin)) == 1


@pytest.mark.both_databases("app.feedback.embedding")
def test_an_origin_is_allowed_once_per_service(world):
    service, editor = world["service"], world["editor"]
    embedding.add_origin(service, editor, "https://www.ameli.fr")
    with pytest.raises(errors.OriginAlreadyAllowed):
        embedding.add_origin(service, editor, "HTTPS://www.ameli.fr:443")
    embedding.add_origin(world["other_service"], world["other_editor"], "https://www.ameli.fr")  # another service
    assert db.session.scalar(select(func.count()).select_from(EmbedOrigin)) == 2


@pytest.mark.both_databases("app.feedback.embedding")
def test_a_service_allows_at_most_twenty_origins(world):
    service, editor = world["service"], world["editor"]
    for n in range(embedding.MAX_ORIGINS_PER_SERVICE - 1):
        db.session.add(EmbedOrigin(service_id=service.id, origin=f"https://site{n}.example"))
    db.session.commit()
    embedding.add_origin(service, editor, "https://derniere.example")
    with pytest.raises(errors.TooManyOrigins):
        embedding.add_origin(service, editor, "https://une-de-trop.example")
    assert db.session.scalar(select(func.count()).select_from(EmbedOrigin)) == embedding.MAX_ORIGINS_PER_SERVICE


# --- frame-ancestors --------------------------------------------------------------------------------------------------

def test_the_embed_may_be_framed_only_by_its_services_allowed_origins(client, world):
    allow(world["service"], "https://www.ameli.fr", "http://localhost:8001")
    response = client.get(embed_url(world["service"]))
    assert response.status_code == 200
    assert frame_ancestors(response) == "http://localhost:8001 https://www.ameli.fr"
    assert "X-Frame-Options" not in response.headers
    other = client.get(embed_url(world["other_service"]))
    assert other.status_code == 200
    assert frame_ancestors(other) == "'none'" and other.headers["X-Frame-Options"] == "DENY"


def test_every_other_page_keeps_frame_ancestors_none(client, world):
    service = world["service"]
    allow(service, "https://www.ameli.fr")
    login(client, world["editor"].email)
    for url in ("/", f"/avis/{service.slug}", f"/avis/{service.slug}?source=button", share_url(service),
                f"/demarches/{service.slug}", "/avis/boutons/fr/plein-clair.svg",
                f"/avis/gestion/{service.slug}/code-qr.svg", "/avis/nulle-part/integre"):
        response = client.get(url)
        assert response.status_code in (200, 404), url
        assert frame_ancestors(response) == "'none'", url
        assert response.headers["X-Frame-Options"] == "DENY", url


# --- the embed's protection and its cookies ---------------------------------------------------------------------------

def start_embed(client, service, query=""):
    page = client.get(embed_url(service) + query)
    assert page.status_code == 200
    assert no_cookie(page)
    text = page.get_data(as_text=True)
    return text, hidden_value(text, "submission_key"), hidden_value(text, "embed_token")


def step_one(key, token, **extra):
    return {"submission_key": key, "source": "embed", "embed_token": token, "satisfaction": "3", "website": "",
            **extra}


def past_token(app, service, key, hours=9):
    """A token made ``hours`` ago (past the site's CSRF lifetime of 8 hours), through itsdangerous' own API."""

    class PastSigner(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - hours * 3600

    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=embedding.EMBED_TOKEN_SALT, signer=PastSigner)
    return serializer.dumps(embedding.token_payload(service.id, key))


def test_the_embed_stores_a_first_step_from_its_own_page_and_sets_no_cookie(client, world):
    service = world["service"]
    allow(service, "https://www.ameli.fr")
    _page, key, token = start_embed(client, service)
    response = client.post(embed_url(service), data=step_one(key, token), headers=SAME_ORIGIN)
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    assert no_cookie(response)
    stored = db.session.scalars(select(FeedbackResponse)).one()
    assert (stored.service_id, stored.source, stored.submission_key) == (service.id, Source.embed, key)
    assert db.session.scalars(select(FeedbackAnswer.answer_item_id)
                              .where(FeedbackAnswer.field_code == "satisfaction")).all() == [3]
    next_url = response.headers["Location"]
    assert urlsplit(next_url).path.startswith(f"/avis/{service.slug}/integre/")
    # The next step is the embed's too: framed by the same origins, carrying its token, no cookie.
    step_two = client.get(next_url)
    assert step_two.status_code == 200 and no_cookie(step_two)
    assert frame_ancestors(step_two) == "https://www.ameli.fr"
    assert hidden_value(step_two.get_data(as_text=True), "embed_token")
    assert "csrf_token" not in step_two.get_data(as_text=True)


def test_a_browser_without_sec_fetch_site_is_recognised_by_its_origin(client, world):
    service = world["service"]
    _page, key, token = start_embed(client, service)
    response = client.post(embed_url(service), data=step_one(key, token), headers={"Origin": "http://localhost"})
    assert response.status_code == 302 and no_cookie(response)
    assert response_count() == 1


def test_the_next_steps_check_the_token_of_their_response(client, world):
    service = world["service"]
    _page, key, token = start_embed(client, service)
    next_url = client.post(embed_url(service), data=step_one(key, token), headers=SAME_ORIGIN).headers["Location"]
    page = client.get(next_url).get_data(as_text=True)
    step_token = hidden_value(page, "embed_token")
    refused = client.post(next_url, data={"embed_token": token + "x", "website": ""}, headers=SAME_ORIGIN)
    assert refused.status_code == 400 and no_cookie(refused)
    refusal = htmllib.unescape(refused.get_data(as_text=True))
    assert "n'a pas pu être vérifié" in refusal
    assert f'href="{urlsplit(next_url).path}">Reprendre le formulaire' in refusal  # this page again, fresh
    other_key_token = embedding.make_embed_token(service, "another-submission-key-0123456789")
    assert client.post(next_url, data={"embed_token": other_key_token, "website": ""},
                       headers=SAME_ORIGIN).status_code == 400
    accepted = client.post(next_url, data={"embed_token": step_token, "website": ""}, headers=SAME_ORIGIN)
    assert accepted.status_code == 302 and no_cookie(accepted)


@pytest.mark.parametrize("case", ["missing", "tampered", "expired", "other_service", "other_key"])
def test_the_embed_refuses_a_post_without_a_valid_token_and_writes_nothing(app, client, world, case):
    service = world["service"]
    _page, key, token = start_embed(client, service)
    token = {
        "missing": "",
        "tampered": token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "expired": past_token(app, service, key),
        "other_service": embedding.make_embed_token(world["other_service"], key),
        "other_key": embedding.make_embed_token(service, "another-submission-key-0123456789"),
    }[case]
    response = client.post(embed_url(service), data=step_one(key, token), headers=SAME_ORIGIN)
    assert response.status_code == 400
    assert no_cookie(response)
    text = htmllib.unescape(response.get_data(as_text=True))
    expected = "Ce formulaire a expiré" if case == "expired" else "Ce formulaire n'a pas pu être vérifié"
    assert expected in text and "Requête incorrecte" in text
    assert f'href="/avis/{service.slug}/integre">Reprendre le formulaire' in text  # a fresh form
    assert response_count() == 0


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.localhost"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},  # Sec-Fetch-Site cannot be forged by a page
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {},
], ids=["cross-site", "same-site", "cross-site-origin-forged", "foreign-origin", "null-origin", "no-header"])
def test_the_embed_refuses_a_post_from_another_origin_and_writes_nothing(client, world, headers):
    service = world["service"]
    allow(service, "https://www.ameli.fr")
    _page, key, token = start_embed(client, service)
    response = client.post(embed_url(service), data=step_one(key, token), headers=headers)
    assert response.status_code == 400
    assert no_cookie(response)
    text = htmllib.unescape(response.get_data(as_text=True))
    assert "ne vient pas du formulaire « Je donne mon avis »" in text
    assert frame_ancestors(response) == "https://www.ameli.fr"  # the refusal shows inside the iframe
    assert response_count() == 0


def test_the_embeds_rate_limit_answers_in_its_own_layout(request):
    """Past the form's limit per address, the embed's page says so inside the iframe, and sets no cookie."""
    app = make_app("sqlite", request, RATELIMIT_ENABLED=True, FEEDBACK_RATE_LIMIT="2 per minute")
    with prepared_db(app, "sqlite"):
        service = make_service(slug="limitee")
        db.session.add(EmbedOrigin(service_id=service.id, origin="https://www.ameli.fr"))
        db.session.commit()
        client = app.test_client()
        statuses = []
        for _ in range(3):
            _page, key, token = start_embed(client, service)
            response = client.post(embed_url(service), data=step_one(key, token), headers=SAME_ORIGIN)
            statuses.append(response.status_code)
        assert statuses == [302, 302, 429]
        assert no_cookie(response) and "Retry-After" in response.headers
        assert frame_ancestors(response) == "https://www.ameli.fr"
        text = response.get_data(as_text=True)
        assert "Trop de tentatives" in text and "main-nav" not in text


def test_the_embed_speaks_the_language_its_address_asks_for(client, world):
    service = world["service"]
    text, key, token = start_embed(client, service, "?lang=en")
    assert '<html lang="en">' in text
    response = client.post(embed_url(service) + "?lang=en", data=step_one(key, token), headers=SAME_ORIGIN)
    assert response.status_code == 302 and "lang=en" in response.headers["Location"]
    assert '<html lang="en">' in client.get(response.headers["Location"]).get_data(as_text=True)
    french = client.get(embed_url(service)).get_data(as_text=True)
    assert '<html lang="fr">' in french and "?lang=en" in french  # the switch to English is a plain link


def test_the_embed_page_carries_no_session_token_and_its_errors_stay_in_its_layout(client, world):
    service = world["service"]
    text, _key, _token = start_embed(client, service)
    assert "csrf_token" not in text and "main-nav" not in text
    missing = client.get("/avis/nulle-part/integre")
    assert missing.status_code == 404 and no_cookie(missing)
    assert "Page introuvable" in missing.get_data(as_text=True) and "main-nav" not in missing.get_data(as_text=True)


def test_a_signed_in_visitor_gets_no_new_cookie_from_the_embed(client, world):
    """Same-site, the session cookie is sent: the embed still sets none (it never writes the session)."""
    service = world["service"]
    login(client, world["citizen"].email)
    _page, key, token = start_embed(client, service)
    response = client.post(embed_url(service), data=step_one(key, token), headers=SAME_ORIGIN)
    assert response.status_code == 302 and no_cookie(response)
    thanks = client.get(response.headers["Location"])
    assert no_cookie(thanks)


# --- where each answer came from --------------------------------------------------------------------------------------

def answer_public_form(client, url):
    page = client.get(url)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    return client.post(urlsplit(url).path, data={"csrf_token": csrf_from(text), "website": "", "satisfaction": "2",
                                                 "submission_key": hidden_value(text, "submission_key"),
                                                 "source": hidden_value(text, "source")})


def test_each_entry_point_records_its_source(client, world):
    """The editors' page hands out the button, the link and the QR code, each marked with its source; the embed
    records its own: an answer through each is stored with where it came from."""
    service = world["service"]
    login(client, world["editor"].email)
    page = htmllib.unescape(client.get(share_url(service)).get_data(as_text=True))
    handed_out = {
        Source.button: re.search(r'<a href="([^"]+)" target="_blank"', page).group(1),
        Source.link: re.search(r'id="share-link"[^>]*value="([^"]+)"', page).group(1),
        Source.qr: re.search(r"<code>(http[^<]+source=qr)</code>", page).group(1),
    }
    visitor = client.application.test_client()
    for source, url in handed_out.items():
        assert url.startswith("http://localhost/avis/") and f"source={source.value}" in url
        response = answer_public_form(visitor, url.removeprefix("http://localhost"))
        assert response.status_code == 302, (source, response.get_data(as_text=True)[:500])
    embed = client.application.test_client()
    _page, key, token = start_embed(embed, service)
    assert embed.post(embed_url(service), data=step_one(key, token), headers=SAME_ORIGIN).status_code == 302
    sources = db.session.scalars(select(FeedbackResponse.source).order_by(FeedbackResponse.id)).all()
    assert sources == [Source.button, Source.link, Source.qr, Source.embed]


def test_the_embed_records_embed_whatever_its_address_says(client, world):
    service = world["service"]
    page = client.get(embed_url(service) + "?source=qr").get_data(as_text=True)
    key, token = hidden_value(page, "submission_key"), hidden_value(page, "embed_token")
    data = step_one(key, token, source="qr")
    assert client.post(embed_url(service), data=data, headers=SAME_ORIGIN).status_code == 302
    assert db.session.scalar(select(FeedbackResponse.source)) == Source.embed


# --- the button images and the QR code --------------------------------------------------------------------------------

def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("variant", list(embedding.BUTTON_VARIANTS))
def test_the_button_images_are_valid_svg_cached_long_without_cookie(client, variant, lang):
    response = client.get(f"/avis/boutons/{lang}/{variant}.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    cache = response.headers["Cache-Control"]
    assert "public" in cache and int(re.search(r"max-age=(\d+)", cache).group(1)) >= 30 * 24 * 3600
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert no_cookie(response)
    body = response.get_data()
    assert body.startswith(b"<?xml")
    root = ET.fromstring(body)  # noqa: S314 (our own image, in a test): well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == ("200", "85", "0 0 200 85")
    title = root.find(f"{SVG}title").text
    assert title and (lang != "fr" or title == "Je donne mon avis")
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == lang
    assert " ".join(t.text for t in root.iter(f"{SVG}text")) == title  # the words drawn are the title's
    for element in root.iter():
        assert element.tag.split("}")[-1] not in ("script", "foreignObject", "image", "use", "a", "style"), variant
        assert not any(name.startswith("on") or name.endswith("href") for name in element.attrib), element.attrib
    style = embedding.BUTTON_VARIANTS[variant]
    page = "#ffffff" if style.theme == "light" else "#161616"
    assert contrast(style.ink, style.fill) >= 4.5
    assert contrast(style.stroke if style.style == "outline" else style.fill, page) >= 3
    # Cached copies are revalidated cheaply.
    again = client.get(f"/avis/boutons/{lang}/{variant}.svg", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("url", ["/avis/boutons/fr/rose-fluo.svg", "/avis/boutons/de/plein-clair.svg"])
def test_an_unknown_button_is_not_found(client, url):
    assert client.get(url).status_code == 404


def qr_matrix_from_svg(svg: bytes) -> list[list[bool]]:
    """The dark modules of a QR code drawn as segno draws its SVG (a viewBox one unit per module, and one stroked
    path of horizontal runs a module high: ``M``/``m`` moves, ``h`` runs), read back here without segno."""
    root = ET.fromstring(svg)  # noqa: S314 (our own image, in a test)
    size = int(root.get("viewBox").split()[2])
    path = next(p for p in root.iter(f"{SVG}path") if p.get("stroke"))
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    for command, a, b in re.findall(r"([MmHh])(-?[\d.]+)(?:[ ,](-?[\d.]+))?", path.get("d")):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            for column in range(int(x), int(x + float(a))):
                grid[int(y)][column] = True
            x += float(a)
    return grid


def test_the_qr_code_encodes_the_forms_address_marked_qr(client, world):
    service = world["service"]
    login(client, world["editor"].email)
    response = client.get(f"/avis/gestion/{service.slug}/code-qr.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    svg = response.get_data()
    title = ET.fromstring(svg).find(f"{SVG}title")  # noqa: S314 (our own image, in a test)
    assert title.text == f"http://localhost/avis/{service.slug}?source=qr"
    # No QR decoder is installed (a decoder needs an image library or a system one): the modules drawn are read back
    # from the SVG and compared with those segno encodes for the expected address (with the quiet zone of 4).
    expected = segno.make(f"http://localhost/avis/{service.slug}?source=qr", error="m")
    border = 4
    drawn = qr_matrix_from_svg(svg)
    assert len(drawn) == expected.symbol_size(scale=1, border=border)[0]
    wanted = [[bool(v) for v in row] for row in expected.matrix]
    assert [row[border:-border] for row in drawn[border:-border]] == wanted
    other = segno.make(f"http://localhost/avis/{service.slug}?source=link", error="m")
    assert [row[border:-border] for row in drawn[border:-border]] != [[bool(v) for v in r] for r in other.matrix]
