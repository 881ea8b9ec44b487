"""How finished the caller's voice sounds at a pause: our own audio end-of-turn evidence.

The recognizer's sentence-end mark reads the words; whether a phrase is finished is also in how
it is said (a held "five five five," keeps its pitch, a finished "that's all." falls). Smart Turn
reads that with a Whisper encoder trained on people's turns. This model reads it with the bundled
Whisper tiny.en encoder, frozen, and a logistic head fit on labelled holds and ends of training
dialogues (``fit_head``): the encoder's states over the last 0.25, 0.5 and 1 s of speech, over the
silence heard so far (``HEARD_S``) and at the last speech frame, with ``CONTEXT_S`` of audio before
the pause for the encoder to read the phrase. Each pool is taken relative to the mean state over
that context: what the head reads is how the phrase's end differs from the caller's own voice, so
a voice it never heard moves its score less (turn_taking/RESULTS.md, session 42). A phrase with
nothing before it (audio that starts with the words) gives the context no silence to read it
against, unlike any pause in a call, and its score is not to be trusted.

Its probability reaches the policies as a turn score (``on_turn_score`` with model ``voice_end``):
the learned policy weighs it with the recognizer's evidence when its weights were fit with it.
In a live call ``PauseAudio`` keeps the caller's last seconds and says when a pause is due its
score (the agent's turn processor and the framework adapters' ``TurnTracker`` share it).
A head fit on synthetic voices learns how those voices end phrases; read it on callers' own
recordings before trusting it there.
"""

from __future__ import annotations

import json
from collections import deque
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from asr.audio import SAMPLE_RATE
from asr.features import log_mel_spectrogram

NAME = "voice_end"  # the turn score's model name
CONTEXT_S = 6.0  # audio before the silence onset the encoder reads
HEARD_S = 0.2  # silence heard when the model is asked (pipecat asks Smart Turn at its 0.2 s VAD stop)
SPEECH_S = (0.25, 0.5, 1.0)  # the last stretches of speech pooled
FRAME_S = 0.02  # one encoder state
POOLING = "context-relative, 5 pools"  # how the states are pooled: the cache and a head file say which
SHIPPED = Path(__file__).resolve().parent / "checkpoints" / "voice-end.json"


class VoiceEncoder:
    """The frozen Whisper tiny.en encoder, pooled at a pause (``features``)."""

    def __init__(self):
        from asr.models.whisper.load import load_whisper

        self.encoder = load_whisper().encoder
        self.width = (len(SPEECH_S) + 2) * self.encoder.dims.n_audio_state
        self.features(np.zeros(SAMPLE_RATE, np.float32))  # warm, so a call's first pause does not pay the set-up

    def features(self, audio: np.ndarray) -> np.ndarray:
        """``audio`` ends ``HEARD_S`` after a silence onset: the pooled states less the context's
        mean state, (``width``,)."""
        clip = audio[-int((CONTEXT_S + HEARD_S) * SAMPLE_RATE):]
        with torch.inference_mode():
            h = self.encoder(log_mel_spectrogram(clip)[None])[0]  # (T, width), one state per FRAME_S
        onset = max(1, len(h) - round(HEARD_S / FRAME_S))
        speech = [h[max(0, onset - round(s / FRAME_S)):onset].mean(0) for s in SPEECH_S]
        pools = torch.stack([*speech, h[onset:].mean(0), h[onset - 1]])
        return (pools - h[:onset].mean(0)).flatten().numpy().astype(np.float64)


def onsets_heard(regions: list[tuple[float, float]], duration: float) -> list[float]:
    """The silence onsets (VAD) that last ``HEARD_S`` before speech resumes or the audio ends."""
    resumes = [start for start, _ in regions[1:]] + [duration]
    return [onset for (_, onset), resume in zip(regions, resumes) if onset + HEARD_S <= resume]


