"""``dancu clients ...`` (registry of relying parties) and ``dancu keys rotate``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.base import cli, console, fail, out, print_table, settings_from

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

clients_cli = typer.Typer(help="Registered clients (relying parties).", no_args_is_help=True)
keys_cli = typer.Typer(help="Token-signing keys.", no_args_is_help=True)
cli.add_typer(clients_cli, name="clients")
cli.add_typer(keys_cli, name="keys")
DatabaseOption = typer.Option(None, "--database-url", help="DANCU_DATABASE_URL")


@contextmanager
def writing(database_url: str | None) -> Iterator[Session]:
    """One committed unit of work; domain and database errors become one-line failures. An
    account it locked or closed (``dancu accounts lock|close``, a card revoked or held, a death
    recorded) has its login sessions ended with it and the relying parties told, as through the
    API: the logout tokens are sent before the command returns."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.clock import SandboxClock
    from app.db import Database
    from app.errors import DomainError
    from app.services.vneid import backchannel

    settings = settings_from(database_url=database_url)
    database = Database.connect(settings.database_url)
    try:
        with backchannel.own_logouts(database, settings, now=SandboxClock().now()) as logouts, \
                logouts.write(database) as session:
            yield session
    except DomainError as error:
        details = "; ".join(error.extensions.get("problems", [])) or error.detail or ""
        fail(f"{error.title}{': ' + details if details else ''}")
    except SQLAlchemyError as error:
        fail(f"database error: {type(error).__name__} (not migrated? run: dancu migrate)")
    finally:
        database.dispose()


def _jwks(path: Path | None) -> dict[str, object] | None:
    if path is None:
        return None
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        fail("--jwks-file must be a readable JSON JWK Set")


_ALG_HELP = "ES256 or RS256."


@clients_cli.command("add")
def add(
    name: Annotated[str, typer.Option(help="Display name of the relying party.")],
    scope: Annotated[list[str], typer.Option("--scope", help="Allowed scope (repeat).")],
    purpose: Annotated[list[str], typer.Option("--purpose", help="Purpose code (repeat).")],
    client_id: Annotated[str | None, typer.Option(help="Generated when absent.")] = None,
    auth_method: Annotated[
        str, typer.Option("--auth-method", "--token-endpoint-auth-method",
                          help="client_secret_basic, client_secret_post, client_secret_jwt, "
                          "private_key_jwt (with --jwks-file) or none (a public client: PKCE "
                          "always required).")
    ] = "client_secret_basic",
    grant_type: Annotated[list[str] | None, typer.Option(
        "--grant-type", help="client_credentials (default), authorization_code, refresh_token "
        "(repeat).")] = None,
    redirect_uri: Annotated[list[str] | None, typer.Option("--redirect-uri")] = None,
    jwks_file: Annotated[
        Path | None, typer.Option(help="Public JWK Set (private_key_jwt).")
    ] = None,
    sandbox: Annotated[bool, typer.Option(help="A sandbox client (may search test data).")] = False,
    alg: Annotated[str, typer.Option(
        "--alg", "--id-token-signed-response-alg",
        help="ID and access token signing algorithm: " + _ALG_HELP)] = "ES256",
    userinfo_signed_response_alg: Annotated[str | None, typer.Option(
        help="Answer userinfo as a JWT signed with " + _ALG_HELP)] = None,
    rate_limit: Annotated[int, typer.Option(min=1, help="Requests per minute.")] = 600,
    legal_basis: Annotated[str | None, typer.Option(help="Needed for citizen.sensitive.")] = None,
    data_basis: Annotated[str, typer.Option(
        help="statutory_task or consent (each citizen's consent is required).")
    ] = "statutory_task",
    application_type: Annotated[
        str, typer.Option(help="web, or native (a loopback redirect URI matches on any port).")
    ] = "web",
    require_pkce: Annotated[
        bool, typer.Option(help="--no-require-pkce: a confidential client that sends no PKCE.")
    ] = True,
    post_logout_redirect_uri: Annotated[
        list[str] | None, typer.Option("--post-logout-redirect-uri", help="Repeat.")
    ] = None,
    sector_identifier_uri: Annotated[str | None, typer.Option(
        help="Its host is the sector of the pairwise sub (fetched, unless "
        "--sector-redirect-uri is given).")] = None,
    sector_redirect_uri: Annotated[list[str] | None, typer.Option(
        "--sector-redirect-uri", help="Sandbox clients: what the sector_identifier_uri serves, "
        "given instead of fetched (repeat).")] = None,
    dpop_bound_access_tokens: Annotated[bool, typer.Option(
        help="A DPoP proof at every token request (RFC 9449).")] = False,
    require_pushed_authorization_requests: Annotated[bool, typer.Option(
        "--require-par", help="Authorization requests only through PAR (RFC 9126).")] = False,
    security_profile: Annotated[str | None, typer.Option(
        help="fapi2: private_key_jwt with PKCE, PAR and DPoP required.")] = None,
    backchannel_logout_uri: Annotated[str | None, typer.Option(
        help="Where logout tokens are POSTed when a session ends (Back-Channel Logout 1.0).")
    ] = None,
    backchannel_logout_session_required: Annotated[bool, typer.Option(
        help="The client needs sid in logout tokens.")] = False,
    database_url: str | None = DatabaseOption,
) -> None:
    """Register a client; prints its id and secret (the secret is shown only now)."""
    from app.services.kit import secret as deployment
    from app.services.sandbox.clock import session_now
    from app.services.sharing import client_secrets, clients, outbound

    spec = clients.ClientSpec(
        name=name,
        scopes=tuple(scope),
        purposes=tuple(purpose),
        client_id=client_id,
        token_endpoint_auth_method=auth_method,
        grant_types=tuple(grant_type or ("client_credentials",)),
        redirect_uris=tuple(redirect_uri or ()),
        jwks=_jwks(jwks_file),
        sandbox=sandbox,
        signing_alg=alg,
        rate_limit=rate_limit,
        legal_basis=legal_basis,
        data_basis=data_basis,
        application_type=application_type,
        require_pkce=require_pkce,
        post_logout_redirect_uris=tuple(post_logout_redirect_uri or ()),
        sector_identifier_uri=sector_identifier_uri,
        sector_redirect_uris=tuple(sector_redirect_uri) if sector_redirect_uri else None,
        userinfo_signed_response_alg=userinfo_signed_response_alg,
        dpop_bound_access_tokens=dpop_bound_access_tokens,
        require_pushed_authorization_requests=require_pushed_authorization_requests,
        security_profile=security_profile,
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=backchannel_logout_session_required,
    )
    settings = settings_from(database_url=database_url)
    with writing(database_url) as session:
        now = session_now(session)
        sealing = deployment.with_secret(session, settings, now=now)
        client, secret = clients.register(
            session, spec, now=now,
            fetch_sector=lambda url: outbound.get_json(url, settings=settings),
            seal=client_secrets.sealer(sealing), targets=outbound.targets(settings))
        new_id = client.client_id
    out.print(f"client_id: {new_id}", highlight=False)
    if secret:
        out.print(f"client_secret: {secret}", highlight=False)


