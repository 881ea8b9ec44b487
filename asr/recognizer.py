"""Recognizer interface and registry.

A recognizer declares what it can do (LiveKit's capability idea): ``streaming`` recognizers
take audio as it arrives; offline ones transcribe a finished segment (the agent pairs them
with VAD segmentation). Both transcribe whole clips for evaluation.

    rec = create_recognizer("faster-whisper")
    transcript = rec.transcribe(audio_16k)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from asr.events import Transcript


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


def create_recognizer(name: str, **options) -> Recognizer:
    names = available()
    if name not in _REGISTRY:
        raise ValueError(f"unknown recognizer {name!r}: choose one of {', '.join(names)}")
    return _REGISTRY[name](**options)
