"""Flat-memory benchmark: a streaming recognizer (or the streaming encoder alone) over a long stream.

Real speech (the first 50 clips of a manifest, looped) goes through a recognizer stream —
``trade`` by default — or through ``StreamingLogMel`` and the bundled Whisper tiny.en encoder as
a ``StreamingEncoder`` (``encoder``), ``chunk_ms`` at a time. Every simulated minute it records
the process RSS and the stream's ``state_size()`` (caches, buffers, kept tokens). Bounded state
means those stop growing after the first chunks and RSS stays flat after warm-up (allocator
noise aside).
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


def rss_mb() -> float:
    """Current resident set size (not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class EncoderStream:
    """The streaming front end and encoder alone, with the stream interface the benchmark feeds."""

    def __init__(self, encoder: AudioEncoder, chunk_ms: int, left_chunks: int):
        self.mel, self.enc = StreamingLogMel(), StreamingEncoder(encoder, chunk_ms // 20, left_chunks, chunk_ms // 20)
        self.frames_out = 0

    def push(self, pcm: np.ndarray):
        self.frames_out += self.enc.push(self.mel.push(pcm)).shape[1]

    def state_size(self) -> dict[str, int]:
        return {**self.enc.state_size(), "encoder_frames": self.frames_out}


def memory_over_stream(clips: list[np.ndarray], minutes: float, chunk_ms: int, stream, name: str) -> dict:
    """Stream ``minutes`` of the clips, looped, through ``stream`` (``push(pcm)``, ``state_size()``)."""
    source, pending = cycle(clips), np.zeros(0, np.float32)
    step, total = SAMPLE_RATE * chunk_ms // 1000, int(minutes * 60 * SAMPLE_RATE)
    samples = []
    started, pushed = time.perf_counter(), 0
    with tqdm(total=-(-total // step), unit="chunk", desc=f"{name}, {minutes:g} min") as bar:
        while pushed < total:
            while len(pending) < step:
                pending = np.concatenate([pending, next(source)])
            pcm, pending = pending[:step], pending[step:]
            stream.push(pcm)
            pushed += step
            bar.update()
            if pushed % (60 * SAMPLE_RATE) < step:  # once a simulated minute
                samples.append({"minute": round(pushed / SAMPLE_RATE / 60, 2), "rss_mb": round(rss_mb(), 1),
                                **stream.state_size()})
    elapsed = time.perf_counter() - started
    rss = [s["rss_mb"] for s in samples]
    after_warmup = rss[1:] or rss
    state = {k: max(s[k] for s in samples) for k in samples[0] if k not in ("minute", "rss_mb")}
    return {"stream": name, "minutes": minutes, "chunk_ms": chunk_ms, "rtf": round(elapsed / (pushed / SAMPLE_RATE), 4),
            "rss_first_minute_mb": rss[0], "rss_last_minute_mb": rss[-1],
            "rss_growth_after_minute_1_mb": round(max(after_warmup) - min(after_warmup), 1),
            "state_max": state, "state_last": {k: samples[-1][k] for k in state}, "samples": samples}


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
    ax.set_title(f"{result['stream']}, {result['chunk_ms']} ms chunks")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(manifest: Path, minutes: float, chunk_ms: int, recognizer: str, out: Path, options: dict | None = None) -> dict:
    """``recognizer``: a registered streaming recognizer, or ``encoder`` for the bundled Whisper
    encoder alone (4 left chunks)."""
    out.mkdir(parents=True, exist_ok=True)
    clips = [load_audio(u.audio) for u in read_manifest(manifest)[:50]]
    if recognizer == "encoder":
        from asr.models.whisper.load import load_whisper

        stream = EncoderStream(load_whisper().encoder.eval(), chunk_ms, left_chunks=4)
    else:
        from asr.recognizer import create_recognizer

        stream = create_recognizer(recognizer, chunk_ms=chunk_ms, **(options or {})).stream()
    result = memory_over_stream(clips, minutes, chunk_ms, stream, recognizer)
    (out / "memory.json").write_text(json.dumps(result, indent=2))
    plot(result, out / "memory.png")
    return result
