"""Public report pages: an organisation's « Vous avez dit, nous avons fait » and the platform dashboard.

Both are public and read-only (GET). The dashboard's filters are a GET form: a bad value is shown as a form error
(422) with no figures, never a 500. Charts come from ``charts.py`` (inline SVG) with their data tables and a text
summary in the page. The organisation page of the catalogue shows the same figures and flags overdue proposals
through the ``organisation_report_summary`` template global below.
"""

from flask import render_template, request
from flask_babel import format_decimal, format_percent, get_locale, get_timezone, ngettext
from flask_babel import gettext as _
from markupsafe import Markup

from ..catalog.models import Organisation
from ..catalog.service import get_by_slug
from ..decisions.models import ANSWER_KIND_NAMES, MEASURE_STATUS_NAMES, AnswerKind, MeasureStatus
from ..errors import DomainError
from ..inputs import PAGE_MAX, int_arg
from . import bp, cache, service
from .charts import Bar, bar_chart
from .forms import DashboardFilterForm

SUMMARY_OVERDUE_SHOWN = 10  # overdue proposals listed on the catalogue's organisation page


@bp.app_template_filter("report_percent")
def report_percent(value) -> str:
    """A share as a percentage in the reader's language: « 14 % » (no-break space) in French, "14%" in English."""
    return "–" if value is None else format_percent(value)


@bp.app_template_filter("report_days")
def report_days(value) -> str:
    return "–" if value is None else format_decimal(round(value, 1), "#,##0.#")


@bp.app_template_filter("report_days_plural")
def report_days_plural(value) -> int:
    """The number that picks the plural of "%(days)s jours" for a median shown with one decimal: 1 is singular in
    both languages, and a fraction below 2 (« 1,5 jour », "1.5 days") passes 0, singular in French, plural in
    English (gettext's rules: n > 1 in French, n != 1 in English)."""
    shown = round(value, 1)
    return int(shown) if shown == int(shown) or shown >= 2 else 0


def _in_words(rows) -> str:
    """A chart's figures in words for its ``<desc>``: « label : n ; label : n » in French, "label: n; label: n" in
    English. Plain text: the chart escapes it."""
    words = ""
    for k, (label, number) in enumerate(rows):
        item = _("%(label)s : %(number)s", label=label, number=number)
        words = item if k == 0 else _("%(previous)s ; %(next)s", previous=words, next=item)
    return words


def _fragment_key(name: str, organisation: Organisation, *more) -> tuple:
    """What a rendered fragment depends on besides the report data: the organisation's address (its links), the
    reader's language and time zone (dates), and the caller's own arguments."""
    return (name, organisation.id, organisation.slug, str(get_locale()), str(get_timezone()), *more)


@bp.app_template_global("kept_fragment")
def kept_fragment(*key, caller) -> Markup:
    """``{% call kept_fragment("name", ...) %}...{% endcall %}`` renders the block once per version of the report
    data, language and time zone, and ``key``. Only for blocks that show nothing but what the report triggers
    watch (``versions.WATCHED``) and what ``key`` holds, the same for every reader."""
    return cache.remember(("fragment", *key, str(get_locale()), str(get_timezone())), lambda: (caller(), None))


@bp.app_template_global("organisation_report_summary")
def organisation_report_summary(organisation: Organisation) -> Markup:
    """The figures shown on the catalogue's organisation page, with the first overdue proposals (rendered once per
    version of the report data, see ``cache``)."""
    def render():
        figures = service.organisation_figures(organisation.id)
        html = render_template("reports/_organisation_summary.html", organisation=organisation, figures=figures,
                               overdue=figures.overdue[:SUMMARY_OVERDUE_SHOWN])
        return Markup(html), figures.valid_until  # noqa: S704 - Jinja's output, escaped by autoescape

    return cache.remember(_fragment_key("summary", organisation), render)


