"""The call-leg table: every path a real peer can take."""

from __future__ import annotations

import pytest

from telephony.callstate import (
    Answered,
    Event,
    FinalFailure,
    Finished,
    IllegalTransition,
    Leg,
    LegState,
    LocalHangup,
    Place,
    Provisional,
    RemoteHangup,
    RingTimeout,
    SendAckAndBye,
    SendBye,
    SendCancel,
    SendInvite,
    StartMedia,
    StartRingTimer,
    TransportFailure,
)


def run(*events: Event) -> tuple[Leg, list[object]]:
    leg = Leg()
    effects: list[object] = []
    for event in events:
        leg, out = leg.transition(event)
        effects += out
    return leg, effects


def finished(effects: list[object]) -> Finished:
    done = [e for e in effects if isinstance(e, Finished)]
    assert len(done) == 1
    return done[0]


def test_answered_then_remote_bye() -> None:
    leg, effects = run(Place(), Provisional(100), Provisional(180), Answered(), RemoteHangup())
    assert leg.state is LegState.ENDED
    assert effects[:2] == [SendInvite(), StartRingTimer()]
    assert StartMedia(early=False) in effects
    assert finished(effects).cause == "remote_hangup"
    assert SendBye() not in effects


def test_local_hangup_sends_bye() -> None:
    leg, effects = run(Place(), Answered(), LocalHangup())
    assert (leg.state, finished(effects).cause) == (LegState.ENDED, "local_hangup")
    assert SendBye() in effects


def test_early_media_starts_media_once() -> None:
    leg, effects = run(Place(), Provisional(183, has_sdp=True), Provisional(180), Answered())
    assert leg.state is LegState.ANSWERED
    assert [e for e in effects if isinstance(e, StartMedia)] == [StartMedia(early=True)]


@pytest.mark.parametrize(("status", "state"), [
    (486, LegState.BUSY), (600, LegState.BUSY), (603, LegState.REJECTED),
    (480, LegState.REJECTED), (404, LegState.REJECTED), (403, LegState.REJECTED),
    (503, LegState.FAILED), (500, LegState.FAILED),
])
def test_final_failures(status: int, state: LegState) -> None:
    leg, effects = run(Place(), Provisional(180), FinalFailure(status, "x"))
    assert leg.state is state
    assert finished(effects).cause.startswith(str(status))


def test_ring_timeout_cancels_and_ends_no_answer() -> None:
    leg, effects = run(Place(), Provisional(180), RingTimeout(), FinalFailure(487))
    assert leg.state is LegState.NO_ANSWER
    assert SendCancel() in effects
    assert finished(effects).cause == "ring_timeout"


def test_answer_racing_our_cancel_is_acked_and_released() -> None:
    leg, effects = run(Place(), Provisional(180), RingTimeout(), Answered())
    assert leg.state is LegState.NO_ANSWER
    assert SendAckAndBye() in effects
    # a retransmitted 2xx after that is acknowledged again, never answered as a call
    leg, again = leg.transition(Answered())
    assert again == (SendAckAndBye(),)


def test_local_cancel_before_answer() -> None:
    leg, effects = run(Place(), Provisional(180), LocalHangup(), FinalFailure(487))
    assert (leg.state, finished(effects).cause) == (LegState.CANCELLED, "local_cancel")


def test_timer_b_is_a_failure() -> None:
    leg, effects = run(Place(), TransportFailure("no response (Timer B)"))
    assert leg.state is LegState.FAILED
    assert "Timer B" in finished(effects).cause


def test_illegal_transitions_raise() -> None:
    with pytest.raises(IllegalTransition):
        Leg().transition(Answered())
    with pytest.raises(IllegalTransition):
        run(Place(), Answered(), Place())
