"""The manifest: one JSON line per utterance, validated with pydantic on read and write."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from asr.augment import Augmentation


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


class ManifestError(ValueError):
    pass


def read_manifest(path: str | Path) -> list[Utterance]:
    """All utterances of a manifest; ``audio`` is made absolute."""
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"manifest {path} not found: build one with `python -m asr data build`")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            u = Utterance.model_validate_json(line)
        except ValidationError as e:
            raise ManifestError(f"{path}:{n}: not an utterance: {e.errors()[0]['loc']} {e.errors()[0]['msg']}") from None
        u.audio = str((path.parent / u.audio).resolve())
        out.append(u)
    return out
