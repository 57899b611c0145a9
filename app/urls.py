"""Absolute links for mail and feeds, built from ``BASE_URL`` (works outside a request too)."""

from urllib.parse import urlsplit

from flask import current_app


def absolute_url(endpoint: str, **values) -> str:
    """``BASE_URL`` + the path of ``endpoint``; jobs and CLI commands have no request to build from."""
    adapter = current_app.url_map.bind("atelier.invalid", script_name="/")
    return current_app.config["BASE_URL"].rstrip("/") + adapter.build(endpoint, values)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what a browser sends as ``Origin`` from a page under it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def public_origin() -> str:
    """The origin of ``BASE_URL``, the one address live connections are accepted from."""
    return origin_of(current_app.config["BASE_URL"])
