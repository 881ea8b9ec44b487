"""Synthesise the recognition corpus: text → voices → augmentation → FLAC + JSONL manifests.

Layout under ``--out``::

    text/{train,dev,test}.jsonl      the text corpus (asr.data.text)
    audio/<split>/<shard>/<id>.flac  16 kHz mono PCM16
    train.jsonl dev.jsonl            manifests (asr.data.manifest)
    test.jsonl test-noisy.jsonl test-telephone.jsonl
    stats.json                       counts, hours, throughput

Utterance ``i`` of a split is a pure function of (seed, split, i): its sentence, voice and
augmentation are drawn from an RNG seeded with those, so an interrupted build resumes where its
manifest ends and reproduces the same corpus.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from asr import augment
from asr.audio import SAMPLE_RATE
from asr.data import text as corpus_text
from asr.data.catalogue import ESPEAK_TEST_BASES, ESPEAK_TRAIN_BASES, sample_voice, voice_family
from asr.data.jsonl import complete_lines
from asr.data.manifest import Utterance, WordTiming
from asr.normalize import normalize
from asr.voices import Speech, load_voice

TEST_VARIANTS = ("noisy", "telephone")


@dataclass
class BuildConfig:
    out: Path
    hours: dict[str, float]  # split → hours of clean audio
    seed: int = 0
    sentences: int = 120_000  # template sentences drawn for the text corpus
    llm_sentences: int = 0
    augment_p: float = 0.5  # share of training utterances augmented
    workers: int = 2


# ---------------------------------------------------------------- one utterance (in a worker)

DOMAIN_WEIGHTS = {"customer_service": 0.6, "everyday": 0.2, "read": 0.2}
_SENTENCES: dict[str, list[corpus_text.Sentence]] = {}
_BY_DOMAIN: dict[str, dict[str, list[corpus_text.Sentence]]] = {}
_VOICES: dict[str, object] = {}


def _init_worker(sentences: dict[str, list[corpus_text.Sentence]]) -> None:
    _SENTENCES.update(sentences)
    for split, items in sentences.items():
        for s in items:
            _BY_DOMAIN.setdefault(split, {}).setdefault(s.domain, []).append(s)


def _voice(spec: str):
    if spec not in _VOICES:
        _VOICES[spec] = load_voice(spec)
    return _VOICES[spec]


def _babble(split: str, rng: random.Random) -> list[np.ndarray]:
    bases = ESPEAK_TEST_BASES if split == "test" else ESPEAK_TRAIN_BASES
    return [_voice(f"espeak:{rng.choice(bases)}?rate={rng.randint(140, 190)}").synthesize(
        rng.choice(_SENTENCES[split]).spoken).audio for _ in range(3)]


def _write(out: Path, split: str, uid: str, audio: np.ndarray) -> str:
    rel = Path("audio") / split / uid.split("-")[1][:4] / f"{uid}.flac"
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    sf.write(out / rel, np.clip(audio, -1, 1), SAMPLE_RATE, subtype="PCM_16")
    return str(rel)


def _row(uid, rel, sentence, spoken: Speech, voice, split, aug, scale=1.0) -> Utterance:
    return Utterance(
        id=uid, audio=rel, text=sentence.written, spoken=sentence.spoken,
        normalized=normalize(sentence.spoken), duration=round(len(spoken.audio) / SAMPLE_RATE, 3),
        voice=voice, domain=sentence.domain, source=sentence.source, split=split, augmentation=aug,
        words=[WordTiming(word=w.text, start=round(w.start_s * scale, 3), end=round(w.end_s * scale, 3))
               for w in spoken.words])


def make_utterance(args: tuple[Path, int, str, int, float]) -> list[tuple[str, Utterance]]:
    """(manifest, row) for utterance ``index`` of ``split`` and its test variants; [] if the
    synthesiser's word timings did not match the text (the utterance is skipped)."""
    out, seed, split, index, augment_p = args
    rng = random.Random(f"{seed}/{split}/{index}")
    by_domain = _BY_DOMAIN[split]
    domains = sorted(by_domain)
    domain = rng.choices(domains, [DOMAIN_WEIGHTS.get(d, 0.1) for d in domains])[0]
    sentence = rng.choice(by_domain[domain])
    voice = sample_voice(split, rng)
    speech = _voice(voice).synthesize(sentence.spoken)
    if not speech.words or len(speech.audio) == 0:
        return []
    uid = f"{split}-{index:07d}"
    rows = []
    aug = augment.random_augmentation(rng) if split == "train" and rng.random() < augment_p else None
    audio = speech.audio
    if aug is not None:
        babble = _babble(split, rng) if aug.noise == "babble" else []
        audio = augment.apply(audio, aug, babble)
    rows.append((split, _row(uid, _write(out, split, uid, audio), sentence, Speech(audio, speech.words),
                             voice, split, aug, 1.0 / (aug.speed if aug else 1.0))))
    if split == "test":
        for variant in TEST_VARIANTS:
            vaug = (augment.random_augmentation(rng, telephone_p=0.0) if variant == "noisy"
                    else augment.Augmentation(telephone=True, seed=rng.randrange(2 ** 31)))
            vaug.speed = 1.0  # test copies keep the clean timing
            babble = _babble(split, rng) if vaug.noise == "babble" else []
            vaudio = augment.apply(speech.audio, vaug, babble)
            name, vid = f"{split}-{variant}", f"{uid}-{variant}"
            rows.append((name, _row(vid, _write(out, name, vid, vaudio), sentence,
                                    Speech(vaudio, speech.words), voice, split, vaug)))
    return rows


