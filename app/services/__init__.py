"""Use cases, grouped by the part of the product they serve (docs/architecture.md).

Each package below owns one capability; its ``__init__`` says what it owns and lists, in
``__all__``, the modules other packages and the routers may import. The other modules are the
package's own (``tests/test_architecture.py`` checks both rules and that no import cycle exists).

* :mod:`~app.services.population`: the citizen records, their search and reference data.
* :mod:`~app.services.sharing`: relying parties on the data API: clients, scopes, tokens, consent,
  the audit trail and each citizen's access history.
* :mod:`~app.services.cards`: chip cards: issuance, the virtual chip, verification, the test PKI.
* :mod:`~app.services.vneid`: VNeID accounts, login and the OpenID provider's use cases.
* :mod:`~app.services.documents`: documents integrated in VNeID (health insurance, licences,
  vehicles, tax, social insurance, vaccinations, criminal-record certificates) and sector checks.
* :mod:`~app.services.events`: life events, the simulation that makes them, feeds and webhooks.
* :mod:`~app.services.sandbox`: what makes it a sandbox: personas, faults, the clock, tenants,
  the console, request observation, the ready-made collection.
* :mod:`~app.services.storage`: the hot path's unit of work (a read phase and the writes it
  leaves, whatever the database), per-process caches and the group-commit audit writer.
* :mod:`~app.services.kit`: what every package uses: the deployment secret and signing keys,
  throttles and quotas, structured logs, metrics, cursors, the first-start step.
"""