@clients_cli.command("list")
def list_(database_url: str | None = DatabaseOption) -> None:
    """List registered clients (never their secrets); piped, one tab-separated line each."""
    from rich.table import Table

    from app.services.sharing import clients

    with writing(database_url) as session:
        rows = [
            (
                c.client_id,
                c.status,
                "sandbox" if c.sandbox else "-",
                c.token_endpoint_auth_method,
                f"{c.rate_limit}/min",
                " ".join(c.scopes),
                c.name,
            )
            for c in clients.list_all(session)
        ]
    table = Table("client_id", "status", "sandbox", "auth", "rate", "scopes", "name")
    for row in rows:
        table.add_row(*row)
    print_table(table)


@clients_cli.command("rotate-secret")
def rotate_secret(client_id: str, database_url: str | None = DatabaseOption) -> None:
    """Replace a client's secret; prints the new one (the old one stops working at once)."""
    from app.services.sandbox.clock import session_now
    from app.services.sharing import clients

    with writing(database_url) as session:
        secret = clients.rotate_secret(session, client_id, now=session_now(session))
    out.print(f"client_secret: {secret}", highlight=False)


@clients_cli.command("disable")
def disable(client_id: str, database_url: str | None = DatabaseOption) -> None:
    """Disable a client: its tokens stop working at once."""
    from app.services.sharing import clients

    with writing(database_url) as session:
        clients.set_status(session, client_id, active=False)
    console.print(f"disabled {client_id}", highlight=False)


@clients_cli.command("enable")
def enable(client_id: str, database_url: str | None = DatabaseOption) -> None:
    """Re-enable a disabled client."""
    from app.services.sharing import clients

    with writing(database_url) as session:
        clients.set_status(session, client_id, active=True)
    console.print(f"enabled {client_id}", highlight=False)


@keys_cli.command("rotate")
def rotate(
    alg: str = typer.Option("ES256", help="ES256 or RS256."),
    database_url: str | None = DatabaseOption,
) -> None:
    """Rotate the signing key; the old key stays published until its tokens have expired.
    Running servers pick the new key up within seconds."""
    from app.services.kit import keys, secret
    from app.services.sandbox.clock import session_now

    if alg not in ("ES256", "RS256"):
        fail("--alg must be ES256 or RS256")
    settings = settings_from(database_url=database_url)
    with writing(database_url) as session:
        now = session_now(session)
        kid = keys.rotate(session, alg, settings=secret.with_secret(session, settings, now=now),
                          now=now)
    out.print(f"kid: {kid}", highlight=False)
