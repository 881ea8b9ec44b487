"""Replay a cached caller trace through an end-of-turn detector, as a live call would drive it.

Every signal reaches the detector at the media time it becomes known (a VAD stop ``stop_ms``
after the silence onset, a recognizer event when its compute finished). Between signals the
detector's due time is checked; once it passes, the turn is taken and the detector reset, as
``agent.turns.UserTurnProcessor`` does. The replay is cheap, so detectors can be swept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from turn_taking.detectors.base import EndOfTurnDetector
from turn_taking.trace import VAD_PARAMS, CallerTrace
from asr.vad import speech_boundaries


@dataclass(frozen=True)
class Signal:
    at: float
    kind: str  # speech_start speech_end transcript sentence_end end_prob turn_score:<model>
    args: tuple


def signals(trace: CallerTrace) -> list[Signal]:
    """The trace's signals in the order they become known."""
    out = [Signal(b.known_s, "speech_start" if b.speaking else "speech_end", (b.t_s,))
           for b in speech_boundaries(np.asarray(trace.vad), **VAD_PARAMS)]
    committed, partial = "", ""
    for e in trace.events:
        if e.kind == "final":
            committed, partial = f"{committed} {e.text}".strip(), ""
        elif e.kind == "partial":
            partial = e.text
        elif e.kind == "sentence_end":
            out.append(Signal(e.at, "sentence_end", (e.text, e.time)))
            continue
        elif e.kind == "end_prob":
            out.append(Signal(e.at, "end_prob", (e.p,)))
            continue
        out.append(Signal(e.at, "transcript", (committed, partial)))
    for model, scores in trace.peers.items():
        out += [Signal(s.onset + s.offset, f"turn_score:{model}", (s.p, s.onset, s.offset)) for s in scores]
    return sorted(out, key=lambda s: s.at)


def replay(sigs: list[Signal], detector: EndOfTurnDetector) -> list[float]:
    """Media times at which the detector takes the turn."""
    takes: list[float] = []
    detector.reset()
    committed, turn_from = "", 0  # the text so far; where the current turn's part of it begins
    last = 0.0
    model = f"turn_score:{detector.name}"
    for s in sigs:
        due = detector.turn_end_due_s()
        if due is not None and due <= s.at:
            takes.append(max(due, last))
            detector.reset()
            turn_from = len(committed)
        last = s.at
        if s.kind == "speech_start":
            detector.on_speech_start(*s.args)
        elif s.kind == "speech_end":
            detector.on_speech_end(*s.args)
        elif s.kind == "transcript":
            committed, partial = s.args
            text = f"{committed[turn_from:]} {partial}".strip()
            detector.on_transcript(text, not partial, s.at)
        elif s.kind == "sentence_end":
            detector.on_sentence_end(s.args[0], s.args[1], s.at)
        elif s.kind == "end_prob":
            detector.on_end_probability(s.args[0], s.at)
        elif s.kind == model:
            detector.on_turn_score(s.args[0], s.args[1], s.args[2], s.at)
    due = detector.turn_end_due_s()
    if due is not None:
        takes.append(max(due, last))
    return takes
