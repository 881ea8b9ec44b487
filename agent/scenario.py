"""Call scenarios: what a simulated caller says, in which voice, and when.

    name: order-status
    caller_voice: "espeak:en-us+f2?rate=150"
    turns:
      - say: "Hi, I want to check on my order."          # after the bot's greeting
      - say: ["My order number is", {pause_ms: 700}, "four five six seven."]
      - say: "Wait, that's not what I asked."
        start: barge_in                                    # talk over the bot's reply
        delay_ms: 1200                                     # … 1.2 s after its audio starts
      - wav: recordings/thanks.wav                         # any rate, channels or format

The texts of one turn are read in one breath and the pauses cut in, so the voice does not fall
at a pause as it does at the end of the turn. ``start: after_bot`` (default) waits for the
bot's reply to finish, then ``delay_ms`` of silence; ``barge_in`` speaks ``delay_ms`` after the
bot starts replying. WAV paths are relative to the scenario file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.config import explain, read_yaml_mapping
from asr.audio import SAMPLE_RATE, load_audio, trim_silence
from asr.voices import VoiceError, load_voice, read_in_pieces


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message says what to fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Pause(_Strict):
    pause_ms: int = Field(ge=50, le=10000)


class CallerTurn(_Strict):
    say: str | list[str | Pause] | None = None
    wav: Path | None = None
    voice: str | None = Field(None, description="overrides the scenario's caller_voice")
    start: Literal["after_bot", "barge_in"] = "after_bot"
    delay_ms: int = Field(500, ge=0, le=30000)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.say is None) == (self.wav is None):
            raise ValueError("each turn needs exactly one of 'say' or 'wav'")
        if isinstance(self.say, str) and not self.say.strip():
            raise ValueError("'say' is empty")
        return self


class Scenario(_Strict):
    name: str
    description: str = ""
    caller_voice: str = "espeak:en-us+f2?rate=150"
    wait_timeout_s: float = Field(30.0, gt=0, le=600, description="longest wait for the bot before going on")
    turns: list[CallerTurn] = Field(min_length=1, max_length=200)
    base_dir: Path = Field(Path("."), exclude=True)


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    data = read_yaml_mapping(path, "scenario", ScenarioError)
    try:
        return Scenario.model_validate({**data, "base_dir": path.parent})
    except ValidationError as e:
        raise ScenarioError(f"scenario {path}: {explain(e)}") from None


@dataclass
class TurnAudio:
    """A caller turn rendered to audio, with its speech spans relative to the turn start."""

    text: str
    audio: np.ndarray
    speech_spans: list[tuple[float, float]]
    start: str
    delay_ms: int


def render_turns(scenario: Scenario) -> list[TurnAudio]:
    """Synthesise (or load) every turn; trailing/leading silence is trimmed so the spans are true."""
    voices: dict[str, object] = {}
    rendered = []
    for i, turn in enumerate(scenario.turns):
        pieces: list[np.ndarray] = []
        spans: list[tuple[float, float]] = []
        texts: list[str] = []
        t = 0.0
        if turn.wav is not None:
            wav = turn.wav if turn.wav.is_absolute() else scenario.base_dir / turn.wav
            items = [trim_silence(load_audio(wav))]
            texts.append(f"<{wav.name}>")
        else:
            spec = turn.voice or scenario.caller_voice
            if spec not in voices:
                voices[spec] = load_voice(spec)
            items = []
            parts = [turn.say] if isinstance(turn.say, str) else turn.say
            read = iter(_read(voices[spec], [p for p in parts if isinstance(p, str)]))
            for part in parts:
                if isinstance(part, Pause):
                    items.append(np.zeros(int(part.pause_ms * SAMPLE_RATE / 1000), np.float32))
                else:
                    items.append(trim_silence(next(read)))
                    texts.append(part)
        for item in items:
            if len(item) and np.any(item):
                spans.append((t, t + len(item) / SAMPLE_RATE))
            pieces.append(item)
            t += len(item) / SAMPLE_RATE
        if not spans:
            raise ScenarioError(f"turn {i + 1} of {scenario.name!r} has no audible speech")
        rendered.append(TurnAudio(" ".join(texts), np.concatenate(pieces), spans, turn.start, turn.delay_ms))
    return rendered


def _read(voice, texts: list[str]) -> list[np.ndarray]:
    """The audio of each text of a turn, read as a caller reads the turn: in one breath, so the
    voice stays up at a pause. A voice that cannot time the words (digits it expands, say) reads
    each text alone."""
    try:
        return read_in_pieces(voice, texts)[0]
    except VoiceError:
        return [voice.synthesize(t).audio for t in texts]
