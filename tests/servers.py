"""Real services for the tests: a throwaway PostgreSQL, an SMTP sink (aiosmtpd), a live Atelier server."""

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path

import requests
from aiosmtpd.controller import Controller
from mirakuru.exceptions import ExecutorError, ProcessExitedWithError
from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor

from .system import find_nginx, find_openssl, find_pg_bin

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


class ThrowawayPostgreSQLExecutor(PostgreSQLExecutor):
    """pytest-postgresql's executor, whose initdb does not wait for the disk (``--no-sync``, which it has no option
    for): nothing here outlives the tests, and waiting costs one to four seconds per cluster on this machine."""

    def init_directory(self) -> None:
        if os.path.exists(os.path.join(self.datadir, "PG_VERSION")):
            return  # made by the first start, started again after a halt
        subprocess.run([self.executable, "initdb", "-D", self.datadir, "-o",
                        f"--username={shlex.quote(self.user)} --auth=trust --no-sync"],
                       env=self.envvars, check=True, stdout=subprocess.DEVNULL, timeout=60)


class PostgresServer:
    """A throwaway PostgreSQL cluster in a temporary directory, from Debian's binaries: pytest-postgresql's
    ``PostgreSQLExecutor`` makes it (initdb), starts and stops it; its ``DatabaseJanitor`` creates and drops
    databases.

    PostgreSQL refuses to run as root, so when the tests run as root the executor is given, as its ``pg_ctl``, a
    two-line script that runs the real one as the unprivileged ``postgres`` user (created by Debian's package) or
    ``nobody``, and the cluster's directory belongs to that user.
    """

    def __init__(self, max_connections: int = 300):
        bindir = find_pg_bin()
        if not bindir:
            raise RuntimeError("PostgreSQL server binaries not found (Debian package: postgresql)")
        self.pg_ctl = os.path.join(bindir, "pg_ctl")
        self.port = free_port()
        self.max_connections = max_connections
        self.base = Path(tempfile.mkdtemp(prefix="atelier-pg-"))
        self.datadir = self.base / "data"
        self.sockdir = self.base / "sock"
        self.logfile = self.base / "server.log"
        self.user = "atelier"
        self.run_as = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    self.run_as = pwd.getpwnam(name)
                    break
        self.executor = ThrowawayPostgreSQLExecutor(
            executable=str(self.base / "pg_ctl") if self.run_as else self.pg_ctl,
            host="127.0.0.1", port=self.port, datadir=str(self.datadir), unixsocketdir=str(self.sockdir),
            logfile=str(self.logfile), startparams="-w", dbname="postgres", user=self.user,
            postgres_options=f"-c listen_addresses=127.0.0.1 -c max_connections={max_connections} -c fsync=off "
                             "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=128MB")

    def start(self) -> "PostgresServer":
        self.sockdir.mkdir(parents=True)
        if self.run_as:
            wrapper = Path(self.executor.executable)
            wrapper.write_text(f'#!/bin/sh\nexec runuser -u {self.run_as.pw_name} -- {shlex.quote(self.pg_ctl)} "$@"\n')
            wrapper.chmod(0o755)
            os.chmod(self.base, 0o755)
            for path in (self.base, self.sockdir):
                os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)
        try:
            self.resume()
        except (OSError, subprocess.SubprocessError, ExecutorError) as err:
            log = self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""
            self.stop()
            raise RuntimeError(f"PostgreSQL did not start ({err}); its log:\n{log}") from err
        return self

    def stop(self) -> None:
        """Stop the server (the executor's fast shutdown) unless halted, and remove its directory."""
        try:
            if self.executor.running():
                self.executor.stop()
        finally:
            self.executor.kill()  # whatever it started and is still there (none, normally)
            shutil.rmtree(self.base, ignore_errors=True)

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def _janitor(self, dbname: str) -> DatabaseJanitor:
        return DatabaseJanitor(user=self.user, host="127.0.0.1", port=self.port, dbname=dbname)

    def create_database(self, dbname: str) -> str:
        self._janitor(dbname).init()
        return self.url(dbname)

    def drop_database(self, dbname: str) -> None:
        self._janitor(dbname).drop()

    def halt(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data (``resume`` starts it again): ``fast`` ends every session at once, as
        a restart by the administrator does; ``immediate`` as a crash."""
        subprocess.run([self.executor.executable, "stop", "-D", str(self.datadir), "-m", mode, "-w", "-t", "60"],
                       check=True, capture_output=True)

    def resume(self) -> None:
        """Start the server on its data directory (made by ``start``; again after ``halt``), on the same port."""
        self.executor.start()
        # The executor's process is pg_ctl, which exits once the server is ready (-w), a moment after the port answers.
        # Wait for it, then let the executor forget it: mirakuru would otherwise signal its process group by number
        # when stopping, long after that number may have gone to another process.
        launcher = self.executor.process
        exit_code = launcher.wait(60)
        with launcher:  # closes its pipes
            self.executor.process = None
        if exit_code:
            raise ProcessExitedWithError(self.executor, exit_code)


class SmtpSink:
    """A real SMTP server (aiosmtpd) that keeps what it receives; can be stopped and restarted."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.messages: list = []
        self._lock = threading.Lock()
        self._controller = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def start(self) -> "SmtpSink":
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def to(self, address: str) -> list:
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]

    def wait_for(self, address: str, count: int = 1, timeout: float = 20.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise TimeoutError(f"no mail to {address} within {timeout}s (have {len(self.to(address))})")


def text_body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


class LiveServer:
    """Atelier started the way `make run` starts it (serve.py, gevent), as a subprocess."""

    def __init__(self, database_url: str, smtp_port: int, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.env = {
            **os.environ,
            "ATELIER_ENV": "development",
            "SECRET_KEY": "live-test-secret-key-0123456789abcdef0123456789",
            "DATABASE_URL": database_url,
            "BASE_URL": self.url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp_port),
            "MAIL_RETRY_BASE_SECONDS": "1",
            "JOBS_INTERVAL_SECONDS": "1",
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST": "1024",
            "LOGIN_RATE_LIMIT": "1000 per minute",
            "RESET_RATE_LIMIT": "1000 per minute",
            "REGISTER_RATE_LIMIT": "1000 per minute",
            "FEEDBACK_RATE_LIMIT": "1000 per minute",
            "FLASK_APP": "wsgi",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process = None
        self.log_path = Path(tempfile.mkstemp(prefix="atelier-live-", suffix=".log")[1])

    @classmethod
    def on_sqlite(cls, directory: Path, smtp_port: int, **env: str) -> "LiveServer":
        """A server (not started) on a new SQLite file in ``directory``, with ``env`` over the defaults."""
        return cls(f"sqlite:///{directory / 'atelier.db'}", smtp_port, env=env)

    def prepare_database(self, demo: bool = True) -> None:
        """Migrate from zero and load the demo (unless ``demo=False``), with the same commands `make run` uses."""
        flask = [sys.executable, "-m", "flask"]
        for args in (["db", "upgrade"], ["seed-demo"])[:2 if demo else 1]:
            subprocess.run([*flask, *args], cwd=ROOT, env=self.env, check=True, capture_output=True)

    def start(self) -> "LiveServer":
        # The child keeps its own copy of the descriptor; closing ours avoids an unclosed-file warning.
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "serve.py", "--port", str(self.port)], cwd=ROOT,
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"live server exited: {self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise TimeoutError(f"live server did not start: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        terminate(self.process, self.kill)

    @contextlib.contextmanager
    def running(self, demo: bool = True):
        """Migrated from zero, with the demo unless ``demo=False`` (``prepare_database``), started, and stopped at
        the end."""
        self.prepare_database(demo)
        try:
            yield self.start()
        finally:
            self.stop()


def terminate(process, on_timeout) -> None:
    """SIGTERM, then ``on_timeout()`` if the process is still there 10 s later."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            on_timeout()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway TLS certificate and key for 127.0.0.1 and localhost (one day), made with the openssl command.

    Self-signed, so a client trusts it by naming the certificate file itself (``requests``' ``verify=``)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([find_openssl() or "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class Nginx:
    """Debian's nginx serving ``site`` (directives for nginx's ``http`` block, as a file under
    /etc/nginx/sites-enabled holds them), with everything it writes in ``directory``, in the foreground.

    As root, the workers stay root: nginx would otherwise run them as ``nobody``, who cannot enter the
    temporary directories pytest makes (mode 0700), where the workers keep large request and response bodies.
    """

    def __init__(self, site: str, directory: Path):
        self.binary = find_nginx()
        if not self.binary:
            raise RuntimeError("nginx not found (Debian package: nginx-light)")
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.site_path = directory / "site.conf"
        self.conf_path = directory / "nginx.conf"
        self.error_log = directory / "error.log"
        self.output = directory / "nginx.out"
        self.process = None
        self.site_path.write_text(site)
        temp = directory / "temp"
        temp.mkdir(exist_ok=True)
        self.conf_path.write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"pid {directory / 'nginx.pid'};\n"
            f"error_log {self.error_log} notice;\n"
            "worker_processes 2;\n"
            "events {\n    worker_connections 1024;\n}\n"
            "http {\n"
            "    access_log off;\n"
            + "".join(f"    {kind}_temp_path {temp / kind};\n"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            + f"    include {self.site_path};\n"
            "}\n")

    def _command(self, *args: str) -> list[str]:
        return [self.binary, "-p", str(self.directory), "-c", str(self.conf_path), *args]

    def check(self) -> str:
        """``nginx -t``: the configuration parses and its certificates and paths load; nginx's report."""
        result = subprocess.run(self._command("-t"), capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise RuntimeError(f"nginx -t refused the configuration:\n{result.stdout}{result.stderr}")
        return result.stdout + result.stderr

    def start(self, *ports: int) -> "Nginx":
        with self.output.open("ab") as output:
            # Its own process group: should the master not stop, its workers are killed with it.
            self.process = subprocess.Popen(self._command("-g", "daemon off;"), stdout=output,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            for port in ports:
                wait_for_port(port, timeout=10)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"nginx did not start: {self.logs()}") from None
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGTERM): open websockets are cut rather than waited for."""
        def kill_group():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

        terminate(self.process, kill_group)

    def logs(self, chars: int = 3000) -> str:
        parts = []
        for path in (self.output, self.error_log):
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)
