"""``python -m asr eval``: one recognizer over manifests → WER, emission latency, RTF, RSS.

Streaming recognizers are fed each clip as a live call delivers it, in ``PUSH_MS`` transport
frames (pipecat and LiveKit deliver 10–20 ms); each decodes whenever it holds a chunk (plus
whatever look-ahead it needs). A push starts when its frame has fully arrived and the previous
push has finished, so a recognizer slower than real time falls behind and its latency shows
it. A word's emission time is the moment
the push that committed it finished; its latency is that time minus the word's true end
(manifest timings). An offline recognizer emits every word once the whole clip has arrived
and been decoded (``duration + decode time``). Latency counts the reference words the
hypothesis got right: both sides are normalised word by word and aligned. Sentence-end
latency is the emission time of the last sentence-end mark minus the end of the last word; its
*stamp* is the audio time the model placed the mark at minus that end (TRADE's EOU latency: what
the model knew, before chunking, look-ahead and compute delay its delivery).

A live call does not stop when the caller does: streams get ``TAIL_S`` of silence after each
clip before ``finish``, so a word or sentence end counts from when the recognizer gave it out
while listening, not from the end-of-stream flush. The frame delay (the audio time a word's
last token was emitted at, minus the word's true end) is the model's own share of the latency;
the rest is chunking, look-ahead, committing and compute.

``join`` > 1 plays that many consecutive utterances as one stream with ``JOIN_GAP_S`` pauses
(the long-stream test: WER should hold as streams grow). ``lead_s`` starts every stream with
that much silence (a stream opened before the caller speaks: accuracy should not depend on it).
``vad`` hears every stream as the agent hears a call: Silero VAD opens a recognizer stream per
stretch of speech (``asr.utterances.VADUtterances``); compare with the same run without it.
Such a run also reports when the VAD *heard* the end of speech (its first pause or stop known
after the last word's true end): a sentence end cannot reach turn-taking sooner, so its arrival
splits into the VAD's share and the decode's.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asr.audio import SAMPLE_RATE, load_audio
from asr.data.join import join_utterances, lead_with_silence
from asr.data.manifest import Utterance, WordTiming, read_manifest
from asr.eval.wer import ErrorCounts, alignment, word_errors
from asr.events import Final, SentenceEnd, Word, ends_sentence
from asr.normalize import normalize
from asr.recognizer import Recognizer, StreamingRecognizer, create_recognizer, feed_live
from asr.utterances import VADStream, VADUtterances
from asr.vad import STOP_MS

PUSH_MS = 20
TAIL_S = 1.0
JOIN_GAP_S = 0.5


@dataclass
class Decoded:
    """One clip's result: committed words (``emitted_s`` on the simulated live clock)."""

    words: list[Word]
    sentence_ends: list[SentenceEnd]
    compute_s: float
    silences_heard_s: list[float] = field(default_factory=list)  # VAD-driven: each pause or stop, when known

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def decode_live(rec: StreamingRecognizer, audio: np.ndarray, push_ms: int = PUSH_MS, tail_s: float = TAIL_S) -> Decoded:
    """Stream a clip and ``tail_s`` of silence through ``rec`` in real-time order, ``push_ms``
    per push, then finish."""
    compute = 0.0
    words, ends = [], []
    audio = np.concatenate([audio, np.zeros(int(tail_s * SAMPLE_RATE), np.float32)])
    stream = rec.stream()
    for clock, elapsed, events in feed_live(stream, audio, push_ms):
        compute += elapsed
        for e in events:
            if isinstance(e, Final):
                for w in e.words:
                    w.emitted_s = clock
                words += e.words
            elif isinstance(e, SentenceEnd):
                ends.append(SentenceEnd(e.mark, e.time_s, clock))
    return Decoded(words, ends, compute, stream.silences_heard_s if isinstance(stream, VADStream) else [])


def decode_offline(rec: Recognizer, audio: np.ndarray) -> Decoded:
    started = time.perf_counter()
    t = rec.transcribe(audio)
    elapsed = time.perf_counter() - started
    done = len(audio) / SAMPLE_RATE + elapsed
    for w in t.words:
        w.emitted_s = done
    text = t.text.strip()
    ends = [SentenceEnd(text[-1], t.words[-1].end_s if t.words else len(audio) / SAMPLE_RATE, done)
            ] if ends_sentence(text) else []
    return Decoded(t.words, ends, elapsed)


