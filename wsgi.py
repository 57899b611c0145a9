"""WSGI entry: ``app`` for gunicorn or the ``flask`` command. The only module that builds the app at import."""

from app import create_app

app = create_app()
