"""The simulated phones' voices: espeak-ng speech, made once and cached (asyncio).

:meth:`Speech.prepare` synthesises every sentence with ``espeak-ng -v VOICE``, turns
it into 8 kHz 16-bit mono with ``sox -D`` (no dither: the same text gives the same
samples on every run) and keeps it in the cache directory as headerless 16-bit
little-endian PCM named by a hash of voice, speed and text; later runs read the files.
Without espeak-ng or sox (:attr:`Speech.missing` names them; ``apt-get install
espeak-ng sox``), or when one fails on a sentence, the sentence gets
:func:`~telephony.simulated.sounds.babble` instead, listed in :attr:`Speech.babbled`,
so a demo still runs. :meth:`Speech.say` then hands out the clips.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from telephony.media.g711 import Pcm
from telephony.simulated.sounds import RATE, babble

logger = logging.getLogger(__name__)

INSTALL_HINT = "apt-get install espeak-ng sox"
FORMAT = 1  # bump when the cached files' making changes


class Speech:
    """Sentences as 8 kHz 16-bit PCM clips; see the module docstring."""

    def __init__(
        self,
        cache: Path,
        *,
        voice: str = "cmn",
        speed: int = 175,
        espeak: str = "espeak-ng",
        sox: str = "sox",
        parallel: int = 4,
    ) -> None:
        self.cache, self.voice, self.speed = cache, voice, speed
        self.programs = {"espeak-ng": shutil.which(espeak), "sox": shutil.which(sox)}
        self.babbled: set[str] = set()
        self._clips: dict[str, Pcm] = {}
        self._slots = asyncio.Semaphore(parallel)

    @property
    def missing(self) -> list[str]:
        """The synthesiser's programs that are not installed."""
        return [name for name, path in self.programs.items() if path is None]

    async def prepare(self, texts: Iterable[str]) -> None:
        """Make (or read from the cache) a clip for every text."""
        wanted = sorted(set(texts) - self._clips.keys())
        if not self.missing:
            await asyncio.to_thread(self.cache.mkdir, parents=True, exist_ok=True)
        clips = await asyncio.gather(*(self._clip(text) for text in wanted))
        self._clips.update(zip(wanted, clips, strict=True))

    def say(self, text: str) -> Pcm:
        """The clip of a prepared text (babble for one that was not prepared)."""
        clip = self._clips.get(text)
        if clip is None:
            self.babbled.add(text)
            clip = self._clips[text] = babble(text)
        return clip

    def path(self, text: str) -> Path:
        key = f"{FORMAT}\0{self.voice}\0{self.speed}\0{text}".encode()
        return self.cache / f"{hashlib.blake2b(key, digest_size=10).hexdigest()}.s16"

    async def _clip(self, text: str) -> Pcm:
        if not self.missing:
            try:
                return await self._cached(text)
            except (OSError, SynthesisFailed) as exc:
                logger.warning("no speech for %r, babbling instead: %s", text, exc)
        self.babbled.add(text)
        return babble(text)

    async def _cached(self, text: str) -> Pcm:
        cached = self.path(text)
        if not await asyncio.to_thread(cached.exists):
            async with self._slots:
                await self._synthesise(text, cached)
        return _read(await asyncio.to_thread(cached.read_bytes))

    async def _synthesise(self, text: str, target: Path) -> None:
        espeak, sox = self.programs["espeak-ng"], self.programs["sox"]
        assert espeak is not None and sox is not None
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            wav, raw = Path(scratch) / "espeak.wav", Path(scratch) / "8k.s16"
            await _run(espeak, "-v", self.voice, "-s", str(self.speed), "-w", str(wav), text)
            await _run(sox, "-D", str(wav), "-r", str(RATE), "-c", "1", "-b", "16",
                       "-e", "signed-integer", "-t", "raw", str(raw), "norm", "-3")  # fmt: skip
            await asyncio.to_thread(os.replace, raw, target)  # whole files only


class SynthesisFailed(Exception):
    """espeak-ng or sox exited with an error."""


async def _run(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0:
        name = Path(args[0]).name
        raise SynthesisFailed(f"{name} exited {proc.returncode}: {err.decode()[-300:]}")


def _read(data: bytes) -> Pcm:
    if not data or len(data) % 2:
        raise SynthesisFailed(f"a cached clip of {len(data)} bytes is not 16-bit PCM")
    samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
    samples.flags.writeable = False
    return samples
