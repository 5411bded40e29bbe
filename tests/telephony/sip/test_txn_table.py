"""The four transaction machines on a virtual clock, with the RFC 3261 default timers."""

from __future__ import annotations

import pytest

from telephony.sip.message import SipRequest
from telephony.sip.transaction import (
    TRANSITIONS,
    Ending,
    Input,
    Machine,
    RequestReceived,
    ResponseReceived,
    ResponseSent,
    State,
    Timer,
    TimerFired,
    Timing,
    Transaction,
    TransactionError,
    TransportFailed,
    client_key,
    server_key,
)
from telephony.sip.transaction_tables import INITIAL, Start, Stop
from tests.telephony.sip.builders import VirtualClock, request, response

# 64*T1 = 32 s; A doubles without cap: sends at 0 and after 0.5, 1, 2, 4, 8, 16 s.
INVITE_SENDS = [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
# E (and G) double up to T2 = 4 s, then every 4 s until F at 32 s.
NON_INVITE_SENDS = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]


def test_default_timer_values_are_rfc_3261_table_4() -> None:
    timing = Timing()
    assert (timing.t1, timing.t2, timing.t4) == (0.5, 4.0, 5.0)
    values = {timer: timing.initial(timer) for timer in Timer}
    assert values == {
        Timer.A: 0.5, Timer.B: 32.0, Timer.D: 32.0, Timer.E: 0.5, Timer.F: 32.0,
        Timer.G: 0.5, Timer.H: 32.0, Timer.I: 5.0, Timer.J: 32.0, Timer.K: 5.0, Timer.M: 32.0,
    }  # fmt: skip


def test_unanswered_invite_is_resent_on_doubling_timer_a_until_timer_b() -> None:
    clock = VirtualClock(Transaction.client(request("INVITE"))).start()
    clock.run()
    assert clock.send_times("INVITE") == INVITE_SENDS
    assert clock.ended == (32.0, Ending.TIMEOUT)
    assert clock.delivered == []


def test_shortened_t1_scales_the_invite_schedule() -> None:
    clock = VirtualClock(Transaction.client(request("INVITE"), Timing(t1=0.05))).start()
    clock.run()
    assert clock.send_times("INVITE") == pytest.approx([t / 10 for t in INVITE_SENDS])
    assert clock.ended is not None and clock.ended[0] == pytest.approx(3.2)


def test_unanswered_non_invite_backs_off_to_t2_until_timer_f() -> None:
    clock = VirtualClock(Transaction.client(request("OPTIONS"))).start()
    clock.run()
    assert clock.send_times("OPTIONS") == NON_INVITE_SENDS
    assert clock.ended == (32.0, Ending.TIMEOUT)


def test_provisional_stops_invite_retransmission_and_timer_b() -> None:
    invite = request("INVITE")
    clock = VirtualClock(Transaction.client(invite)).start()
    clock.run(until=0.7)
    clock.apply(clock.txn.handle(ResponseReceived(response(invite, 180))))
    clock.run(until=120.0)
    assert clock.send_times("INVITE") == [0.0, 0.5]
    assert clock.txn.state is State.PROCEEDING and clock.ended is None
    assert [r.status for r in clock.delivered] == [180]


