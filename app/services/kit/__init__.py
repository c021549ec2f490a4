"""What every package uses: the deployment secret and everything derived from it, signing keys,
failure throttles and per-client quotas, the clock shared through the database, structured logs,
metrics and keyset cursors. Depends on no other service package."""

__all__ = ["keys", "logging_json", "metrics", "pagination", "rate_limit", "secret", "shared_clock",
           "throttle"]
