"""The HTTP collection in docs/collection/ is what ``dancu export-collection`` makes from the
current OpenAPI document (regenerate it after changing an endpoint), it covers every operation
once, and every request -- so every request example of the OpenAPI document, which is the
request's body -- answers the status it states (``# expect:``) when the collection runs top to
bottom against a fresh default deployment (seed 6, 10,000 people: seeding it takes about ten
seconds, so the module builds it once)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app import openapi_examples as openapi
from app.cli import app as cli_app
from app.cli.sandbox import openapi_document
from app.main import create_app
from app.schemas.examples import EXAMPLES
from app.services.sandbox import collection as sandbox_collection
from app.services.sandbox import examples as sandbox_examples
from app.services.sandbox import personas
from app.services.sandbox.examples import DEFAULT_POPULATION, DEFAULT_SEED, REFRESH_COMMAND
from app.settings import load_settings

COLLECTION = Path(__file__).parents[1] / "docs" / "collection"


@pytest.mark.parametrize("kind", ["http", "postman"])
def test_the_committed_collection_is_in_step_with_the_openapi_document(
        kind: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["export-collection", "--format", kind,
                                          "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    made = {p.relative_to(tmp_path): p.read_text("utf-8") for p in tmp_path.rglob("*.*")}
    committed = {p.relative_to(COLLECTION): p.read_text("utf-8")
                 for p in (COLLECTION / ("http" if kind == "http" else "")).rglob("*.*")
                 if kind == "http" or p.suffix == ".json"}
    assert made == committed, "run: dancu export-collection --format " + kind


def test_every_operation_is_one_request_of_the_collection() -> None:
    document = openapi_document()
    operations = sum(len(item) for item in document["paths"].values())
    files = sandbox_collection.http_files(document)
    http = "".join(files.values())
    signs_in = http.count("# @name " + sandbox_collection.TOKEN_REQUEST + "\n")
    assert signs_in == len(files)  # each file opens with the request that makes {{token}}
    assert http.count("\n### ") + http.startswith("### ") == operations + signs_in
    postman = sandbox_collection.postman(document)
    sign_in, *folders = postman["item"]
    assert "request" in sign_in
    assert sum(len(folder["item"]) for folder in folders) == operations
    assert json.loads(json.dumps(postman))["info"]["schema"].endswith("v2.1.0/collection.json")


# --- every request works as given against a default deployment --------------------------------

_VARIABLE = re.compile(r"\{\{([^{}]+)\}\}")


@dataclass
class Request:
    name: str
    expect: int
    method: str
    url: str
    headers: dict[str, str]
    body: str


def parse_http(text: str) -> tuple[dict[str, str], list[Request]]:
    """The file variables and the requests of one ``.http`` file (the REST Client format)."""
    head, *blocks = re.split(r"^### .*$", text, flags=re.M)
    variables = dict(re.findall(r"^@(\w+) = (.*)$", head, flags=re.M))
    return variables, [_request(block) for block in blocks]


def _request(block: str) -> Request:
    lines = block.strip("\n").split("\n")
    notes = dict(re.findall(r"^# (@name|expect:) (.*)$", "\n".join(lines), flags=re.M))
    lines = [line for line in lines if not line.startswith("#")]
    method, url = lines[0].split(" ", 1)
    blank = lines.index("") if "" in lines else len(lines)
    headers = dict(line.split(": ", 1) for line in lines[1:blank])
    return Request(notes["@name"], int(notes["expect:"]), method, url, headers,
                   "\n".join(lines[blank + 1:]).strip())


class Runner:
    """Sends requests the way the REST Client does: file variables, then named responses."""

    def __init__(self, client: TestClient, variables: dict[str, str]) -> None:
        self.client, self.variables, self.responses = client, variables, {}

    def resolve(self, text: str) -> str:
        for _ in range(3):  # a variable may name another ({{token}} -> a named response)
            text = _VARIABLE.sub(lambda m: self._value(m[1]), text)
        return text

    def _value(self, name: str) -> str:
        if name in self.variables:
            return self.variables[name]
        request, _, field = name.partition(".response.body.$.")
        if request not in self.responses:  # not sent yet: the REST Client sends it as written
            return "{{" + name + "}}"
        return str(self.responses[request].json().get(field, "{{" + name + "}}"))

    def send(self, request: Request) -> Any:
        headers = {k: self.resolve(v) for k, v in request.headers.items()}
        url = self.resolve(request.url).removeprefix(self.resolve("{{base}}"))
        response = self.client.request(request.method, url, headers=headers,
                                       content=self.resolve(request.body).encode() or None)
        self.responses[request.name] = response
        return response


@dataclass
class Deployment:
    client: TestClient
    picked: dict[str, str]  # the example table picked from it before any request ran


@pytest.fixture(scope="module")
def default_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A deployment as ``dancu serve`` starts by default: seed 6, 10,000 people (SQLite)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('default') / 'dancu.db'}"
    settings, database = sandbox_examples.default_deployment(url)
    app = create_app(settings, database=database)
    with TestClient(app, raise_server_exceptions=False) as client:
        with database.write() as session:
            picked = sandbox_examples.pick(session, personas.context(
                database, settings, now=app.state.clock.now()), app.state.settings)
        yield Deployment(client, picked)
    database.dispose()


def test_the_defaults_are_the_documented_deployment() -> None:
    settings = load_settings(database_url="sqlite:///:memory:")
    assert (settings.seed, settings.population_size) == (DEFAULT_SEED, DEFAULT_POPULATION)


def test_every_request_of_the_collection_answers_its_documented_status(
        default_deployment: Deployment) -> None:
    answered = {}
    for path in sorted((COLLECTION / "http").glob("*.http")):
        variables, requests = parse_http(path.read_text("utf-8"))
        runner = Runner(default_deployment.client, variables)
        for request in requests:
            status = runner.send(request).status_code
            answered[f"{path.stem}: {request.name}"] = (status, request.expect)
    wrong = {name: got for name, got in answered.items() if got[0] != got[1]}
    assert wrong == {}, "\n".join(f"{name}: {got}" for name, got in wrong.items())


def test_the_postman_requests_expect_what_the_http_files_expect() -> None:
    document = openapi_document()
    http = [(r.method, r.url, r.expect) for text in sandbox_collection.http_files(document).values()
            for r in parse_http(text)[1] if r.name != sandbox_collection.TOKEN_REQUEST]
    postman = [(item["request"]["method"], item["request"]["url"]["raw"],
                int(re.findall(r"have\.status\((\d+)\)", item["event"][0]["script"]["exec"][0])[0]))
               for folder in sandbox_collection.postman(document)["item"][1:]
               for item in folder["item"]]
    assert sorted(postman) == sorted(http)


def test_the_example_table_is_what_a_fresh_default_deployment_gives(
        default_deployment: Deployment) -> None:
    """A change to the population generator changes who fits each example: the table (and the
    collection made from it) must be picked again."""
    assert default_deployment.picked == EXAMPLES, (
        f"the examples are out of step with the population: run {REFRESH_COMMAND}")


def test_the_verification_and_cmnd_examples_name_the_persona_as_recorded(
        default_deployment: Deployment) -> None:
    """Not only answered: the accent-free name and the birth date match, the CMND resolves to
    the persona's PIN."""
    variables, requests = parse_http((COLLECTION / "http" / "citizens.http").read_text("utf-8"))
    runner = Runner(default_deployment.client, variables)
    answers = {request.name: runner.send(request).json() for request in requests}
    assert answers["verify_v1_citizens_verify_post"]["verdict"] == "match"
    batch = answers["verify_batch_v1_citizens_verify_batch_post"]["results"]
    assert [result["verdict"] for result in batch] == ["match"]
    assert answers["resolve_cmnd_v1_citizens_resolve_cmnd_post"]["pin"] == EXAMPLES["pin"]


def test_the_collections_persona_is_valid_adult_level2_of_the_default_deployment(
        default_deployment: Deployment) -> None:
    admin = {"Authorization": f"Bearer {sandbox_collection.VARIABLES['admin_token']}"}
    listed = default_deployment.client.get("/v1/sandbox/personas",
                                           headers=admin).json()["personas"]
    persona = next(p for p in listed if p["key"] == "valid-adult-level2")
    assert persona["pin"] == sandbox_collection.VARIABLES["pin"]
    assert persona["card"]["access_key"] == sandbox_collection.VARIABLES["access_key"]
    known = openapi.KNOWN
    assert (persona["pin"], persona["full_name"], str(persona["birth_date"])) == (
        known["pin"], known["full_name"], known["birth_date"])
