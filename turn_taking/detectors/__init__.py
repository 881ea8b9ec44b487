"""End-of-turn detectors by name."""

from __future__ import annotations

from turn_taking.detectors.adaptive import AdaptiveDetector
from turn_taking.detectors.base import EndOfTurnDetector
from turn_taking.detectors.learned import LearnedDetector
from turn_taking.detectors.peers import LiveKitDetector, SmartTurnDetector
from turn_taking.detectors.punctuation import FusionDetector, PunctuationDetector
from turn_taking.detectors.silence import SilenceTimerDetector

DETECTORS = {"silence": SilenceTimerDetector, "vad": SilenceTimerDetector, "punct": PunctuationDetector,
             "fusion": FusionDetector, "adaptive": AdaptiveDetector, "learned": LearnedDetector, "smart_turn": SmartTurnDetector,
             "livekit": LiveKitDetector}


def create_detector(name: str, **options) -> EndOfTurnDetector:
    if name not in DETECTORS:
        raise ValueError(f"unknown end-of-turn detector {name!r}: choose one of {', '.join(sorted(DETECTORS))}")
    return DETECTORS[name](**options)


__all__ = ["EndOfTurnDetector", "SilenceTimerDetector", "PunctuationDetector", "FusionDetector",
           "AdaptiveDetector", "LearnedDetector", "SmartTurnDetector", "LiveKitDetector", "create_detector"]
