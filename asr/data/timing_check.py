"""An independent check of synthesiser word timings: the audio's own energy.

Where speech starts and stops, and where it pauses, can be read from frame energy without
knowing the words. Each such edge must coincide with a word boundary the synthesiser reported:
the first word's start, the last word's end, and the end and start around every pause.
"""

from __future__ import annotations

import numpy as np

from asr.audio import SAMPLE_RATE
from asr.voices import Speech


def energy_edges(audio: np.ndarray, min_gap_s: float = 0.15, floor_db: float = -35.0,
                 hop_s: float = 0.005) -> tuple[float, float, list[tuple[float, float]]]:
    """(speech onset, speech offset, pauses as (start, end)) in seconds, from 10 ms frame energy."""
    hop, win = int(hop_s * SAMPLE_RATE), int(0.01 * SAMPLE_RATE)
    energy = np.array([np.sqrt(np.mean(audio[i:i + win] ** 2)) for i in range(0, len(audio) - win, hop)])
    active = energy > energy.max() * 10 ** (floor_db / 20)
    idx = np.flatnonzero(active)
    gaps, run = [], 0
    for i, a in enumerate(active):
        if not a:
            run += 1
            continue
        if run * hop_s >= min_gap_s and i - run > idx[0]:
            gaps.append(((i - run + 2) * hop_s, i * hop_s))
        run = 0
    return idx[0] * hop_s, (idx[-1] + 2) * hop_s, gaps


def boundary_errors(speech: Speech) -> list[float]:
    """|energy edge − reported word boundary| in seconds, for every edge of ``speech``."""
    words = speech.words
    onset, offset, gaps = energy_edges(speech.audio)
    errors = [abs(onset - words[0].start_s), abs(offset - words[-1].end_s)]
    for a, b in gaps:
        if len(words) < 2:
            break
        k = min(range(len(words) - 1), key=lambda k: abs(words[k].end_s - a) + abs(words[k + 1].start_s - b))
        errors += [abs(words[k].end_s - a), abs(words[k + 1].start_s - b)]
    return errors


def timing_table(voices: list[str], sentences: list[str]) -> list[dict]:
    """Per voice: boundaries checked, median error and share within 60 ms."""
    from asr.voices import load_voice

    rows = []
    for spec in voices:
        voice, errors, untimed = load_voice(spec), [], 0
        for text in sentences:
            speech = voice.synthesize(text)
            if not speech.words:
                untimed += 1
                continue
            errors += boundary_errors(speech)
        e = np.array(errors)
        rows.append({"voice": spec, "sentences": len(sentences), "untimed": untimed, "boundaries": len(e),
                     "median_ms": round(float(np.median(e)) * 1000), "within_60ms": round(float((e <= 0.0605).mean()), 2)})
    return rows