# ---------------------------------------------------------------- the build


def _manifest_names(split: str) -> list[str]:
    return [split] + ([f"{split}-{v}" for v in TEST_VARIANTS] if split == "test" else [])


def _resume_point(out: Path, split: str) -> tuple[int, float]:
    """(next index, clean seconds done). A killed build may have written an utterance to some of
    the split's manifests and not the others; rows past the last index all of them hold are cut."""
    def index(line: str) -> int:
        return int(json.loads(line)["id"].split("-")[1])

    manifests = {name: complete_lines(out / f"{name}.jsonl") for name in _manifest_names(split)}
    next_index = min((index(lines[-1]) + 1 if lines else 0) for lines in manifests.values())
    for name, lines in manifests.items():
        kept = [line for line in lines if index(line) < next_index]
        if len(kept) < len(lines):
            (out / f"{name}.jsonl").write_text("".join(line + "\n" for line in kept))
        manifests[name] = kept
    return next_index, sum(json.loads(line)["duration"] for line in manifests[split])


def text_corpus(cfg: BuildConfig) -> dict[str, list[corpus_text.Sentence]]:
    text_dir = cfg.out / "text"
    if all((text_dir / f"{s}.jsonl").exists() for s in corpus_text.SPLITS):
        return {s: corpus_text.read_corpus(text_dir / f"{s}.jsonl") for s in corpus_text.SPLITS}
    extra = corpus_text.llm_sentences(cfg.llm_sentences, cfg.seed, cfg.out / "smollm2.jsonl") \
        if cfg.llm_sentences else []
    splits = corpus_text.build_corpus(cfg.sentences, cfg.seed, extra=extra)
    corpus_text.write_corpus(splits, text_dir)
    return splits


