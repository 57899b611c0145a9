"""Links that carry a secret, hidden wherever a mail is read by someone other than its recipient.

A verification, reset or address-change link is as good as the password it guards, a private calendar feed shows
someone's agenda, a board's join code lets anyone in. The admin outbox pages and the « Mes données » export show
these links with the secret replaced by ``MASK``; the stored message is never changed, so it is sent as written.

Which links carry a secret is read from the app's URL rules, not copied here: every rule with a variable named in
``SECRET_VARIABLES`` (``accounts.verify_email``, ``accounts.reset_password``, ``accounts.confirm_email_change``,
``workshops.personal_calendar``, ``boards.join_with_code`` today; a rule added later with one of these names is
masked too). Invitation links carry theirs in the query string (``SECRET_QUERY_ARGUMENTS``).
"""

import re

from flask import current_app
from werkzeug.routing import Map, Rule

MASK = "••••••"

SECRET_VARIABLES = frozenset({"token", "code"})
"""URL rule variables whose value is a secret (signed tokens, feed tokens, join codes)."""

SECRET_QUERY_ARGUMENTS = frozenset({"invitation"})
"""Query arguments whose value is a secret (a private workshop's invitation, ``?invitation=``)."""

# A rule's variable: ``<name>``, ``<converter:name>`` or ``<converter(arguments):name>``.
_VARIABLE = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>.*?)\))?:)?(?P<name>\w+)>")
# What a variable's value may be in a mail's text or HTML: never a space, quote, angle bracket, query or fragment.
_VALUE = r"[^/?#\s\"'<>]+"
_PATH_VALUE = r"[^?#\s\"'<>]+"


def secret_rules(url_map: Map) -> list[Rule]:
    """The URL rules of the app whose links carry a secret."""
    return [rule for rule in url_map.iter_rules() if rule.arguments & SECRET_VARIABLES]


def _rule_pattern(rule: Rule) -> re.Pattern:
    """A pattern finding the rule's path in a text, with each secret variable in a group of its own."""
    parts, end, secrets = [], 0, 0
    for match in _VARIABLE.finditer(rule.rule):
        parts.append(re.escape(rule.rule[end:match.start()]))
        value = _PATH_VALUE if match["converter"] == "path" else _VALUE
        if match["name"] in SECRET_VARIABLES:
            parts.append(f"(?P<secret{secrets}>{value})")
            secrets += 1
        else:
            parts.append(value)
        end = match.end()
    parts.append(re.escape(rule.rule[end:]))
    return re.compile("".join(parts))


def _patterns() -> list[re.Pattern]:
    """The patterns of this app's secret-bearing rules, built once per app (its rules are fixed once it runs)."""
    cached = current_app.extensions.get("mail_secret_links")
    if cached is None:
        cached = [_rule_pattern(rule) for rule in secret_rules(current_app.url_map)]
        names = "|".join(re.escape(name) for name in sorted(SECRET_QUERY_ARGUMENTS))
        # ``&amp;`` in HTML bodies.
        cached.append(re.compile(rf"[?&](?:amp;)?(?:{names})=(?P<secret0>[^&#\s\"'<>]+)"))
        current_app.extensions["mail_secret_links"] = cached
    return cached


def _masked(match: re.Match) -> str:
    text, start, out = match.string, match.start(), []
    for name, value in match.groupdict().items():
        if value is not None and name.startswith("secret"):
            secret_start, secret_end = match.span(name)
            out += [text[start:secret_start], MASK]
            start = secret_end
    out.append(text[start:match.end()])
    return "".join(out)


def mask_secrets(text: str | None) -> str | None:
    """``text`` with the secret of every secret-bearing link of the app replaced by ``MASK``."""
    if not text:
        return text
    for pattern in _patterns():
        text = pattern.sub(_masked, text)
    return text
