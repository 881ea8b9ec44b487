"""Caller turns of labelled dialogues as an ASR training manifest.

Trained on read sentences, each ending in a mark, the recognizer learned "pause → full stop"
(turn_taking/RESULTS.md). A dialogue's caller turn pauses where the thought is not finished
(between digit groups, after "um" or a trailing "and", mid-clause), each part synthesised on
its own so the voice falls at the pause as it would at an end, and its written reference has a
mark only where a sentence ends. Training on these turns teaches the model that a pause is not
a sentence end. Backchannels ("Mhm.") become examples too, so the recognizer can tell them from
"No, stop." during barge-in.

Each example is cut from the caller channel with 0 to ``lead_max_s`` of the call's own quiet
before the speech (a stream opens before the caller speaks) and ``tail_s`` after it. Only
train and dev dialogues can be exported: test callers are held out.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from asr.audio import SAMPLE_RATE
from asr.data.manifest import Utterance, WordTiming
from asr.normalize import normalize
from turn_taking.data.labels import Dialogue, read_dialogues

GUARD_S = 0.15  # kept between an example's edges and any other caller speech


def turn_examples(dialogue: Dialogue, rng: random.Random, lead_max_s: float = 2.0,
                  tail_s: tuple[float, float] = (0.3, 1.5), max_s: float = 14.0) -> list[tuple[Utterance, float]]:
    """(utterance with ``audio`` unset and words relative to the clip, clip start in the call)
    for each caller turn and backchannel of ``dialogue`` no longer than ``max_s``."""
    spans = [(t.start, t.end, t.text, t.spoken, t.category) for t in dialogue.turns if t.speaker == "caller"]
    spans += [(o.start, o.end, o.text, o.text, "backchannel") for o in dialogue.overlaps if o.label == "backchannel"]
    out = []
    for k, (start, end, text, spoken, category) in enumerate(sorted(spans)):
        inside = [w for w in dialogue.words if w.start >= start - 1e-3 and w.end <= end + 1e-3]
        before = [w.end for w in dialogue.words if w.end < start - 1e-3]
        after = [w.start for w in dialogue.words if w.start > end + 1e-3]
        lo = max(0.0, (max(before) + GUARD_S) if before else 0.0)
        hi = min(dialogue.duration, (min(after) - GUARD_S) if after else dialogue.duration)
        clip_start = max(lo, start - rng.uniform(0, lead_max_s))
        clip_end = min(hi, end + rng.uniform(*tail_s))
        if not inside or clip_end - clip_start > max_s or clip_start > start or clip_end < end:
            continue
        words = [WordTiming(word=w.word, start=round(w.start - clip_start, 3), end=round(w.end - clip_start, 3))
                 for w in inside]
        out.append((Utterance(id=f"{dialogue.id}-{k:02d}", audio="", text=text, spoken=spoken,
                              normalized=normalize(spoken), duration=round(clip_end - clip_start, 3),
                              voice=dialogue.caller_voice, domain=f"dialogue:{category}", source="dialogues",
                              split=dialogue.split, words=words), clip_start))
    return out


def export(labels: Path, out: Path, seed: int = 0, limit: int | None = None) -> dict:
    """Write ``<out>/<split>.jsonl`` and one FLAC per example; returns counts by category."""
    dialogues = read_dialogues(labels)[:limit]
    held_out = sorted({d.split for d in dialogues} - {"train", "dev"})
    if held_out:
        raise ValueError(f"{labels} holds {', '.join(held_out)} dialogues: their callers are held out "
                         "from training; export train or dev dialogues")
    out.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    path = out / f"{dialogues[0].split}.jsonl" if dialogues else out / "empty.jsonl"
    with path.open("w") as f:
        for d in tqdm(dialogues, desc="turns", unit="call"):
            caller = sf.read(d.audio, dtype="float32", always_2d=True)[0][:, 0]
            for utt, clip_start in turn_examples(d, random.Random(f"{seed}/{d.id}")):
                rel = Path("audio") / d.split / f"{utt.id}.flac"
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                a = int(round(clip_start * SAMPLE_RATE))
                clip = caller[a:a + int(round(utt.duration * SAMPLE_RATE))]
                sf.write(out / rel, np.asarray(clip), SAMPLE_RATE, subtype="PCM_16")
                f.write(utt.model_copy(update={"audio": str(rel)}).model_dump_json() + "\n")
                counts[utt.domain] += 1
    return {"manifest": str(path), "examples": sum(counts.values()), "by_category": dict(counts)}
