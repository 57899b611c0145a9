"""JSON files of what people typed (exports), neutralised.

JSON is data, but its consumers render it, and a file can end up where it is read as something else. What
"neutralised" means for a JSON export in Atelier:

- the text is exactly what was typed: a consumer that parses the file gets every string back unchanged (nothing
  is stripped or escaped twice), and it is carried in plain-text fields only, never in a field of rendered HTML
  or Markdown, so whoever displays it escapes it like any text;
- no byte of the file can be read as markup: ``<``, ``>`` and ``&`` (and U+2028, U+2029, line ends for older
  JavaScript) are written as ``\\u003c``, ``\\u003e``, ``\\u0026``..., so the file sniffed as HTML, pasted into a page
  or embedded in a ``<script>`` element cannot open a tag, end the script or start an entity;
- it is served as ``application/json; charset=utf-8`` with ``X-Content-Type-Options: nosniff`` (every response,
  app/security.py) and ``Content-Disposition: attachment``, so a browser saves it instead of showing it.
"""

import json
import re

_UNSAFE = re.compile("[<>&\u2028\u2029]")


def dumps(data, **kwargs) -> str:
    """``json.dumps`` (UTF-8 text, not ASCII escapes) with the characters above escaped. They can only occur inside
    strings (JSON's own syntax has none of them), where a ``\\u`` escape of four hex digits stands for the same
    character."""
    text = json.dumps(data, ensure_ascii=False, **kwargs)
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
