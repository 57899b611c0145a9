"""What every CSV import of the house shares (the measures' import, the published figures'): the error of one line,
and the refusal that lists them, so that nothing is written while a line is wrong. Each import reads its own format
and says its own file-level refusals."""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from .errors import InvalidInput


@dataclass
class LineError:
    """One problem: the line of the file (the header is line 1), the column (as the file names it) and a message."""

    line: int
    column: str | None
    code: str
    message: object  # a lazy translated string

    @property
    def text(self) -> str:
        return str(self.message)


class ImportInvalid(InvalidInput):
    """Some lines of the file are wrong; ``errors`` lists them (``LineError``)."""

    code = "import_invalid"
    message = _l("Le fichier contient des erreurs : rien n'a été enregistré. Corrigez les lignes signalées puis "
                 "envoyez-le à nouveau.")

    def __init__(self, errors, message=None):
        super().__init__(message)
        self.errors = list(errors)
