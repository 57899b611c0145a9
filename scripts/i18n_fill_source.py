"""Fill the French catalog from its own msgids: French is the source language, so msgstr == msgid.

Run by `make i18n-update` after `pybabel update`. Idempotent: the file is rewritten only when it changes,
sorted and without locations, like the template. Fuzzy flags are cleared (French only: a fuzzy English
entry still needs a translator).
"""

import io
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
FR_CATALOG = ROOT / "app" / "translations" / "fr" / "LC_MESSAGES" / "messages.po"


def fill(path: Path = FR_CATALOG) -> int:
    """Set every msgstr to its msgid; return how many entries changed."""
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    changed = 0
    if catalog.fuzzy:
        catalog.fuzzy = False
        changed += 1
    for message in catalog:
        if not message.id:
            continue  # the header
        if message.pluralizable:
            singular, plural = message.id
            wanted = (singular,) + (plural,) * (catalog.num_plurals - 1)
        else:
            wanted = message.id
        if message.string != wanted or message.fuzzy:
            message.string = wanted
            message.flags.discard("fuzzy")
            changed += 1
    buffer = io.BytesIO()
    write_po(buffer, catalog, no_location=True, sort_output=True, ignore_obsolete=True)
    if buffer.getvalue() != path.read_bytes():
        path.write_bytes(buffer.getvalue())
    return changed


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else FR_CATALOG
    print(f"{target}: {fill(target)} French entries filled from their msgids")
