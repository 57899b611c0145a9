"""The message bus between server processes (Redis, ``SOCKETIO_MESSAGE_QUEUE``): is it reachable?

With one process there is no bus. With several, a live event made in one process reaches the others' connections
through it; while it is down, changes are still made and acknowledged (the database decides) but other processes'
clients do not hear of them until it is back and they resync (see ``boards.announce``).
"""

import threading

import redis
from flask import current_app

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()
PING_TIMEOUT_SECONDS = 1.0


def bus_url() -> str | None:
    url = current_app.config.get("SOCKETIO_MESSAGE_QUEUE")
    return url if url and url.startswith(("redis://", "rediss://", "unix://")) else None


def bus_reachable() -> bool | None:
    """True when the bus answers a ping within a second, False when not, None when there is no bus."""
    url = bus_url()
    if url is None:
        return None
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis.Redis.from_url(url, socket_timeout=PING_TIMEOUT_SECONDS,
                                                           socket_connect_timeout=PING_TIMEOUT_SECONDS)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
