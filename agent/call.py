"""Simulated calls: a scripted caller talks to the full agent graph in real time.

    caller (ScriptedCaller) → Silero VAD → STT → user turns → LLM responder → TTS → AudioOutput

Outputs in ``out_dir``: ``events.jsonl`` (every event with wall and media time), ``call.wav``
(stereo: caller left, bot right, time-aligned), ``metrics.json`` (per-turn latencies and
p50/p95 over the call) and ``latency.png`` (where each turn's voice-to-voice time went).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from agent.caller import ScriptedCaller
from agent.config import AgentConfig
from agent.metrics import METRICS, EventLog, LiveTranscript, call_transcript, summarize, turn_metrics
from agent.pipeline import Pipeline
from agent.plots import plot_latency_breakdown
from agent.responder import LLMResponder, LocalLM
from agent.runner import PipelineTask
from agent.scenario import Scenario, render_turns
from agent.stt import load_recognizer, stt_processors
from agent.transport import AudioOutput, CallRecorder
from agent.tts import TTSProcessor
from agent.turns import UserTurnProcessor
from turn_taking.detectors import create_detector
from turn_taking.voice_end import VoiceEndModel
from agent.vad import VADProcessor
from asr.recognizer import Recognizer
from asr.voices import Voice, load_voice
from asr.vad import SileroVAD

log = logging.getLogger(__name__)


@dataclass
class AgentModels:
    """Every model a call needs, loaded and warmed once before the call clock starts."""

    vad: SileroVAD
    recognizer: Recognizer
    lm: LocalLM
    voice: Voice
    final_recognizer: Recognizer | None = None  # stt.final_recognizer
    voice_end: VoiceEndModel | None = None  # for a turn detector that weighs the caller's voice

    @classmethod
    def load(cls, config: AgentConfig, progress=None) -> "AgentModels":
        steps = {"vad": ("Silero VAD", SileroVAD),
                 "recognizer": ("recognizer " + config.stt.recognizer, lambda: load_recognizer(config.stt)),
                 "lm": ("LLM " + config.llm.model, lambda: LocalLM(config.llm)),
                 "voice": ("voice " + config.tts.voice, lambda: load_voice(config.tts.voice))}
        if final := config.stt.final():
            steps["final_recognizer"] = ("final recognizer " + final.recognizer, lambda: load_recognizer(final))
        if getattr(create_detector(config.turn.detector, **config.turn.detector_settings()), "reads_voice", False):
            steps["voice_end"] = ("voice-end model", VoiceEndModel)
        loaded = {}
        for name, (label, make) in steps.items():
            t = time.monotonic()
            loaded[name] = make()
            if progress:
                progress(f"loaded {label} in {time.monotonic() - t:.1f} s")
        models = cls(**loaded)
        models.recognizer.warmup()
        if models.final_recognizer:
            models.final_recognizer.warmup()
        models.lm.warmup()
        models.voice.synthesize("Warm up.")
        return models


def build_pipeline(config: AgentConfig, models: AgentModels, source, output) -> Pipeline:
    """The agent graph between an input transport and an output transport."""
    return Pipeline([
        source,
        VADProcessor(config.vad, vad=models.vad),
        *stt_processors(config.stt, recognizer=models.recognizer, final_recognizer=models.final_recognizer),
        UserTurnProcessor(config.turn, voice=models.voice_end),
        LLMResponder(config.llm, config.tts, lm=models.lm),
        TTSProcessor(config.tts, voice=models.voice),
        output,
    ], name="agent")


@dataclass
class CallReport:
    out_dir: Path
    turns: list[dict]
    summary: dict
    transcript: list[dict]


async def run_call(scenario: Scenario, config: AgentConfig, out_dir: str | Path, *,
                   models: AgentModels | None = None, console=None, observers: list = ()) -> CallReport:
    """Run one simulated call; ``observers`` see every frame too (e.g. an MQTT turn-event
    publisher from ``integrations.mqtt``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    say = console.print if console else log.info
    turns = await asyncio.to_thread(render_turns, scenario)  # bad voices/files fail before slow loading
    if models is None:
        models = await asyncio.to_thread(AgentModels.load, config, say)
    say(f"scenario {scenario.name!r}: {len(turns)} caller turns, "
        f"{sum(len(t.audio) for t in turns) / 16000:.1f} s of caller speech")

    recorder = CallRecorder()
    caller = ScriptedCaller(turns, recorder, expect_greeting=bool(config.llm.greeting),
                            wait_timeout_s=scenario.wait_timeout_s)
    output = AudioOutput(recorder)
    events = EventLog()
    watching = [events, *observers] + ([LiveTranscript(console)] if console else [])
    task = PipelineTask(build_pipeline(config, models, caller, output), observers=watching)
    await task.run()

    events.save(out_dir / "events.jsonl")
    recorder.save(out_dir / "call.wav")
    rows = turn_metrics(events.events, caller.records)
    summary = summarize(rows)
    transcript = call_transcript(events.events)
    report = {"scenario": scenario.name, "date": time.strftime("%Y-%m-%d"), "turns": rows,
              "summary": summary, "transcript": transcript, "errors": [e.error for e in task.errors],
              "config": config.model_dump()}
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2))
    plot_latency_breakdown(rows, out_dir / "latency.png", title=f"{scenario.name}: voice-to-voice breakdown")
    return CallReport(out_dir, rows, summary, transcript)


def latency_table(report: CallReport):
    """A rich table: one row per caller turn, then p50 and p95."""
    from rich.table import Table

    table = Table(title=f"latency (ms) — {report.out_dir}",
                  caption="eou: speech end → turn taken · stt: → final transcript · ttft: LLM first token · "
                          "ttfb: TTS first audio · v2v: speech end → first bot audio played · ✋ barge-in · "
                          "✂ cut off (the bot started before the caller finished) · "
                          "↺ taken early, its reply withdrawn unheard")
    table.add_column("turn", justify="right", no_wrap=True)
    table.add_column("caller (as transcribed)", max_width=34, overflow="ellipsis", no_wrap=True)
    for header in ("eou", "stt", "ttft", "ttfb", "v2v"):
        table.add_column(header, justify="right")
    fmt = lambda v: "—" if v is None else f"{v:.0f}"  # noqa: E731
    for r in report.turns:
        flag = " ✋" if r["start"] == "barge_in" else (" ✂" if r["cut_off"] else " ↺" if r["taken_early"] else "")
        table.add_row(f"{r['turn']}{flag}", r["transcript"] or r["text"], *(fmt(r[m]) for m in METRICS))
    for q in ("p50", "p95"):
        table.add_row(q, "", *(fmt(report.summary[m][q]) for m in METRICS), style="bold")
    return table
