"""Atelier behind Debian's nginx, configured as docs/deployment.md says: the real thing, end to end.

nginx runs the block of docs/deployment.md's « nginx in front » section, read from that file: only its
deployment-specific literals (ports, the processes' addresses, certificate and log paths) are replaced, and the
test fails if one of them is missing, so the documentation cannot drift from what runs. nginx terminates TLS
with a throwaway certificate in front of two serve.py processes in production mode (one PostgreSQL database,
Redis for Socket.IO and the rate-limit counters, ``TRUSTED_PROXIES=1``, the default limits). Every request of
the test goes through nginx over HTTPS.

Client addresses: the whole of 127.0.0.0/8 is the loopback on Linux, so a client socket bound to 127.0.0.N
reaches nginx from that address, as people in different places would. nginx reaches the processes from
127.0.0.1 whoever asked: only ``X-Forwarded-For`` (read through ProxyFix) tells the app who is who, so the
rate-limit checks below fail if the app does not trust the proxy.
"""

import contextlib
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import socketio
from limits import parse as parse_limit
from requests.adapters import HTTPAdapter

from app.boards.sockets import guest_cookie_name
from app.config import Config
from tests.boards.live import (
    NS,
    PASSWORD,
    USER_AGENT,
    LiveBoard,
    close_at_once,
    csrf_token,
    eventually,
    in_order,
    join_by_code,
    make_live_board,
    migrate,
    wait_until,
)
from tests.races import new_database
from tests.servers import ROOT, LiveServer, Nginx, free_port, self_signed_certificate
from tests.system import find_nginx

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(find_nginx() is None, reason="Debian's nginx is not installed (package nginx-light)"),
]

DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
SECTION = "## nginx in front"

# Where people are (source addresses of their connections to nginx).
OFFICE = "127.0.0.2"  # sixty people of one office, behind one address
GUESSER = "127.0.0.3"  # a script trying passwords
NEIGHBOUR = "127.0.0.4"  # someone elsewhere, signing in after the script was stopped
RESETTER = "127.0.0.5"  # a script asking for password resets
ELSEWHERE = [f"127.0.0.{n}" for n in range(10, 20)]  # one failed sign-in each, all on one account
# Board participants and the facilitator connect from 127.0.0.1 (no binding), like nginx itself.

OFFICE_PEOPLE = 60
MIN_PEERS, MAX_PEERS = 4, 40  # live board clients: at least, and at most while waiting for both processes


def limit_amount(setting: str) -> int:
    """How many attempts the app's default for ``setting`` allows (the test never changes the limits)."""
    return parse_limit(getattr(Config, setting)).amount


# --- the documented configuration, made to run here ----------------------------------------------------------