def build(cfg: BuildConfig) -> dict:
    cfg.out.mkdir(parents=True, exist_ok=True)
    sentences = text_corpus(cfg)
    started, produced = time.perf_counter(), 0.0
    ctx = get_context("fork")
    with ctx.Pool(cfg.workers, initializer=_init_worker, initargs=(sentences,)) as pool:
        for split, hours in cfg.hours.items():
            index, done = _resume_point(cfg.out, split)
            target = hours * 3600
            files = {name: (cfg.out / f"{name}.jsonl").open("a") for name in _manifest_names(split)}
            bar = tqdm(total=round(target), initial=round(min(done, target)), unit="s audio",
                       desc=f"{split} ({hours:g} h)", bar_format="{l_bar}{bar}| {n:.0f}/{total} s audio [{elapsed}<{remaining}]")
            try:
                while done < target:
                    batch = [(cfg.out, cfg.seed, split, i, cfg.augment_p) for i in range(index, index + 8 * cfg.workers)]
                    index += len(batch)
                    for rows in pool.imap(make_utterance, batch, chunksize=4):
                        for name, row in rows:
                            files[name].write(row.model_dump_json(exclude_none=True) + "\n")
                        if rows:  # the clean utterance comes first
                            seconds = rows[0][1].duration
                            done, produced = done + seconds, produced + seconds
                            bar.update(seconds)
                    for f in files.values():
                        f.flush()
            finally:
                bar.close()
                for f in files.values():
                    f.close()
    stats = corpus_stats(cfg.out)
    wall = time.perf_counter() - started
    stats["last_run"] = {"clean_audio_s": round(produced, 1), "wall_s": round(wall, 1),
                         "x_real_time": round(produced / wall, 1) if wall else None,
                         "workers": cfg.workers}
    (cfg.out / "stats.json").write_text(json.dumps(stats, indent=2))
    return stats


def corpus_stats(out: Path) -> dict:
    """Counts and hours per manifest, voice family, domain and source."""
    stats: dict = {"text": {}, "manifests": {}}
    for s in corpus_text.SPLITS:
        path = out / "text" / f"{s}.jsonl"
        if path.exists():
            stats["text"][s] = len(complete_lines(path))
    for path in sorted(out.glob("*.jsonl")):
        if path.name == "smollm2.jsonl":
            continue
        rows = [json.loads(line) for line in complete_lines(path)]
        hours = lambda key: {k: round(v / 3600, 3) for k, v in _sum_by(rows, key).items()}  # noqa: E731
        stats["manifests"][path.stem] = {
            "utterances": len(rows), "hours": round(sum(r["duration"] for r in rows) / 3600, 3),
            "voices": len({r["voice"] for r in rows}),
            "hours_by_family": hours(lambda r: voice_family(r["voice"])),
            "hours_by_domain": hours(lambda r: r["domain"]),
            "by_source": dict(Counter(r["source"] for r in rows)),
            "augmented": sum(1 for r in rows if r.get("augmentation")),
        }
    return stats


def _sum_by(rows, key) -> dict[str, float]:
    out: Counter = Counter()
    for r in rows:
        out[key(r)] += r["duration"]
    return dict(out)


# ---------------------------------------------------------------- synthesis speed


def _synth_seconds(job: tuple[str, str]) -> float:
    voice, text = job
    return len(_voice(voice).synthesize(text).audio) / SAMPLE_RATE


def synthesis_speed(families: list[str], n: int = 200, workers: int = 2, seed: int = 0) -> dict:
    """Audio seconds synthesised per wall second by the training voices of ``families``."""
    rng = random.Random(seed)
    sentences = corpus_text.build_corpus(2000, seed, wordnet=False)["train"]
    jobs = []
    while len(jobs) < n:
        voice = sample_voice("train", rng)
        if voice_family(voice) in families:
            jobs.append((voice, rng.choice(sentences).spoken))
    with get_context("fork").Pool(workers) as pool:
        pool.map(_synth_seconds, jobs[:workers * 2])  # load models in every worker first
        started = time.perf_counter()
        audio_s = sum(tqdm(pool.imap_unordered(_synth_seconds, jobs), total=n, desc="synthesis"))
        wall = time.perf_counter() - started
    return {"families": families, "utterances": n, "audio_s": round(audio_s, 1), "wall_s": round(wall, 2),
            "x_real_time": round(audio_s / wall, 1), "workers": workers}
