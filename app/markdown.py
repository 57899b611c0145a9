"""Markdown for descriptions written by staff: rendered, then sanitised with nh3 (allow-list)."""

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
