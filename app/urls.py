"""Absolute links for mail and feeds, built from ``BASE_URL`` (works outside a request too)."""

from flask import current_app


def absolute_url(endpoint: str, **values) -> str:
    """``BASE_URL`` + the path of ``endpoint``; jobs and CLI commands have no request to build from."""
    adapter = current_app.url_map.bind("atelier.invalid", script_name="/")
    return current_app.config["BASE_URL"].rstrip("/") + adapter.build(endpoint, values)
