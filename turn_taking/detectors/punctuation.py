"""The recognizer's sentence-end punctuation as the end-of-turn signal.

``PunctuationDetector`` takes the turn ``delay_ms`` after the recognizer emits a sentence end,
whatever the VAD says (TRADE's punctuation-only baseline). ``FusionDetector`` is TRADE's fusion:
the turn ends when a silence has lasted ``min_silence_ms`` and a sentence-end mark falls within
``delta_ms`` of its onset. Both fall back to a plain silence timer (``fallback_ms``) so that a turn
whose mark never comes still ends.
"""

from __future__ import annotations

from turn_taking.detectors.base import EndOfTurnDetector


class _SilenceState(EndOfTurnDetector):
    def __init__(self, fallback_ms: float):
        if fallback_ms <= 0:
            raise ValueError(f"fallback_ms must be > 0, got {fallback_ms}")
        self.fallback_s = fallback_ms / 1000
        self.reset()

    def reset(self):
        self._onset: float | None = None  # silence onset while the caller is silent
        self._marks: list[tuple[float, float]] = []  # (audio time, emitted) of this turn's marks

    def on_speech_start(self, t_s: float):
        self._onset = None

    def on_speech_end(self, t_s: float):
        self._onset = t_s

    def on_sentence_end(self, mark: str, time_s: float, t_s: float):
        self._marks.append((time_s, t_s))


class PunctuationDetector(_SilenceState):
    name = "punct"

    def __init__(self, delay_ms: float = 0, fallback_ms: float = 2000):
        super().__init__(fallback_ms)
        self.delay_s = delay_ms / 1000

    def on_speech_start(self, t_s: float):
        super().on_speech_start(t_s)
        self._marks = [m for m in self._marks if m[0] >= t_s]  # a mark of the last sentence is spent

    def turn_end_due_s(self) -> float | None:
        dues = [emitted + self.delay_s for _, emitted in self._marks]
        if self._onset is not None:
            dues.append(self._onset + self.fallback_s)
        return min(dues, default=None)


class FusionDetector(_SilenceState):
    name = "fusion"

    def __init__(self, delta_ms: float = 500, min_silence_ms: float = 200, fallback_ms: float = 2000):
        super().__init__(fallback_ms)
        self.delta_s, self.min_silence_s = delta_ms / 1000, min_silence_ms / 1000

    def turn_end_due_s(self) -> float | None:
        if self._onset is None:
            return None
        fused = [max(emitted, self._onset + self.min_silence_s) for time_s, emitted in self._marks
                 if abs(time_s - self._onset) <= self.delta_s]
        return min(fused + [self._onset + self.fallback_s])
