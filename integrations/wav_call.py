"""What the framework adapters' WAV calls share: the call clock, the bot's audio as the caller
hears it, the transcript lines and the result (``python -m integrations.pipecat`` and
``python -m integrations.livekit`` both play a recorded caller into a real framework)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import numpy as np

from asr.audio import SAMPLE_RATE, AudioError, from_pcm16, load_audio, resample

FRAME_S = 0.02  # caller audio goes in as 20 ms frames, as a transport delivers them
ANSWER_WAIT_S = 60.0  # longest wait for the bot after the caller's audio ends


@dataclass
class Clock:
    fed_s: float = 0.0  # seconds of caller audio fed in so far: the call's media time


@dataclass
class Line:
    t_s: float  # media time when it was said
    who: str  # caller | bot
    text: str


class CallerFeed:
    """A recorded caller as a transport delivers it: int16 frames of ``FRAME_S``, the recording
    and then silence, each due when its audio has had time to arrive (real time from the first)."""

    def __init__(self, pcm16: np.ndarray, sample_rate: int, clock: Clock):
        self.pcm16, self.sample_rate, self.clock = pcm16, sample_rate, clock
        self.step = int(sample_rate * FRAME_S)
        self.fed: list[np.ndarray] = []
        self._t0: float | None = None

    @property
    def done(self) -> bool:
        """The whole recording has been fed."""
        return len(self.fed) * self.step >= len(self.pcm16)

    @property
    def end_s(self) -> float:
        return len(self.pcm16) / self.sample_rate

    async def next_frame(self) -> np.ndarray:
        """The next frame, once it is due; the clock moves on by its length."""
        if self._t0 is None:
            self._t0 = time.monotonic()
        await asyncio.sleep(max(0.0, self._t0 + self.clock.fed_s - time.monotonic()))
        i = len(self.fed) * self.step
        frame = self.pcm16[i:i + self.step]
        frame = np.concatenate([frame, np.zeros(self.step - len(frame), np.int16)])
        self.fed.append(frame)
        self.clock.fed_s += FRAME_S
        return frame

    def audio(self) -> np.ndarray:
        """What was fed, as 16 kHz float32."""
        return resample(from_pcm16(np.concatenate(self.fed).tobytes()), self.sample_rate, SAMPLE_RATE)


class BotTimeline:
    """The bot's audio laid out as the caller hears it: each chunk starts when the one before it
    has been heard, or now; a barge-in silences what has not been heard yet."""

    def __init__(self):
        self.chunks: list[tuple[float, np.ndarray]] = []  # (media time it starts, 16 kHz audio)
        self.end_s = 0.0

    def play(self, pcm: np.ndarray, now_s: float) -> float:
        """Queue 16 kHz ``pcm``; returns when it starts."""
        start = max(now_s, self.end_s)
        self.chunks.append((start, pcm))
        self.end_s = start + len(pcm) / SAMPLE_RATE
        return start

    def cut(self, now_s: float) -> float:
        """Stop at ``now_s``; returns how many seconds of queued audio were never heard."""
        unheard = max(0.0, self.end_s - now_s)
        self.chunks = [(start, pcm[:int((now_s - start) * SAMPLE_RATE)]) for start, pcm in self.chunks if start < now_s]
        self.end_s = min(self.end_s, now_s)
        return unheard

    def audio(self, n: int) -> np.ndarray:
        """The first ``n`` samples of the bot's side of the call."""
        out = np.zeros(n, np.float32)
        for start, pcm in self.chunks:
            i = int(round(start * SAMPLE_RATE))
            piece = pcm[:max(0, n - i)]
            out[i:i + len(piece)] += piece
        return out


@dataclass
class WavCall:
    caller: np.ndarray  # 16 kHz mono, with the silence fed after the recording
    bot: np.ndarray  # 16 kHz mono, same length
    lines: list[Line] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)  # the conversation at the end: role, content

    def save(self, out: Path):
        """``call.wav`` (caller left, bot right) and ``transcript.jsonl`` in ``out``."""
        import soundfile as sf

        out.mkdir(parents=True, exist_ok=True)
        sf.write(out / "call.wav", np.stack([self.caller, self.bot], axis=1), SAMPLE_RATE, subtype="PCM_16")
        with open(out / "transcript.jsonl", "w") as f:
            f.writelines(json.dumps(asdict(line)) + "\n" for line in self.lines)


def run_from_command_line(prog: str, wav: Path, out: Path,
                          run: Callable[[np.ndarray, int, Callable[[Line], None]], Awaitable[WavCall]]) -> int:
    """The ``wav`` command of both frameworks: load ``wav`` (any rate and channels), play it
    through ``run(pcm16, sample_rate, on_line)`` with a live transcript, save the call in ``out``."""
    import sys

    try:
        audio = load_audio(wav)
    except (AudioError, OSError) as e:
        print(f"{prog}: cannot use {wav}: {e}", file=sys.stderr)
        return 2
    from rich.console import Console

    console = Console()
    colour = {"caller": "cyan", "bot": "green"}
    console.print(f"loading models, then playing {wav} ({len(audio) / SAMPLE_RATE:.1f} s) in real time…")
    call = asyncio.run(run((audio.clip(-1, 1) * 32767).astype(np.int16), SAMPLE_RATE, lambda line: console.print(
        f"[dim]{line.t_s:6.2f}s[/dim] [{colour[line.who]}]{line.who:>6}[/]: {line.text}")))
    call.save(out)
    console.print(f"wrote {out / 'call.wav'} (caller left, bot right) and {out / 'transcript.jsonl'}")
    return 0
