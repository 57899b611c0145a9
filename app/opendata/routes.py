"""« Données ouvertes »: the page, the files (CSV, JSON), the datapackage and the Atom feeds. Public, GET only.

Files are generated on request from the database, streamed (bounded memory), and carry a strong ETag and a
Last-Modified made from each dataset's fingerprint, so a client that already has the current copy gets a 304
without the file being built.
"""

import json

from flask import Response, abort, render_template, request, stream_with_context

from . import bp, feed
from .datasets import BY_NAME, DATASETS, LICENCE
from .files import (
    csv_chunks,
    datapackage,
    json_chunks,
    not_modified,
    open_cors,
    set_validators,
    strong_etag,
    validators,
)

MIMETYPES = {"csv": "text/csv", "json": "application/json"}


def _not_modified(etag, modified):
    return set_validators(Response(status=304), etag, modified)


@bp.get("/")
def index():
    return render_template("opendata/index.html", datasets=DATASETS, licence=LICENCE)


@bp.get("/datapackage.json")
def datapackage_file():
    body = json.dumps(datapackage(), ensure_ascii=False, indent=2)
    etag = strong_etag("datapackage", body)
    if not_modified(etag, None):
        return _not_modified(etag, None)
    return set_validators(Response(body, mimetype="application/json"), etag, None)


@bp.get("/<name>.<any(csv, json):fmt>")
def download(name: str, fmt: str):
    dataset = BY_NAME.get(name)
    if dataset is None:
        abort(404)
    etag, modified = validators(dataset, fmt)
    if not_modified(etag, modified if dataset.exact_dates else None):
        return _not_modified(etag, modified)
    chunks = csv_chunks(dataset) if fmt == "csv" else json_chunks(dataset)
    response = Response(stream_with_context(chunks), mimetype=MIMETYPES[fmt])
    response.charset = "utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{dataset.name}.{fmt}"'
    return set_validators(response, etag, modified)


@bp.get("/flux.atom")
def atom_feed():
    etag, modified = feed.validators()
    if not_modified(etag, modified):
        return _not_modified(etag, modified)
    xml = render_template("opendata/feed.xml", **feed.context(modified))
    response = Response(xml, mimetype="application/atom+xml")
    response.charset = "utf-8"
    return set_validators(response, etag, modified)


@bp.get("/reponses-aux-avis.atom")
def replies_feed():
    """The organisations' replies to published experiences; ``?organisation=`` or ``?service=`` (slugs) narrow it to
    one organisation's or one service's (an unknown slug is an empty feed, a malformed one a 400)."""
    filters = feed.reply_filters(request.args)
    if filters is None:
        abort(400)
    sent, where = filters
    etag, modified = feed.reply_validators(sent)
    # A reply to an experience withdrawn or marked as spam leaves the feed without a date: the ETag decides.
    if not_modified(etag, None):
        return _not_modified(etag, modified)
    xml = render_template("opendata/replies.xml", **feed.replies_context(modified, sent, where))
    response = Response(xml, mimetype="application/atom+xml")
    response.charset = "utf-8"
    return set_validators(response, etag, modified)


@bp.after_request
def cors(response):
    """The files and the feed, 304s and 404s included, are open to every origin for reading (not the page)."""
    if request.endpoint != "opendata.index":
        open_cors(response)
    return response
