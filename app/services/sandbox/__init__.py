"""What makes the service a sandbox: the persona catalogue, fault injection rules, the sandbox
clock, tenants (a population of one's own), the web console, the recent requests kept for
observation, and the ready-made request collection with its examples. The middleware that applies
faults, dispatches tenants and observes requests is the HTTP edge, :mod:`app.edge`."""

__all__ = ["clock", "collection", "console", "examples", "faults", "personas", "recorded_requests",
           "tenant_templates", "tenants"]
