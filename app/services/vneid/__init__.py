"""VNeID: citizens' electronic-identity accounts (level 1 and 2, passwords, passcodes, OTP) and
the OpenID provider's use cases: the authorization request and its login steps, the code and
refresh grants, userinfo, sessions and logout (with Back-Channel Logout, :mod:`.backchannel`; ending
sessions on demand, :mod:`.session_control`),
revocation, discovery metadata; and the citizen's own view of who accessed their data
(:mod:`.access_history`, with a VNeID token).

The protocol rules themselves are the pure package :mod:`app.oidc`; database work on the login hot
path goes through :mod:`app.services.storage` (a read phase and the writes it leaves)."""

__all__ = ["access_history", "account_generation", "accounts", "authorize", "backchannel",
           "credentials", "discovery", "grants", "lock_reasons", "login", "logout", "otp", "par",
           "provider", "registration", "revocation", "session_control", "sessions", "userinfo"]
