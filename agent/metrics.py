"""Observers of a call — the event log and the live transcript — and the call's latency metrics.

Latencies follow LiveKit/pipecat names and are anchored on one clock: media time is seconds
since the call started, and in a simulated call the caller's audio is played in real time on
that same clock, so "speech end → event" is the event's wall time minus the true end of the
caller's speech (known exactly from the script, not estimated by VAD).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rich.markup import escape

from agent.frames import (
    AudioRawFrame,
    BotAudioPauseFrame,
    BotAudioResumeFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FrameDirection,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    UserStoppedSpeakingFrame,
)

METRICS = ("eou_delay_ms", "transcription_delay_ms", "llm_ttft_ms", "tts_ttfb_ms", "voice_to_voice_ms")


class EventLog:
    """Every non-audio frame, once, where it was first pushed: wall and media time."""

    def __init__(self):
        self.events: list[dict] = []
        self._seen: set[int] = set()

    def on_push_frame(self, src, dst, frame: Frame, direction: FrameDirection, wall_s: float):
        if frame.id in self._seen or isinstance(frame, AudioRawFrame):
            return
        self._seen.add(frame.id)
        self.events.append({"wall_s": round(wall_s, 4),
                            "media_s": None if frame.pts_s is None else round(frame.pts_s, 4),
                            "event": type(frame).__name__, "src": src.name,
                            "direction": "down" if direction is FrameDirection.DOWNSTREAM else "up",
                            **frame.describe()})

    def save(self, path: str | Path):
        with open(path, "w") as f:
            for e in self.events:
                f.write(json.dumps(e) + "\n")


class LiveTranscript:
    """Prints the conversation as it happens: caller finals, streamed bot text, barge-ins and what
    the caller heard of a reply they cut."""

    def __init__(self, console):
        self.console = console
        self._seen: set[int] = set()
        self._bot_line_open = False

    def _close_bot_line(self):
        if self._bot_line_open:
            self.console.print()
            self._bot_line_open = False

    def on_push_frame(self, src, dst, frame: Frame, direction: FrameDirection, wall_s: float):
        if frame.id in self._seen or isinstance(frame, AudioRawFrame):
            return
        self._seen.add(frame.id)
        stamp = f"[dim]{wall_s:6.2f}s[/dim]"
        if isinstance(frame, TranscriptionFrame) and frame.text:
            self._close_bot_line()
            self.console.print(f"{stamp} [bold cyan]caller ▸[/bold cyan] {escape(frame.text)}", highlight=False)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._close_bot_line()
            self.console.print(f"{stamp} [dim]· end of turn {frame.turn_index}[/dim]")
        elif isinstance(frame, BotStoppedSpeakingFrame) and frame.interrupted:
            self._close_bot_line()
            self.console.print(f"{stamp} [dim]  the caller heard “{escape(frame.text)}”[/dim]", highlight=False)
        elif isinstance(frame, InterruptionFrame) and frame.withdrawn:
            self._close_bot_line()
            self.console.print(f"{stamp} [yellow]↺ caller went on: the reply is withdrawn before it played[/yellow]")
        elif isinstance(frame, InterruptionFrame):
            self._close_bot_line()
            self.console.print(f"{stamp} [bold red]✋ barge-in[/bold red]")
        elif isinstance(frame, BotAudioPauseFrame):
            self._close_bot_line()
            self.console.print(f"{stamp} [yellow]⏸ bot paused: caller speaking over it[/yellow]")
        elif isinstance(frame, BotAudioResumeFrame):
            self.console.print(f"{stamp} [yellow]▶ bot resumed (backchannel)[/yellow]")
        elif isinstance(frame, LLMFullResponseStartFrame):
            self._close_bot_line()
            self.console.print(f"{stamp} [bold green]bot ▸[/bold green] ", end="")
            self._bot_line_open = True
        elif isinstance(frame, LLMTextFrame) and self._bot_line_open:
            self.console.print(frame.text, end="", highlight=False, markup=False)
        elif isinstance(frame, LLMFullResponseEndFrame):
            self._close_bot_line()


def _first(events, kind, pred=lambda e: True):
    return next((e for e in events if e["event"] == kind and pred(e)), None)


def _ms(x: float | None) -> float | None:
    return None if x is None else round(x * 1000, 1)


def turn_metrics(events: list[dict], records) -> list[dict]:
    """Per caller turn: the five call latencies, cut-offs and barge-in stop latency.

    ``taken_early``: the agent decided the turn was over before the caller had finished (what
    the turn-taking evaluation counts as a cutoff). ``cut_off``: the caller heard it, the bot's
    audio starting before the turn's speech ended; a reply withdrawn before it played, as the
    caller went on, is taken early but not cut off."""
    rows = []
    for i, rec in enumerate(records):
        window_end = records[i + 1].start_s if i + 1 < len(records) else float("inf")
        inside = [e for e in events if rec.start_s <= e["wall_s"] < window_end]
        decisions = [e for e in inside if e["event"] == "UserStoppedSpeakingFrame"]
        early = [d for d in decisions if d["wall_s"] < rec.end_s]
        decision = next((d for d in decisions if d["wall_s"] >= rec.end_s), None)
        heard = early and _first(inside, "BotStartedSpeakingFrame",
                                 lambda e: early[0]["wall_s"] <= e["media_s"] < rec.end_s)
        row = {"turn": i + 1, "text": rec.text, "start": rec.start, "speech_start_s": round(rec.start_s, 3),
               "speech_end_s": round(rec.end_s, 3), "taken_early": bool(early), "cut_off": bool(heard)}
        row["eou_delay_ms"] = _ms(decision and decision["wall_s"] - rec.end_s)
        tr = _first(inside, "TranscriptionFrame",
                    lambda e: e["wall_s"] >= rec.end_s and (e["segment_end_s"] or 0) >= rec.end_s - 0.5)
        row["transcription_delay_ms"] = _ms(tr and tr["wall_s"] - rec.end_s)
        k = decision and decision["turn_index"]
        taken = k and _first(events, "UserTurnFrame", lambda e: e["turn_index"] == k)
        row["transcript"] = taken and taken["text"]  # the whole turn as the agent understood it
        for name in ("llm_ttft", "tts_ttfb"):
            m = _first(events, "MetricsFrame", lambda e: e["metric"] == name and e["turn_index"] == k)
            row[f"{name}_ms"] = m and m["value_ms"] if k else None
        spoke = decision and _first(inside, "BotStartedSpeakingFrame", lambda e: e["media_s"] >= decision["wall_s"])
        row["voice_to_voice_ms"] = _ms(spoke and spoke["media_s"] - rec.end_s)
        if rec.bot_speaking_at_start:
            vad = _first(inside, "VADUserStartedSpeakingFrame")
            stop = _first(inside, "BotAudioPauseFrame") or _first(inside, "BotStoppedSpeakingFrame",
                                                                  lambda e: e["interrupted"])
            row["barge_in_stop_ms"] = _ms(stop and vad and stop["wall_s"] - vad["wall_s"])
            row["barge_in_from_onset_ms"] = _ms(stop and stop["wall_s"] - rec.start_s)
        rows.append(row)
    return rows


def call_transcript(events: list[dict]) -> list[dict]:
    """What was said on the line, in order: each caller final, and each stretch of bot speech as
    far as it played (``interrupted``: cut by a barge-in). A reply withdrawn before it played,
    or generated and then cancelled, was never said and is not in it."""
    said = []
    for e in events:
        if e["event"] == "TranscriptionFrame" and e.get("text"):
            said.append({"wall_s": e["wall_s"], "speaker": "caller", "text": e["text"]})
        elif e["event"] == "BotStoppedSpeakingFrame" and e.get("text"):
            said.append({"wall_s": e["wall_s"], "speaker": "bot", "text": e["text"], "interrupted": e["interrupted"]})
    return said


def summarize(rows: list[dict]) -> dict:
    out = {}
    for name in (*METRICS, "barge_in_stop_ms"):
        vals = [r[name] for r in rows if r.get(name) is not None]
        out[name] = {"n": len(vals), "p50": round(float(np.percentile(vals, 50)), 1) if vals else None,
                     "p95": round(float(np.percentile(vals, 95)), 1) if vals else None}
    out["cut_offs"] = sum(r["cut_off"] for r in rows)
    out["taken_early"] = sum(r["taken_early"] for r in rows)
    return out
