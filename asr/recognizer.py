"""Recognizer interface and registry.

A recognizer declares what it can do (LiveKit's capability idea): ``streaming`` recognizers
take audio as it arrives; offline ones transcribe a finished segment (the agent pairs them
with VAD segmentation). Both transcribe whole clips for evaluation.

    rec = create_recognizer("faster-whisper")
    transcript = rec.transcribe(audio_16k)
"""

from __future__ import annotations

from dataclasses import dataclass
import time
from typing import Callable, Iterator

import numpy as np

from asr.audio import SAMPLE_RATE, AudioError
from asr.events import Final, StreamEvent, Transcript


@dataclass(frozen=True)
class RecognizerCapabilities:
    streaming: bool
    interim_results: bool
    word_timestamps: bool


class Recognizer:
    name: str = ""
    capabilities = RecognizerCapabilities(streaming=False, interim_results=False, word_timestamps=False)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Transcribe a mono float32 16 kHz clip; word times are relative to its start."""
        raise NotImplementedError

    def warmup(self):
        """Run once on silence so the first real request does not pay one-off costs."""
        self.transcribe(np.zeros(16000, np.float32))

    @staticmethod
    def weights_fingerprint(**options) -> str:
        """What identifies the weights these options load, for caches of results: empty for
        weights pinned by an installed package; recognizers that load trainable checkpoints
        hash them."""
        return ""


class RecognizerStream:
    """One audio stream through a streaming recognizer. State is bounded however long it runs."""

    def push(self, pcm: np.ndarray) -> list[StreamEvent]:
        """Feed the next mono float32 16 kHz samples (any length); returns what they produced."""
        pcm = np.asarray(pcm)
        if pcm.ndim != 1 or pcm.dtype != np.float32:
            raise AudioError(f"stream.push takes 1-D float32 16 kHz samples, got {pcm.dtype} {pcm.shape}: "
                             "convert with asr.audio.to_mono_float32 and resample")
        if not np.all(np.isfinite(pcm)):
            raise AudioError("audio contains NaN or infinite samples")
        return self._push(pcm) if len(pcm) else []

    def finish(self) -> list[StreamEvent]:
        """The stream has ended: commit everything still pending."""
        raise NotImplementedError

    def commit(self) -> list[StreamEvent]:
        """The caller has paused (VAD saw silence): commit the words that can no longer change,
        the last one included, without waiting for the recognizer to see it complete. The
        stream goes on. Recognizers that cannot tell return nothing."""
        return []

    def pause(self) -> list[StreamEvent]:
        """The caller has just gone silent (VAD): what the recognizer concludes about the audio
        so far without waiting for more, for turn-taking. The stream goes on unchanged; anything
        returned here is not returned again. Recognizers that decode only whole chunks return nothing."""
        return []

    def sentence_ended(self) -> bool:
        """Whether the recognizer's text so far ends with a sentence-end mark, so more silence
        gives a pause nothing to decode. False for recognizers that cannot tell."""
        return False

    def decoded_s(self) -> float | None:
        """Seconds of audio the recognizer has decoded (behind what was pushed by its chunk and
        look-ahead): nothing it says later is about audio before this. None if unknown."""
        return None

    def end_probability(self) -> float | None:
        """The recognizer's probability that the sentence ends after its current text, for
        recognizers with a language model to read it from; None otherwise."""
        return None

    def state_size(self) -> dict[str, int]:
        """Sizes of what the stream keeps between pushes (floats, frames, tokens), for the
        flat-memory benchmark: none may grow with the stream's length."""
        return {}

    def _push(self, pcm: np.ndarray) -> list[StreamEvent]:
        raise NotImplementedError


class StreamingRecognizer(Recognizer):
    """A recognizer that decodes every ``chunk_ms`` of audio as it arrives."""

    capabilities = RecognizerCapabilities(streaming=True, interim_results=True, word_timestamps=True)
    chunk_ms: int = 640

    def stream(self) -> RecognizerStream:
        raise NotImplementedError

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """The committed words of one stream over the clip, fed ``chunk_ms`` at a time."""
        words = [w for _, events in feed(self.stream(), audio, self.chunk_ms)
                 for e in events if isinstance(e, Final) for w in e.words]
        return Transcript(" ".join(w.text for w in words), words)


def feed(stream: RecognizerStream, audio: np.ndarray, chunk_ms: int,
         wait_until: Callable[[float], None] | None = None) -> Iterator[tuple[float, list[StreamEvent]]]:
    """Push ``audio`` into ``stream`` ``chunk_ms`` at a time, then finish it. Yields, after each
    push, (seconds of audio arrived, its events). ``wait_until(arrived_s)`` runs before each
    push, to pace the feed as a live call (``live_pace``)."""
    step = SAMPLE_RATE * chunk_ms // 1000
    for i in range(0, len(audio) + step, step):  # the last step finishes the stream
        arrived = min(i + step, len(audio)) / SAMPLE_RATE
        if wait_until:
            wait_until(arrived)
        yield arrived, stream.push(audio[i:i + step]) if i < len(audio) else stream.finish()


def feed_live(stream: RecognizerStream, audio: np.ndarray,
              push_ms: int) -> Iterator[tuple[float, float, list[StreamEvent]]]:
    """``feed`` as fast as the machine allows, stamping each push's events with the media time a
    single real-time stream would have them: the audio had arrived and every earlier push's
    compute had finished. Yields (that time, this push's compute seconds, its events)."""
    clock = 0.0
    started = time.perf_counter()
    for arrived, events in feed(stream, audio, push_ms):
        elapsed = time.perf_counter() - started
        clock = max(clock, arrived) + elapsed
        yield clock, elapsed, events
        started = time.perf_counter()


def live_pace(t0: float) -> Callable[[float], None]:
    """For ``feed``: sleep until audio up to ``arrived_s`` would have arrived, counting from ``t0``
    (a ``time.perf_counter()`` reading)."""
    def wait_until(arrived_s: float):
        time.sleep(max(0.0, t0 + arrived_s - time.perf_counter()))
    return wait_until


_REGISTRY: dict[str, Callable[..., Recognizer]] = {}


def register(name: str):
    def deco(factory):
        _REGISTRY[name] = factory
        return factory
    return deco


def available() -> list[str]:
    import asr.recognizers  # noqa: F401  (registers the built-in recognizers)

    return sorted(_REGISTRY)


def capabilities(name: str) -> RecognizerCapabilities:
    """What a registered recognizer can do, without loading it."""
    available()
    if name not in _REGISTRY:
        raise ValueError(f"unknown recognizer {name!r}: choose one of {', '.join(available())}")
    return _REGISTRY[name].capabilities


def weights_fingerprint(name: str, **options) -> str:
    """The registered recognizer's ``weights_fingerprint``, without loading it."""
    available()
    return getattr(_REGISTRY[name], "weights_fingerprint", Recognizer.weights_fingerprint)(**options)


def create_recognizer(name: str, **options) -> Recognizer:
    names = available()
    if name not in _REGISTRY:
        raise ValueError(f"unknown recognizer {name!r}: choose one of {', '.join(names)}")
    return _REGISTRY[name](**options)
