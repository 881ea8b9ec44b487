"""Utterances played one after another with pauses between them, as one longer utterance.

A live stream goes on after a sentence ends. Training joins a share of its inputs this way so
the model learns to carry on, and evaluation joins N test utterances to check that accuracy
holds over long streams (SpeechLLM-XL's 10× test).
"""

from __future__ import annotations

import numpy as np

from asr.audio import SAMPLE_RATE, load_audio
from asr.data.manifest import Utterance


def join_utterances(utts: list[Utterance], gaps_s: list[float]) -> tuple[Utterance, np.ndarray]:
    """(the joined utterance, its audio): texts joined with spaces, word timings moved onto the
    joined audio, ``gaps_s[i]`` seconds of silence after utterance i (one fewer than ``utts``)."""
    if len(gaps_s) != len(utts) - 1:
        raise ValueError(f"{len(utts)} utterances need {len(utts) - 1} gaps, got {len(gaps_s)}")
    if len(utts) == 1:
        return utts[0], load_audio(utts[0].audio)
    pieces, words, offset = [], [], 0.0
    for u, gap in zip(utts, [*gaps_s, 0.0]):
        audio = load_audio(u.audio)
        pieces += [audio, np.zeros(int(round(gap * SAMPLE_RATE)), np.float32)]
        words += [w.model_copy(update={"start": w.start + offset, "end": w.end + offset}) for w in u.words]
        offset += len(audio) / SAMPLE_RATE + gap
    audio = np.concatenate(pieces)
    voices = sorted({u.voice for u in utts})
    joined = utts[0].model_copy(update={
        "id": "+".join(u.id for u in utts), "audio": "", "duration": len(audio) / SAMPLE_RATE, "words": words,
        **{f: " ".join(getattr(u, f) for u in utts) for f in ("text", "spoken", "normalized")},
        "voice": voices[0] if len(voices) == 1 else "mixed", "augmentation": None})
    return joined, audio
