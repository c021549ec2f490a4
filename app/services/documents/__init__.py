"""Documents integrated in VNeID and the sector databases behind them: the health-insurance card,
driving licences, vehicle registrations, the tax code, the social-insurance book and vaccinations
of a citizen (computed by the pure rules of :mod:`app.documents` from the population, the sandbox
clock and the stored overrides), the sector checks relying parties make on them, the personas whose
documents fail on purpose, and the criminal-record certificate requested through the national
portal (its lifecycle, the request service and the test authority that signs it)."""

__all__ = ["integrated", "judicial_lifecycle", "judicial_pki", "judicial_records", "personas"]
