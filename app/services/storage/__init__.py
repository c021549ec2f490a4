"""The hot path's storage: one unit of work (:mod:`.units`) that runs a use case's read phase and
the writes it leaves (:mod:`.phases`) on either database, so a use case reads top to bottom
without the locking scheme (explained once, in :mod:`.units`), and the per-process state in front
of the database (:mod:`.runtime`: caches, quota leases, and the audit writer and citizen readers
that the domains plug in)."""

__all__ = ["phases", "runtime", "units"]
