"""Compare agent configurations on the same simulated calls (``python -m agent bench``).

Every variant (a name and config overrides) takes every call: each scenario in each caller
voice, ``repeats`` times, run in turn so that slow drift of the machine spreads over all
variants alike. For each variant it reports what a caller feels: turns cut off mid-sentence
(the bot heard starting before the caller finished), turns taken early (a reply withdrawn
unheard when the caller went on counts here, not as cut off), turns never answered,
end-of-turn delay and voice-to-voice time (p50/p95 over all turns), and the word error rate
of the turns as the agent understood them against the script. It writes ``bench.json`` (every
turn) and ``bench.md`` (the table), and keeps each call's own outputs.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from agent.call import AgentModels, run_call
from agent.config import AgentConfig
from agent.metrics import summarize
from agent.scenario import Scenario
from asr.eval.wer import ErrorCounts, word_errors


@dataclass
class Variant:
    name: str
    overrides: list[str]

    @classmethod
    def parse(cls, text: str) -> "Variant":
        """``name`` (the configuration as given) or ``name:key=value,key=value``."""
        name, _, rest = text.partition(":")
        if not re.fullmatch(r"[\w.-]+", name):
            raise ValueError(f"variant {text!r}: expected NAME or NAME:key=value,key=value, "
                             "e.g. trade:stt.recognizer=trade,turn.detector=adaptive")
        return cls(name, [o for o in rest.split(",") if o])


def summarize_variant(turns: list[dict]) -> dict:
    """The call summary (``agent.metrics.summarize``) over all of a variant's turns, plus turns
    never answered and the WER of the turns as understood."""
    calls = summarize(turns)
    errors = sum((word_errors(t["text"], t["transcript"] or "") for t in turns), ErrorCounts())
    eou, v2v = calls["eou_delay_ms"], calls["voice_to_voice_ms"]
    return {"turns": len(turns), "cut_offs": calls["cut_offs"], "taken_early": calls["taken_early"],
            "unanswered": sum(t["eou_delay_ms"] is None for t in turns),
            "eou_p50_ms": eou["p50"], "eou_p95_ms": eou["p95"], "v2v_p50_ms": v2v["p50"], "v2v_p95_ms": v2v["p95"],
            "wer": round(errors.wer, 4), "reference_words": errors.reference_words}


def markdown_table(summary: dict[str, dict], variants: list[Variant]) -> str:
    fmt = lambda v: "–" if v is None else f"{v:.0f}"  # noqa: E731
    lines = ["| variant | overrides | turns | cut off | taken early | unanswered | eou p50 | eou p95 | v2v p50 | "
             "v2v p95 | turn WER |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in variants:
        s = summary[v.name]
        lines.append(f"| {v.name} | `{' '.join(v.overrides) or '(defaults)'}` | {s['turns']} | {s['cut_offs']} | "
                     f"{s['taken_early']} | "
                     f"{s['unanswered']} | {fmt(s['eou_p50_ms'])} ms | {fmt(s['eou_p95_ms'])} ms | "
                     f"{fmt(s['v2v_p50_ms'])} ms | {fmt(s['v2v_p95_ms'])} ms | {100 * s['wer']:.1f} % |")
    return "\n".join(lines) + "\n"


async def run_bench(scenarios: list[Scenario], voices: list[str], variants: list[Variant],
                    configs: dict[str, AgentConfig], out_dir: Path, *, repeats: int = 1, say=print) -> dict:
    """Run every call under every variant; returns (and writes) the per-variant summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    models = {}
    for v in variants:
        say(f"loading models for {v.name}")
        models[v.name] = await asyncio.to_thread(AgentModels.load, configs[v.name])
    calls = [(r, sc, voice) for r in range(repeats) for sc in scenarios for voice in (voices or [sc.caller_voice])]
    turns: dict[str, list[dict]] = {v.name: [] for v in variants}
    n, total = 0, len(calls) * len(variants)
    for r, scenario, voice in calls:
        played = scenario.model_copy(update={"caller_voice": voice})
        slug = re.sub(r"[^\w.-]+", "_", voice)
        for v in variants:
            n += 1
            t = time.monotonic()
            report = await run_call(played, configs[v.name], out_dir / v.name / f"{scenario.name}-{slug}-{r}",
                                    models=models[v.name])
            for row in report.turns:
                turns[v.name].append({"scenario": scenario.name, "voice": voice, "repeat": r, **row})
            s = summarize_variant(report.turns)
            say(f"[{n}/{total}] {v.name:>16} · {scenario.name} · {voice}: {s['turns']} turns, "
                f"{s['cut_offs']} cut off ({s['taken_early']} taken early), eou p50 {s['eou_p50_ms']} ms, "
                f"WER {100 * s['wer']:.0f} % ({time.monotonic() - t:.0f} s)")
    summary = {v.name: summarize_variant(turns[v.name]) for v in variants}
    (out_dir / "bench.json").write_text(json.dumps(
        {"date": time.strftime("%Y-%m-%d"), "repeats": repeats, "voices": voices,
         "scenarios": [s.name for s in scenarios],
         "variants": {v.name: {"overrides": v.overrides, "summary": summary[v.name], "turns": turns[v.name]}
                      for v in variants}}, indent=2))
    (out_dir / "bench.md").write_text(markdown_table(summary, variants))
    return summary