def word_latencies(reference: list[WordTiming], hypothesis: list[Word]) -> tuple[list[float], list[float]]:
    """(emission time − true end, hypothesis end time − true end) for each reference word the
    hypothesis matched."""
    ref = [(tok, w.end) for w in reference for tok in normalize(w.word).split()]
    hyp = [(tok, w) for w in hypothesis for tok in normalize(w.text).split()]
    pairs = [(i, j) for i, j in alignment([t for t, _ in ref], [t for t, _ in hyp])
             if i is not None and j is not None and ref[i][0] == hyp[j][0]]
    return [hyp[j][1].emitted_s - ref[i][1] for i, j in pairs], [hyp[j][1].end_s - ref[i][1] for i, j in pairs]


def _percentiles(values: list[float], *qs: int) -> list[int | None]:
    return [round(float(np.percentile(values, q)) * 1000) if values else None for q in qs]


@dataclass
class EvalResult:
    recognizer: str
    manifest: str
    chunk_ms: int | None
    join: int = 1  # utterances per stream
    lead_s: float = 0.0  # silence before each stream's speech
    utterances: int = 0  # streams: utterances / join
    audio_s: float = 0.0
    errors: ErrorCounts = field(default_factory=ErrorCounts)
    compute_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list, repr=False)
    frame_delays_s: list[float] = field(default_factory=list, repr=False)
    peak_rss_mb: float = 0.0
    realtime_streams: int | None = None
    realtime_lag_p95_ms: dict[int, int] | None = None  # streams → p95 chunk lag (ms)
    # one row per stream; the sentence-end and VAD figures are read from these alone, so a run's
    # results and ``--compare`` on its rows give the same percentiles
    per_utterance: list[dict] = field(default_factory=list, repr=False)

    def add(self, u: Utterance, d: Decoded):
        self.utterances += 1
        self.audio_s += u.duration
        self.compute_s += d.compute_s
        errors = word_errors(u.spoken, d.text)
        self.errors = self.errors + errors
        row = {"id": u.id, "voice": u.voice, "reference": u.text, "hypothesis": d.text, **asdict(errors)}
        self.per_utterance.append(row)
        latencies, frame_delays = word_latencies(u.words, d.words)
        self.latencies_s += latencies
        self.frame_delays_s += frame_delays
        # per utterance too, so a percentile's tail can be read back to the clips that make it
        if d.sentence_ends and u.words:
            row["sentence_end_ms"] = round(1000 * (d.sentence_ends[-1].emitted_s - u.words[-1].end))
            if self.chunk_ms:  # offline, the whole clip is heard before anything is placed
                row["sentence_end_stamp_ms"] = round(1000 * (d.sentence_ends[-1].time_s - u.words[-1].end))
        if heard := [t for t in d.silences_heard_s if u.words and t >= u.words[-1].end]:
            row["vad_heard_ms"] = [round(1000 * (t - u.words[-1].end)) for t in heard]  # each pause, then the stop

    def _seconds(self, key: str) -> list[float]:
        """A per-utterance field in seconds, over the rows that have it (``vad_heard_ms``: the
        first silence heard after the end)."""
        values = [r[key] for r in self.per_utterance if key in r]
        return [(v[0] if isinstance(v, list) else v) / 1000 for v in values]

    def summary(self) -> dict:
        lat = self.latencies_s
        p50, p95 = _percentiles(lat, 50, 95)
        marked = self._seconds("sentence_end_ms")
        s50, s90 = _percentiles(marked, 50, 90)
        f50, f95 = _percentiles(self.frame_delays_s, 50, 95)
        t50, t90 = _percentiles(self._seconds("sentence_end_stamp_ms"), 50, 90)
        h50, h90 = _percentiles(self._seconds("vad_heard_ms"), 50, 90)
        return {"recognizer": self.recognizer, "manifest": self.manifest, "chunk_ms": self.chunk_ms, "join": self.join,
                "lead_s": self.lead_s, "utterances": self.utterances, "audio_s": round(self.audio_s, 1),
                "wer": round(self.errors.wer, 4), **asdict(self.errors),
                "rtf": round(self.compute_s / max(self.audio_s, 1e-9), 4),
                "latency_mean_ms": round(float(np.mean(lat)) * 1000) if lat else None,
                "latency_p50_ms": p50, "latency_p95_ms": p95, "latency_words": len(lat),
                "frame_delay_p50_ms": f50, "frame_delay_p95_ms": f95,
                "sentence_end_p50_ms": s50, "sentence_end_p90_ms": s90,
                "sentence_end_stamp_p50_ms": t50, "sentence_end_stamp_p90_ms": t90,
                "sentence_end_found": round(len(marked) / max(1, self.utterances), 3),
                "vad_heard_end_p50_ms": h50, "vad_heard_end_p90_ms": h90,
                "realtime_streams": self.realtime_streams,
                "realtime_lag_p95_ms": self.realtime_lag_p95_ms, "peak_rss_mb": round(self.peak_rss_mb)}


