"""The manifest: one JSON line per utterance, validated with pydantic on read and write."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from asr.augment import Augmentation
from asr.data.jsonl import read_models


class WordTiming(BaseModel):
    word: str
    start: float = Field(ge=0)  # seconds from the start of the file
    end: float = Field(ge=0)


class Utterance(BaseModel):
    id: str
    audio: str  # path relative to the manifest's folder
    text: str  # written reference: casing, punctuation, digits
    spoken: str  # what the voice read
    normalized: str  # asr.normalize.normalize(spoken): what WER compares
    duration: float = Field(gt=0)
    voice: str
    domain: str
    source: str
    split: str
    augmentation: Augmentation | None = None
    words: list[WordTiming]
    # the speaker goes on after the clip (a turn cut at a pause, as the agent's VAD cuts it): the
    # text stops here but does not end, so training targets no end-of-text and no sentence end
    continues: bool = False


class ManifestError(ValueError):
    pass


def read_manifest(path: str | Path) -> list[Utterance]:
    """All utterances of a manifest; ``audio`` is made absolute."""
    return read_models(path, Utterance, ManifestError, "build one with `python -m asr data build`")
