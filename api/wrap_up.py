"""The default action code of a call whose wrap-up ran out (routing's dispatcher
calls `file_default_code` from its wrap-up timer, in the call path's process).

Every connected call gets a code on the case's record: when the agent filed none for
the call's attempt by the end of their wrap-up time, the service files ``NOCODE``
in its own name (no user), on the attempt and phone of the call, once (its
idempotency key is the call's). A code the agent files later is filed as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg

from cases import actions, audit
from cases.domain import Action
from cases.durable import until_stored

logger = logging.getLogger(__name__)

DEFAULT_CODE = "NOCODE"

_ATTEMPT = """
SELECT a.id, a.case_id, a.phone_id,
       EXISTS (SELECT 1 FROM actions x WHERE x.attempt_id = a.id) AS coded
FROM attempts a WHERE a.call_id = $1 ORDER BY a.id DESC LIMIT 1
"""


async def file_default_code(pool: asyncpg.Pool, agent_id: int, call_id: str,
                            now: datetime) -> Action | None:
    """File NOCODE on the call's attempt unless a code was filed for it; the action
    filed, or None."""
    attempt = await pool.fetchrow(_ATTEMPT, call_id)
    if attempt is None or attempt["coded"]:
        return None
    filed = await actions.file_action(pool, audit.SYSTEM, actions.ActionRequest(
        case_id=attempt["case_id"], code=DEFAULT_CODE,
        idempotency_key=f"wrap-up-timeout:{call_id}", fields={},
        phone_id=attempt["phone_id"], attempt_id=attempt["id"],
    ), now, on_call=True, system=True)
    logger.info("call %s: agent %s filed no code in wrap-up; %s filed on case %s", call_id,
                agent_id, DEFAULT_CODE, attempt["case_id"])
    return filed.action


def default_code_filer(pool: asyncpg.Pool, clock: Callable[[], datetime]
                       ) -> Callable[[int, str], Awaitable[None]]:
    """The dispatcher's `on_wrap_up_timeout`."""
    async def on_timeout(agent_id: int, call_id: str) -> None:
        now = clock()  # the wrap-up's end; the filing waits out a database outage
        await until_stored(lambda: file_default_code(pool, agent_id, call_id, now),
                           f"call {call_id}: {DEFAULT_CODE} after the wrap-up")  # fmt: skip
    return on_timeout
