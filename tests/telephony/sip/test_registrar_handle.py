"""The registrar's answers, driven directly with a fake clock (no network)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from telephony.sip.bindings import ExpiryPolicy
from telephony.sip.digest import Challenge, authorize
from telephony.sip.headers import NameAddr, SipUri, new_tag
from telephony.sip.lockout import Lockout
from telephony.sip.message import SipRequest, SipResponse, build_request
from telephony.sip.registrar import Passwords, Registrar
from tests.telephony.sip.builders import via

REALM = "callcase"
SOURCE = ("192.0.2.30", 5060)
START = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registrar(clock: Clock) -> Registrar:
    return Registrar(Passwords({"1001": "pw-1001"}, REALM), realm=REALM, clock=clock)


def register(
    extension: str, *, expires: int | None = 600, contact: str | None = None, cseq: int = 1,
    call_id: str = "reg-1",
) -> SipRequest:  # fmt: skip
    aor = SipUri("sip", extension, "127.0.0.1", 5060)
    headers = [("Contact", contact or f"<sip:{extension}@192.0.2.30:5060>")]
    if expires is not None:
        headers.append(("Expires", str(expires)))
    return build_request(
        "REGISTER", SipUri("sip", None, "127.0.0.1", 5060), via=via(host=SOURCE[0]),
        from_=NameAddr(aor).with_tag(new_tag()), to=NameAddr(aor), call_id=call_id, cseq=cseq,
        headers=headers,
    )  # fmt: skip


async def login(
    registrar: Registrar, request: SipRequest, user: str, password: str
) -> SipResponse | None:
    """The REGISTER dance: challenge, then the request again with credentials."""
    challenge = await registrar.handle(request, SOURCE)
    assert challenge is not None and challenge.status == 401
    parsed = Challenge.parse(challenge.headers.get("WWW-Authenticate") or "")
    credentials = authorize(
        parsed, method="REGISTER", uri=str(request.uri), username=user, password=password
    )
    signed = request.headers.set("Authorization", str(credentials))
    return await registrar.handle(SipRequest("REGISTER", request.uri, signed), SOURCE)


async def test_right_password_binds_with_the_granted_expiry(registrar: Registrar) -> None:
    answer = await login(registrar, register("1001", expires=600), "1001", "pw-1001")
    assert answer is not None and answer.status == 200
    assert answer.contact is not None and answer.contact.expires == 600
    binding = registrar.lookup("1001")
    assert binding is not None and binding.source == SOURCE
    assert binding.contact == SipUri("sip", "1001", "192.0.2.30", 5060)


async def test_bindings_expire(registrar: Registrar, clock: Clock) -> None:
    await login(registrar, register("1001", expires=60), "1001", "pw-1001")
    clock.now += timedelta(seconds=59)
    assert registrar.lookup("1001") is not None
    clock.now += timedelta(seconds=1)
    assert registrar.lookup("1001") is None


@pytest.mark.parametrize(
    ("expires", "contact", "granted"),
    [(7200, None, 3600), (None, None, 3600), (None, "<sip:1001@192.0.2.30>;expires=120", 120),
     (90, "<sip:1001@192.0.2.30>;expires=300", 300)],
)  # fmt: skip
async def test_expiry_is_clamped_and_the_contact_parameter_wins(
    registrar: Registrar, expires: int | None, contact: str | None, granted: int
) -> None:
    answer = await login(
        registrar, register("1001", expires=expires, contact=contact), "1001", "pw-1001"
    )
    assert answer is not None and answer.expires == granted


async def test_too_brief_gets_423_with_min_expires(registrar: Registrar) -> None:
    answer = await login(registrar, register("1001", expires=30), "1001", "pw-1001")
    assert answer is not None and answer.status == 423
    assert answer.headers.get("Min-Expires") == "60" and registrar.lookup("1001") is None


async def test_expires_zero_and_star_unregister(registrar: Registrar) -> None:
    await login(registrar, register("1001"), "1001", "pw-1001")
    gone = await login(registrar, register("1001", expires=0, cseq=2), "1001", "pw-1001")
    assert gone is not None and gone.status == 200 and registrar.lookup("1001") is None
    await login(registrar, register("1001", cseq=3), "1001", "pw-1001")
    star = await login(
        registrar, register("1001", expires=0, contact="*", cseq=4), "1001", "pw-1001"
    )
    assert star is not None and star.status == 200 and registrar.lookup("1001") is None


async def test_an_older_cseq_in_the_same_call_id_does_not_rebind(registrar: Registrar) -> None:
    await login(registrar, register("1001", cseq=5), "1001", "pw-1001")
    old = await login(
        registrar, register("1001", cseq=4, contact="<sip:1001@192.0.2.99>"), "1001", "pw-1001"
    )
    assert old is not None and old.status == 500
    binding = registrar.lookup("1001")
    assert binding is not None and binding.contact.host == "192.0.2.30"


def shape(response: SipResponse | None) -> tuple[object, ...]:
    """A response with its random parts (tags, nonces) taken out."""
    assert response is not None
    names = [name for name, _ in response.headers.items]
    challenge = response.headers.get("WWW-Authenticate")
    scheme = None if challenge is None else Challenge.parse(challenge).qop
    return (
        response.status,
        response.reason,
        names,
        len(bytes(response)) - len(response.to.tag or ""),
        scheme,
    )


async def test_unknown_users_and_wrong_passwords_get_the_same_answers(registrar: Registrar) -> None:
    known = await login(registrar, register("1001"), "1001", "wrong")
    unknown = await login(registrar, register("1009"), "1009", "wrong")
    assert shape(known) == shape(unknown) and shape(known)[0] == 403
    first_known = await registrar.handle(register("1001"), SOURCE)
    first_unknown = await registrar.handle(register("1009"), SOURCE)
    assert shape(first_known) == shape(first_unknown) and shape(first_known)[0] == 401


async def test_credentials_for_another_extension_are_refused(registrar: Registrar) -> None:
    answer = await login(registrar, register("1009"), "1001", "pw-1001")
    assert answer is not None and answer.status == 403 and registrar.lookup("1009") is None


async def test_five_failures_in_the_window_block_then_the_block_lifts(
    registrar: Registrar, clock: Clock
) -> None:
    for _ in range(4):
        await login(registrar, register("1001"), "1001", "nope")
    assert registrar.admits(SOURCE[0])
    await login(registrar, register("1001"), "1001", "nope")
    assert not registrar.admits(SOURCE[0]) and registrar.admits("192.0.2.31")
    assert await registrar.handle(register("1001"), SOURCE) is None  # dropped
    clock.now += timedelta(minutes=15)
    assert registrar.admits(SOURCE[0])
    answer = await login(registrar, register("1001"), "1001", "pw-1001")
    assert answer is not None and answer.status == 200


async def test_stale_nonce_with_the_right_password_is_rechallenged(
    registrar: Registrar, clock: Clock
) -> None:
    request = register("1001")
    challenge = await registrar.handle(request, SOURCE)
    assert challenge is not None
    parsed = Challenge.parse(challenge.headers.get("WWW-Authenticate") or "")
    clock.now += timedelta(minutes=10)  # nonce_max_age is 5 minutes
    credentials = authorize(
        parsed, method="REGISTER", uri=str(request.uri), username="1001", password="pw-1001"
    )
    signed = SipRequest(
        "REGISTER", request.uri, request.headers.set("Authorization", str(credentials))
    )
    answer = await registrar.handle(signed, SOURCE)
    assert answer is not None and answer.status == 401
    assert Challenge.parse(answer.headers.get("WWW-Authenticate") or "").stale
    for _ in range(4):  # a stale nonce was no failure: four more do not make five
        await login(registrar, register("1001"), "1001", "nope")
    assert registrar.admits(SOURCE[0])


def test_lockout_window_slides_and_exempt_networks_are_never_blocked() -> None:
    lockout = Lockout(threshold=3, window=timedelta(seconds=60), exempt=["10.0.0.0/8"])
    for minute in range(3):  # one failure a minute never makes three within a minute
        assert not lockout.record_failure("192.0.2.1", START + timedelta(minutes=minute, seconds=1))
    assert all(not lockout.record_failure("10.1.2.3", START) for _ in range(10))
    assert not lockout.is_blocked("10.1.2.3", START)


def test_lockout_remembers_a_bounded_number_of_sources() -> None:
    lockout = Lockout(max_tracked=100)
    for n in range(1000):
        lockout.record_failure(f"198.51.{n // 256}.{n % 256}", START)
    assert lockout.tracked == 100


def test_expiry_policy() -> None:
    policy = ExpiryPolicy(minimum=60, maximum=3600, default=1800)
    assert [policy.grant(v) for v in (None, 0, 59, 60, 4000)] == [1800, 0, None, 60, 3600]