def documented_site() -> str:
    """The first ```nginx block of docs/deployment.md's nginx section."""
    text = DEPLOYMENT_DOC.read_text()
    assert SECTION + "\n" in text, f"docs/deployment.md has no {SECTION!r} section"
    section = text.split(SECTION + "\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"^```nginx\n(.*?)^```", section, re.S | re.M)
    assert match, f"docs/deployment.md's {SECTION!r} section has no ```nginx block"
    return match.group(1)


def site_for_test(site: str, https_port: int, http_port: int, upstreams: list[int], cert: Path, key: Path,
                  access_log: Path) -> str:
    """The documented site with this machine's ports and paths in place of the deployment's literals.

    Each literal must be in the documentation as many times as written here: if the documentation changes
    them, this test says so instead of silently running something else."""
    replacements = [
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;", 1),
        ("listen [::]:443 ssl;", "", 1),  # the test machine may have no IPv6
        ("listen 80;", f"listen 127.0.0.1:{http_port};", 1),
        ("listen [::]:80;", "", 1),
        ("server 127.0.0.1:8001;", f"server 127.0.0.1:{upstreams[0]};", 1),
        ("server 127.0.0.1:8002;", f"server 127.0.0.1:{upstreams[1]};", 1),
        ("/etc/ssl/atelier/fullchain.pem", str(cert), 1),
        ("/etc/ssl/atelier/privkey.pem", str(key), 1),
        ("/var/log/nginx/atelier.access.log", str(access_log), 2),
    ]
    for literal, replacement, count in replacements:
        assert site.count(literal) == count, \
            f"docs/deployment.md's nginx block should hold {literal!r} {count} time(s): update this test with it"
        site = site.replace(literal, replacement)
    return site


@dataclass
class LogLine:
    method: str
    path: str
    status: int
    upstream: str


LOG_LINE = re.compile(r'^\S+ "(\S+) (\S+)" (\d{3}) (.+) (\S+)$')


@dataclass
class Site:
    base_url: str
    http_url: str
    cert: Path
    access_log: Path
    servers: list[LiveServer]
    board: LiveBoard  # a facilitator, the people below (verified accounts), and a board open to guests
    # One item per response any ``browser(site)`` received (appended from several threads at once).
    answers: list[int] = field(default_factory=list)

    @property
    def upstreams(self) -> set[str]:
        return {f"127.0.0.1:{server.port}" for server in self.servers}

    def log_size(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def quiet_log_size(self) -> int:
        """The log's size once every response a browser has received so far is logged: nginx logs a request
        after sending its response, so the client may read it (and go on) just before its line is written, and a
        late line would land among the next requests'."""
        wait_until(lambda: len(self.log_lines()) >= len(self.answers), 10,
                   lambda: f"{len(self.answers)} requests answered, fewer lines logged: {len(self.log_lines())}")
        return self.log_size()

    def log_lines(self, offset: int = 0) -> list[LogLine]:
        with self.access_log.open("rb") as log:
            log.seek(offset)
            raw = log.read().decode()
        lines = []
        for line in raw.splitlines():
            match = LOG_LINE.match(line)
            assert match, f"unexpected access log line: {line!r}"
            method, path, status, upstream, _duration = match.groups()
            lines.append(LogLine(method, path, int(status), upstream))
        return lines

    def logged_lines(self, offset: int, count: int) -> list[LogLine]:
        """The lines written since ``offset``, once there are at least ``count``: nginx logs a request once its
        response is sent, which may be just after the client has read it."""
        wait_until(lambda: len(self.log_lines(offset)) >= count, 10,
                   lambda: f"{count} requests answered, fewer lines logged: {self.log_lines(offset)}")
        return self.log_lines(offset)

    def settled_log_lines(self, offset: int) -> list[LogLine]:
        """The lines written since ``offset``, once nginx has written nothing more for a moment (it logs a
        request once its response is sent, which may be just after the client has read it). For a report only,
        when how many requests were answered is not known (a failed connection): a test waits with
        ``logged_lines``."""
        size, deadline = -1, time.monotonic() + 5
        while time.monotonic() < deadline and size != self.log_size():
            size = self.log_size()
            time.sleep(0.15)
        return self.log_lines(offset)


@pytest.fixture
def database_url(pg_server):
    with new_database(pg_server, f"proxy_{secrets.token_hex(4)}") as url:
        yield url


@pytest.fixture
def site(database_url, redis_url, smtp_server, tmp_path):
    https_port, http_port = free_port(), free_port()
    base_url = f"https://127.0.0.1:{https_port}"
    cert, key = self_signed_certificate(tmp_path)
    env = {
        "ATELIER_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),  # one key for both processes: a session works on either
        "BASE_URL": base_url,
        "TRUSTED_PROXIES": "1",
        "SOCKETIO_MESSAGE_QUEUE": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url,
        "ATELIER_RUN_JOBS": "0",
        # LiveServer raises these for other tests; here they are the app's defaults.
        **{name: getattr(Config, name) for name in ("LOGIN_RATE_LIMIT", "LOGIN_ADDRESS_RATE_LIMIT",
                                                    "RESET_RATE_LIMIT", "RESET_ADDRESS_RATE_LIMIT",
                                                    "REGISTER_RATE_LIMIT")},
    }
    servers = [LiveServer(database_url, smtp_server.port, env=env) for _ in range(2)]
    migrate(servers[0])
    access_log = tmp_path / "access.log"
    nginx = Nginx(site_for_test(documented_site(), https_port, http_port, [s.port for s in servers], cert, key,
                                access_log), tmp_path / "nginx")
    try:
        # The people and their board are written while both processes start (a few seconds each).
        with ThreadPoolExecutor(3) as pool:
            starts = [pool.submit(server.start) for server in servers]
            board = make_live_board(database_url, OFFICE_PEOPLE + MAX_PEERS + 2, prefix="proxy", allow_guests=True)
            for start in starts:
                start.result()
        report = nginx.check()
        assert "[warn]" not in report, report  # e.g. a directive deprecated by this nginx
        nginx.start(https_port, http_port)
        yield Site(base_url, f"http://127.0.0.1:{http_port}", cert, access_log, servers, board)
    finally:
        nginx.stop()
        close_at_once(*(server.stop for server in servers))
        # Shown by pytest only when the test failed.
        print(nginx.logs())
        for n, server in enumerate(servers):
            print(f"--- serve.py #{n} (port {server.port})\n{server.log_path.read_text(errors='replace')[-3000:]}")


# --- people ---------------------------------------------------------------------------------------------------

class SourceAddress(HTTPAdapter):
    """Connections from one loopback address, as from one place."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def browser(site: Site, source: str | None = None) -> requests.Session:
    """A browser at ``source`` (127.0.0.1 if None): trusts the site's certificate and sends the site's Origin, as
    a page of the site does when it posts or opens a live connection; ``post_form`` adds the Referer (Flask-WTF
    refuses a form posted over HTTPS without a same-site Referer)."""
    http = requests.Session()
    http.trust_env = False  # else REQUESTS_CA_BUNDLE, when set, would replace the certificate trusted here
    http.verify = str(site.cert)
    http.headers.update({"User-Agent": USER_AGENT, "Origin": site.base_url})
    http.hooks["response"].append(lambda response, **_kwargs: site.answers.append(response.status_code))
    if source:
        http.mount("https://", SourceAddress(source))
        http.mount("http://", SourceAddress(source))
    return http


def answered(http: requests.Session) -> list[int]:
    """The status of every response ``http`` receives from now on, redirects included (through requests' response
    hook), in a list that grows as they come."""
    statuses: list[int] = []
    http.hooks["response"].append(lambda response, **_kwargs: statuses.append(response.status_code))
    return statuses


def post_form(http: requests.Session, url: str, token: str, **fields) -> requests.Response:
    return http.post(url, data={"csrf_token": token, **fields}, headers={"Referer": url}, timeout=10,
                     allow_redirects=False)


def sign_in(http: requests.Session, site: Site, email: str, password: str = PASSWORD):
    """The sign-in page, then the form posted: (page, answer)."""
    url = site.base_url + "/compte/connexion"
    page = http.get(url, timeout=10)
    assert page.status_code == 200, page.status_code
    return page, post_form(http, url, csrf_token(page.text), email=email, password=password)


def cookies_set(response: requests.Response) -> dict[str, str]:
    """Cookie name -> its whole Set-Cookie header, for each cookie the response sets."""
    return {header.split("=", 1)[0].strip(): header for header in response.raw.headers.getlist("Set-Cookie")}


def attributes(set_cookie: str) -> set[str]:
    return {part.split("=", 1)[0].strip().lower() for part in set_cookie.split(";")[1:]}


class Peer:
    """One person on the live board, over python-socketio's client with its default transports, as a browser
    falls back to them when its network holds websockets back: long-polling first (several HTTP requests, which
    must all reach the process holding the Socket.IO session), then the upgrade to a websocket; over TLS, with
    its browser's cookies (the session and the route) and the site's Origin. It keeps only what this test
    checks; tests/boards/live.py's BoardClient is the full port of board.js."""

    def __init__(self, name: str, http: requests.Session, board_id: int, site: Site):
        self.name, self.board_id, self.http = name, board_id, http
        self.sio = socketio.Client(reconnection=False, http_session=http,
                                   websocket_extra_options={"origin": site.base_url})
        in_order(self.sio)
        self.messages: list[str] = []  # the name of every message received
        self.posted: list[int] = []  # ids of the ideas received in idea_posted events
        self.join_ack = None
        self.joined = threading.Event()
        self.sio.on("connect", self._join, namespace=NS)
        self.sio.on("*", self._on_message, namespace=NS)

    def connect(self, site: Site) -> None:
        offset = site.quiet_log_size()
        try:  # python-socketio's default transports: long-polling first, then the upgrade
            self.sio.connect(site.base_url, namespaces=[NS], headers={"User-Agent": USER_AGENT}, wait_timeout=10)
        except socketio.exceptions.ConnectionError as error:
            requests_seen = [(line.method, line.path, line.status, line.upstream)
                             for line in site.settled_log_lines(offset)]
            raise AssertionError(f"{self.name} could not connect through nginx ({error}); its requests: "
                                 f"{requests_seen}") from error

    def _join(self):
        self.sio.emit("join_board", {"board_id": self.board_id, "last_seq": None}, namespace=NS,
                      callback=self._on_join)

    def _on_message(self, kind, message=None):
        self.messages.append(kind)
        if kind in ("change", "private_change"):  # the board's events, as board.js receives them
            self.posted += [event["payload"]["idea"]["id"] for event in message["events"]
                            if event["name"] == "idea_posted"]

    def _on_join(self, ack=None):
        self.join_ack = ack
        self.joined.set()

    def wait_joined_over_websocket(self) -> None:
        assert self.joined.wait(10), f"{self.name}: no join_board answer"
        assert self.join_ack and self.join_ack.get("ok"), f"{self.name}: join refused: {self.join_ack}"
        wait_until(lambda: self.sio.transport() == "websocket", 10, f"{self.name}: no upgrade to a websocket")

    def post_idea(self, column_id: int, text: str) -> int:
        ack = self.sio.call("post_idea", {"board_id": self.board_id, "client_id": secrets.token_hex(6),
                                          "column_id": column_id, "text": text}, namespace=NS, timeout=10)
        assert ack and ack.get("ok"), f"{self.name}: {ack}"
        return ack["idea_id"]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sio.disconnect()
        self.http.close()


# --- the test -------------------------------------------------------------------------------------------------

def test_atelier_behind_nginx_as_documented(site):
    board = site.board
    office = board.emails[:OFFICE_PEOPLE]
    peers = board.emails[OFFICE_PEOPLE:OFFICE_PEOPLE + MAX_PEERS]
    neighbour, targeted = board.emails[-2:]

    health_answers_through_nginx(site)
    failed_sign_ins_are_limited_per_real_address(site, neighbour)
    sixty_people_sign_in_from_one_address(site, office)
    failed_sign_ins_are_limited_per_account_across_addresses(site, targeted)
    reset_requests_are_limited_per_real_address(site, office[0])
    guest_cookie_is_secure(site, board)
    links_use_the_public_https_address(site, board)
    live_board_spans_both_processes(site, board, peers)
    access_log_names_no_one(site)


def health_answers_through_nginx(site: Site) -> None:
    response = browser(site).get(site.base_url + "/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["database"] == "ok"
    route = cookies_set(response)["atelier_route"]
    assert {"secure", "httponly", "samesite", "path"} <= attributes(route), route
    assert "SameSite=Lax" in route and "Path=/" in route

    plain = browser(site).get(site.http_url + "/healthz?from=plain", timeout=10, allow_redirects=False)
    assert plain.status_code == 301
    assert plain.headers["Location"] == "https://127.0.0.1/healthz?from=plain"


def failed_sign_ins_are_limited_per_real_address(site: Site, neighbour: str) -> None:
    """A script at one address gets 429 after the per-address limit of failures, even when it forges
    X-Forwarded-For; someone at another address still signs in."""
    allowed = limit_amount("LOGIN_ADDRESS_RATE_LIMIT")
    guesser = browser(site, GUESSER)
    url = site.base_url + "/compte/connexion"
    token = csrf_token(guesser.get(url, timeout=10).text)
    started = time.monotonic()
    for n in range(allowed):
        # Each on another account, so that only the per-address limit can stop the script.
        guesser.headers["X-Forwarded-For"] = f"198.51.100.{n % 250}"
        response = post_form(guesser, url, token, email=f"guess.{n}@example.org", password="guess")
        assert response.status_code == 200, (n, response.status_code)
        assert "incorrect" in response.text
    refused = post_form(guesser, url, token, email="guess.last@example.org", password="guess")
    elapsed = time.monotonic() - started
    assert elapsed < 55, f"{allowed + 1} sign-ins took {elapsed:.0f}s: the limit's one-minute window may have ended"
    assert refused.status_code == 429, refused.status_code

    _page, response = sign_in(browser(site, NEIGHBOUR), site, neighbour)
    assert response.status_code == 302, "someone at another address was refused: the app sees nginx's address"


def sixty_people_sign_in_from_one_address(site: Site, emails: list[str]) -> None:
    """Sixty people of one office, a third of them mistyping once first, all sign in within a minute, several
    at a time; the session and route cookies are Secure."""

    def one_person(n: int, email: str) -> None:
        with browser(site, OFFICE) as http:
            if n % 3 == 0:
                _page, typo = sign_in(http, site, email, PASSWORD + "!")
                assert typo.status_code == 200, f"person {n}'s typo: {typo.status_code}"
            page, response = sign_in(http, site, email)
            assert response.status_code == 302, f"person {n} of the office was refused: {response.status_code}"
            assert response.headers["Location"] == "/"
            session = cookies_set(response)["atelier_session"]
            assert {"secure", "httponly"} <= attributes(session), session
            if n % 3:  # the first page this browser asked for gave it its route, once
                route = cookies_set(page)["atelier_route"]
                assert "secure" in attributes(route), route
                assert "atelier_route" not in cookies_set(response)
            home = http.get(site.base_url + "/", timeout=10)
            assert re.search(rf"Personne {n}\b", home.text), f"person {n} is not signed in on the next page"

    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        for done in [pool.submit(one_person, n, email) for n, email in enumerate(emails)]:
            done.result()
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"sixty sign-ins took {elapsed:.0f}s"


def failed_sign_ins_are_limited_per_account_across_addresses(site: Site, email: str) -> None:
    allowed = limit_amount("LOGIN_RATE_LIMIT")
    for n in range(allowed):
        _page, response = sign_in(browser(site, ELSEWHERE[n]), site, email, "wrong password")
        assert response.status_code == 200, (n, response.status_code)
    _page, response = sign_in(browser(site, ELSEWHERE[allowed]), site, email)
    assert response.status_code == 429, "the account's limit did not hold across addresses"


def reset_requests_are_limited_per_real_address(site: Site, someone: str) -> None:
    allowed = limit_amount("RESET_ADDRESS_RATE_LIMIT")
    url = site.base_url + "/compte/mot-de-passe-oublie"
    script = browser(site, RESETTER)
    token = csrf_token(script.get(url, timeout=10).text)
    for n in range(allowed):
        response = post_form(script, url, token, email=f"nobody.{n}@example.org")
        assert response.status_code == 302, (n, response.status_code)
    assert post_form(script, url, token, email="nobody.last@example.org").status_code == 429

    person = browser(site, OFFICE)
    token = csrf_token(person.get(url, timeout=10).text)
    assert post_form(person, url, token, email=someone).status_code == 302


def guest_cookie_is_secure(site: Site, board) -> None:
    guest = browser(site, OFFICE)
    url = f"{site.base_url}/tableaux/rejoindre/{board.join_code}"
    token = csrf_token(guest.get(url, timeout=10).text)
    response = post_form(guest, url, token, name="Invitée du test")
    assert response.status_code == 302, response.status_code
    cookie = cookies_set(response)[guest_cookie_name(board.board_id)]
    assert {"secure", "httponly"} <= attributes(cookie), cookie


def links_use_the_public_https_address(site: Site, board) -> None:
    """The presenter page's join link is built from the request: https and nginx's host and port."""
    facilitator = browser(site)
    assert sign_in(facilitator, site, board.facilitator_email)[1].status_code == 302
    page = facilitator.get(f"{site.base_url}/tableaux/{board.board_id}/presentation", timeout=10)
    assert page.status_code == 200
    assert f"{site.base_url}/tableaux/rejoindre/{board.join_code}" in page.text


def live_board_spans_both_processes(site: Site, board, emails: list[str]) -> None:
    """People join one by one until both processes hold some of them; every request of one browser reached one
    process (sticky), and an idea posted on each process reaches everyone."""
    peers: list[Peer] = []
    by_upstream: dict[str, list[Peer]] = {}
    try:
        for n, email in enumerate(emails):
            offset = site.quiet_log_size()
            http = browser(site)
            responses = answered(http)
            assert sign_in(http, site, email)[1].status_code == 302
            join_by_code(http, site.base_url, board.join_code)
            peer = Peer(f"person {n}", http, board.board_id, site)
            peers.append(peer)
            peer.connect(site)
            peer.wait_joined_over_websocket()
            # Every request of this person is answered by now (python-socketio's client upgrades before it returns
            # from connect: no poll stays open), and only this person's are logged (the others' websockets are
            # logged when they close): one line for each.
            lines = site.logged_lines(offset, len(responses))
            polls = [line for line in lines if line.path == "/socket.io/"]
            assert polls, f"{peer.name}: no long-polling request in the access log"
            assert all(line.status == 200 for line in polls), [line.status for line in polls]
            upstreams = {line.upstream for line in lines}
            assert len(upstreams) == 1, f"{peer.name}'s requests went to several processes: {upstreams}"
            by_upstream.setdefault(upstreams.pop(), []).append(peer)
            if len(peers) >= MIN_PEERS and len(by_upstream) == 2 and min(map(len, by_upstream.values())) >= 2:
                break
        assert set(by_upstream) == site.upstreams, f"{len(peers)} people, all on {set(by_upstream)}"

        (_, on_a), (_, on_b) = sorted(by_upstream.items())
        ideas = {on_a[0].post_idea(board.columns[0], "Posée sur le premier processus"),
                 on_b[0].post_idea(board.columns[0], "Posée sur le second processus")}
        wait_until(lambda: all(ideas <= set(peer.posted) for peer in peers), 10,
                   "not everyone received both ideas: "
                   + str({peer.name: (peer.posted, peer.messages) for peer in peers if not ideas <= set(peer.posted)}))
    finally:
        close_at_once(*(peer.close for peer in peers))

    # Each websocket is logged when it closes: one upgrade per person, none refused.
    assert eventually(lambda: sum(line.status == 101 for line in site.log_lines()) == len(peers), 10)
    socket_lines = [line for line in site.log_lines() if line.path == "/socket.io/"]
    assert {line.status for line in socket_lines} <= {101, 200}


def access_log_names_no_one(site: Site) -> None:
    """No token from a mailed link, no query string, no address in nginx's access log."""
    browser(site).get(site.base_url + "/compte/reinitialiser/secret-token-from-a-mail?q=search+terms",
                      timeout=10)
    wait_until(lambda: any(line.path == "/compte/reinitialiser" for line in site.log_lines()), 5,
               "the request is not in the access log")
    text = site.access_log.read_text()
    assert "secret-token-from-a-mail" not in text and "search" not in text
    assert not any(address in text for address in (OFFICE, GUESSER, NEIGHBOUR, RESETTER, *ELSEWHERE))
