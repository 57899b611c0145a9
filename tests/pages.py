"""Page lists derived from ``app.url_map`` for tests that walk every page."""

NOT_HTML = {"static", "core.healthz", "proposals.similar",  # proposals.similar: JSON title suggestions
            "api.index",  # api.index: the JSON API's list of resources
            "api.national_barometer", "api.service_barometers"}  # the API's barometer (JSON)


def get_rules(app):
    return [r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint not in NOT_HTML]


NOT_HTML_SUFFIXES = (".ics", ".csv", ".json", ".md", ".atom")


def html_get_urls(app) -> list[str]:
    """Every GET HTML page without URL parameters (pages with parameters are walked with real data elsewhere)."""
    return sorted(r.rule for r in get_rules(app) if not r.arguments and not r.rule.endswith(NOT_HTML_SUFFIXES))
