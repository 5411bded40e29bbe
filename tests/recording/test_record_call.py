"""A real call recorded end to end: sipp speaks as the debtor through a work line, we
play the agent's voice into the call, and the crash-safe recording holds the agent on
channel 1 and the debtor on channel 2, in time, with its checksum."""

from __future__ import annotations

import asyncio
import hashlib
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from recording.files import RecordingState
from recording.writer import Direction, RecorderPool
from tests.telephony.audio import matches, speech
from tests.telephony.sip.peers import sipp
from tests.telephony.test_e2e_calls import DEBTOR, Switch, answered, switch, trunk

pytestmark = pytest.mark.e2e
__all__ = ["switch"]  # the fixture, used by name
TALK = 4.0


async def test_a_call_is_recorded_agent_left_debtor_right(switch: Switch,
                                                          tmp_path: Path) -> None:
    debtor_voice, agent_voice = await asyncio.gather(
        speech(tmp_path, "debtor", "I will pay the card on Friday, thank you."),
        speech(tmp_path, "agent", "This call is recorded for quality purposes.",
               voice="en-gb", repeat=3),
    )
    (tmp_path / "sipp").mkdir()
    pool = RecorderPool(tmp_path / "recordings", min_free_bytes=1 << 20)
    await pool.start()
    assert pool.ready()[0]
    try:
        async with (
            sipp("uas_answer_speak", tmp_path / "sipp",
                 fill={"AUDIO": str(debtor_voice.ulaw)}) as (phone, port),
            switch.control(trunk(port)) as control,
        ):
            call = await control.originate(DEBTOR, line="trunk1")
            await answered(call)
            recording = pool.record(call.call_id, "BANKA", datetime.now(UTC),
                                    agent=Direction.OUTBOUND)
            control.tap(call, recording)
            control.play(call, agent_voice.pcm.tobytes(), loop=True)
            await switch.media.wait_ticks(int(TALK * 50))
            await call.hangup()
            result = await recording.finish()
            assert await phone.exit_code() == 0
    finally:
        await pool.close()
    assert result.state is RecordingState.FINALISED
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == result.sha256
    assert abs(result.duration_s - TALK) < 0.5
    with wave.open(str(result.path)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        both = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    agent_scores = matches(both[:, 0].copy(), agent_voice.pcm)
    debtor_scores = matches(both[:, 1].copy(), debtor_voice.pcm)
    assert len(agent_scores) >= 3 and min(agent_scores) > 0.9, agent_scores
    assert len(debtor_scores) >= 2 and min(debtor_scores) > 0.9, debtor_scores
    crossed = matches(both[:, 1].copy(), agent_voice.pcm)
    assert np.median(crossed) < 0.6  # channel 2 is not the agent
