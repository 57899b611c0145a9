"""Board templates: the columns (prompts) a board starts with."""

from flask_babel import lazy_gettext as _l

TEMPLATES = {
    "irritants": (_l("Irritants / Idées / Questions"), [
        (_l("Irritants"), _l("Qu'est-ce qui vous a gêné·e dans cette démarche ?")),
        (_l("Idées"), _l("Qu'est-ce qui la rendrait plus simple ?")),
        (_l("Questions"), _l("Qu'aimeriez-vous demander à l'administration ?")),
    ]),
    "parcours": (_l("Parcours : étapes de la démarche"), [
        (_l("Avant"), _l("Comment avez-vous su quoi faire ?")),
        (_l("Pendant"), _l("Comment s'est passée la démarche elle-même ?")),
        (_l("Après"), _l("Qu'est-il arrivé ensuite ?")),
    ]),
    "start_stop_continue": (_l("Commencer / Arrêter / Continuer"), [
        (_l("Commencer"), _l("Que devrait commencer à faire l'administration ?")),
        (_l("Arrêter"), _l("Que devrait-elle arrêter ?")),
        (_l("Continuer"), _l("Que fait-elle bien ?")),
    ]),
    "blank": (_l("Tableau vide"), [(_l("Idées"), "")]),
}
