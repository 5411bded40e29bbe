"""Where SIP messages go over UDP (RFC 3261 §18.2, RFC 3581): pure address rules.

* A request we receive gets ``received`` on its top Via when the sent-by host is not
  the address it came from, or when the sender put a ``received`` of its own there
  (so no peer can send our answers to another host), and ``rport`` filled in with
  the source port when the sender asked for it (a bare ``rport``), ``received`` then
  too (:func:`stamped`).
* Responses go to ``received``:``rport`` when present, else to the sent-by host and
  port (:func:`reply_address`); a stamped Via thus answers a phone behind NAT at the
  address its request came from.
* Requests we send go to a URI's host and port, which must be an IP literal here
  (:func:`address_of`): no DNS (RFC 3263) in this layer; callers with names resolve
  them and pass the address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from telephony.sip.headers import SipUri, Via, split_outside
from telephony.sip.message import Headers, SipRequest

Address = tuple[str, int]


def stamped(request: SipRequest, source: Address) -> SipRequest:
    """``request`` with received (if the sent-by host or a received differs) and rport
    filled in."""
    via = request.via
    params = via.params
    if via.host != source[0] or via.received not in (None, source[0]):
        params = params.set("received", source[0])
    if "rport" in params and via.rport is None:
        params = params.set("received", source[0]).set("rport", str(source[1]))
    if params == via.params:
        return request
    stamped = str(replace(via, params=params))
    items = list(request.headers.items)
    index = next(i for i, (name, _) in enumerate(items) if name.lower() in ("via", "v"))
    rest = split_outside(items[index][1], ",")[1:]
    items[index] = (items[index][0], ",".join([stamped, *rest]))
    return SipRequest(request.method, request.uri, Headers(tuple(items)), request.body)


def reply_address(via: Via) -> Address:
    """Where responses go (§18.2.2, RFC 3581 §4): received/rport when present."""
    host = via.received or via.host
    port = via.rport or via.port or 5060
    return host, port


def address_of(uri: SipUri) -> Address:
    """The UDP address of a SIP URI whose host is an IP literal (no DNS here)."""
    host = uri.host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{uri}: the host is not an IP address; pass a destination") from None
    return host, uri.port or 5060
