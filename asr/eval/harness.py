"""``python -m asr eval``: one recognizer over one manifest → WER, emission latency, RTF, RSS.

Emission latency is measured per reference word: the stream time at which the recognizer
produced the word minus the word's true end (manifest timings). An offline recognizer produces
every word once the whole clip has arrived and been decoded, so its latency is
``duration + decode time − word end``; streaming recognizers report each word's own emission
time. Matching hypothesis words to reference words uses the normalised alignment's matches.
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asr.audio import load_audio
from asr.data.manifest import Utterance, read_manifest
from asr.eval.wer import ErrorCounts, word_errors
from asr.recognizer import create_recognizer


@dataclass
class EvalResult:
    recognizer: str
    manifest: str
    chunk_ms: int | None
    utterances: int
    audio_s: float
    errors: ErrorCounts
    compute_s: float
    latencies_s: list[float] = field(default_factory=list, repr=False)
    peak_rss_mb: float = 0.0

    def summary(self) -> dict:
        lat = np.array(self.latencies_s) if self.latencies_s else np.zeros(1)
        return {"recognizer": self.recognizer, "manifest": self.manifest, "chunk_ms": self.chunk_ms,
                "utterances": self.utterances, "audio_s": round(self.audio_s, 1),
                "wer": round(self.errors.wer, 4), **{k: v for k, v in asdict(self.errors).items()},
                "rtf": round(self.compute_s / self.audio_s, 4),
                "latency_mean_ms": round(float(lat.mean()) * 1000), "latency_p50_ms": round(float(np.median(lat)) * 1000),
                "latency_p95_ms": round(float(np.percentile(lat, 95)) * 1000),
                "peak_rss_mb": round(self.peak_rss_mb)}


def evaluate(recognizer: str, manifest: Path, limit: int | None = None, chunk_ms: int | None = None,
             **options) -> EvalResult:
    utterances = read_manifest(manifest)[:limit]
    rec = create_recognizer(recognizer, **({"chunk_ms": chunk_ms} if chunk_ms else {}), **options)
    rec.warmup()
    result = EvalResult(recognizer, str(manifest), chunk_ms, len(utterances), 0.0, ErrorCounts(), 0.0)
    for u in tqdm(utterances, desc=f"{recognizer} on {Path(manifest).stem}", unit="utt"):
        audio = load_audio(u.audio)
        started = time.perf_counter()
        transcript = rec.transcribe(audio)
        elapsed = time.perf_counter() - started
        result.audio_s += u.duration
        result.compute_s += elapsed
        result.errors = result.errors + word_errors(u.spoken, transcript.text)
        result.latencies_s += _offline_latencies(u, elapsed)
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _offline_latencies(u: Utterance, decode_s: float) -> list[float]:
    return [u.duration + decode_s - w.end for w in u.words]


def markdown_table(rows: list[dict]) -> str:
    head = "| recognizer | manifest | chunk | utts | WER % | RTF | latency p50 / p95 ms | peak RSS MB |"
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        lines.append(f"| {r['recognizer']} | {Path(r['manifest']).stem} | {r['chunk_ms'] or 'offline'} | "
                     f"{r['utterances']} | {100 * r['wer']:.2f} | {r['rtf']:.3f} | "
                     f"{r['latency_p50_ms']} / {r['latency_p95_ms']} | {r['peak_rss_mb']} |")
    return "\n".join(lines) + "\n"


def run(recognizer: str, manifests: list[Path], out: Path, limit: int | None, chunks: list[int | None]) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    rows = [evaluate(recognizer, m, limit, c).summary() for m in manifests for c in chunks]
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    (out / "results.md").write_text(markdown_table(rows))
    return rows
