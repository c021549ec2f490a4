"""Data sharing with authorised parties: the client registry and its authentication, scopes
and purposes, access tokens (the token endpoint's grants and the data API's check), consent, the
hash-chained audit trail with its group-commit writer, and the first-start step (signing keys and
the demo client exist)."""

__all__ = ["audit", "audit_writer", "client_auth", "client_secrets", "clients", "consent",
           "outbound", "scopes", "setup", "tokens"]