def joined(utterances: list[Utterance], n: int, lead_s: float = 0.0) -> Iterator[tuple[Utterance, np.ndarray]]:
    """Consecutive groups of ``n`` utterances as single streams (the last group may be shorter),
    each after ``lead_s`` of silence, loaded one at a time."""
    for i in range(0, len(utterances), n):
        group = utterances[i:i + n]
        yield lead_with_silence(*join_utterances(group, [JOIN_GAP_S] * (len(group) - 1)), lead_s)


def evaluate(recognizer: str | Recognizer, manifest: Path, limit: int | None = None, chunk_ms: int | None = None,
             concurrency: bool = False, join: int = 1, lead_s: float = 0.0, **options) -> EvalResult:
    """Score one recognizer (a registered name, or an instance) on the first ``limit`` utterances,
    ``join`` of them at a time, each stream after ``lead_s`` of silence."""
    utterances = read_manifest(manifest)[:limit]
    rec = recognizer if isinstance(recognizer, Recognizer) else \
        create_recognizer(recognizer, **({"chunk_ms": chunk_ms} if chunk_ms else {}), **options)
    rec.warmup()
    result = EvalResult(rec.name, str(manifest), chunk_ms, join, lead_s)
    desc = f"{rec.name}@{chunk_ms or 'offline'} on {Path(manifest).stem}{_variant(join, lead_s)}"
    for u, audio in tqdm(joined(utterances, join, lead_s), total=-(-len(utterances) // join), desc=desc, unit="stream"):
        result.add(u, decode_live(rec, audio) if chunk_ms else decode_offline(rec, audio))
    if concurrency and chunk_ms:
        from asr.eval.concurrency import realtime_streams

        audio = np.concatenate([load_audio(u.audio) for u in utterances[:12]])[: 20 * SAMPLE_RATE]
        found = realtime_streams(rec, audio, chunk_ms)
        result.realtime_streams, result.realtime_lag_p95_ms = found["streams"], found["lag_p95_ms"]
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def voice_groups(voice: str) -> list[str]:
    """The groups an utterance's voice counts in: its base voice, and its espeak variant if any
    ("espeak:en-us+m7?rate=150" → "espeak:en-us", "espeak +m7")."""
    spec = voice.split("?")[0]
    base, _, variant = spec.partition("+")
    return [base] + ([f"{base.split(':')[0]} +{variant}"] if variant else [])


def read_rows(path: Path) -> list[dict]:
    """A run's ``*.utterances.jsonl``: one dict per stream, as ``run`` wrote them."""
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def breakdown_by_voice(per_utterance: list[dict]) -> str:
    """Markdown WER table per voice group from a run's ``*.utterances.jsonl`` rows."""
    totals: dict[str, ErrorCounts] = {}
    counts: dict[str, int] = {}
    for r in per_utterance:
        e = ErrorCounts(r["substitutions"], r["deletions"], r["insertions"], r["reference_words"])
        for g in voice_groups(r["voice"]):
            totals[g] = totals.get(g, ErrorCounts()) + e
            counts[g] = counts.get(g, 0) + 1
    lines = ["| voice | utts | words | WER % |", "|---|---|---|---|"]
    for g in sorted(totals, key=lambda g: -totals[g].reference_words):
        lines.append(f"| {g} | {counts[g]} | {totals[g].reference_words} | {100 * totals[g].wer:.1f} |")
    return "\n".join(lines) + "\n"


def compare_sentence_ends(before: list[dict], after: list[dict]) -> str:
    """Markdown: two runs' sentence-end arrival on the same utterances, from their
    ``*.utterances.jsonl`` rows. Percentiles of two runs can move because different utterances
    get a mark; the paired rows say how the same utterance's mark moved, and how many marks came
    only after the VAD's stop was heard (the tail a pause decode cannot help)."""
    by_id = {r["id"]: r for r in after}
    if missing := [r["id"] for r in before if r["id"] not in by_id]:
        raise ValueError(f"{len(missing)} utterances of the first run are not in the second (e.g. {missing[0]}): "
                         "compare runs of the same manifest and --limit")

    runs = [(r, by_id[r["id"]]) for r in before]

    def marked(r: dict) -> bool:
        return "sentence_end_ms" in r

    def column(rows: list[dict]) -> list[str]:
        arrival = [r["sentence_end_ms"] / 1000 for r in rows if marked(r)]
        heard = [r for r in rows if marked(r) and r.get("vad_heard_ms")]
        at_stop = sum(r["sentence_end_ms"] >= r["vad_heard_ms"][-1] for r in heard)
        p50, p90 = _percentiles(arrival, 50, 90)
        return [f"{len(arrival)} of {len(rows)}", f"{p50} / {p90} ms", f"{at_stop} of {len(heard)}" if heard else "–"]

    lines = ["| sentence ends | first run | second run |", "|---|---|---|"]
    names = ["utterances with a mark", "arrival p50 / p90", "marks that came after the VAD's stop"]
    for name, a, b in zip(names, column([a for a, _ in runs]), column([b for _, b in runs])):
        lines.append(f"| {name} | {a} | {b} |")
    moved = [(b["sentence_end_ms"] - a["sentence_end_ms"]) / 1000 for a, b in runs if marked(a) and marked(b)]
    p10, p50, p90 = _percentiles(moved, 10, 50, 90)
    lines += ["", f"Paired, {len(moved)} utterances marked in both: the second run's arrival minus the first's "
                  f"p10 / p50 / p90 {p10} / {p50} / {p90} ms; sooner by over 20 ms in "
                  f"{sum(m < -0.02 for m in moved)}, later by over 20 ms in {sum(m > 0.02 for m in moved)}. "
                  f"Marked only in the first run: {sum(marked(a) and not marked(b) for a, b in runs)}; "
                  f"only in the second: {sum(marked(b) and not marked(a) for a, b in runs)}."]
    return "\n".join(lines) + "\n"


def _variant(join: int, lead_s: float) -> str:
    """How a run's streams differ from one utterance each, for tables: " ×10", " +0.7 s lead"."""
    return (f" ×{join}" if join > 1 else "") + (f" +{lead_s:g} s lead" if lead_s else "")


def markdown_table(rows: list[dict]) -> str:
    def ms(a, b):
        return f"{a} / {b}" if a is not None else "–"

    head = ("| recognizer | manifest | chunk ms | streams | WER % | RTF | word latency p50 / p95 ms | "
            "frame delay p50 / p95 ms | sentence end p50 / p90 ms | its stamp p50 / p90 ms | "
            "VAD heard the end p50 / p90 ms | real-time streams | peak RSS MB |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        variant = _variant(r.get("join", 1), r.get("lead_s", 0.0))
        lines.append(f"| {r['recognizer']} | {Path(r['manifest']).stem}{variant} | {r['chunk_ms'] or 'offline'} | "
                     f"{r['utterances']} | {100 * r['wer']:.2f} | {r['rtf']:.3f} | "
                     f"{ms(r['latency_p50_ms'], r['latency_p95_ms'])} | "
                     f"{ms(r.get('frame_delay_p50_ms'), r.get('frame_delay_p95_ms'))} | "
                     f"{ms(r['sentence_end_p50_ms'], r['sentence_end_p90_ms'])} | "
                     f"{ms(r.get('sentence_end_stamp_p50_ms'), r.get('sentence_end_stamp_p90_ms'))} | "
                     f"{ms(r.get('vad_heard_end_p50_ms'), r.get('vad_heard_end_p90_ms'))} | "
                     f"{r['realtime_streams'] if r['realtime_streams'] is not None else '–'} | {r['peak_rss_mb']} |")
    return "\n".join(lines) + "\n"


def run(recognizer: str, manifests: list[Path], out: Path, limit: int | None, chunks: list[int | None],
        concurrency: bool = False, options: dict | None = None, join: int = 1, lead_s: float = 0.0,
        vad: int | None = None, vad_pause: int | None = None) -> list[dict]:
    """Every manifest × chunk size; writes results.json and results.md (rewritten after each row)
    and each run's per-stream hypotheses and errors
    (``<manifest>-<chunk>[-x<join>][-lead<s>][-vad[<stop>]][-pause<ms>].utterances.jsonl``). With
    ``vad`` (the VAD's stop in ms) each stream is heard as in a call: VAD opens a recognizer stream
    per stretch of speech and reports each stop to it, and each pause of ``vad_pause`` ms too."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for c in chunks:
        rec = create_recognizer(recognizer, **({"chunk_ms": c} if c else {}), **(options or {}))
        if vad:
            rec = VADUtterances(rec, stop_ms=vad, pause_ms=vad_pause)
        for m in manifests:
            result = evaluate(rec, m, limit, c, concurrency, join, lead_s)
            rows.append(result.summary())
            suffix = (f"-x{join}" if join > 1 else "") + (f"-lead{lead_s:g}" if lead_s else "")
            suffix += f"-vad{'' if vad == STOP_MS else vad}" if vad else ""
            suffix += f"-pause{vad_pause}" if vad and vad_pause else ""
            with open(out / f"{Path(m).stem}-{c or 'offline'}{suffix}.utterances.jsonl", "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in result.per_utterance)
            (out / "results.json").write_text(json.dumps(rows, indent=2))
            (out / "results.md").write_text(markdown_table(rows))
    return rows