def _answers_chart(figures) -> tuple[list, object]:
    rows = [(str(ANSWER_KIND_NAMES[kind]), figures.by_kind.get(kind, 0)) for kind in AnswerKind]
    rows.append((_("Sans réponse"), figures.awaiting))
    chart = bar_chart([Bar(label, number, tone="chart-bar-muted" if k == len(rows) - 1 else "")
                       for k, (label, number) in enumerate(rows)],
                      chart_id="chart-answers", title=_("Réponses aux propositions reçues"),
                      desc=ngettext("%(num)d proposition reçue. %(detail)s.",
                                    "%(num)d propositions reçues. %(detail)s.", figures.received,
                                    detail=_in_words(rows)))
    return rows, chart


def _measures_chart(counts: dict, chart_id: str) -> tuple[list, object]:
    rows = [(str(MEASURE_STATUS_NAMES[status]), counts.get(status, 0)) for status in MeasureStatus]
    chart = bar_chart([Bar(label, number) for label, number in rows], chart_id=chart_id,
                      title=_("Mesures par état"),
                      desc=ngettext("%(num)d mesure. %(detail)s.", "%(num)d mesures. %(detail)s.", sum(counts.values()),
                                    detail=_in_words(rows)))
    return rows, chart


@bp.get("/organisations/<slug>")
def organisation_report(slug: str):
    organisation = get_by_slug(Organisation, slug)
    page = int_arg("page", 1, maximum=PAGE_MAX)

    def render():
        figures = service.organisation_figures(organisation.id)
        counts = service.measure_status_counts(organisation.id)
        pages = max(1, -(-sum(counts.values()) // service.MEASURES_PER_PAGE))
        shown_page = min(page, pages)
        answer_rows, answers_chart = _answers_chart(figures)
        measure_rows, measures_chart = _measures_chart(counts, "chart-measures")
        html = render_template("reports/_organisation_report.html", organisation=organisation, figures=figures,
                               overdue=figures.overdue[:service.OVERDUE_SHOWN], answer_rows=answer_rows,
                               answers_chart=answers_chart, measure_rows=measure_rows, measures_chart=measures_chart,
                               measures=service.list_measures(organisation.id, shown_page),
                               measure_total=sum(counts.values()), page=shown_page, pages=pages)
        return Markup(html), figures.valid_until  # noqa: S704 - Jinja's output, escaped by autoescape

    body = cache.remember(_fragment_key("report", organisation, page), render)
    return render_template("reports/organisation.html", organisation=organisation, body=body)


@bp.get("/")
def dashboard():
    version = cache.current_version()  # before the organisations and the ideas the kept fragment shows
    organisations, life_events = service.list_organisations(), service.list_life_events()
    form = DashboardFilterForm(formdata=request.args, organisations=organisations, life_events=life_events)
    figures = None
    status = 200
    if form.validate():
        try:
            filters = service.Filters(organisation_id=form.organisation.data, life_event_id=form.moment.data,
                                      since=form.du.parsed, until=form.au.parsed)
        except DomainError as err:
            form.au.errors = [*form.au.errors, str(err.message)]
            status = err.status
        else:
            board = service.dashboard(filters, organisations)
            ideas = tuple((organisation.id, funnel.ideas) for organisation, funnel in board.by_organisation)
            figures = cache.remember(("dashboard", filters, str(get_locale()), str(get_timezone()), ideas),
                                     lambda: (_dashboard_figures(board), None), version=version)
    else:
        status = 422
    return render_template("reports/dashboard.html", form=form, figures=figures,
                           filtered=any(request.args.get(k) for k in ("organisation", "moment", "du", "au"))), status


def _dashboard_figures(board: service.Dashboard) -> Markup:
    stages = board.total.stages()
    chart = bar_chart([Bar(str(service.STAGE_NAMES[stage]), number, tone=f"chart-bar-{stage}")
                       for stage, number in stages],
                      chart_id="chart-funnel", title=_("Des idées aux mesures réalisées"),
                      desc=_in_words((str(service.STAGE_NAMES[stage]), number) for stage, number in stages))
    measure_rows, measures_chart = _measures_chart(board.measures, "chart-dashboard-measures")
    html = render_template("reports/_dashboard_figures.html", board=board, chart=chart, measures_chart=measures_chart,
                           measure_rows=measure_rows, stage_names=service.STAGE_NAMES)
    return Markup(html)  # noqa: S704 - Jinja's output, escaped by autoescape
