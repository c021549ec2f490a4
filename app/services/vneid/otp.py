"""SMS one-time codes and the sandbox SMS inbox.

A code is 6 random digits, valid for 5 minutes of sandbox time, for 5 attempts, once. Only its hash
is stored with the code row; each wrong attempt is counted by the database
(``attempts = attempts + 1``) and the right code is consumed only while fewer than 5 wrong ones are
counted, so parallel guesses cannot lose counts. A login interaction gets at most
:data:`CODES_PER_LOGIN` codes (the first and 5 resends) and an account at most
:data:`CODES_PER_HOUR` codes in any hour of sandbox time (the account row is locked while
counting, so concurrent resends cannot both pass). The sandbox "sends" the SMS by writing the
message to the inbox table, which integrators read through ``GET /v1/admin/accounts/{pin}/sms``
(the phone of a test persona). The hash is bound to the login interaction, so a code sent for
one login cannot finish another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models.account import Account, OneTimeCode, SmsMessage
from app.services.kit.keys import aware

OTP_TTL = timedelta(minutes=5)
OTP_MAX_ATTEMPTS = 5
CODES_PER_LOGIN = 6  # the first code and 5 resends
CODES_PER_HOUR = 10
CODES_PER_HOUR_WINDOW = timedelta(hours=1)
LOGIN = "login"
MESSAGE = ("VNeID: ma xac thuc cua ban la {code}. Ma co hieu luc trong 5 phut. "
           "Khong chia se ma nay voi bat ky ai. / Your VNeID code is {code} (valid 5 min).")


def _hash(context: str, code: str) -> str:
    return hashlib.sha256(f"{context}:{code}".encode()).hexdigest()


class TooManyCodes(Exception):
    """The login or the account has had as many codes as it may (see the module docstring)."""


def _codes_left(session: Session, account: Account, *, interaction_id: str,
                now: datetime) -> bool:
    # The account's row lock (PostgreSQL; SQLite's writer lock serialises anyway) makes the
    # counting and the insert one step for concurrent sends.
    session.execute(select(Account.id).where(Account.id == account.id).with_for_update())
    for_login = session.scalar(select(func.count()).select_from(OneTimeCode)
                               .where(OneTimeCode.interaction_id == interaction_id))
    in_hour = session.scalar(select(func.count()).select_from(SmsMessage)
                             .where(SmsMessage.account_id == account.id,
                                    SmsMessage.sent_at > now - CODES_PER_HOUR_WINDOW))
    return (for_login or 0) < CODES_PER_LOGIN and (in_hour or 0) < CODES_PER_HOUR


def send_login_code(session: Session, account: Account, *, interaction_id: str,
                    now: datetime) -> None:
    """Issue a new code for this login (earlier unused ones stop working) and "send" it;
    :class:`TooManyCodes` past the limits."""
    if not _codes_left(session, account, interaction_id=interaction_id, now=now):
        raise TooManyCodes()
    session.execute(update(OneTimeCode)
                    .where(OneTimeCode.interaction_id == interaction_id,
                           OneTimeCode.consumed_at.is_(None))
                    .values(consumed_at=now))
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(OneTimeCode(account_id=account.id, purpose=LOGIN, interaction_id=interaction_id,
                            code_hash=_hash(interaction_id, code), attempts=0, created_at=now,
                            expires_at=now + OTP_TTL))
    session.add(SmsMessage(account_id=account.id, phone=account.phone,
                           body=MESSAGE.format(code=code), sent_at=now))
    session.flush()


def check_login_code(session: Session, *, interaction_id: str, code: str, now: datetime) -> bool:
    """True once for the right, unexpired code; every wrong try counts towards the limit."""
    row = session.scalar(select(OneTimeCode).where(OneTimeCode.interaction_id == interaction_id,
                                                   OneTimeCode.consumed_at.is_(None))
                         .order_by(OneTimeCode.id.desc()).limit(1))
    if row is None or now >= (aware(row.expires_at) or now) or row.attempts >= OTP_MAX_ATTEMPTS:
        return False
    if not hmac.compare_digest(row.code_hash, _hash(interaction_id, code.strip())):
        session.execute(update(OneTimeCode).where(OneTimeCode.id == row.id)
                        .values(attempts=OneTimeCode.attempts + 1)
                        .execution_options(synchronize_session=False))
        return False
    consumed = session.execute(update(OneTimeCode)
                               .where(OneTimeCode.id == row.id, OneTimeCode.consumed_at.is_(None),
                                      OneTimeCode.attempts < OTP_MAX_ATTEMPTS)
                               .values(consumed_at=now))
    return bool(consumed.rowcount)


def inbox(session: Session, account: Account, *, limit: int = 20) -> list[SmsMessage]:
    """The latest messages sent to the account's phone, newest first."""
    query = (select(SmsMessage).where(SmsMessage.account_id == account.id)
             .order_by(SmsMessage.id.desc()).limit(limit))
    return list(session.scalars(query))
