"""Who hears whom while a supervisor monitors a call: listen-in, whisper, barge.

A monitored call has three legs: the debtor, the agent bridged to them, and the
supervisor's softphone. The supervisor always hears both; what the others hear:

    mode      supervisor hears   agent hears          debtor hears
    listen    agent + debtor     debtor               agent
    whisper   agent + debtor     debtor + supervisor  agent
    barge     agent + debtor     debtor + supervisor  agent + supervisor

So listen-in is silent, whisper coaches the agent without the debtor hearing, and
barge joins the conversation. Mixing sums the 16-bit frames and clips: three
voices at speech levels do not reach full scale, and a clipped peak is better than a
quieter conversation for everyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np

from telephony.media.g711 import Pcm


class MonitorMode(StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


class Leg(StrEnum):
    AGENT = "agent"
    DEBTOR = "debtor"
    SUPERVISOR = "supervisor"


HEARS: dict[MonitorMode, dict[Leg, tuple[Leg, ...]]] = {
    MonitorMode.LISTEN: {
        Leg.SUPERVISOR: (Leg.AGENT, Leg.DEBTOR),
        Leg.AGENT: (Leg.DEBTOR,),
        Leg.DEBTOR: (Leg.AGENT,),
    },
    MonitorMode.WHISPER: {
        Leg.SUPERVISOR: (Leg.AGENT, Leg.DEBTOR),
        Leg.AGENT: (Leg.DEBTOR, Leg.SUPERVISOR),
        Leg.DEBTOR: (Leg.AGENT,),
    },
    MonitorMode.BARGE: {
        Leg.SUPERVISOR: (Leg.AGENT, Leg.DEBTOR),
        Leg.AGENT: (Leg.DEBTOR, Leg.SUPERVISOR),
        Leg.DEBTOR: (Leg.AGENT, Leg.SUPERVISOR),
    },
}


def mix(frames: Sequence[Pcm]) -> Pcm:
    """The sum of equally long 16-bit frames, clipped to the 16-bit range."""
    if not frames:
        raise ValueError("nothing to mix")
    if len(frames) == 1:
        return frames[0]
    total = np.sum([frame.astype(np.int32) for frame in frames], axis=0)
    mixed: Pcm = np.clip(total, -32768, 32767).astype(np.int16)
    return mixed
