"""The grounds an account is locked or closed on (a module of constants: the command line names
them in its help without loading the account service)."""

MANUAL_LOCK_REASONS = ("self_request", "tos_violation", "authority", "pin_reestablished")
CARD_LOCK_REASONS = ("card_expired", "card_revoked", "card_held")
LOCK_REASONS = (*MANUAL_LOCK_REASONS, *CARD_LOCK_REASONS)
CLOSE_REASONS = ("death", "pin_cancelled", "authority")

# The write session's info key under which the accounts that became unusable in its transaction
# wait for their login sessions to end (app.services.vneid.accounts, app.dependencies).
UNUSABLE_KEY = "dancu.accounts_unusable"
