"""The streaming interface every end-of-turn detector implements.

Feed it what the caller does, in media time (seconds since the call started); ask it when
the turn should be taken. All detectors — VAD silence timer, punctuation, fusion, adaptive,
and the peer models — answer the same question, so the agent and the evaluation can swap them.
"""

from __future__ import annotations


class EndOfTurnDetector:
    name = ""

    def reset(self):
        """Forget the current turn (called after the turn is taken)."""

    def on_speech_start(self, t_s: float):
        """Speech onset at media time ``t_s``."""

    def on_speech_end(self, t_s: float):
        """Silence onset at media time ``t_s``."""

    def on_transcript(self, text: str, final: bool, t_s: float):
        """Recognizer output for the current turn, available at media time ``t_s``."""

    def turn_end_due_s(self) -> float | None:
        """Media time at which the turn should be taken if nothing else happens, or None
        while the caller is speaking or the detector is still undecided."""
        raise NotImplementedError
