"""The sandbox's HTTP edge: pure-ASGI middleware that runs before any route. Tenant dispatch
(:mod:`.tenants`: a request naming a tenant is served by that tenant's app), fault injection
(:mod:`.faults`) and observation of recent requests (:mod:`.observe`). They call the sandbox
services (:mod:`app.services.sandbox`) for their rules and state; services never import them."""
