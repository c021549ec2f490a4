"""dancu-sandbox's test kit: a pytest plugin (``dancu_testing.plugin``, loaded through the
``pytest11`` entry point ``dancu``) and the typed values its fixtures return (docs/testing.md).

Importing this package costs nothing: pytest loads the plugin in every run of every project that
has dancu-sandbox installed, so the HTTP kit (httpx, joserfc) is imported only when a fixture is
used, and the names below are loaded on first access.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ChipRead", "ChipReader", "ClockState", "Credentials", "DancuClient", "FaultRule",
           "Faults", "Login", "LoginFailed", "Persona", "PersonaAccount", "PersonaCard", "Sandbox",
           "SandboxClock", "SandboxError", "Tenant", "Tokens"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dancu_testing import kit

        return getattr(kit, name)
    raise AttributeError(name)
