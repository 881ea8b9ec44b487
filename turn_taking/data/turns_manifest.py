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

``cut="vad"`` exports instead the pieces the agent's recognizer hears: the agent opens a stream
per stretch of speech (``asr.utterances``), so a turn the caller pauses in reaches it as several
streams, the second one beginning "four nine seven zero" with no lead-in. Each turn is cut where
Silero and the agent's stop rule end speech, each piece keeping its share of the written text
(a digit group ends without a mark; the turn's last piece keeps the full stop). All pieces but
the last are marked ``continues``: their text stops but does not end.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
from tqdm import tqdm

from asr.audio import SAMPLE_RATE
from asr.data.manifest import Utterance, WordTiming
from asr.models.trade.targets import written_spans
from asr.normalize import normalize
from asr.utterances import LEAD_S
from asr.vad import SileroVAD, speech_boundaries
from turn_taking.data.labels import Dialogue, read_dialogues

GUARD_S = 0.15  # kept between an example's edges and any other caller speech


class _Span(NamedTuple):
    """Caller speech that becomes one example."""
    start: float
    end: float
    text: str
    spoken: str
    category: str
    continues: bool = False  # the caller goes on after it (a piece of a turn, not its last)


def turn_examples(dialogue: Dialogue, rng: random.Random, lead_max_s: float = 2.0,
                  tail_s: tuple[float, float] = (0.3, 1.5), max_s: float = 14.0,
                  stops_s: list[float] | None = None) -> list[tuple[Utterance, float]]:
    """(utterance with ``audio`` unset and words relative to the clip, clip start in the call)
    for each caller turn and backchannel of ``dialogue`` no longer than ``max_s``; with the VAD's
    speech stops ``stops_s``, for each piece of a caller turn they cut instead."""
    spans = [_Span(t.start, t.end, t.text, t.spoken, t.category) for t in dialogue.turns if t.speaker == "caller"]
    if stops_s is None:
        spans += [_Span(o.start, o.end, o.text, o.text, "backchannel")
                  for o in dialogue.overlaps if o.label == "backchannel"]
    else:
        spans = [piece for span in spans for piece in _cut(span, _words_in(dialogue, span.start, span.end), stops_s)]
    out = []
    for k, (start, end, text, spoken, category, continues) in enumerate(sorted(spans)):
        inside = _words_in(dialogue, start, end)
        before = [w.end for w in dialogue.words if w.end < start - 1e-3]
        after = [w.start for w in dialogue.words if w.start > end + 1e-3]
        # timings are in whole ms: rounding keeps a gap of exactly GUARD_S a fit
        lo = max(0.0, round(max(before) + GUARD_S, 3) if before else 0.0)
        hi = min(dialogue.duration, round(min(after) - GUARD_S, 3) if after else dialogue.duration)
        clip_start = max(lo, start - rng.uniform(0, lead_max_s))
        clip_end = min(hi, end + rng.uniform(*tail_s))
        if not inside or clip_end - clip_start > max_s or clip_start > start or clip_end < end:
            continue
        words = [WordTiming(word=w.word, start=round(w.start - clip_start, 3), end=round(w.end - clip_start, 3))
                 for w in inside]
        out.append((Utterance(id=f"{dialogue.id}-{k:02d}", audio="", text=text, spoken=spoken,
                              normalized=normalize(spoken), duration=round(clip_end - clip_start, 3),
                              voice=dialogue.caller_voice, domain=f"dialogue:{category}", source="dialogues",
                              split=dialogue.split, words=words, continues=continues), clip_start))
    return out


def _words_in(dialogue: Dialogue, start: float, end: float) -> list:
    return [w for w in dialogue.words if w.start >= start - 1e-3 and w.end <= end + 1e-3]


def _cut(span: _Span, words: list, stops_s: list[float]) -> list[_Span]:
    """The pieces of a caller turn ``span`` that a speech stop falls between (only if the turn is
    cut and its written words split cleanly: an e-mail said across a stop does not)."""
    said = span.spoken.split()
    if not words or len(said) != len(words):
        return []
    # piece of each spoken word: how many stops fall between the turn's first word and it
    piece = [sum(words[0].start < s < w.start for s in stops_s) for w in words]
    if piece[-1] == 0:
        return []
    timings = [WordTiming(word=w.word, start=w.start, end=w.end) for w in words]
    written = span.text.split()
    spans = written_spans(span.text, timings)
    if any(piece[a] != piece[b] for a, b in spans):
        return []
    pieces = []
    for p in range(piece[-1] + 1):
        idx = [i for i, q in enumerate(piece) if q == p]
        if not idx:  # a stop with no word after it before the next: nothing to hear
            continue
        pieces.append(_Span(words[idx[0]].start, words[idx[-1]].end,
                            " ".join(w for w, (a, _) in zip(written, spans) if piece[a] == p),
                            " ".join(said[i] for i in idx), span.category, continues=True))
    return [*pieces[:-1], pieces[-1]._replace(continues=False)]  # the caller goes on after all but the last


def speech_stops(caller: np.ndarray, vad: SileroVAD) -> list[float]:
    """Where the agent's VAD ends speech in a caller channel (s)."""
    return [b.t_s for b in speech_boundaries(vad.track(caller)) if not b.speaking]


def export(labels: Path, out: Path, seed: int = 0, limit: int | None = None, cut: str = "turn") -> dict:
    """Write ``<out>/<split>.jsonl`` and one FLAC per example; returns counts by category.
    ``cut``: "turn" (whole turns and backchannels) or "vad" (the pieces the agent's VAD cuts)."""
    if cut not in ("turn", "vad"):
        raise ValueError(f"cut must be 'turn' or 'vad', not {cut!r}")
    dialogues = read_dialogues(labels)[:limit]
    held_out = sorted({d.split for d in dialogues} - {"train", "dev"})
    if held_out:
        raise ValueError(f"{labels} holds {', '.join(held_out)} dialogues: their callers are held out "
                         "from training; export train or dev dialogues")
    vad = SileroVAD() if cut == "vad" else None
    out.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    path = out / f"{dialogues[0].split}.jsonl" if dialogues else out / "empty.jsonl"
    with path.open("w") as f:
        for d in tqdm(dialogues, desc="turns", unit="call"):
            caller = sf.read(d.audio, dtype="float32", always_2d=True)[0][:, 0]
            rng = random.Random(f"{seed}/{d.id}")
            examples = (turn_examples(d, rng) if vad is None else
                        turn_examples(d, rng, lead_max_s=LEAD_S, stops_s=speech_stops(caller, vad)))
            for utt, clip_start in examples:
                rel = Path("audio") / d.split / f"{utt.id}.flac"
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                a = int(round(clip_start * SAMPLE_RATE))
                clip = caller[a:a + int(round(utt.duration * SAMPLE_RATE))]
                sf.write(out / rel, np.asarray(clip), SAMPLE_RATE, subtype="PCM_16")
                f.write(utt.model_copy(update={"audio": str(rel)}).model_dump_json() + "\n")
                counts[utt.domain] += 1
    return {"manifest": str(path), "examples": sum(counts.values()), "by_category": dict(counts)}
