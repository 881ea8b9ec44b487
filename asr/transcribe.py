"""``python -m asr transcribe``: one file through a recognizer, live, ending with JSON.

Streaming recognizers get the audio ``chunk_ms`` at a time (paced in real time with
``--realtime``); the terminal shows committed words followed by the current partial in grey,
rewritten in place, and a ⏎ marker at every sentence end. The final JSON lists the words with
their audio times and emission times (stream seconds at which they were committed) and the
sentence-end events.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

import numpy as np

from asr.audio import SAMPLE_RATE, load_audio
from asr.events import Final, Partial, SentenceEnd, StreamEvent
from asr.recognizer import Recognizer, StreamingRecognizer, feed, live_pace

GREY, RESET, CLEAR = "\033[90m", "\033[0m", "\r\033[K"


class LiveLine:
    """Committed text + grey partial, redrawn in place on a terminal (plain lines otherwise)."""

    def __init__(self, out: TextIO, width: int = 100):
        self.out, self.width, self.tty = out, width, out.isatty()
        self.committed, self.partial = "", ""

    def show(self, event: StreamEvent):
        if isinstance(event, Final):
            self.committed, self.partial = f"{self.committed} {event.text}".strip(), ""
            if not self.tty:
                self.out.write(f"[final] {event.text}\n")
        elif isinstance(event, Partial):
            self.partial = event.text
        else:
            self.committed += " ⏎"
        if self.tty:
            tail = self.committed[-(self.width - len(self.partial[-40:]) - 1):]
            self.out.write(f"{CLEAR}{tail} {GREY}{self.partial[-40:]}{RESET}")
            self.out.flush()

    def close(self):
        if self.tty:
            self.out.write(f"{CLEAR}{self.committed}\n")


def transcribe_file(rec: Recognizer, path: Path, realtime: bool = False, display: TextIO | None = None) -> dict:
    audio = load_audio(path)
    started = time.perf_counter()
    if not isinstance(rec, StreamingRecognizer):
        t = rec.transcribe(audio)
        words, ends = t.words, []
        for w in words:
            w.emitted_s = len(audio) / SAMPLE_RATE
        if display:
            display.write(t.text + "\n")
    else:
        words, ends = _stream(rec, audio, realtime, LiveLine(display) if display else None)
    return {"file": str(path), "recognizer": rec.name, "chunk_ms": getattr(rec, "chunk_ms", None),
            "duration_s": round(len(audio) / SAMPLE_RATE, 3),
            "compute_s": round(time.perf_counter() - started, 3),
            "text": " ".join(w.text for w in words),
            "words": [{k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(w).items()} for w in words],
            "sentence_ends": [{k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(e).items()}
                              for e in ends]}


def _stream(rec: StreamingRecognizer, audio: np.ndarray, realtime: bool, line: LiveLine | None):
    words, ends = [], []
    pace = live_pace(time.perf_counter()) if realtime else None
    for _, events in feed(rec.stream(), audio, rec.chunk_ms, pace):
        for e in events:
            if isinstance(e, Final):
                words += e.words
            elif isinstance(e, SentenceEnd):
                ends.append(e)
            if line:
                line.show(e)
    if line:
        line.close()
    return words, ends


def main(args) -> int:
    from asr.recognizer import capabilities, create_recognizer

    streaming = capabilities(args.recognizer).streaming
    if args.chunk_ms and not streaming:
        raise ValueError(f"{args.recognizer} is an offline recognizer; --chunk-ms applies to streaming ones")
    rec = create_recognizer(args.recognizer, **({"chunk_ms": args.chunk_ms} if args.chunk_ms else {}),
                            **dict(args.option))
    result = transcribe_file(rec, args.audio, args.realtime, None if args.quiet else sys.stderr)
    print(json.dumps(result, indent=2) if args.json else result["text"])
    return 0
