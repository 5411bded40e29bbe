"""Synthesized greetings for answering-machine detection: what a debtor's phone says
in the first seconds after it answers, as the media engine would hand it over.

A :class:`Greeting` describes one answered call: who answers (a person or a machine),
the words (one or more parts with a pause between them: "Hello? ... Hello?"), the
espeak-ng voice, speed and pitch, the silence before the first word, the speech level,
the line's background noise and the codec. :func:`render` makes its audio: each part
spoken by espeak-ng and resampled by sox to 8 kHz 16-bit (``-D``: no dither, so the
same part gives the same samples on every run), cut down to the telephone band, put
together with the pauses, scaled, mixed with seeded noise and passed through G.711.
Parts are cached by their synthesis parameters under a directory the caller chooses.

:func:`catalogue` is the fixed set the tests and the bench use: short live greetings
followed by silence, long machine greetings (voicemail, carrier announcements), in
English and Mandarin (espeak-ng voice ``cmn``), each text in several voices, speeds,
levels and noises. Texts are split in two halves: thresholds are tuned on ``train``
and reported on ``test``, never on a text they were tuned on. :func:`long_live` is the
known weak spot reported apart: people who answer with a whole sentence.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import zlib
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import cycle, islice
from pathlib import Path

import numpy as np
import numpy.typing as npt

from telephony.media.g711 import CODECS, PCMA, PCMU, Pcm
from telephony.media.sources import FRAME

RATE = 8000
RECIPE = "espeak-ng, sox -D to 8 kHz, sinc 250-3500"  # part of the cache key
Signal = npt.NDArray[np.float64]


class Kind(StrEnum):
    """Who answered the call."""

    LIVE = "live"  # a person
    MACHINE = "machine"  # voicemail, a carrier announcement


class Noise(StrEnum):
    """The line's background when nobody speaks."""

    NONE = "none"  # digital silence
    WHITE = "white"  # hiss
    BROWN = "brown"  # rumble, most of its energy in the low band


class Split(StrEnum):
    TRAIN = "train"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class Style:
    """How a text is spoken and heard: voice, delivery and line."""

    voice: str = "en-us"
    speed: int = 175  # espeak-ng words per minute
    pitch: int = 50  # espeak-ng 0-99
    lead_ms: int = 300  # silence between the answer and the first word
    level_dbfs: float = -20.0  # RMS of the spoken frames
    noise: Noise = Noise.WHITE
    noise_dbfs: float = -55.0
    payload_type: int = PCMU.payload_type


@dataclass(frozen=True, slots=True)
class Greeting:
    """One answered call's first seconds."""

    name: str
    kind: Kind
    parts: tuple[str, ...]  # spoken in turn, ``pause_ms`` apart
    style: Style = Style()
    pause_ms: int = 1500
    beep: bool = False  # a 1 kHz tone after the last part (the machine's "record now")
    seconds: float = 6.0  # the clip's length; the rest is the line's background


def _run(*args: str) -> bytes:
    done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return done.stdout


def spoken(text: str, style: Style, cache: Path) -> Pcm:
    """``text`` by espeak-ng at 8 kHz in the telephone band, trimmed of silence."""
    key = f"{RECIPE}|{text}|{style.voice}|{style.speed}|{style.pitch}".encode()
    path = cache / f"part-{hashlib.sha256(key).hexdigest()[:20]}.raw"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        wav = path.with_suffix(f".{os.getpid()}.wav")
        _run("espeak-ng", "-v", style.voice, "-s", str(style.speed), "-p", str(style.pitch),
             "-w", str(wav), text)  # fmt: skip
        raw = _run("sox", "-D", str(wav), "-t", "raw", "-r", str(RATE), "-c", "1", "-b", "16",
                   "-e", "signed-integer", "-", "sinc", "250-3500")  # fmt: skip
        wav.unlink()
        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(raw)
        partial.replace(path)
    return _trimmed(np.frombuffer(path.read_bytes(), dtype="<i2").astype(np.int16))


def _trimmed(pcm: Pcm, floor: int = 200) -> Pcm:
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > floor)
    return pcm[loud[0] : loud[-1] + 1] if len(loud) else pcm[:0]


def render(greeting: Greeting, cache: Path) -> Pcm:
    """The greeting as the debtor's side of the call: 8 kHz PCM after G.711."""
    style = greeting.style
    speech = _speech(greeting, cache)
    level = _active_rms(speech)
    if level > 0:
        speech *= 10 ** (style.level_dbfs / 20) * 32768 / level
    total = int(greeting.seconds * RATE) // FRAME * FRAME
    signal = np.zeros(total)
    start = style.lead_ms * RATE // 1000
    body = speech[: max(0, total - start)]
    signal[start : start + len(body)] = body
    signal += noise(style.noise, style.noise_dbfs, total, zlib.crc32(greeting.name.encode()))
    pcm = np.clip(np.round(signal), -32768, 32767).astype(np.int16)
    codec = CODECS[style.payload_type]
    return codec.decode(codec.encode(pcm))


