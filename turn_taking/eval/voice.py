"""The voice-end model's scores for cached traces (``turn_taking.voice_end``).

The encoder's pooled states at every pause the detectors' VAD heard are cached per split beside
the traces (they depend on the audio, the VAD and the pooling alone); a head turns them into
turn scores in a moment, so heads fit on other dialogues (``out_of_fold``) cost nothing to compare.
Each pause's encoder time is cached with it: a score reaches the detectors that long after
``HEARD_S``, as it reaches the agent's once its thread has run the model.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from asr.audio import SAMPLE_RATE
from turn_taking.data.labels import Dialogue
from turn_taking.trace import CallerTrace, PeerScore, caller_channel, speech_regions
from turn_taking.voice_end import HEARD_S, NAME, POOLING, Head, VoiceEncoder, onsets_heard


class PauseFeatures(NamedTuple):
    onsets: np.ndarray  # (n,) silence onsets
    x: np.ndarray  # (n, width) the encoder's features at each
    compute_s: np.ndarray  # (n,) seconds the encoder took for each


Pauses = dict[str, PauseFeatures]  # by dialogue id


def features_cache(traces_folder: Path, labels: Path) -> Path:
    """Where a split's encoder features are cached: beside its traces."""
    return traces_folder / f"{labels.stem}-voice.npz"


def pause_features(dialogues: list[Dialogue], traces: dict[str, CallerTrace], cache: Path) -> Pauses:
    """The encoder's features at each pause of each traced dialogue, and the time it took, from
    ``cache`` (an .npz) where it holds them for the same audio, VAD and pooling, computed and added
    otherwise. Time them with nothing else running: the timings are the scores' arrival."""
    from tqdm import tqdm

    held = dict(np.load(cache)) if cache.exists() else {}
    if str(held.pop("pooling", "")) != POOLING:  # written for another pooling: none of it serves
        held = {}
    out, todo = {}, []
    for d in dialogues:
        if (t := traces.get(d.id)) is None:
            continue
        key = f"{d.id}:{t.audio_sha1}:{hash_vad(t)}"
        if f"{key}/compute_s" in held:
            out[d.id] = PauseFeatures(*(held[f"{key}/{f}"] for f in PauseFeatures._fields))
        else:
            todo.append((d, t, key))
    if todo:
        encoder = VoiceEncoder()
        for d, t, key in tqdm(todo, desc=f"voice features {cache.name}", unit="dialogue"):
            audio = caller_channel(d.audio)
            onsets = np.asarray(onsets_heard(speech_regions(np.asarray(t.vad), t.duration), t.duration))
            x, compute = np.zeros((len(onsets), encoder.width), np.float32), np.zeros(len(onsets))
            for i, o in enumerate(onsets):
                began = time.perf_counter()
                x[i] = encoder.features(audio[:round((o + HEARD_S) * SAMPLE_RATE)])
                compute[i] = time.perf_counter() - began
            out[d.id] = PauseFeatures(onsets, x, compute)
            held.update({f"{key}/{f}": v for f, v in out[d.id]._asdict().items()})
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache.with_suffix(".tmp.npz"), pooling=POOLING, **held)
        cache.with_suffix(".tmp.npz").replace(cache)
    return out


def hash_vad(trace: CallerTrace) -> str:
    return hashlib.sha1(np.asarray(trace.vad, np.float32).tobytes()).hexdigest()[:10]


def attach(traces: dict[str, CallerTrace], pauses: Pauses, heads: Head | dict[str, Head]):
    """Each trace's voice-end scores (``trace.peers['voice_end']``) by ``heads``: one head, or one per
    dialogue id (``out_of_fold``)."""
    for id_, (onsets, x, compute) in pauses.items():
        head = heads[id_] if isinstance(heads, dict) else heads
        p = head(x) if len(x) else []
        traces[id_].peers[NAME] = [PeerScore(onset=float(o), offset=HEARD_S, p=round(float(q), 4),
                                             compute_s=round(float(c), 4)) for o, q, c in zip(onsets, p, compute)]


def labelled(dialogues: list[Dialogue], pauses: Pauses) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features, 1 for a turn's end / 0 for a hold, dialogue id) of every pause inside a labelled
    silence once ``HEARD_S`` of it was heard; pauses nobody labelled are left out."""
    from turn_taking.learn import label_at

    xs, ys, ids = [], [], []
    for d in dialogues:
        if d.id not in pauses:
            continue
        silences = sorted(d.silences, key=lambda s: s.start)
        for onset, x in zip(pauses[d.id].onsets, pauses[d.id].x):
            if (y := label_at(silences, onset + HEARD_S)) is not None:
                xs.append(x), ys.append(y), ids.append(d.id)
    width = next((p.x.shape[1] for p in pauses.values() if len(p.x)), 0)
    return (np.stack(xs) if xs else np.zeros((0, width))), np.asarray(ys, np.float64), ids


def base_voice(voice: str) -> str:
    """The voice a dialogue's caller speaks with, without its variant and settings."""
    return voice.split("?")[0].split("+")[0]


def out_of_fold(dialogues: list[Dialogue], pauses: Pauses) -> dict[str, Head]:
    """A head per dialogue, fit on the other voices' dialogues only: scores for fitting a policy on
    these same dialogues that are as good as on a voice the head never heard, not better."""
    x, y, ids = labelled(dialogues, pauses)
    voice_of = {d.id: base_voice(d.caller_voice) for d in dialogues}
    voices = np.array([voice_of[i] for i in ids])
    for v in sorted(set(voices)):
        if len(set(y[voices != v])) < 2:
            raise ValueError(f"the pauses of the callers not in voice {v} are all holds or all ends: fitting a "
                             "policy on the voice-end model needs dialogues in more caller voices")
    heads = {v: Head.fit(x[voices != v], y[voices != v]) for v in sorted(set(voices))}
    return {d.id: heads[voice_of[d.id]] for d in dialogues if voice_of[d.id] in heads}


def separation(dialogues: list[Dialogue], traces: dict[str, CallerTrace]) -> dict:
    """How well the attached voice-end scores tell the turns' ends from holds: the chance an end
    scores above a hold (AUC), over all pauses and by the caller's voice; and how long the
    encoder took a pause (p50, p90), which is how late each score arrives after ``HEARD_S``."""
    from turn_taking.learn import label_at

    by_voice: dict[str, tuple[list, list]] = {}
    compute = []
    for d in dialogues:
        silences = sorted(d.silences, key=lambda s: s.start)
        for s in traces[d.id].peers.get(NAME, []) if d.id in traces else []:
            compute.append(s.compute_s)
            if (y := label_at(silences, s.onset + s.offset)) is not None:
                by_voice.setdefault(base_voice(d.caller_voice), ([], []))[y].append(s.p)
    pooled = ([p for h, _ in by_voice.values() for p in h], [p for _, e in by_voice.values() for p in e])
    return {"holds": len(pooled[0]), "ends": len(pooled[1]), "auc": auc(*pooled),
            "by_voice": {v: auc(*he) for v, he in sorted(by_voice.items())},
            "compute_ms": {"pauses": len(compute), **({f"p{q}": round(1000 * float(np.percentile(compute, q)), 1)
                                                       for q in (50, 90)} if compute else {})}}


def auc(holds: list[float], ends: list[float]) -> float | None:
    """P(an end scores above a hold), ties counted half; None without both."""
    if not holds or not ends:
        return None
    h, e = np.asarray(holds)[None, :], np.asarray(ends)[:, None]
    return round(float(np.mean((e > h) + 0.5 * (e == h))), 4)
