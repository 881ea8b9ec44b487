"""Append-only JSON-lines files: builds append one record per line, readers validate each line."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def complete_lines(path: Path) -> list[str]:
    """The file's complete lines. A last line without its newline is what a build killed in
    mid-write leaves behind; it is cut off the file so that appending resumes cleanly."""
    if not path.exists():
        return []
    text = path.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        path.write_text(text)
    return [line for line in text.splitlines() if line.strip()]


def read_models(path: str | Path, model: type[M], error: type[ValueError], hint: str) -> list[M]:
    """Every line of ``path`` validated as ``model``; ``error`` names the file and line, or says
    how to make the file (``hint``) when it is missing. A record's ``audio`` path, stored
    relative to the file's folder, is made absolute."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path} not found: {hint}")
    out = []
    for n, line in enumerate(complete_lines(path), 1):
        try:
            record = model.model_validate_json(line)
        except ValidationError as e:
            first = e.errors()[0]
            raise error(f"{path}:{n}: not a {model.__name__}: {first['loc']} {first['msg']}") from None
        if isinstance(getattr(record, "audio", None), str):
            record.audio = str((path.parent / record.audio).resolve())
        out.append(record)
    return out
