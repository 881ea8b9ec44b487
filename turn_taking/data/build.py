"""Build dialogue splits in parallel and resumably: ``<out>/<split>.jsonl`` + stereo FLAC."""

from __future__ import annotations

import json
import time
from collections import Counter
from multiprocessing import get_context
from pathlib import Path

from tqdm import tqdm

from asr.data import text as corpus_text
from asr.data.jsonl import complete_lines
from turn_taking.data.dialogues import build_dialogue, write_dialogue
from turn_taking.data.labels import Dialogue

_STATE: dict = {}


def _init(out: Path, seed: int, sentences: dict[str, list[corpus_text.Sentence]]) -> None:
    _STATE.update(out=out, seed=seed, sentences=sentences)


def _one(job: tuple[str, int]) -> str:
    split, index = job
    audio, dialogue = build_dialogue(_STATE["seed"], split, index, _STATE["sentences"][split])
    return write_dialogue(_STATE["out"], audio, dialogue).model_dump_json(exclude_none=True)


def conversational_sentences(text_dir: Path | None, seed: int) -> dict[str, list[corpus_text.Sentence]]:
    """Statements and questions callers say, by split: from an asr text corpus or built here."""
    if text_dir is not None:
        splits = {s: corpus_text.read_corpus(text_dir / f"{s}.jsonl") for s in corpus_text.SPLITS}
    else:
        splits = corpus_text.build_corpus(20_000, seed, wordnet=False)
    return {s: [x for x in v if x.domain != "read" and len(x.spoken.split()) <= 25] for s, v in splits.items()}


def build(out: Path, counts: dict[str, int], seed: int = 0, workers: int = 2,
          text_dir: Path | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    sentences = conversational_sentences(text_dir, seed)
    started, made = time.perf_counter(), 0
    with get_context("fork").Pool(workers, initializer=_init, initargs=(out, seed, sentences)) as pool:
        for split, n in counts.items():
            path = out / f"{split}.jsonl"
            done = len(complete_lines(path))
            if done >= n:
                continue
            with path.open("a") as f:
                jobs = [(split, i) for i in range(done, n)]
                for line in tqdm(pool.imap(_one, jobs, chunksize=2), total=n, initial=done,
                                 desc=f"{split} dialogues", unit="call"):
                    f.write(line + "\n")
                    f.flush()
                    made += 1
    stats = dialogue_stats(out)
    wall = time.perf_counter() - started
    stats["last_run"] = {"dialogues": made, "wall_s": round(wall, 1), "workers": workers}
    (out / "stats.json").write_text(json.dumps(stats, indent=2))
    return stats


def dialogue_stats(out: Path) -> dict:
    stats = {}
    for path in sorted(out.glob("*.jsonl")):
        ds = [Dialogue.model_validate_json(line) for line in complete_lines(path)]
        stats[path.stem] = {
            "dialogues": len(ds), "hours": round(sum(d.duration for d in ds) / 3600, 2),
            "caller_voices": len({d.caller_voice for d in ds}),
            "silences": dict(Counter(s.label for d in ds for s in d.silences)),
            "hold_by_category": dict(Counter(s.category for d in ds for s in d.silences if s.label == "hold")),
            "eot_by_category": dict(Counter(s.category for d in ds for s in d.silences if s.label == "eot")),
            "overlaps": dict(Counter(o.label for d in ds for o in d.overlaps)),
        }
    return stats