class Head:
    """Standardise the features, then a logistic regression: P(the turn is over)."""

    # the best of 0.003 to 0.3 when each training voice in turn is left out and scored; for the
    # context-relative pools 0.03 ties with it and 0.1 is worse (turn_taking/RESULTS.md)
    L2 = 0.01

    def __init__(self, mean: np.ndarray, scale: np.ndarray, w: np.ndarray, about: dict | None = None):
        self.mean, self.scale, self.w, self.about = mean, scale, w, about or {}

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, **about) -> "Head":
        mean, scale = x.mean(0), x.std(0) + 1e-6
        z = np.concatenate([(x - mean) / scale, np.ones((len(x), 1))], 1)
        from turn_taking.learn import logistic

        return cls(mean, scale, logistic(z, y.astype(np.float64), cls.L2), {"pooling": POOLING, **about})

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(x) - self.mean) / self.scale @ self.w[:-1] + self.w[-1]
        return 1 / (1 + np.exp(-z))

    def save(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        spec = {"mean": np.round(self.mean, 5).tolist(), "scale": np.round(self.scale, 5).tolist(),
                "w": np.round(self.w, 6).tolist(), **self.about}
        path.write_text(json.dumps(spec) + "\n")


def load_head(path: str | Path = SHIPPED) -> Head:
    try:
        return _read_head(str(path), Path(path).stat().st_mtime_ns)
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"cannot read the voice-end head from {path}: {e} "
                         "(write it with python -m turn_taking fit-voice)") from None


@lru_cache(maxsize=4)
def _read_head(path: str, modified: int) -> Head:
    spec = json.loads(Path(path).read_text())
    arrays = [np.asarray(spec.pop(k), np.float64) for k in ("mean", "scale", "w")]
    if not len(arrays[0]) == len(arrays[1]) == len(arrays[2]) - 1:
        raise ValueError("mean, scale and w do not fit together")
    if spec.get("pooling") != POOLING:
        raise ValueError(f"it was fit on other features (pooling {spec.get('pooling', 'unnamed')!r}, not {POOLING!r})")
    return Head(*arrays, spec)


class VoiceEndModel:
    """The encoder and a head: ``model(audio)`` is P(the turn is over) for audio ending
    ``HEARD_S`` into a silence (what a live detector hands it)."""

    def __init__(self, head: str | Path = SHIPPED):
        self.head, self.encoder = load_head(head), VoiceEncoder()

    def __call__(self, audio: np.ndarray) -> float:
        return float(self.head(self.encoder.features(audio))[0])


class PauseAudio:
    """A live caller's last seconds of audio, and the pause due a voice-end score: ``due`` hands
    it over, once, as soon as ``HEARD_S`` of it has arrived. Frames are kept as they came (O(1) per
    push); only ``due`` joins them, once a pause."""

    KEEP_S = CONTEXT_S + 2 * HEARD_S

    def __init__(self):
        self._chunks: deque[np.ndarray] = deque()
        self._samples = 0
        self._end_s = 0.0  # media time the audio held ends at
        self._onset: float | None = None

    def push(self, pcm: np.ndarray, t_s: float):
        """Caller audio starting at media time ``t_s``."""
        self._chunks.append(pcm)
        self._samples += len(pcm)
        self._end_s = t_s + len(pcm) / SAMPLE_RATE
        while self._samples - len(self._chunks[0]) >= self.KEEP_S * SAMPLE_RATE:
            self._samples -= len(self._chunks.popleft())

    def speech_started(self):
        self._onset = None

    def speech_stopped(self, onset_s: float):
        self._onset = onset_s

    def due(self) -> tuple[float, np.ndarray] | None:
        """(onset, the audio up to ``HEARD_S`` into the pause) once that much has arrived, else None."""
        onset = self._onset
        if onset is None or self._end_s + 0.5 / SAMPLE_RATE < onset + HEARD_S:
            return None
        self._onset = None
        audio = np.concatenate(self._chunks)
        extra = round((self._end_s - onset - HEARD_S) * SAMPLE_RATE)
        return onset, audio[:len(audio) - extra] if extra > 0 else audio
