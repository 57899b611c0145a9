"""The form asks JDMA's questionnaire v2_2024_static exactly as app/data/reference/jdma_form.csv has it, and every
French text of it reaches the translation catalog."""

import csv
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file

from app.feedback import questionnaire
from app.feedback.models import FORM_VERSION
from app.feedback.questionnaire import Condition, get_questionnaire, load, parse_display_condition

CSV_PATH = questionnaire.CSV_PATH
COLUMNS = ("form_version", "step", "field_code", "question_fr", "hint_fr", "input_kind", "option_position",
           "option_label_fr", "stored_answer_item_id", "stored_answer_text", "intention", "score_on_10")


def _csv_rows() -> list[dict]:
    with CSV_PATH.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _score(value) -> str:
    return "" if value is None else f"{value:g}"


def _rows_of(q) -> list[dict]:
    """The questionnaire written back as the CSV's rows (all but ``display_condition`` and ``source``)."""
    rows = []
    for step in q.steps:
        for f in step.fields:
            common = {"form_version": q.version, "step": step.title, "field_code": f.code, "question_fr": f.question,
                      "hint_fr": f.hint, "input_kind": f.kind}
            if not f.options:
                rows.append({**common, "option_position": "", "option_label_fr": "", "stored_answer_item_id": "0",
                             "stored_answer_text": f.stored_text, "intention": f.intention, "score_on_10": ""})
            for o in f.options:
                rows.append({**common, "option_position": str(o.position), "option_label_fr": o.label,
                             "stored_answer_item_id": str(o.code), "stored_answer_text": o.stored_text,
                             "intention": o.intention, "score_on_10": _score(o.score)})
    return rows


def test_the_copied_csv_holds_the_27_rows_of_the_current_form_only():
    rows = _csv_rows()
    assert len(rows) == 27
    assert {row["form_version"] for row in rows} == {FORM_VERSION} == {"v2_2024_static"}


def test_the_questionnaire_is_the_csv_exactly():
    q = get_questionnaire()
    assert _rows_of(q) == [{k: row[k] for k in COLUMNS} for row in _csv_rows()]
    assert [(s.number, s.title) for s in q.steps] == [(1, "Expérience générale"), (2, "Clarté"), (3, "Aides"),
                                                      (4, "Commentaire")]
    assert [f.code for f in q.fields] == ["satisfaction", "comprehension", "contact_tried", "contact_tried_verbatim",
                                          "contact_reached", "contact_satisfaction", "verbatim", "contact_email"]
    assert [o.code for o in q.field("satisfaction").options] == [1, 2, 3]
    assert [o.code for o in q.field("contact_tried").options] == list(range(9, 18))


def test_display_conditions_and_the_exclusive_option_are_read():
    q = get_questionnaire()
    assert q.field("contact_tried").exclusive_option.code == 17
    assert [o.code for o in q.field("contact_tried").options if o.exclusive] == [17]
    assert q.field("contact_tried_verbatim").condition == Condition("contact_tried", frozenset({16}))
    for code in ("contact_reached", "contact_satisfaction"):
        assert q.field(code).condition == Condition("contact_tried", frozenset({9, 10, 11, 12}))
    assert q.field("contact_reached").excluded == {13, 14, 15, 16, 17}
    assert q.field("contact_satisfaction").excluded == {16}
    step = q.step(3)
    assert [f.code for f in step.main_fields] == ["contact_tried"]
    assert [f.code for f in step.follow_up_fields] == ["contact_tried_verbatim", "contact_reached",
                                                       "contact_satisfaction"]
    assert [f.code for f in q.fields if f.required] == ["satisfaction"]


def test_a_condition_holds_only_for_one_of_its_codes():
    condition = Condition("contact_tried", frozenset({9, 10}))
    assert condition.holds({"contact_tried": [13, 10]})
    assert not condition.holds({"contact_tried": [13, 17]})
    assert not condition.holds({})


@pytest.mark.parametrize("text", ["contact_tried out [16]", "shown when contact_tried has 16", "hidden option"])
def test_an_unknown_display_condition_is_refused_rather_than_skipped(text):
    with pytest.raises(ValueError, match="condition"):
        parse_display_condition(text)


def test_a_version_without_rows_is_refused(tmp_path):
    path = Path(tmp_path) / "form.csv"
    path.write_text(CSV_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ValueError, match="no row of v1_2023_static"):
        load(path, "v1_2023_static")


def test_rows_that_disagree_about_a_field_are_refused(tmp_path):
    lines = CSV_PATH.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("smiley", "radio")  # the second satisfaction option says another kind of input
    path = Path(tmp_path) / "form.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="satisfaction"):
        load(path)


def _extracted(path: Path) -> set[str]:
    """The msgids `make i18n-extract` finds in ``path`` (the keywords babel knows, plus the Makefile's _l)."""
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    return {message for _line, message, _comments, _context in extract_from_file("python", str(path),
                                                                                   keywords=keywords)}


def test_every_french_text_of_the_questionnaire_is_marked_for_translation():
    texts = get_questionnaire().texts()
    assert len(texts) == 38  # 4 steps, 8 questions, 7 hints, 19 option labels (not the scale's 1 to 5)
    marked = _extracted(Path(questionnaire.__file__))
    assert texts - marked == set(), "French texts of the questionnaire not marked for translation"
    assert {"Pas bien", "Je n'ai pas eu besoin d'aide", "Adresse mail"} <= marked


def test_the_list_of_marked_texts_has_nothing_the_questionnaire_does_not_say(tmp_path):
    """The module's list marks the questionnaire's texts, and no other: a label changed in the CSV shows here."""
    source = Path(questionnaire.__file__).read_text(encoding="utf-8")
    path = Path(tmp_path) / "listed.py"
    path.write_text(source[source.index("_TEXTS = ("):], encoding="utf-8")
    assert _extracted(path) == get_questionnaire().texts()


def test_numbers_are_shown_as_they_are_and_texts_through_the_catalog(app):
    with app.test_request_context("/"):
        assert questionnaire.translated("3") == "3"
        assert questionnaire.translated("Pas bien") == "Pas bien"  # French: the catalog's own source
