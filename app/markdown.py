"""Markdown: descriptions written by staff, rendered then sanitised with nh3 (allow-list); and people's plain text
written out as Markdown that shows exactly what they typed (exports)."""

import re

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).disable("image")

ALLOWED_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a", "blockquote", "code", "pre", "h3", "h4", "hr"}


def render_markdown(text: str | None) -> Markup:
    """Markdown to safe HTML: raw HTML is not interpreted, images are off, links get rel=noopener."""
    html = _md.render(text or "")
    # Headings written as #/## would compete with the page's own h1/h2: shift them down.
    for level in (1, 2):
        html = html.replace(f"<h{level}>", "<h3>").replace(f"</h{level}>", "</h3>")
    clean = nh3.clean(html, tags=ALLOWED_TAGS, attributes={"a": {"href", "title"}},
                      url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow")
    return Markup(clean)  # noqa: S704 (sanitised by nh3 just above)


# Characters that make markup anywhere in a line: links and images ([ ]), raw HTML and autolinks (< >), entities
# (&), emphasis and code (* _ `), tables (|), strikethrough (~), headings' closing # and backslashes themselves.
_MARKUP = re.compile(r"([\\`*_\[\]<>&|~#])")
_ORDERED_MARKER = re.compile(r"^(\d{1,9})([.)])")


def markdown_text(text: str | None) -> str:
    """Plain text as Markdown that renders as exactly this text, on one line: every character that could make a
    link, an image, HTML, an autolink, emphasis or a block (list, quote, heading) is backslash-escaped, so
    ``[x](javascript:alert(1))``, ``<script>`` or ``<javascript:…>`` come out as what was typed, never as markup."""
    line = " ".join(str(text or "").split())  # line breaks would start blocks
    line = _ORDERED_MARKER.sub(r"\1\\\2", _MARKUP.sub(r"\\\1", line))
    return "\\" + line if line.startswith(("-", "+")) else line
