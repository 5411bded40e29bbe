"""The outgoing call's table (pure): cancel rules, the 2xx/CANCEL race, one outcome."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.sip.call import Call
from telephony.sip.call_state import (
    TRANSITIONS,
    CallAction,
    CallError,
    CallInput,
    CallState,
    Outcome,
    final_of,
    progress_of,
    step,
)
from telephony.sip.outgoing import OutgoingCall

S, IN, A = CallState, CallInput, CallAction
REPORTS_FINAL = {
    A.REPORT_FINAL, A.REPORT_FAILED, A.REPORT_CANCELLED, A.REPORT_HUNG_UP, A.REPORT_ENDED,
}  # fmt: skip


def run(*inputs: CallInput) -> tuple[CallState, list[CallAction]]:
    state, actions = S.CALLING, list[CallAction]()
    for event in inputs:
        found = step(state, event)
        state = found.next
        actions += found.actions
    return state, actions


def test_the_only_missing_pairs_cannot_happen() -> None:
    missing = {(s, i) for s in S for i in IN if (s, i) not in TRANSITIONS}
    no_dialog_yet = {
        (s, i) for s in (S.CALLING, S.PROCEEDING, S.CANCEL_PENDING, S.CANCELLING)
        for i in (IN.REMOTE_BYE, IN.BYE_DONE)
    }  # fmt: skip
    # Once answered the INVITE transaction absorbs late 1xx and non-2xx, never times out.
    answered = {(S.ANSWERED, i) for i in (IN.PROVISIONAL, IN.FAILURE, IN.CHALLENGE, IN.TIMEOUT)}
    assert missing == no_dialog_yet | answered | {(S.ANSWERED, IN.BYE_DONE)}
    with pytest.raises(CallError):
        step(S.CALLING, IN.REMOTE_BYE)


def test_a_cancel_before_any_provisional_waits_for_one() -> None:
    assert run(IN.CANCEL) == (S.CANCEL_PENDING, [])
    assert run(IN.CANCEL, IN.PROVISIONAL) == (S.CANCELLING, [A.SEND_CANCEL])
    assert run(IN.CANCEL, IN.PROVISIONAL, IN.FAILURE)[1][-1] is A.REPORT_CANCELLED


def test_an_answer_crossing_the_cancel_is_acked_hung_up_and_reported_cancelled() -> None:
    state, actions = run(IN.PROVISIONAL, IN.CANCEL, IN.SUCCESS, IN.SUCCESS, IN.BYE_DONE)
    assert state is S.ENDED
    assert actions == [
        A.REPORT_PROGRESS, A.SEND_CANCEL, A.ACK, A.SEND_BYE, A.ACK, A.REPORT_CANCELLED,
    ]  # fmt: skip


def test_a_ring_timeout_racing_the_answer_leaves_the_call_up() -> None:
    assert run(IN.PROVISIONAL, IN.SUCCESS, IN.CANCEL) == (
        S.ANSWERED, [A.REPORT_PROGRESS, A.ACK, A.REPORT_ANSWERED],
    )  # fmt: skip


def test_every_2xx_copy_is_acked_even_after_the_end() -> None:
    state, actions = run(IN.SUCCESS, IN.HANGUP, IN.SUCCESS, IN.BYE_DONE, IN.SUCCESS)
    assert state is S.ENDED
    assert actions.count(A.ACK) == 3 and actions[-1] is A.ACK


def test_a_challenge_is_retried_once_per_answerable_challenge() -> None:
    assert run(IN.CHALLENGE, IN.PROVISIONAL, IN.SUCCESS)[1] == [
        A.RETRY_WITH_CREDENTIALS, A.REPORT_PROGRESS, A.ACK, A.REPORT_ANSWERED,
    ]  # fmt: skip


@given(st.lists(st.sampled_from(list(IN)), max_size=12))
def test_any_sequence_reports_at_most_one_final_outcome(inputs: list[CallInput]) -> None:
    state, finals = S.CALLING, 0
    for event in inputs:
        found = TRANSITIONS.get((state, event))
        if found is None:
            continue  # the impossible pairs above
        finals += sum(1 for action in found.actions if action in REPORTS_FINAL)
        state = found.next
    assert finals == (1 if state is S.ENDED else 0)


@pytest.mark.parametrize(
    ("status", "sdp", "outcome"),
    [(100, False, Outcome.TRYING), (180, False, Outcome.RINGING), (183, False, Outcome.RINGING),
     (183, True, Outcome.EARLY_MEDIA), (180, True, Outcome.EARLY_MEDIA)],
)  # fmt: skip
def test_progress(status: int, sdp: bool, outcome: Outcome) -> None:
    assert progress_of(status, sdp) is outcome and not outcome.final


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(486, Outcome.BUSY), (600, Outcome.BUSY), (603, Outcome.REJECTED), (404, Outcome.REJECTED),
     (480, Outcome.REJECTED), (408, Outcome.NO_ANSWER), (503, Outcome.FAILED),
     (500, Outcome.FAILED), (302, Outcome.REJECTED)],
)  # fmt: skip
def test_final_outcomes(status: int, outcome: Outcome) -> None:
    assert final_of(status) is outcome and outcome.final


def test_every_action_of_the_table_names_a_method_of_the_call() -> None:
    """The calls run their table's actions by method name (no bound methods held: no
    reference cycle); a name that misses would fail only when its action first runs."""
    assert set(OutgoingCall.ACTIONS) == set(CallAction)
    for kind in (Call, OutgoingCall):
        for name in kind.ACTIONS.values():
            assert callable(getattr(kind, name, None)), (kind.__name__, name)
