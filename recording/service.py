"""Recording for the call path: start at the answer, finish and catalogue at hangup.

`CallRecordings` is what the dialer's `CallRecorder` port asks for (wired in `api`):
`ready()` says whether a call placed now could be recorded (the dialer places no
call otherwise), `begin(call, subject)` taps the debtor's leg into a new stereo
recording (channel 1 what we send the debtor: the agent; channel 2 the debtor), and
the returned recording's `finish()` finalises the file and registers it in the
catalogue with its checksum. A recording that failed mid-call (disk full) is
catalogued from what was salvaged, as recovered; when nothing could be salvaged
the failure is logged and the `.part` file is left to start-up recovery
(`register_recovered`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

import asyncpg

from cases.durable import until_stored
from cases.errors import Conflict
from recording import catalog
from recording.catalog import CallFacts
from recording.files import RecordingFailed, RecordingResult
from recording.layout import call_id_of
from recording.storage import Storage
from recording.writer import Direction, RecorderPool, Recording
from telephony.control import CallControl, ControlledCall

logger = logging.getLogger(__name__)


class CallSubject(Protocol):
    """Who a recorded call is about (the dialer's `CallInfo` fits)."""

    @property
    def attempt_id(self) -> int: ...
    @property
    def campaign_id(self) -> int | None: ...
    @property
    def case_id(self) -> int: ...
    @property
    def client_id(self) -> int: ...
    @property
    def client_code(self) -> str: ...
    @property
    def answered_at(self) -> datetime: ...


class CallRecording:
    """One call's recording in progress."""

    def __init__(self, owner: CallRecordings, recording: Recording, facts: CallFacts) -> None:
        self._owner = owner
        self._recording = recording
        self.facts = facts
        self.agent_id: int | None = None

    def note_agent(self, agent_id: int) -> None:
        self.agent_id = agent_id

    def pause(self, at_tick: int) -> None:
        """PCI: silence both channels from `at_tick` (a card number is read out)."""
        self._recording.pause(at_tick)

    def resume(self, at_tick: int) -> None:
        self._recording.resume(at_tick)

    async def finish(self) -> catalog.RecordingRow | None:
        self._owner.active.pop(self.facts.call_id, None)
        try:
            result = await self._recording.finish()
        except RecordingFailed as failed:
            logger.error("call %s: %s", self.facts.call_id, failed)
            if failed.salvaged is None:
                return None
            result = failed.salvaged
        facts = CallFacts(
            call_id=self.facts.call_id, case_id=self.facts.case_id,
            client_id=self.facts.client_id, started_at=self.facts.started_at,
            attempt_id=self.facts.attempt_id, agent_id=self.agent_id,
            campaign_id=self.facts.campaign_id,
        )
        return await self._owner.register(result, facts)


class CallRecordings:
    def __init__(self, recorder: RecorderPool, db: asyncpg.Pool, storage: Storage,
                 control: CallControl, clock: Callable[[], datetime],
                 on_catalogued: Callable[[catalog.RecordingRow], Awaitable[object]] | None = None,
                 ) -> None:
        self.on_catalogued = on_catalogued  # e.g. enqueue the recording for transcription
        self.active: dict[str, CallRecording] = {}  # call id -> its recording in progress
        self.recorder = recorder
        self.db = db
        self.storage = storage
        self.control = control
        self.clock = clock

    def ready(self) -> tuple[bool, str]:
        return self.recorder.ready()

    def begin(self, call: ControlledCall, subject: CallSubject) -> CallRecording:
        recording = self.recorder.record(call.call_id, subject.client_code,
                                         subject.answered_at, agent=Direction.OUTBOUND)
        self.control.tap(call, recording)
        facts = CallFacts(call_id=call.call_id, case_id=subject.case_id,
                          client_id=subject.client_id, started_at=subject.answered_at,
                          attempt_id=subject.attempt_id, campaign_id=subject.campaign_id)
        self.active[call.call_id] = CallRecording(self, recording, facts)
        return self.active[call.call_id]

    async def register(self, result: RecordingResult, facts: CallFacts
                       ) -> catalog.RecordingRow:
        """Catalogue the recording, trying again while the database is away (the
        file is on disk already; its entry must not be lost to an outage)."""
        what = f"call {facts.call_id}: recording"
        row = await until_stored(lambda: self._catalogue(result, facts), what)
        if self.on_catalogued is not None:
            on_catalogued = self.on_catalogued
            await until_stored(lambda: on_catalogued(row), f"{what} {row.id} queued")
        return row

    async def _catalogue(self, result: RecordingResult, facts: CallFacts
                         ) -> catalog.RecordingRow:
        try:
            return await catalog.register(self.db, self.storage, result, facts, self.clock())
        except Conflict as conflict:
            # an earlier try committed and lost its connection before the answer:
            # the entry of this very file (same checksum) is the one to return
            row = await self.db.fetchrow("SELECT * FROM recordings WHERE call_id = $1",
                                         facts.call_id)  # fmt: skip
            if row is None or row["sha256"] != result.sha256:
                raise
            logger.info("call %s: recording %s was catalogued by an earlier try (%s)",
                        facts.call_id, row["id"], conflict.message)  # fmt: skip
            return catalog.recording_from_row(row)

    async def register_recovered(
        self, recovered: list[RecordingResult],
        lookup: Callable[[str], Awaitable[CallFacts | None]],
    ) -> int:
        """Catalogue what start-up recovery salvaged, with the facts `lookup` finds
        for each call id (the dialer's attempt); returns how many were catalogued."""
        done = 0
        for result in recovered:
            call_id = call_id_of(result.path)
            facts = await lookup(call_id)
            if facts is None:
                logger.error("recovered recording of call %s has no attempt; left on disk"
                             " uncatalogued", call_id)
                continue
            await self.register(result, facts)
            done += 1
        return done
