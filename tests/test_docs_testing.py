"""The curl recipe of docs/testing.md (the plugin's fixtures for other languages) works as
written: its block runs with bash against a real ``dancu serve`` on a database of its own and
goes through tenant, client, persona, login, clock, fault, reset and delete."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.reliability.processes import running_server
from tests.system_tools import require_tool

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "testing.md"
ADMIN = {"Authorization": "Bearer admin-secret"}  # the default token of a sandbox deployment


def curl_recipe() -> str:
    block = re.search(r"<!-- testing-recipe: tested -->\n```sh\n(.*?)```",
                      DOC.read_text("utf-8"), re.S)
    assert block, "docs/testing.md marks its curl recipe"
    return block[1]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[dict[str, str]]]:
    require_tool("curl", debian="curl")
    require_tool("openssl", debian="openssl")
    folder = tmp_path_factory.mktemp("testing-recipe")
    with running_server(f"sqlite:///{folder / 'recipe.db'}", name="testing-recipe",
                        DANCU_POPULATION_SIZE="100", DANCU_DELIVERY_WORKER="false") as server:
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", curl_recipe()], cwd=folder,
                              env={**os.environ, "BASE": server.base}, capture_output=True,
                              text=True, timeout=600)
        left = httpx.get(f"{server.base}/v1/sandbox/tenants", headers=ADMIN).json()["tenants"]
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines(), left


def test_the_recipe_names_the_personas_pin_card_key_and_password(
        recipe: tuple[list[str], list[dict[str, str]]]) -> None:
    pin, access_key, password = recipe[0][0].split()
    assert (len(pin), len(access_key), password) == (12, 32, "Vneid@2025")


def test_the_recipe_logs_in_at_loa2_through_the_code_flow(
        recipe: tuple[list[str], list[dict[str, str]]]) -> None:
    tokens = json.loads(recipe[0][1])
    assert {"access_token", "id_token"} <= tokens.keys()


def test_the_recipe_moves_the_tenants_clock_and_fails_its_token_endpoint(
        recipe: tuple[list[str], list[dict[str, str]]]) -> None:
    frozen, advanced, faulted = recipe[0][2:5]
    assert json.loads(frozen)["now"] == "2030-01-01T00:00:00Z"
    assert json.loads(advanced)["now"] == "2030-01-31T00:00:00Z"
    assert json.loads(advanced)["tenant"] is not None
    assert faulted == "503"


def test_the_recipe_resets_then_deletes_its_tenant(
        recipe: tuple[list[str], list[dict[str, str]]]) -> None:
    reset, deleted = recipe[0][5:7]
    assert json.loads(reset)["generation"] == 2
    assert deleted == "204"
    assert recipe[1] == []
