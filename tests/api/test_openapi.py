"""The OpenAPI 3.1 document is valid, covers every API route, and every documented endpoint answers with what it
documents: schemathesis generates requests (valid and invalid) and checks status codes, headers and bodies."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from app.extensions import db
from app.opendata.datasets import DATASETS
from tests.factories import make_life_event
from tests.opendata.helpers import build_world

SETTINGS = settings(max_examples=15, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))


def _schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_openapi_document_is_valid_and_covers_every_route(app):
    schema = _schema(app)
    schema.validate()  # against the OpenAPI 3.1 meta-schema schemathesis ships (raises when invalid)
    document = schema.raw_schema
    assert document["openapi"] == "3.1.0"
    for component in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(component)
    documented = set(document["paths"])
    routes = {rule.rule.replace("<int:item_id>", "{id}").replace("<slug>", "{slug}")
              for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")}
    expected = {"/api/v1/", "/api/v1/openapi.json"}
    for dataset in DATASETS:
        expected.add(f"/api/v1/{dataset.name}")
        if dataset.has_detail:
            expected.add(f"/api/v1/{dataset.name}/{{id}}")
    barometer = {"/api/v1/barometer", "/api/v1/barometer/services", "/api/v1/barometer/services/{slug}",
                 "/api/v1/barometer/services/{slug}/monthly", "/api/v1/barometer/organisations/{slug}",
                 "/api/v1/barometer/life-events/{slug}"}
    assert documented == expected | barometer
    assert routes == {"/api/v1/", "/api/v1/openapi.json", "/api/v1/<resource>", "/api/v1/<resource>/{id}"} | barometer
    # Built from the datasets: every field of every dataset is in its component, with its type.
    for dataset in DATASETS:
        component = document["components"]["schemas"]["".join(p.capitalize() for p in dataset.name.split("-"))]
        assert list(component["properties"]) == dataset.field_names


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_broken_document_is_refused(app):
    """The validation above can fail: a document without ``info`` and with a bad response code is refused."""
    document = _schema(app).raw_schema
    broken = {key: value for key, value in document.items() if key != "info"}
    with pytest.raises(Exception, match="info"):
        schemathesis.openapi.from_dict(broken).validate()


def _run(operation, mode=GenerationMode.POSITIVE, **overrides):
    @SETTINGS
    @given(case=operation.as_strategy(mode, **overrides))
    def check(case):
        case.call_and_validate()

    check()


def test_every_documented_endpoint_answers_with_what_it_documents(app):
    world = build_world()
    event = make_life_event(slug="demenager")
    event.services = [world.experiences["answered"].response.service]
    db.session.commit()
    app.config["BAROMETER_MIN_ANSWERS"] = 2  # the world's figures shown, besides those without answers
    # Real slugs for the barometer's addresses (random ones are mostly unknown: 404).
    slugs = {"services": "carte-grise", "organisations": world.organisation.slug, "life-events": "demenager"}
    schema = _schema(app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Every documented operation is exercised (schemathesis leaves out the document's own address).
    assert {op.path for op in operations} == set(schema.raw_schema["paths"]) - {"/api/v1/openapi.json"}
    for operation in operations:
        _run(operation)
        if operation.path.startswith("/api/v1/barometer/"):
            if operation.path_parameters:
                _run(operation, path_parameters={"slug": slugs[operation.path.split("/")[4]]})
        elif operation.path_parameters:
            # Random ids are mostly unknown (404): also check real ones against the 200 schema.
            name = operation.path.split("/")[3]
            first = app.test_client().get(f"/api/v1/{name}?per_page=1").get_json()["data"][0]["id"]
            _run(operation, path_parameters={"id": first})
        if operation.query:
            _run(operation, GenerationMode.NEGATIVE)
    assert world.measure.id


def test_schemathesis_catches_an_answer_that_breaks_the_document(app):
    """The check above can fail: a response whose body breaks the documented schema is reported."""
    build_world()
    db.session.commit()
    schema = _schema(app)
    document = schema.raw_schema
    # Document the measures' progress as at most 10 (the world has a measure at 50 %).
    document["components"]["schemas"]["Measures"]["properties"]["progress"]["maximum"] = 10
    tampered = schemathesis.openapi.from_dict(document)
    tampered.app = app
    operation = next(r.ok() for r in tampered.get_all_operations() if r.ok().path == "/api/v1/measures")
    case = operation.Case(query={"page": 1, "per_page": 20})
    with pytest.raises(FailureGroup) as caught:
        case.call_and_validate(app=app)
    assert [type(f).__name__ for f in caught.value.exceptions] == ["JsonSchemaError"]
    assert "50 is greater than the maximum of 10" in str(caught.value.exceptions[0])
