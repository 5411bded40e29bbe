"""Dialogs without a network: creation on both sides, in-dialog requests we build,
requests from the peer, CANCEL."""

from __future__ import annotations

import pytest

from telephony.sip.dialog import Dialog, cancel_for, request_key, response_key
from telephony.sip.headers import NameAddr, SipUri, new_branch
from telephony.sip.message import SipRequest, SipResponse, build_response
from tests.telephony.sip.builders import ALICE, BOB, request, response, via

PROXIES = ("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>")


def answered(*, record_route: tuple[str, ...] = ()) -> tuple[SipRequest, SipResponse, Dialog]:
    invite = request("INVITE", cseq=5, body=b"v=0\r\n")
    ok = response(invite, 200, tag="bobtag")
    for route in record_route:
        ok = SipResponse(ok.status, ok.reason, ok.headers.add("Record-Route", route), ok.body)
    return invite, ok, Dialog.as_uac(invite, ok)


def test_uac_dialog_takes_the_2xx_to_tag_contact_and_reversed_record_route() -> None:
    invite, ok, dialog = answered(record_route=PROXIES)
    assert dialog.key == (invite.call_id, invite.from_.tag, "bobtag") == response_key(ok)
    assert dialog.remote_target == BOB.uri
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:p2.example.com;lr",
        "sip:p1.example.com;lr",
    ]
    assert dialog.next_hop == dialog.route_set[0].uri
    assert (dialog.local_seq, dialog.remote_seq) == (5, None)


def test_ack_for_2xx_reuses_the_invite_cseq_with_a_new_branch_and_the_to_tag() -> None:
    invite, _, dialog = answered()
    ack = dialog.ack(via(), invite.cseq.number)
    assert (ack.cseq.number, ack.cseq.method, ack.uri) == (5, "ACK", BOB.uri)
    assert ack.via.branch != invite.via.branch and ack.to.tag == "bobtag"
    assert dialog.local_seq == 5


def test_bye_takes_the_next_cseq_the_route_set_and_the_same_tags() -> None:
    invite, _, dialog = answered(record_route=PROXIES)
    bye = dialog.request("BYE", via())
    assert (bye.cseq.number, bye.uri, bye.call_id) == (6, BOB.uri, invite.call_id)
    assert (bye.from_.tag, bye.to.tag) == (invite.from_.tag, "bobtag")
    assert bye.headers.get_all("Route") == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    assert "Contact" not in bye.headers
    reinvite = dialog.request("INVITE", via(), body=b"v=0\r\n")
    assert reinvite.cseq.number == 7 and reinvite.contact == ALICE
    assert reinvite.headers.get("Content-Type") == "application/sdp"


def test_a_strict_router_gets_the_request_uri_and_the_target_goes_last() -> None:
    _, _, dialog = answered(record_route=("<sip:strict.example.com>",))
    bye = dialog.request("BYE", via())
    assert bye.uri == SipUri.parse("sip:strict.example.com")
    assert bye.headers.get_all("Route") == [f"<{BOB.uri}>"]


def test_requests_from_the_peer_key_to_the_same_dialog() -> None:
    _, _, dialog = answered()
    peer = dialog_seen_from(dialog)
    bye = peer.request("BYE", via(host="127.0.0.2", port=5062))
    assert request_key(bye) == dialog.key


def dialog_seen_from(dialog: Dialog) -> Dialog:
    """The same dialog as the peer holds it."""
    return Dialog(
        dialog.call_id, dialog.remote, dialog.local, dialog.local_contact.uri, (),
        dialog.remote, 100,
    )  # fmt: skip


def test_peer_bye_is_answered_200_and_ends_the_dialog() -> None:
    _, _, dialog = answered()
    bye = dialog_seen_from(dialog).request("BYE", via())
    answer = dialog.answer(bye)
    assert answer is not None and answer.status == 200 and answer.to.tag == dialog.local.tag
    assert dialog.ended and dialog.remote_seq == 101


def test_peer_requests_out_of_order_get_500_and_others_501() -> None:
    _, _, dialog = answered()
    peer = dialog_seen_from(dialog)
    later = peer.request("OPTIONS", via())  # CSeq 101
    peer.local_seq = 50
    earlier = peer.request("INFO", via())  # CSeq 51
    ok = dialog.answer(later)
    assert ok is not None and ok.status == 200 and "INVITE" in (ok.headers.get("Allow") or "")
    out_of_order = dialog.answer(earlier)
    assert out_of_order is not None and out_of_order.status == 500
    peer.local_seq = 200
    info = dialog.answer(peer.request("INFO", via()))
    assert info is not None and info.status == 501 and info.headers.get("Allow")


def test_peer_reinvite_gets_our_sdp_and_refreshes_the_target() -> None:
    _, _, dialog = answered()
    peer = dialog_seen_from(dialog)
    peer.local_contact = NameAddr(SipUri("sip", "bob", "192.0.2.99", 5070))
    reinvite = peer.request("INVITE", via(), body=b"v=0\r\n")
    answer = dialog.answer(reinvite, b"v=0\r\n")
    assert answer is not None and (answer.status, answer.body) == (200, b"v=0\r\n")
    assert answer.contact == dialog.local_contact
    assert dialog.remote_target == SipUri("sip", "bob", "192.0.2.99", 5070)
    without = dialog.answer(peer.request("INVITE", via(), body=b"v=0\r\n"))
    assert without is not None and without.status == 488
    assert dialog.answer(peer.request("ACK", via())) is None


def test_uas_dialog_keeps_record_route_in_order() -> None:
    invite = request("INVITE", cseq=9)
    for route in PROXIES:
        invite = SipRequest("INVITE", invite.uri, invite.headers.add("Record-Route", route))
    dialog = Dialog.as_uas(invite, "ours", NameAddr(SipUri("sip", "agent", "127.0.0.1", 5090)))
    assert dialog.key == request_key(
        SipRequest("BYE", invite.uri, invite.headers.set("To", str(invite.to.with_tag("ours"))))
    )
    assert [str(r) for r in dialog.route_set] == list(PROXIES)
    assert (dialog.remote_seq, dialog.remote_target) == (9, ALICE.uri)
    ok = dialog.response(invite, 200, body=b"v=0\r\n")
    assert ok.to.tag == "ours" and ok.contact is not None and ok.contact.uri.user == "agent"


@pytest.mark.parametrize("routes", [(), PROXIES])
def test_cancel_copies_what_section_9_1_says(routes: tuple[str, ...]) -> None:
    invite = request("INVITE", cseq=3)
    for route in routes:
        invite = SipRequest("INVITE", invite.uri, invite.headers.add("Route", route))
    cancel = cancel_for(invite)
    assert (cancel.method, cancel.uri, cancel.call_id) == ("CANCEL", invite.uri, invite.call_id)
    assert cancel.vias == (invite.via,) and cancel.from_ == invite.from_ and cancel.to == invite.to
    assert (cancel.cseq.number, cancel.cseq.method) == (3, "CANCEL")
    assert cancel.headers.get_all("Route") == list(routes)
    assert SipRequest.parse(bytes(cancel)) == cancel
    assert build_response(cancel, 200).via.branch == invite.via.branch != new_branch()
