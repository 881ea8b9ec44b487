"""The recognizer's sentence-end punctuation as the end-of-turn signal.

``PunctuationDetector`` takes the turn ``delay_ms`` after the recognizer emits a sentence end,
whatever the VAD says (TRADE's punctuation-only baseline), and places the end at the mark's
stamp. ``FusionDetector`` is TRADE's fusion: the turn ends when a silence has lasted
``min_silence_ms`` and a sentence-end mark falls within ``delta_ms`` of its onset, timed from
the VAD (the silence onset). Both fall back to a plain silence timer (``fallback_ms``) so that a turn
whose mark never comes still ends; ``fallback_ms=None`` leaves it out, as the paper's detectors do.
"""

from __future__ import annotations

from turn_taking.detectors.base import EndOfTurnDetector


class _SilenceState(EndOfTurnDetector):
    def __init__(self, fallback_ms: float | None):
        if fallback_ms is not None and fallback_ms <= 0:
            raise ValueError(f"fallback_ms must be > 0 (or None for no fallback), got {fallback_ms}")
        self.fallback_s = None if fallback_ms is None else fallback_ms / 1000
        self.reset()

    def _fallback_due(self) -> list[float]:
        """When the silence timer would take the turn: none while speaking or without a timer."""
        return [] if self._onset is None or self.fallback_s is None else [self._onset + self.fallback_s]

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

    def __init__(self, delay_ms: float = 0, fallback_ms: float | None = 2000):
        super().__init__(fallback_ms)
        self.delay_s = delay_ms / 1000

    def on_speech_start(self, t_s: float):
        super().on_speech_start(t_s)
        self._marks = [m for m in self._marks if m[0] >= t_s]  # a mark of the last sentence is spent

    def _first_due(self) -> tuple[float, float | None] | None:
        """(due time, the stamp of the mark behind it or None for the silence fallback)."""
        dues = [(emitted + self.delay_s, time_s) for time_s, emitted in self._marks]
        dues += [(due, None) for due in self._fallback_due()]
        return min(dues, key=lambda d: d[0], default=None)

    def turn_end_due_s(self) -> float | None:
        first = self._first_due()
        return None if first is None else first[0]

    def turn_end_at_s(self) -> float | None:
        first = self._first_due()
        # a mark's own stamp: punctuation-only times its ends by emission
        return None if first is None else first[1]


class FusionDetector(_SilenceState):
    name = "fusion"

    def __init__(self, delta_ms: float = 500, min_silence_ms: float = 200, fallback_ms: float | None = 2000):
        super().__init__(fallback_ms)
        self.delta_s, self.min_silence_s = delta_ms / 1000, min_silence_ms / 1000

    def turn_end_due_s(self) -> float | None:
        if self._onset is None:
            return None
        fused = [max(emitted, self._onset + self.min_silence_s) for time_s, emitted in self._marks
                 if abs(time_s - self._onset) <= self.delta_s]
        return min(fused + self._fallback_due(), default=None)
