"""app.services.storage.phases: a read phase's answer, or its writes then its answer, in one
transaction."""

from __future__ import annotations

from typing import Any

import pytest

from app.services.storage.phases import READ_ONLY, Pending, failing, reading_only, settle, then


class FakeSession:
    """Records the writes made on it, as a session of one transaction would carry them."""

    def __init__(self, info: dict[str, Any] | None = None) -> None:
        self.writes: list[str] = []
        self.info = info or {}


def _writing(name: str, answer: str) -> Pending[str]:
    def write(session: Any) -> str:
        session.writes.append(name)
        return answer
    return Pending(write)


@pytest.mark.parametrize(("step", "answer", "writes"), [
    ("decided", "decided", []),
    (_writing("code", "redirect"), "redirect", ["code"]),
    (then(lambda s: s.writes.append("assertion"), _writing("token", "body")), "body",
     ["assertion", "token"]),
    (then(lambda s: s.writes.append("assertion"), "no writes of its own"), "no writes of its own",
     ["assertion"]),
])
def test_settle_makes_a_steps_writes_in_order_then_gives_its_answer(
        step: Any, answer: str, writes: list[str]) -> None:
    session = FakeSession()
    assert settle(step, session) == answer  # type: ignore[arg-type]
    assert session.writes == writes


def test_a_failing_step_raises_after_the_writes_before_it() -> None:
    session = FakeSession()
    step = then(lambda s: s.writes.append("revocations"), failing(ValueError("refused")))
    with pytest.raises(ValueError, match="refused"):
        settle(step, session)  # type: ignore[arg-type]
    assert session.writes == ["revocations"]


@pytest.mark.parametrize(("info", "expected"), [({}, False), ({READ_ONLY: True}, True)])
def test_a_read_phases_session_says_it_is_reading_only(info: dict[str, Any],
                                                        expected: bool) -> None:
    assert reading_only(FakeSession(info)) is expected  # type: ignore[arg-type]