def _speech(greeting: Greeting, cache: Path) -> Signal:
    gap = np.zeros(greeting.pause_ms * RATE // 1000)
    pieces: list[Signal] = []
    for index, text in enumerate(greeting.parts):
        if index:
            pieces.append(gap)
        pieces.append(spoken(text, greeting.style, cache).astype(np.float64))
    if greeting.beep:
        pieces += [np.zeros(RATE // 5), beep()]
    return np.concatenate(pieces)


def _active_rms(signal: Signal) -> float:
    """RMS over the 20 ms frames within 30 dB of the loudest (the words, not the gaps)."""
    usable = signal[: len(signal) // FRAME * FRAME].reshape(-1, FRAME)
    if not len(usable):
        return 0.0
    power = np.mean(usable**2, axis=1)
    active = power[power >= power.max() / 1000]
    return float(np.sqrt(np.mean(active)))


def beep(ms: int = 500, hz: float = 1000.0) -> Signal:
    """A voicemail's record tone, at the level of the speech around it."""
    tone: Signal = np.sin(2 * np.pi * hz * np.arange(ms * RATE // 1000) / RATE)
    return tone * math.sqrt(2)


def noise(kind: Noise, dbfs: float, samples: int, seed: int) -> Signal:
    """Seeded background noise of RMS ``dbfs`` (zeros for :attr:`Noise.NONE`)."""
    if kind is Noise.NONE:
        return np.zeros(samples)
    white = np.random.default_rng(seed).standard_normal(samples)
    if kind is Noise.BROWN:  # integrated white noise, high-passed to stay bounded
        white = np.cumsum(white)
        white -= np.convolve(white, np.ones(400) / 400, mode="same")
    return white * (10 ** (dbfs / 20) * 32768 / max(float(np.std(white)), 1e-9))


def frames(pcm: Pcm) -> list[bytes]:
    """The 20 ms frames (320 bytes of 16-bit little-endian PCM) of whole-frame audio."""
    data = pcm.astype("<i2").tobytes()
    size = FRAME * 2
    return [data[offset : offset + size] for offset in range(0, len(data) - size + 1, size)]


# -- the catalogue ------------------------------------------------------------------------

LIVE_EN = (
    ("Hello?",), ("Yes?",), ("Hello, yes?",), ("Hi.",), ("Who's this?",),
    ("Hello.",), ("Yeah?",), ("Hello, who is it?",), ("Speaking.",), ("Hi, who's calling?",),
    ("Hello?", "Hello?"), ("Yes?", "Hello, who is this?"),
)  # fmt: skip
LIVE_CN = (
    ("喂？",), ("你好。",), ("喂，哪位？",), ("嗯？",), ("喂，你好。",),
    ("哪位？",), ("您好。",), ("喂？喂？",), ("你好，哪位？",), ("对，你说。",),
    ("喂？", "喂，说话呀。"), ("喂？", "喂？"),
)  # fmt: skip
MACHINE_EN = (
    ("Hi, you've reached John Smith.", "I can't take your call right now.",
     "Please leave a message after the tone."),
    ("Hello, this is Mary. Sorry I missed your call.",
     "Leave your name and number and I will get back to you."),
    ("The person you are calling is not available. Please leave a message after the tone.",),
    ("You have reached the voice mailbox of five five five, zero one zero zero.",
     "Please record your message after the beep."),
    ("Thank you for calling.", "We are unable to answer the phone right now.",
     "Please leave a message and we will call you back."),
    ("The number you have dialed is not in service. Please check the number and try again.",),
    ("Welcome to the voice messaging system.",
     "The subscriber you have called is not available."),
    ("Hi, this is Linda at Acme Plumbing.", "Our office is closed.",
     "Please call back during business hours."),
    ("Sorry, the subscriber you dialed cannot be connected at the moment. Please redial "
     "later.",),
    ("Hey, it's Dave.", "Leave a message."),
)  # fmt: skip
MACHINE_CN = (
    ("您好，您拨打的用户暂时无法接通，请稍后再拨。",
     "Sorry, the subscriber you dialed cannot be connected for the moment."),
    ("您好，您拨打的电话已关机。", "Sorry, the number you dialed is power off."),
    ("您拨打的用户正忙，请稍后再拨。",),
    ("您好，您拨打的电话暂时无法接通，请在提示音后留言。",),
    ("对不起，您拨打的号码是空号，请查证后再拨。",),
    ("您好，我现在不方便接听电话。", "请在嘀声后留言，我会尽快给您回电。"),
    ("您好，欢迎致电，机主暂时无法接听，请留言。",),
    ("您拨打的电话正在通话中，请稍后再拨。",),
    ("您好，您呼叫的用户已开启来电提醒服务。", "我们将以短信形式通知机主。"),
    ("您好，我是小王。", "现在不在，有事请留言。"),
)  # fmt: skip
LONG_LIVE_EN = (
    ("Hello, this is Wang speaking. How can I help you?",),
    ("Good afternoon, Smith residence, Linda speaking.",),
    ("Hello, yes, this is he. Who am I speaking to please?",),
)
LONG_LIVE_CN = (
    ("喂，你好，我是张伟，请问你是哪位？",),
    ("你好，我在开车，有什么事快说。",),
    ("喂，您好，请问您找谁呀？",),
)

EN_VOICES = ("en-us", "en-gb+f3", "en-us+m3", "en-gb-scotland+f2", "en-us+f4")
CN_VOICES = ("cmn", "cmn+f3", "cmn+m3", "cmn+f2", "cmn+f4")
# (lead ms, speech dBFS, noise, noise dBFS, codec): the line, rotated over the variants
LINES = (
    (300, -20.0, Noise.WHITE, -55.0, PCMU.payload_type),
    (150, -26.0, Noise.BROWN, -50.0, PCMA.payload_type),
    (600, -16.0, Noise.NONE, 0.0, PCMU.payload_type),
    (400, -30.0, Noise.WHITE, -50.0, PCMA.payload_type),
    (0, -22.0, Noise.BROWN, -58.0, PCMU.payload_type),
    (800, -24.0, Noise.WHITE, -60.0, PCMU.payload_type),
    (200, -18.0, Noise.WHITE, -40.0, PCMU.payload_type),
    (500, -20.0, Noise.BROWN, -45.0, PCMA.payload_type),
    (300, -36.0, Noise.WHITE, -62.0, PCMU.payload_type),
    (200, -20.0, Noise.WHITE, -32.0, PCMA.payload_type),
    (400, -22.0, Noise.BROWN, -34.0, PCMU.payload_type),
)


def _styles(cn: bool, seed: int, count: int) -> list[Style]:
    voices = islice(cycle(CN_VOICES if cn else EN_VOICES), seed, seed + count)
    lines = islice(cycle(LINES), seed * 2, seed * 2 + count)
    base = 200 if cn else 150  # espeak-ng speaks Mandarin slowly: speed it up
    styles = []
    for index, (voice, line) in enumerate(zip(voices, lines, strict=True)):
        speed = base + 15 * ((seed + 2 * index) % 5)
        pitch = 30 + 10 * ((seed + index) % 5)
        lead, level, kind, noise_dbfs, payload_type = line
        styles.append(Style(voice, speed, pitch, lead, level, kind, noise_dbfs, payload_type))
    return styles


def _variants(
    kind: Kind, texts: tuple[tuple[str, ...], ...], cn: bool, split: Split, count: int
) -> list[Greeting]:
    found = []
    for number, parts in enumerate(texts):
        if (number % 2 == 0) != (split is Split.TRAIN):
            continue
        for index, style in enumerate(_styles(cn, number, count)):
            step = (number + index) % 4
            pause = 1200 + 300 * step if kind is Kind.LIVE else 300 + 200 * step
            beep = kind is Kind.MACHINE and (number + index) % 3 == 0
            name = f"{kind}-{'cn' if cn else 'en'}-{number:02d}-{index}"
            found.append(Greeting(name, kind, parts, style, pause, beep))
    return found


def catalogue(split: Split, variants: int = 4) -> list[Greeting]:
    """``split``'s half of the texts, each in ``variants`` styles: live greetings first.
    With 4 variants each half holds 48 live and 40 machine greetings."""
    return [
        *_variants(Kind.LIVE, LIVE_EN, False, split, variants),
        *_variants(Kind.LIVE, LIVE_CN, True, split, variants),
        *_variants(Kind.MACHINE, MACHINE_EN, False, split, variants),
        *_variants(Kind.MACHINE, MACHINE_CN, True, split, variants),
    ]


def long_live(variants: int = 4) -> list[Greeting]:
    """People answering with a whole sentence: the greeting pattern calls them machines.
    Not split: no threshold is tuned on them."""
    found = []
    for cn, texts in ((False, LONG_LIVE_EN), (True, LONG_LIVE_CN)):
        for number, parts in enumerate(texts):
            for index, style in enumerate(_styles(cn, number, variants)):
                name = f"long-{'cn' if cn else 'en'}-{number:02d}-{index}"
                found.append(Greeting(name, Kind.LIVE, parts, style))
    return found


def noisy(greetings: list[Greeting], snr_db: float = 10.0) -> list[Greeting]:
    """The same greetings on noisy lines: speech at -20 dBFS, hiss and rumble in turn
    ``snr_db`` below it."""
    kinds = cycle((Noise.WHITE, Noise.BROWN))
    return [
        replace(g, name=f"{g.name}-noisy", style=replace(
            g.style, level_dbfs=-20.0, noise=next(kinds), noise_dbfs=-20.0 - snr_db))
        for g in greetings
    ]  # fmt: skip
