"""The label schema of a turn-taking dialogue (one JSON line per call), in the spirit of eot-bench.

Every silence of 100 ms or more inside caller speech is a ``Silence``: ``hold`` if the caller
goes on speaking after it, ``eot`` if the caller's turn is over and the bot should answer.
Caller speech during bot speech is an ``Overlap``: a ``backchannel`` ("mhm") the bot should talk
through, or an ``interruption`` ("wait, that's wrong") it should stop for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from asr.data.jsonl import read_models

SCHEMA_VERSION = 1
MIN_SILENCE_S = 0.1

HoldCategory = Literal["digits", "email", "hesitation", "trailing_and", "mid_clause", "pause", "continuation"]
TurnCategory = Literal["digits", "email", "hesitation", "trailing_and", "mid_clause", "affirmation",
                       "statement", "question", "continuation", "interruption"]


class Word(BaseModel):
    word: str
    start: float = Field(ge=0)
    end: float = Field(ge=0)


class Turn(BaseModel):
    speaker: Literal["caller", "bot"]
    start: float
    end: float
    text: str  # written form
    spoken: str
    category: TurnCategory | Literal["bot"] = "bot"
    cut_at: float | None = None  # bot turns cut by an interruption


class Silence(BaseModel):
    start: float  # end of the last caller word before it
    end: float  # start of the next caller word, or of the bot's reply for eot
    label: Literal["hold", "eot"]
    category: HoldCategory | TurnCategory  # why the caller paused: a hold or the turn's category
    turn: int  # index into ``turns``
    text_before: str  # what the caller has said so far in this turn (spoken form)


class Overlap(BaseModel):
    start: float
    end: float
    text: str
    label: Literal["backchannel", "interruption"]
    bot_turn: int


class Dialogue(BaseModel):
    version: int = SCHEMA_VERSION
    id: str
    audio: str  # stereo FLAC relative to the labels file: channel 0 caller, channel 1 bot
    split: str
    duration: float
    caller_voice: str
    bot_voice: str
    noise_snr_db: float
    turns: list[Turn]
    silences: list[Silence]
    overlaps: list[Overlap]
    words: list[Word]  # every caller word with its time

    def caller_speech(self) -> list[tuple[float, float, str]]:
        """(start, end, spoken text) of everything the caller says, in order and once each: the
        turns and the backchannels (an interruption is both a turn and an overlap)."""
        return sorted([(t.start, t.end, t.spoken) for t in self.turns if t.speaker == "caller"]
                      + [(o.start, o.end, o.text) for o in self.overlaps if o.label == "backchannel"])


class LabelError(ValueError):
    pass


def read_dialogues(path: str | Path) -> list[Dialogue]:
    """Dialogues of a labels file (``<split>.jsonl``), ``audio`` made absolute."""
    return read_models(path, Dialogue, LabelError, "build dialogues with `python -m turn_taking data build`")
