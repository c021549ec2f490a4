"""The population database: a citizen's record (identity, residence, household, family) as a
client may see it, the search over it, the prepared reader the lookup's hot path uses, the
reference data that renders records (administrative units, code lists), and persona names (a
persona key is another way to name a citizen). Routers call :mod:`.citizens`."""

__all__ = ["citizens", "persona_names", "reading", "reference"]
