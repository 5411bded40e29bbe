"""The dialer's two messages, as 8 kHz 16-bit PCM.

* the information message for a live answer no agent could take within 2 s
  (uk-ofcom, us-regf practice): the company name and a number to call back, nothing
  about the debt;
* the limited-content voicemail (Regulation F 1006.2(j)): a business name that does
  not suggest debt collection, a request to reply, a contact name and a number.

A site records its own: `abandon.wav` and `voicemail.wav` (mono 8 kHz 16-bit PCM) in
the prompts directory. Missing ones are synthesised once with espeak-ng and sox from
the configured company name and callback number and kept there. Without espeak-ng
the dialer does not start: it names the package to install.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

from dialer.calls import Prompts
from telephony.simulated.speech import INSTALL_HINT, Speech

VOICES = {"zh": "cmn", "en": "en-us"}
TEXTS = {
    "zh": {
        "abandon": "您好，这里是{company}。很抱歉，现在没有工作人员可以接听。"
                   "请拨打{number}与我们联系。谢谢。",
        "voicemail": "您好，这里是{company}，请回电{number}，联系人{contact}。谢谢。",
    },
    "en": {
        "abandon": "Hello, this is {company}. Sorry, no one is free to take your call right"
                   " now. Please call us back on {number}. Thank you.",
        "voicemail": "Hello, this is {contact} at {company}. Please call us back on {number}."
                     " Thank you.",
    },
}


class PromptError(RuntimeError):
    pass


async def load_prompts(directory: Path, *, company: str, number: str, contact: str,
                       language: str = "zh") -> Prompts:
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    found = {}
    for name in ("abandon", "voicemail"):
        path = directory / f"{name}.wav"
        if not await asyncio.to_thread(path.exists):
            text = TEXTS[language][name].format(company=company, number=number, contact=contact)
            await synthesise(text, VOICES[language], path)
        found[name] = await asyncio.to_thread(read_pcm, path)
    return Prompts(abandon=found["abandon"], voicemail=found["voicemail"])


async def synthesise(text: str, voice: str, path: Path) -> None:
    """`text` spoken by espeak-ng into a mono 8 kHz 16-bit WAV at `path`; never the
    babble `Speech` falls back to: a message the debtor cannot understand is no
    message."""
    speech = Speech(path.parent / "synthesised", voice=voice)
    if speech.missing:
        raise PromptError(
            f"{path.name} is missing and {' and '.join(speech.missing)} cannot make it:"
            f" {INSTALL_HINT}, or put a mono 8 kHz 16-bit WAV at {path}")
    await speech.prepare([text])
    await asyncio.to_thread(_write_wav, path, speech.say(text).astype("<i2").tobytes())


def _write_wav(path: Path, pcm: bytes) -> None:
    with wave.open(str(path), "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(8000)
        clip.writeframes(pcm)


def read_pcm(path: Path) -> bytes:
    """The samples of a mono 8 kHz 16-bit PCM WAV."""
    try:
        with wave.open(str(path), "rb") as clip:
            shape = (clip.getnchannels(), clip.getframerate(), clip.getsampwidth())
            if shape != (1, 8000, 2):
                raise PromptError(f"{path}: {shape[0]} channels at {shape[1]} Hz, "
                                  f"{8 * shape[2]} bits; a prompt must be mono 8 kHz 16-bit")
            return clip.readframes(clip.getnframes())
    except (wave.Error, EOFError) as error:
        raise PromptError(f"{path} is not a usable WAV file: {error}") from None