def test_provisional_slows_non_invite_retransmission_to_t2() -> None:
    options = request("OPTIONS")
    clock = VirtualClock(Transaction.client(options)).start()
    clock.run(until=0.6)
    clock.apply(clock.txn.handle(ResponseReceived(response(options, 100))))
    clock.run()
    assert clock.send_times("OPTIONS") == [0.0, 0.5, 1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    assert clock.ended == (32.0, Ending.TIMEOUT)


def test_failure_is_acked_by_the_transaction_with_the_invite_branch() -> None:
    invite = request("INVITE", cseq=7)
    clock = VirtualClock(Transaction.client(invite)).start()
    busy = response(invite, 486, tag="far")
    clock.apply(clock.txn.handle(ResponseReceived(busy)))
    ((_, ack),) = [(t, m) for t, m in clock.sent if isinstance(m, SipRequest) and m.method == "ACK"]
    assert isinstance(ack, SipRequest)
    assert ack.via.branch == invite.via.branch and ack.uri == invite.uri
    assert ack.to.tag == "far" and ack.from_ == invite.from_ and ack.call_id == invite.call_id
    assert (ack.cseq.number, ack.cseq.method) == (7, "ACK")
    assert client_key(busy) == client_key(invite)


def test_retransmitted_failure_is_acked_again_but_delivered_once() -> None:
    invite = request("INVITE")
    clock = VirtualClock(Transaction.client(invite)).start()
    busy = response(invite, 486)
    for _ in range(3):
        clock.apply(clock.txn.handle(ResponseReceived(busy)))
    assert len(clock.send_times("ACK")) == 3
    assert [r.status for r in clock.delivered] == [486]
    clock.run()
    assert clock.ended == (32.0, Ending.DONE)  # timer D


def test_every_2xx_copy_is_delivered_for_the_dialog_to_ack() -> None:
    invite = request("INVITE")
    clock = VirtualClock(Transaction.client(invite)).start()
    for _ in range(2):
        clock.apply(clock.txn.handle(ResponseReceived(response(invite, 200))))
    assert clock.txn.state is State.ACCEPTED
    assert [r.status for r in clock.delivered] == [200, 200]
    assert clock.send_times("ACK") == []  # the dialog ACKs a 2xx, not the transaction
    clock.run()
    assert clock.ended == (32.0, Ending.DONE)  # timer M


def test_server_invite_resends_its_failure_on_g_until_h_without_ack() -> None:
    invite = request("INVITE")
    clock = VirtualClock(Transaction.server(invite)).start()
    clock.apply(clock.txn.handle(ResponseSent(response(invite, 180))))
    clock.apply(clock.txn.handle(RequestReceived(invite)))  # retransmitted INVITE
    assert clock.send_times(180) == [0.0, 0.0]
    clock.apply(clock.txn.handle(ResponseSent(response(invite, 486))))
    clock.run()
    assert clock.send_times(486) == NON_INVITE_SENDS
    assert clock.ended == (32.0, Ending.NO_ACK)


def test_server_invite_stops_on_ack_and_absorbs_copies_for_timer_i() -> None:
    invite = request("INVITE")
    clock = VirtualClock(Transaction.server(invite)).start()
    clock.apply(clock.txn.handle(ResponseSent(response(invite, 603))))
    clock.run(until=1.0)
    ack = SipRequest("ACK", invite.uri, invite.headers.set("CSeq", "1 ACK"))
    for _ in range(2):
        clock.apply(clock.txn.handle(RequestReceived(ack)))
    assert server_key(ack) == server_key(invite)
    clock.run()
    assert clock.send_times(603) == [0.0, 0.5]
    assert clock.ended == (6.0, Ending.DONE)


def test_server_invite_resends_2xx_until_the_dialog_passes_the_ack() -> None:
    invite = request("INVITE")
    clock = VirtualClock(Transaction.server(invite)).start()
    clock.apply(clock.txn.handle(ResponseSent(response(invite, 200))))
    clock.run(until=2.0)
    assert clock.txn.state is State.ACCEPTED
    clock.apply(clock.txn.handle(RequestReceived(invite)))  # INVITE copy: absorbed
    ack = SipRequest("ACK", invite.uri, invite.headers.set("CSeq", "1 ACK"))
    clock.apply(clock.txn.handle(RequestReceived(ack)))
    clock.run()
    assert clock.send_times(200) == [0.0, 0.5, 1.5]
    assert clock.ended == (7.0, Ending.DONE)


def test_server_invite_2xx_never_acked_ends_with_no_ack() -> None:
    invite = request("INVITE")
    clock = VirtualClock(Transaction.server(invite)).start()
    clock.apply(clock.txn.handle(ResponseSent(response(invite, 200))))
    clock.run()
    assert clock.send_times(200) == NON_INVITE_SENDS
    assert clock.ended == (32.0, Ending.NO_ACK)


def test_server_non_invite_absorbs_until_answered_then_resends_for_timer_j() -> None:
    bye = request("BYE", cseq=2)
    clock = VirtualClock(Transaction.server(bye)).start()
    clock.apply(clock.txn.handle(RequestReceived(bye)))
    assert clock.sent == []
    clock.apply(clock.txn.handle(ResponseSent(response(bye, 200))))
    clock.run(until=10.0)
    clock.apply(clock.txn.handle(RequestReceived(bye)))
    clock.run()
    assert clock.send_times(200) == [0.0, 10.0]
    assert clock.ended == (32.0, Ending.DONE)  # J runs from the final response


def test_non_invite_final_is_delivered_once_and_copies_absorbed_for_timer_k() -> None:
    options = request("OPTIONS")
    clock = VirtualClock(Transaction.client(options)).start()
    ok = response(options, 200)
    clock.apply(clock.txn.handle(ResponseReceived(ok)))
    clock.apply(clock.txn.handle(ResponseReceived(ok)))
    clock.run()
    assert [r.status for r in clock.delivered] == [200]
    assert clock.ended == (5.0, Ending.DONE)


@pytest.mark.parametrize(
    ("make", "event"),
    [
        (lambda: Transaction.client(request("INVITE")), TimerFired(Timer.G)),
        (lambda: Transaction.client(request("INVITE")), ResponseSent(response(request(), 200))),
        (lambda: Transaction.server(request("INVITE")), TimerFired(Timer.A)),
        (lambda: Transaction.server(request("BYE")), TimerFired(Timer.J)),
    ],
)
def test_inputs_a_state_does_not_take_are_local_bugs(make: object, event: object) -> None:
    txn = make()  # type: ignore[operator]
    with pytest.raises(TransactionError):
        txn.handle(event)


def test_a_terminated_transaction_takes_nothing() -> None:
    invite = request("INVITE")
    txn = Transaction.client(invite)
    txn.start()
    txn.handle(TransportFailed("unreachable"))
    assert txn.state is State.TERMINATED
    with pytest.raises(TransactionError):
        txn.handle(ResponseReceived(response(invite, 200)))


@pytest.mark.parametrize("machine", list(Machine))
def test_every_live_state_ends_on_transport_error_and_stops_what_it_started(
    machine: Machine,
) -> None:
    table = TRANSITIONS[machine]
    live = {state for state, _ in table} | {INITIAL[machine].next}
    assert State.TERMINATED not in live
    assert all((state, Input.TRANSPORT_ERROR) in table for state in live)
    started = {a.timer for step in (*table.values(), INITIAL[machine]) for a in step.actions
               if isinstance(a, Start)}  # fmt: skip
    fired = {column for _, column in table if isinstance(column, Timer)}
    stopped = {a.timer for step in table.values() for a in step.actions if isinstance(a, Stop)}
    assert stopped <= started == fired


NETWORK_INPUTS = {
    Machine.CLIENT_INVITE: (Input.PROVISIONAL, Input.SUCCESS, Input.FAILURE),
    Machine.CLIENT_NON_INVITE: (Input.PROVISIONAL, Input.SUCCESS, Input.FAILURE),
    Machine.SERVER_INVITE: (Input.REQUEST, Input.ACK),
    Machine.SERVER_NON_INVITE: (Input.REQUEST,),
}


@pytest.mark.parametrize("machine", list(Machine))
def test_whatever_a_peer_sends_no_live_state_raises(machine: Machine) -> None:
    # Only our own mistakes may raise TransactionError; a peer's message never does.
    table = TRANSITIONS[machine]
    live = {state for state, _ in table}
    missing = [(s, i) for s in live for i in NETWORK_INPUTS[machine] if (s, i) not in table]
    assert missing == []


def test_keys_match_responses_to_requests_and_cancel_apart() -> None:
    invite = request("INVITE")
    cancel = SipRequest("CANCEL", invite.uri, invite.headers.set("CSeq", "1 CANCEL"))
    assert client_key(response(invite, 180)) == client_key(invite)
    assert server_key(cancel) != server_key(invite)
    assert server_key(cancel, "INVITE") == server_key(invite)
    assert client_key(response(cancel, 200)) == client_key(cancel)


def test_requests_without_a_magic_cookie_key_by_dialog_fields() -> None:
    old = request("INVITE")
    headers = old.headers.set("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=1234")
    first = SipRequest("INVITE", old.uri, headers)
    other = SipRequest("INVITE", old.uri, headers.set("CSeq", "2 INVITE"))
    assert server_key(first) == server_key(SipRequest("INVITE", old.uri, headers))
    assert server_key(first) != server_key(other)
