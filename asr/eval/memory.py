"""Flat-memory benchmark: the streaming front end and encoder over a long stream.

Real speech (the first 50 clips of a manifest, looped) goes through ``StreamingLogMel`` and the bundled
Whisper tiny.en encoder as a ``StreamingEncoder``, ``chunk_ms`` at a time. Every simulated
minute it records the process RSS, the KV-cache size and the buffered mel frames. Bounded
state means the cache and buffers stop growing after the first N_l chunks and RSS stays flat
after warm-up (allocator noise aside).
"""

from __future__ import annotations

import json
import os
import time
from itertools import cycle
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asr.audio import SAMPLE_RATE, load_audio
from asr.data.manifest import read_manifest
from asr.features import StreamingLogMel
from asr.models.whisper.model import AudioEncoder, StreamingEncoder

ENCODER_FRAMES_PER_S = 50


def rss_mb() -> float:
    """Current resident set size (not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_over_stream(clips: list[np.ndarray], minutes: float, chunk_ms: int, left_chunks: int,
                       encoder: AudioEncoder | None = None) -> dict:
    """Stream ``minutes`` of the clips, looped, through the front end and ``encoder``
    (default: the bundled Whisper tiny.en encoder)."""
    if encoder is None:
        from asr.models.whisper.load import load_whisper

        encoder = load_whisper().encoder.eval()
    chunk_frames = chunk_ms // 20
    mel, enc = StreamingLogMel(), StreamingEncoder(encoder, chunk_frames, left_chunks)
    source, pending = cycle(clips), np.zeros(0, np.float32)
    step, total = SAMPLE_RATE * chunk_ms // 1000, int(minutes * 60 * SAMPLE_RATE)
    samples = []
    started, pushed, frames_out = time.perf_counter(), 0, 0
    with tqdm(total=-(-total // step), unit="chunk", desc=f"streaming encoder, {minutes:g} min") as bar:
        while pushed < total:
            while len(pending) < step:
                pending = np.concatenate([pending, next(source)])
            pcm, pending = pending[:step], pending[step:]
            frames_out += enc.push(mel.push(pcm)).shape[1]
            pushed += step
            bar.update()
            if pushed % (60 * SAMPLE_RATE) < step:  # once a simulated minute
                cache = sum(k.numel() + v.numel() for kv in enc.cache if kv for k, v in [kv])
                samples.append({"minute": round(pushed / SAMPLE_RATE / 60, 2), "rss_mb": round(rss_mb(), 1),
                                "kv_cache_floats": cache, "mel_buffer_frames": enc.mel.shape[1],
                                "encoder_frames": frames_out})
    elapsed = time.perf_counter() - started
    rss = [s["rss_mb"] for s in samples]
    after_warmup = rss[1:] or rss
    return {"minutes": minutes, "chunk_ms": chunk_ms, "left_chunks": left_chunks,
            "encoder_frames": frames_out, "expected_frames": int(pushed / SAMPLE_RATE * ENCODER_FRAMES_PER_S) - 2
            * chunk_frames, "rtf": round(elapsed / (pushed / SAMPLE_RATE), 4),
            "rss_first_minute_mb": rss[0], "rss_last_minute_mb": rss[-1],
            "rss_growth_after_minute_1_mb": round(max(after_warmup) - min(after_warmup), 1),
            "kv_cache_floats_max": max(s["kv_cache_floats"] for s in samples),
            "kv_cache_floats_last": samples[-1]["kv_cache_floats"], "samples": samples}


def plot(result: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["samples"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot([x["minute"] for x in s], [x["rss_mb"] for x in s], marker=".", label="process RSS (MB)")
    ax.set_xlabel("stream time (minutes)")
    ax.set_ylabel("MB")
    ax.set_ylim(0, max(x["rss_mb"] for x in s) * 1.2)
    ax.set_title(f"streaming encoder, {result['chunk_ms']} ms chunks, {result['left_chunks']} left chunks")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(manifest: Path, minutes: float, chunk_ms: int, left_chunks: int, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    clips = [load_audio(u.audio) for u in read_manifest(manifest)[:50]]
    result = memory_over_stream(clips, minutes, chunk_ms, left_chunks)
    (out / "memory.json").write_text(json.dumps(result, indent=2))
    plot(result, out / "memory.png")
    return result
