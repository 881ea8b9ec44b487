"""Sweep every detector over its settings on cached traces; pick operating points on dev.

Each detector family has a grid of the settings its framework exposes (the peers') or that
shape its policy (ours). A row is one setting's metrics on one split.
"""

from __future__ import annotations

import itertools

from tqdm import tqdm

from turn_taking.data.labels import Dialogue
from turn_taking.detectors import create_detector
from turn_taking.eval.metrics import Scores
from turn_taking.replay import Signal, replay, signals
from turn_taking.trace import PEER_OFFSETS_S, CallerTrace

HEARD_MS = [int(o * 1000) for o in PEER_OFFSETS_S]
GRIDS: dict[str, dict[str, list]] = {
    "vad": {"end_silence_ms": [100, 200, 300, 400, 500, 600, 700, 800, 1000, 1200, 1500, 1800, 2200, 2600]},
    "punct": {"delay_ms": [0, 100, 200, 400], "fallback_ms": [600, 1000, 1500, 2000, 3000]},
    "fusion": {"delta_ms": [300, 600], "min_silence_ms": [100, 200, 300, 500],
               "fallback_ms": [600, 800, 1000, 1300, 1600, 2000, 2600]},
    # ours and the peers' each run from eager to cautious, so every frontier can reach the
    # few-cutoff end the silence timer does
    "adaptive": {"complete_ms": [100, 200, 300, 500, 800, 1200], "unknown_ms": [400, 600, 800, 1000, 1300, 1800, 2400],
                 "incomplete_ms": [1300, 1800, 2400, 3000], "p_complete": [0.2, 0.5, 0.8],
                 "final_punct": [False, True]},
    # the share of ends among silences still running is high, so the thresholds that matter are too
    "learned": {"threshold": [0.5, 0.6, 0.7, 0.75, 0.8, 0.83, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96,
                              0.97, 0.98, 0.99], "max_ms": [2000, 3000]},
    "smart_turn": {"threshold": [0.1, 0.3, 0.5, 0.7, 0.9, 0.97, 0.99], "heard_ms": HEARD_MS,
                   "stop_ms": [600, 1000, 1500, 2000, 3000]},
    "livekit": {"threshold": [0.1, 0.2, 0.36, 0.5, 0.7, 0.9], "heard_ms": HEARD_MS,
                "min_delay_ms": [100, 200, 300, 500, 800, 1200], "max_delay_ms": [1000, 1500, 2000, 3000]},
}


# TRADE's end-of-utterance protocol scores fixed detectors, each as eager as the VAD (it fires at
# every silence the VAD reports, 100 ms here, and has no fallback timer): VAD-only,
# punctuation-only at the marks' stamps, and their fusion within 0.5 s, timed from the VAD.
TRADE_SETTINGS: dict[str, dict] = {"vad": {"end_silence_ms": 100}, "punct": {"delay_ms": 0, "fallback_ms": None},
                                   "fusion": {"delta_ms": 500, "min_silence_ms": 100, "fallback_ms": None}}


def settings(name: str, fixed: dict | None = None) -> list[dict]:
    """Every combination of the grid the detector accepts (adaptive needs its delays in order),
    with ``fixed`` options beside each."""
    grid = GRIDS[name]
    return [params for values in itertools.product(*grid.values())
            if _accepted(name, {**(params := dict(zip(grid, values))), **(fixed or {})})]


def _accepted(name: str, params: dict) -> bool:
    try:
        create_detector(name, **params)
    except ValueError:
        return False
    return True


def replayable(dialogues: list[Dialogue], traces: dict[str, CallerTrace]) -> list[tuple[Dialogue, list[Signal]]]:
    """Each traced dialogue with its signals, computed once for every detector's sweep."""
    return [(d, signals(traces[d.id])) for d in dialogues if d.id in traces]


def scored(name: str, params: dict, pairs: list[tuple[Dialogue, list[Signal]]], into: Scores | None = None) -> Scores:
    """``into`` (new by default) with the takes of detector ``name`` set by ``params`` on each
    dialogue of ``pairs``; pooling several calls into one Scores pools their metrics."""
    into = Scores() if into is None else into
    for d, sigs in pairs:
        into.add(d, replay(sigs, create_detector(name, **params)))
    return into


def score(name: str, params: dict, pairs: list[tuple[Dialogue, list[Signal]]], split: str,
          fixed: dict | None = None) -> dict:
    """One setting's metrics on one split; ``fixed``: options every setting shares (not swept)."""
    scores = scored(name, {**params, **(fixed or {})}, pairs)
    return {"detector": name, "split": split, "params": params, "dialogues": len(pairs), **scores.summary()}


def sweep(name: str, pairs: list[tuple[Dialogue, list[Signal]]], split: str, fixed: dict | None = None) -> list[dict]:
    """One row per setting of the detector's grid."""
    return [score(name, params, pairs, split, fixed)
            for params in tqdm(settings(name, fixed), desc=f"{name} on {split}", unit="setting", leave=False)]
