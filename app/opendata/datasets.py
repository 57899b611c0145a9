"""The public datasets, in the order they are published: the one list the downloads (CSV, JSON,
``datapackage.json``), the Atom feed's validators and the JSON API serve, and the licence they are published under.

Each dataset (``dataset.Dataset``) has a Table Schema (fields, types, constraints, primary key), one SQL statement
that selects its public rows in primary-key order (columns labelled with the field names), an optional per-row
finishing step (URLs, derived rates), and a *fingerprint*: one cheap aggregate row (counts, latest timestamps) that
changes whenever the rows do, from which the downloads' and the API's ETag and Last-Modified are made.

What is public, and nothing more (each module says so at its top):

- proposals: published, in a vote, selected, answered or merged, and not hidden by the moderators; no author,
  no supporter, no follower (no personal data); answers: to those proposals only; signed by the organisation,
  never by the editor (``proposal_rows``);
- measures, their milestones, their public updates (without their authors), the proposals they come from
  (``measure_rows``);
- workshops: published (or cancelled) public workshops, aggregate figures only; evaluation figures only once
  ``MIN_EVALUATIONS`` people answered, so that no one's opinion can be singled out (``workshop_rows``);
- consultations: closed ones only, their results, and their anonymised ballots (one row per choice, named by the
  ballot's random ``public_id``, never by the voter) from which anyone can recompute every published result with
  ``app.consultations.results.compute`` (``consultation_rows``);
- experiences (« Je donne mon avis »): published by moderation and not marked as spam, with the organisation's
  signed reply; nothing that identifies the respondent (no response id, no contact, no time of answer, no
  source), the publication date to the day (``feedback_rows``);
- the barometer (« Je donne mon avis » in aggregate): monthly counts per service, question and option over the last
  24 months, a count under 5 left unpublished; the figures with their intervals per scope (``barometer_rows``).
"""

from .barometer_rows import FIGURES, MONTHLY
from .consultation_rows import BALLOTS, CONSULTATIONS, RESULTS
from .dataset import Dataset
from .feedback_rows import EXPERIENCES
from .measure_rows import MEASURE_PROPOSALS, MEASURE_UPDATES, MEASURES, MILESTONES
from .proposal_rows import ANSWERS, PROPOSALS
from .workshop_rows import WORKSHOPS

LICENCE = {
    "name": "etalab-2.0",
    "title": "Licence Ouverte / Open Licence version 2.0",
    "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
}

DATASETS: tuple[Dataset, ...] = (PROPOSALS, ANSWERS, MEASURES, MEASURE_PROPOSALS, MILESTONES, MEASURE_UPDATES,
                                 WORKSHOPS, CONSULTATIONS, RESULTS, BALLOTS, EXPERIENCES, MONTHLY, FIGURES)
BY_NAME = {dataset.name: dataset for dataset in DATASETS}
