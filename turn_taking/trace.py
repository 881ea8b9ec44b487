"""What every detector could know about a caller, computed once per dialogue and cached.

Running the recognizer and the peer models is the expensive part of an evaluation; sweeping a
detector's thresholds is not. So ``trace_dialogue`` plays the caller channel once, as a live call
would hear it, and records:

* ``vad``: Silero's speech probability for every 32 ms window (the replay re-runs the segmenter);
* ``recognizer``: each streaming event (partial, final words, sentence end) and the LLM's
  end-of-sentence probability, stamped with the media time it would be available in a live
  call — the audio it needed had arrived *and* the compute on this machine had finished;
* ``segment_final`` events, with a ``final_recognizer``: the agent's hybrid
  (``stt.final_recognizer``), where an offline recognizer transcribes each stretch of speech the
  agent's VAD closes and its transcript, not the stream's words, is the caller's text;
* ``peers``: Smart Turn v3.2 (pipecat) and LiveKit turn detector v1-mini probabilities at fixed
  offsets after every silence onset, on the audio each framework would hand its model, stamped
  with no compute (in the peers' favour; the voice-end model's scores, which
  ``turn_taking.eval.voice`` adds, carry the compute they took).

The recognizer ``reference`` is no model: its events are the dialogue's own words, punctuated as
the labels write them, each committed as soon as the agent's pause decode could hear it
(``reference_events``). It is a perfect recognizer, to measure how much of a detector's shortfall
is the recognizer's. Its punctuation knows how the caller goes on (a comma at a hold, a period
at the end), which no recognizer hearing only the audio so far can: read it as a bound.

The recognizer hears the caller as the agent's STT processor does (``asr.utterances``): the
agent's VAD opens a stream 0.3 s before each stretch of speech, has it decode what it has at
each ``vad.pause_ms`` of silence and at the stop (``RecognizerStream.pause``), and has it closed
at the push after the stop. ``LISTENING`` is that setting (the agent's ``vad`` defaults); a trace
may change it (``VADUtterances`` keywords) to measure what each part is worth. The detectors read a faster VAD
(``VAD_PARAMS``) of their own.
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel

from asr.audio import SAMPLE_RATE
from asr.data.jsonl import complete_lines
from asr.events import Final, Partial, SentenceEnd
from asr.eval.harness import PUSH_MS
from asr.recognizer import Recognizer, StreamingRecognizer, feed_live
from asr.utterances import VADUtterances
from turn_taking.data.labels import Dialogue
from turn_taking.detectors.peers import PRE_SPEECH_S, PeerModels
from asr.vad import PAUSE_MS, POST_ROLL_MS, PRE_ROLL_MS, WINDOW_S, SileroVAD, speech_boundaries

TRACE_VERSION = 10  # 2: the recognizer hears the VAD's stops; 3: one stream per stretch of speech;
# 4: a pause's sentence end is announced once, however the stream later spells the words before it;
# 5: TRADE's decode is ~40 % cheaper (same words), and a trace times it; 6: a pause decode ends as
# the stream would (a last word's mark comes at the pause), a run of marks is one sentence end and a
# mark inside a word ("a.m.") none, and pauses after a sentence end are not decoded again; 7: the
# stream closes at the VAD stop itself (no pause decode there, no wait for the next push); 8: a new
# silence is decoded at its pause even when an earlier silence's pause ended a sentence and no chunk
# was decoded since; 9: where the audio ends (a pause decode, the close) the search may emit several
# symbols at the last frame; 10: the dialogues' callers read each turn in one breath (their ids are
# unchanged, so traces of the earlier build must not be reused; since then each trace records its
# audio's SHA-1 and a rebuild is traced again without a new version)
REFERENCE = "reference"  # the recognizer that reads the labels: a perfect one (``reference_events``)
LISTENING = {"pause_decode": True, "pause_ms": PAUSE_MS}  # how the agent's recognizer hears its VAD, by default (vad.*)
# the VAD every evaluated detector sees: fast stops so that policies, not the VAD, set the delay
VAD_PARAMS = {"confidence": 0.5, "start_ms": 64, "stop_ms": 96}
PEER_OFFSETS_S = (0.1, 0.2, 0.4)  # silence before a peer model is asked (pipecat/LiveKit use 0.2)
SMART_TURN_VAD_STOP_S, SMART_TURN_STOP_S = 0.2, 3.0  # pipecat's VAD stop for Smart Turn; its fallback silence


class RecognizerEvent(BaseModel):
    at: float  # media time the event is available
    kind: Literal["partial", "final", "sentence_end", "end_prob", "closed", "segment_final"]
    text: str = ""
    time: float | None = None  # audio time a sentence end belongs to; the speech end a segment final covers
    p: float | None = None
    closing: bool = False  # words of the decode that closed the stream's stretch of speech (then "closed")


class PeerScore(BaseModel):
    onset: float  # silence onset (VAD)
    offset: float  # seconds of silence the model heard
    p: float  # probability the turn is complete
    compute_s: float = 0.0  # the model's time to score it: known at onset + offset + compute_s


class CallerTrace(BaseModel):
    version: int = TRACE_VERSION
    id: str
    duration: float
    vad_window_s: float = WINDOW_S
    vad: list[float]
    recognizer: str
    final_recognizer: str | None = None
    events: list[RecognizerEvent]
    compute_s: float  # recognizer compute for the whole dialogue
    peers: dict[str, list[PeerScore]]
    audio_sha1: str = ""  # of the dialogue's audio file: a rebuild under the same id is traced again


def speech_regions(probs: np.ndarray, duration: float) -> list[tuple[float, float]]:
    """(speech start, silence onset) for each stretch of speech, by the detectors' VAD; an
    unfinished last one ends at ``duration``."""
    regions, start = [], None
    for b in speech_boundaries(probs, **VAD_PARAMS):
        if b.speaking:
            start = b.t_s
        elif start is not None:
            regions.append((start, b.t_s))
            start = None
    if start is not None:
        regions.append((start, duration))
    return regions


def peer_scores(audio: np.ndarray, regions: list[tuple[float, float]], models: PeerModels) -> dict[str, list[PeerScore]]:
    """Both peers at each offset of each silence that lasts that long. Smart Turn's segment
    starts 0.5 s before the first speech since it last said "complete" (at pipecat's VAD stop) or timed out."""
    out: dict[str, list[PeerScore]] = {"smart_turn": [], "livekit": []}
    seg_start = None
    for k, (start, onset) in enumerate(regions):
        seg_start = start if seg_start is None else seg_start
        resume = regions[k + 1][0] if k + 1 < len(regions) else len(audio) / SAMPLE_RATE
        complete = resume - onset >= SMART_TURN_STOP_S
        for off in PEER_OFFSETS_S:
            if onset + off > resume:
                break
            end = int((onset + off) * SAMPLE_RATE)
            st = models.smart_turn(audio[max(0, int((seg_start - PRE_SPEECH_S) * SAMPLE_RATE)):end])
            out["smart_turn"].append(PeerScore(onset=onset, offset=off, p=st))
            out["livekit"].append(PeerScore(onset=onset, offset=off, p=models.livekit(audio[:end])))
            complete |= off == SMART_TURN_VAD_STOP_S and st > 0.5
        if complete:
            seg_start = None
    return out


def recognizer_events(audio: np.ndarray, recognizer: StreamingRecognizer, vad: SileroVAD,
                      listening: dict = LISTENING) -> tuple[list[RecognizerEvent], float]:
    """The caller through the agent's VAD and recognizer streams (``VADUtterances``, what
    ``asr eval --vad`` measures, with ``listening`` as its keywords) in 20 ms pushes. Each event
    is stamped with the media time a single real-time stream would have it (``feed_live``)."""
    events: list[RecognizerEvent] = []
    total = 0.0  # compute spent
    stream = VADUtterances(recognizer, vad, **listening).stream()
    closes = stream.utterances.streams_started
    for at, spent, out in feed_live(stream, audio, PUSH_MS):
        total += spent
        closing, closes = stream.utterances.streams_started > closes, stream.utterances.streams_started
        for e in out:
            if isinstance(e, Final):
                events.append(RecognizerEvent(at=at, kind="final", text=e.text, closing=closing))
            elif isinstance(e, Partial):
                events.append(RecognizerEvent(at=at, kind="partial", text=e.text, closing=closing))
            elif isinstance(e, SentenceEnd):
                events.append(RecognizerEvent(at=at, kind="sentence_end", text=e.mark, time=e.time_s))
        if out and (p := stream.end_probability()) is not None:
            events.append(RecognizerEvent(at=at, kind="end_prob", p=p))
        if closing:  # the stretch's stream is gone, with or without words at its close
            events.append(RecognizerEvent(at=at, kind="closed"))
    return events, total


def segment_finals(audio: np.ndarray, probs: np.ndarray, recognizer: Recognizer) -> list[RecognizerEvent]:
    """The hybrid's final transcripts, as ``agent.stt.SegmentedSTTProcessor`` makes them: each
    stretch of speech the agent's VAD closes, with pre- and post-roll, transcribed once the stop
    is known and the post-roll has arrived, one at a time; stamped when its compute finished."""
    events, free, start = [], 0.0, None
    for b in speech_boundaries(probs):
        if b.speaking:
            start = b.t_s
            continue
        if start is None:
            continue
        a, z = int(max(0.0, start - PRE_ROLL_MS / 1000) * SAMPLE_RATE), int((b.t_s + POST_ROLL_MS / 1000) * SAMPLE_RATE)
        began = time.perf_counter()
        text = recognizer.transcribe(audio[a:z]).text
        free = max(free, b.known_s, b.t_s + POST_ROLL_MS / 1000) + time.perf_counter() - began
        events.append(RecognizerEvent(at=free, kind="segment_final", text=text, time=b.t_s))
        start = None
    return events


def _normal(token: str) -> str:
    return "".join(c for c in token.lower() if c.isalnum() or c in "'-@")


def reference_events(dialogue: Dialogue, delay_s: float, marks: bool = True) -> list[RecognizerEvent]:
    """A perfect recognizer's events: each caller word as the labels write it, committed
    ``delay_s`` after it ends, and with ``marks`` its punctuation too and a sentence end at each
    word followed by ``.``, ``?`` or ``!``. Without ``marks``, the words alone. Words are matched
    in order to the text of the turn or backchannel they are spoken in; a word no text accounts for
    (a voice's timing off by a word) is given bare."""
    units = dialogue.caller_speech()
    tokens = [u[2].split() for u in units]
    normal = [[_normal(t) for t in ts] for ts in tokens]
    at = [0] * len(units)  # per unit, the next token to match
    events = []
    for w in sorted(dialogue.words, key=lambda w: w.start):
        mid, written, word = (w.start + w.end) / 2, w.word, _normal(w.word)
        for k, (start, end, _) in enumerate(units):
            if start - 0.05 <= mid <= end + 0.05 and word in normal[k][at[k]:]:
                j = normal[k].index(word, at[k])
                written, at[k] = tokens[k][j], j + 1
                break
        if not marks:
            written = written.rstrip(".,?!;:")
        events.append(RecognizerEvent(at=w.end + delay_s, kind="final", text=written))
        if written.endswith((".", "?", "!")):
            events.append(RecognizerEvent(at=w.end + delay_s, kind="sentence_end", text=written[-1], time=w.end))
    return events


@dataclass(frozen=True)
class Reference:
    """The recognizer ``reference`` (``--option marks=false``: its words without punctuation)."""
    marks: bool = True
    name = REFERENCE


def trace_dialogue(dialogue: Dialogue, caller: np.ndarray, vad: SileroVAD, recognizer: StreamingRecognizer | Reference,
                   recognizer_name: str, peers: PeerModels | None, listening: dict = LISTENING,
                   final_recognizer: tuple[str, Recognizer] | None = None) -> CallerTrace:
    """``recognizer``: a ``Reference`` is heard as the agent's pause decode would hear
    it, with no compute (``listening``'s ``pause_ms`` after each word); ``final_recognizer``:
    (name, recognizer) for the hybrid's segment finals."""
    probs = vad.track(caller)
    duration = len(caller) / SAMPLE_RATE
    regions = speech_regions(probs, duration)
    if isinstance(recognizer, Reference):
        events, compute = reference_events(dialogue, (listening.get("pause_ms") or 0) / 1000, recognizer.marks), 0.0
    else:
        events, compute = recognizer_events(caller, recognizer, vad, listening)
    if final_recognizer:
        events = sorted(events + segment_finals(caller, probs, final_recognizer[1]), key=lambda e: e.at)
    return CallerTrace(id=dialogue.id, duration=duration, vad=[round(float(p), 3) for p in probs],
                       recognizer=recognizer_name, final_recognizer=final_recognizer and final_recognizer[0],
                       events=events, compute_s=compute, peers=peer_scores(caller, regions, peers) if peers else {})


def _worker_init(recognizer: str, options: dict, with_peers: bool, listening: dict, final_recognizer: str | None):
    global _MODELS
    import torch

    from asr.recognizer import create_recognizer

    torch.set_num_threads(1)
    final = final_recognizer and (final_recognizer, create_recognizer(final_recognizer))
    if recognizer == REFERENCE:
        rec = Reference(**{k: v for k, v in options.items() if k != "chunk_ms"})
    else:
        rec = create_recognizer(recognizer, **options)
    _MODELS = (SileroVAD(), rec, PeerModels() if with_peers else None, listening, final)


def _trace_one(dialogue: Dialogue) -> str:
    vad, rec, peers, listening, final = _MODELS
    name = rec.name + (f"@{rec.chunk_ms}ms" if hasattr(rec, "chunk_ms") else "")
    trace = trace_dialogue(dialogue, caller_channel(dialogue.audio), vad, rec, name, peers, listening, final)
    trace.audio_sha1 = audio_digest(dialogue.audio)
    return trace.model_dump_json()


def audio_digest(path: str | Path) -> str:
    """SHA-1 of a dialogue's audio file."""
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def untraced(dialogues: list[Dialogue], out: Path) -> list[Dialogue]:
    """The dialogues ``out`` holds no trace of as their audio is now. Traces of other audio under
    the same ids (a rebuild of the dialogues) are dropped from the file."""
    if not out.exists():
        return list(dialogues)
    digests = {d.id: audio_digest(d.audio) for d in dialogues}
    lines = complete_lines(out)  # a run killed mid-line (a session ending) leaves half a trace: dropped
    traces = [CallerTrace.model_validate_json(line) for line in lines]
    keep = [t.id not in digests or t.audio_sha1 == digests[t.id] for t in traces]
    if not all(keep):
        out.write_text("".join(line + "\n" for line, k in zip(lines, keep) if k))
    done = {t.id for t, k in zip(traces, keep) if k}
    return [d for d in dialogues if d.id not in done]


def build_traces(dialogues: list[Dialogue], out: Path, recognizer: str = "trade", options: dict | None = None,
                 with_peers: bool = True, workers: int = 2, listening: dict = LISTENING,
                 final_recognizer: str | None = None) -> Path:
    """Trace every dialogue into ``out`` (JSONL, one line each); resumable: dialogues already
    traced from the same audio are skipped."""
    from multiprocessing import get_context

    from tqdm import tqdm

    out.parent.mkdir(parents=True, exist_ok=True)
    with tracing_lock(out):
        todo = untraced(dialogues, out)
        if not todo:
            return out
        init = (recognizer, options or {}, with_peers, listening, final_recognizer)
        with out.open("a") as f, get_context("spawn").Pool(workers, _worker_init, init) as pool:
            for line in tqdm(pool.imap(_trace_one, todo), total=len(todo), desc=f"tracing {out.name}", unit="dialogue"):
                f.write(line + "\n")
                f.flush()
    return out


@contextmanager
def tracing_lock(out: Path):
    """Held while a process checks and fills the trace file ``out``: a second run on the same cache
    (two evaluations sharing a traces folder) would drop and append the same lines at once."""
    with open(out.with_name(out.name + ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"{out} is being traced by another process; wait for it to finish, "
                               "or give this run another --out") from None
        yield


def read_traces(path: Path) -> dict[str, CallerTrace]:
    return {t.id: t for t in (CallerTrace.model_validate_json(line) for line in complete_lines(path))}


def caller_channel(path: str | Path) -> np.ndarray:
    """Channel 0 (the caller) of a dialogue's stereo file, float32 at 16 kHz."""
    import soundfile as sf

    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if sr != SAMPLE_RATE:
        raise ValueError(f"{path}: dialogue audio must be {SAMPLE_RATE} Hz, got {sr}")
    return np.ascontiguousarray(audio[:, 0])
