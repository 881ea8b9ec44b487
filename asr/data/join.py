"""Utterances played one after another with pauses between them, as one longer utterance.

A live stream goes on after a sentence ends. Training joins a share of its inputs this way so
the model learns to carry on, and evaluation joins N test utterances to check that accuracy
holds over long streams (SpeechLLM-XL's 10× test).

Callers also pause *inside* a sentence ("my number is 649 … 536"). With joins alone, every
silence the model trains on follows a full stop, so it learns "pause → full stop" and ends
turns at holds. ``insert_pauses`` adds silence at word boundaries with the text unchanged: a
pause that is not a sentence end.
"""

from __future__ import annotations

import numpy as np

from asr.audio import SAMPLE_RATE, load_audio
from asr.data.manifest import Utterance


Pause = tuple[int, float]  # (index of the word the silence follows, seconds)


def insert_pauses(utt: Utterance, audio: np.ndarray, pauses: list[Pause]) -> tuple[Utterance, np.ndarray]:
    """Silence after the given words, cut in midway between a word's end and the next word's
    start; later word timings move with it and the text stays the same."""
    words = list(utt.words)
    for k, _ in pauses:
        if not 0 <= k < len(words) - 1:
            raise ValueError(f"a pause needs a word after it: word {k} of {len(words)} in {utt.id}")
    pieces, start, inserted = [], 0, 0.0
    for k, seconds in sorted(pauses):
        cut_s = (words[k].end + words[k + 1].start) / 2 - inserted  # on the original audio
        cut = min(len(audio), max(start, int(round(cut_s * SAMPLE_RATE))))
        pieces += [audio[start:cut], np.zeros(int(round(seconds * SAMPLE_RATE)), np.float32)]
        start, inserted = cut, inserted + seconds
        words[k + 1:] = [w.model_copy(update={"start": w.start + seconds, "end": w.end + seconds})
                         for w in words[k + 1:]]
    out = np.concatenate([*pieces, audio[start:]])
    return utt.model_copy(update={"words": words, "duration": len(out) / SAMPLE_RATE}), out


def lead_with_silence(utt: Utterance, audio: np.ndarray, seconds: float) -> tuple[Utterance, np.ndarray]:
    """``seconds`` of silence before the speech, word timings moved with it: what a recognizer
    stream hears when it starts before the caller speaks."""
    if seconds <= 0:
        return utt, audio
    out = np.concatenate([np.zeros(int(round(seconds * SAMPLE_RATE)), np.float32), audio])
    words = [w.model_copy(update={"start": w.start + seconds, "end": w.end + seconds}) for w in utt.words]
    return utt.model_copy(update={"words": words, "duration": len(out) / SAMPLE_RATE}), out


def join_utterances(utts: list[Utterance], gaps_s: list[float],
                    pauses: list[list[Pause]] | None = None) -> tuple[Utterance, np.ndarray]:
    """(the joined utterance, its audio): texts joined with spaces, word timings moved onto the
    joined audio, ``gaps_s[i]`` seconds of silence after utterance i (one fewer than ``utts``),
    and ``pauses[i]`` inserted inside utterance i (see ``insert_pauses``)."""
    if len(gaps_s) != len(utts) - 1:
        raise ValueError(f"{len(utts)} utterances need {len(utts) - 1} gaps, got {len(gaps_s)}")
    loaded = [insert_pauses(u, load_audio(u.audio), ps) for u, ps in zip(utts, pauses or [[] for _ in utts])]
    if len(utts) == 1:
        return loaded[0]
    pieces, words, offset = [], [], 0.0
    for (u, audio), gap in zip(loaded, [*gaps_s, 0.0]):
        pieces += [audio, np.zeros(int(round(gap * SAMPLE_RATE)), np.float32)]
        words += [w.model_copy(update={"start": w.start + offset, "end": w.end + offset}) for w in u.words]
        offset += len(audio) / SAMPLE_RATE + gap
    audio = np.concatenate(pieces)
    voices = sorted({u.voice for u in utts})
    joined = utts[0].model_copy(update={
        "id": "+".join(u.id for u in utts), "audio": "", "duration": len(audio) / SAMPLE_RATE, "words": words,
        **{f: " ".join(getattr(u, f) for u in utts) for f in ("text", "spoken", "normalized")},
        "voice": voices[0] if len(voices) == 1 else "mixed", "augmentation": None, "continues": utts[-1].continues})
    return joined, audio
