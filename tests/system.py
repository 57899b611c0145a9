"""Where the system parts the tests need live on this machine."""

import glob
import os
import shutil


def find_chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def find_pg_bin() -> str | None:
    """Directory holding Debian's PostgreSQL server binaries (initdb, pg_ctl, postgres)."""
    env = os.environ.get("PG_BINDIR")
    candidates = [env] if env else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for directory in candidates:
        if directory and all(os.path.exists(os.path.join(directory, b)) for b in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


def find_redis() -> str | None:
    return shutil.which("redis-server") or (os.path.exists("/usr/bin/redis-server") and "/usr/bin/redis-server") \
        or None


def find_nginx() -> str | None:
    """Debian's nginx (package nginx-light or nginx), for the reverse-proxy test."""
    for candidate in (os.environ.get("NGINX_PATH"), shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def find_openssl() -> str | None:
    return shutil.which("openssl") or (os.path.exists("/usr/bin/openssl") and "/usr/bin/openssl") or None
