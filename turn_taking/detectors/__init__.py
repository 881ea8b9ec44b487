"""End-of-turn detectors by name."""

from __future__ import annotations

from turn_taking.detectors.base import EndOfTurnDetector
from turn_taking.detectors.silence import SilenceTimerDetector

DETECTORS = {"silence": SilenceTimerDetector, "vad": SilenceTimerDetector}


def create_detector(name: str, **options) -> EndOfTurnDetector:
    if name not in DETECTORS:
        raise ValueError(f"unknown end-of-turn detector {name!r}: choose one of {', '.join(sorted(DETECTORS))}")
    return DETECTORS[name](**options)


__all__ = ["EndOfTurnDetector", "SilenceTimerDetector", "create_detector"]
