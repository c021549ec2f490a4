"""Life events: recording a birth, a death, a residence change, a marriage, a card loss through
the rules of each kind (:mod:`.kinds`), the simulation that makes them happen day by day, the
event feed and its webhook subscriptions, outbox and sender."""

__all__ = ["documents", "feed", "identity", "kinds", "life_events", "simulation", "subscriptions",
           "webhook_sender", "webhooks", "webhooks_worker"]
