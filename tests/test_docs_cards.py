"""The chip read and verification examples of docs/cards.md run as written, in order, against a
real ``dancu serve``: the tampered-dg1 persona's chip is read with the access key made from its
printed MRZ, and its verification fails on DG1's hash alone (the active authentication the
example sends passes)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.reliability.processes import running_server
from tests.system_tools import require_tool

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "cards.md"


def example(name: str) -> str:
    block = re.search(rf"<!-- {name}: tested -->\n```sh\n(.*?)```", DOC.read_text("utf-8"), re.S)
    assert block, f"docs/cards.md marks its {name} example"
    return block[1]


def test_the_chip_read_and_verify_examples_answer_what_the_doc_shows(
        tmp_path: Path) -> None:
    for tool, package in (("curl", "curl"), ("jq", "jq"), ("sha1sum", "coreutils")):
        require_tool(tool, debian=package)
    database = f"sqlite:///{tmp_path / 'cards.db'}"
    script = ("TOKEN=$(curl -s -u demo:demo-secret-for-the-sandbox-only -d grant_type="
              "client_credentials -d scope=card.read $BASE/oauth2/token | jq -r .access_token)\n"
              + example("cards-read") + "\n" + example("cards-verify"))
    with running_server(database, name="cards-example", DANCU_POPULATION_SIZE="2000",
                        DANCU_DELIVERY_WORKER="false") as server:
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=tmp_path,
                              env={**os.environ, "BASE": server.base},
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    signed, verdict = done.stdout.replace("}{", "}\n{").splitlines()[-2:]
    assert json.loads(signed)["algorithm"] == "ecdsa-plain-sha256"
    answer = json.loads(verdict)
    assert (answer["verdict"], answer["reasons"]) == ("fail", ["hash_mismatch"]), answer
    assert (tmp_path / "chip.json").stat().st_size > 0
