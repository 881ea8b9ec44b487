"""VAD-only baseline: the turn ends after a fixed silence following speech."""

from __future__ import annotations

from turn_taking.detectors.base import EndOfTurnDetector


class SilenceTimerDetector(EndOfTurnDetector):
    name = "vad"

    def __init__(self, end_silence_ms: float = 600):
        if end_silence_ms < 0:
            raise ValueError(f"end_silence_ms must be ≥ 0, got {end_silence_ms}")
        self.end_silence_s = end_silence_ms / 1000.0
        self._speech_end_s: float | None = None

    def reset(self):
        self._speech_end_s = None

    def on_speech_start(self, t_s: float):
        self._speech_end_s = None

    def on_speech_end(self, t_s: float):
        self._speech_end_s = t_s

    def turn_end_due_s(self) -> float | None:
        return None if self._speech_end_s is None else self._speech_end_s + self.end_silence_s
