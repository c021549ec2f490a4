"""Node relying parties with their defaults against a real server: openid-client v6 (its default
client authentication, ``client_secret_post``) and jose (ID-token verification against the
published JWK Set) log in, validate the ID token, call userinfo, refresh, introspect, revoke and
build the end-session URL (``tests/e2e/node/openid_client_flow.mjs``).

The npm packages are installed once into ``bench/.node`` (ignored by git, where the benchmarks'
Node packages live). When the npm registry cannot be reached the test is skipped, saying so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_authlib_client import REDIRECT, _persona_pin, _register
from tests.system_tools import machine_turn, require_tool

ROOT = Path(__file__).resolve().parents[2]
PREFIX = ROOT / "bench" / ".node"
SCRIPT = Path(__file__).parent / "node" / "openid_client_flow.mjs"
PACKAGES = ("openid-client@6", "jose@6")


@pytest.fixture(scope="module")
def node_script() -> list[str]:
    node = require_tool("node", debian="nodejs")
    npm = require_tool("npm", debian="npm")
    # One install at a time: the other database's run of .ci/run may be installing too.
    with machine_turn("bench-node"):
        if not (PREFIX / "node_modules" / "openid-client").is_dir() or \
                not (PREFIX / "node_modules" / "jose").is_dir():
            try:
                subprocess.run([npm, "install", "--no-save", "--prefix", str(PREFIX), *PACKAGES],
                               check=True, capture_output=True, timeout=300)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pytest.skip("the npm registry could not be reached: openid-client and jose are "
                            "not installed")
        copied = PREFIX / SCRIPT.name  # ES modules find node_modules beside the script
        # whole or not at all: another run's node may be reading the copy
        partial = PREFIX / f".{SCRIPT.name}.{os.getpid()}"
        shutil.copyfile(SCRIPT, partial)
        os.replace(partial, copied)
    return [node, str(copied)]


def test_openid_client_and_jose_defaults_log_in_refresh_introspect_revoke_and_log_out(
        server: Server, node_script: list[str]) -> None:
    client_id, secret = _register(server, token_endpoint_auth_method="client_secret_post",
                                  redirect_uris=[REDIRECT])
    pin = _persona_pin(server, "citizen-l2")
    ran = subprocess.run([*node_script, server.base, client_id, secret, REDIRECT, pin],
                         capture_output=True, text=True, timeout=120, check=False)
    assert ran.returncode == 0, ran.stderr[-2000:]
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    assert result["sub"] == result["joseSub"] == result["userinfoSub"]
    assert result["alg"] == "ES256"
    assert result["name"]
    assert result["refreshed"] is True
    assert result["active"] is True
    assert result["activeAfterRevocation"] is False
    assert result["logoutStatus"] == 303
    assert result["logoutLocation"].startswith(REDIRECT)
    assert httpx.get(server.base + "/readyz").status_code == 200
