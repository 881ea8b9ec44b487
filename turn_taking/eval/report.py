"""``python -m turn_taking eval``: trace once, sweep every detector, write report.md and plots.

Operating points are chosen on the tuning split (dev) and measured on the evaluation split; the
eot-bench frontier figures are also given for sweeps on the evaluation split itself, the way
eot-bench reports every detector.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from turn_taking.data.labels import read_dialogues
from turn_taking.detectors.learned import SHIPPED, VOICE, load_weights
from turn_taking.eval.bargein import GRIDS as BARGE_IN_GRIDS
from turn_taking.eval.bargein import choose, sweep_bargein
from turn_taking.eval.metrics import GROUPINGS, caller_wer, cutoff_at, final_arrival, frontier, latency_at, mark_timing
from turn_taking.eval.sweep import TRADE_SETTINGS, replayable, score, sweep
from turn_taking.eval.voice import attach, features_cache, out_of_fold, pause_features, separation
from turn_taking.trace import LISTENING, REFERENCE, TRACE_VERSION, build_traces, read_traces
from turn_taking.voice_end import HEARD_S, load_head
from turn_taking.voice_end import SHIPPED as VOICE_HEAD

PEERS = ("smart_turn", "livekit")


def traces_for(labels: Path, limit: int | None, out: Path, recognizer: str, chunk_ms: int, workers: int,
               options: dict, listening: dict = LISTENING, final_recognizer: str | None = None, peers: bool = True,
               voice: Path | Literal["out_of_fold"] | None = None):
    """``peers=False``: without the peer models' scores (what fitting our own policy needs), unless
    a cache with them is already there: it holds all a run without them reads. ``voice``: with the
    voice-end model's scores of each pause, by that head, or by heads fit on the other voices of
    these dialogues (``turn_taking.eval.voice``)."""
    dialogues = read_dialogues(labels)[:limit]
    path, full = (trace_path(labels, out, recognizer, chunk_ms, options, listening, final_recognizer, with_peers)
                  for with_peers in (peers, True))
    if not peers and full.exists():
        path, peers = full, True
    build_traces(dialogues, path, recognizer, {"chunk_ms": chunk_ms, **options}, with_peers=peers, workers=workers,
                 listening=listening, final_recognizer=final_recognizer)
    traces = read_traces(path)
    if voice:
        pauses = pause_features(dialogues, traces, features_cache(path.parent, labels))
        attach(traces, pauses, out_of_fold(dialogues, pauses) if voice == "out_of_fold" else load_head(voice))
    return replayable(dialogues, traces), traces


def trace_path(labels: Path, out: Path, recognizer: str, chunk_ms: int, options: dict,
               listening: dict = LISTENING, final_recognizer: str | None = None, peers: bool = True) -> Path:
    """Traces are cached per split, recognizer setting, checkpoint *content*, trace version, way
    of hearing the VAD and final recognizer: retrained weights at the same path, or a changed way
    of tracing, are traced afresh."""
    from asr.recognizer import weights_fingerprint

    weights = "" if recognizer == REFERENCE else weights_fingerprint(recognizer, **options)
    key = {**options, "weights": weights, "trace": TRACE_VERSION,
           "listening": listening}
    if not peers:
        key["peers"] = False
    if final_recognizer:
        key["final"] = {"name": final_recognizer, "weights": weights_fingerprint(final_recognizer)}
    tag = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return traces_folder(out) / f"{labels.stem}-{recognizer}-{chunk_ms}-{tag}.jsonl"


def traces_folder(out: Path) -> Path:
    """Where a run (or a fit's ``--traces``) keeps its traces and their voice features."""
    return out / "traces"


def _fmt(r: dict | None, key: str) -> str:
    if r is None:
        return "not reached"
    return f"{100 * r['cutoff_rate']:.1f} %" if key == "cutoff" else f"{r['latency_ms']:.0f} ms"


def evaluate(dialogues: Path, tune: Path, detectors: list[str], out: Path, limit: int | None = None,
             tune_limit: int | None = None, recognizer: str = "trade", chunk_ms: int = 320, workers: int = 2,
             options: dict | None = None, listening: dict = LISTENING, final_recognizer: str | None = None,
             fixed: dict[str, dict] | None = None) -> dict:
    """``final_recognizer``: score the agent's hybrid, whose caller text is that recognizer's
    transcript of each VAD segment (``stt.final_recognizer``); ``fixed``: per detector, options
    every setting of its sweep shares (the learned detector's weights file)."""
    out.mkdir(parents=True, exist_ok=True)
    peers = any(n in PEERS for n in detectors)  # the peer models run only for the detectors that read them
    voice = VOICE_HEAD if "learned" in detectors and VOICE[0] in load_weights(
        (fixed or {}).get("learned", {}).get("weights", SHIPPED))[1] else None
    (test, test_traces), (dev, _) = (
        traces_for(split, n, out, recognizer, chunk_ms, workers, options or {}, listening, final_recognizer, peers,
                   voice) for split, n in ((dialogues, limit), (tune, tune_limit)))
    summary = {}
    for name in detectors:
        keep = (fixed or {}).get(name)
        dev_rows, test_rows = sweep(name, dev, "dev", keep), sweep(name, test, "test", keep)
        by_params = {json.dumps(r["params"], sort_keys=True): r for r in test_rows}
        on_test = lambda r: r and by_params[json.dumps(r["params"], sort_keys=True)]  # noqa: E731
        summary[name] = {
            "frontier": frontier(test_rows),
            "test_sweep": {"latency_at_5": latency_at(test_rows, 0.05), "latency_at_10": latency_at(test_rows, 0.10),
                           "cutoff_at_300": cutoff_at(test_rows, 300), "cutoff_at_600": cutoff_at(test_rows, 600)},
            "dev_sweep": {"latency_at_5": latency_at(dev_rows, 0.05), "latency_at_10": latency_at(dev_rows, 0.10)},
            "dev_chosen": {"at_5": on_test(latency_at(dev_rows, 0.05)), "at_10": on_test(latency_at(dev_rows, 0.10)),
                           "best_f1": on_test(max(dev_rows, key=lambda r: r["f1_at_take"]))},
        }
        if name in TRADE_SETTINGS:
            summary[name]["trade_protocol"] = score(name, TRADE_SETTINGS[name], test, "test")
        (out / f"sweep-{name}.json").write_text(json.dumps({"dev": dev_rows, "test": test_rows}, indent=1))
    barge_in = {}
    for name in BARGE_IN_GRIDS:
        dev_rows, test_rows = sweep_bargein(name, dev, "dev"), sweep_bargein(name, test, "test")
        chosen = choose(dev_rows)
        barge_in[name] = {"dev_chosen": next(r for r in test_rows if r["params"] == chosen["params"]),
                          "dev": chosen}
        (out / f"sweep-bargein-{name}.json").write_text(json.dumps({"dev": dev_rows, "test": test_rows}, indent=1))
    marks, heard = mark_timing(test), caller_wer(test)
    finals = final_arrival(test_traces[d.id] for d, _ in test) if final_recognizer else None
    voice_end = separation([d for d, _ in test], test_traces) if voice else None
    (out / "summary.json").write_text(json.dumps({**summary, "barge_in": barge_in, "sentence_end_marks": marks,
                                                  "caller_wer": heard, "final_transcripts": finals,
                                                  "voice_end": voice_end}, indent=1))
    plot_frontiers(summary, out / "pareto.png")
    described = recognizer + "".join(f" {k}={v}" for k, v in sorted((options or {}).items()))
    described += "".join(f", {k}={v}" for k, v in sorted(listening.items()))
    described += f", final transcripts by {final_recognizer}" if final_recognizer else ""
    (out / "report.md").write_text(markdown(summary, len(test), len(dev), described, chunk_ms)
                                   + recognizer_markdown(marks, heard, finals) + voice_markdown(voice_end)
                                   + bargein_markdown(barge_in))
    return summary


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v:.0f} ms"


def recognizer_markdown(m: dict, heard: dict, finals: dict | None = None) -> str:
    hybrid = "" if finals is None else (
        f" The words are the final recognizer's: its {finals['finals']} segment finals are heard "
        f"{_ms(finals['p50_ms'])} / {_ms(finals['p90_ms'])} (p50 / p90) after the speech end they cover. "
        "In the agent no turn is taken before its last one, which the replay above does not model.")
    return ("\n## The recognizer on the caller channel (test)\n\n"
            f"WER of all it wrote, one stream per stretch of speech as in the agent: {100 * heard['wer']:.2f} % "
            f"of {heard['words']} words ({heard['substitutions']} substituted, {heard['deletions']} deleted, "
            f"{heard['insertions']} inserted).{hybrid}\n"
            "\n### Its sentence-end marks\n\n"
            "A mark placed within 0.5 s of a silence's onset and heard before speech resumes, whatever a detector "
            "makes of it.\n\n| turn ends marked | heard after the end, p50 / p90 | holds marked (false ends) |\n"
            f"|---|---|---|\n| {100 * m['eots_marked']:.1f} % of {m['eots']} | {_ms(m['arrival_p50_ms'])} / "
            f"{_ms(m['arrival_p90_ms'])} | {100 * m['holds_marked']:.1f} % of {m['holds']} |\n")


def voice_markdown(v: dict | None) -> str:
    if v is None:
        return ""
    fmt = lambda a: "–" if a is None else f"{a:.3f}"  # noqa: E731
    voices = " · ".join(f"{name} {fmt(a)}" for name, a in v["by_voice"].items())
    c, heard = v["compute_ms"], f"{HEARD_S * 1000:.0f} ms"
    arrival = (f"\nEach score reaches the detectors once the encoder has run on this machine: {c['p50']:.0f} / "
               f"{c['p90']:.0f} ms a pause (p50 / p90 of {c['pauses']}) after the {heard} of silence it heard. "
               "The peers' scores are replayed with no compute.\n") if c["pauses"] else ""
    return ("\n## The voice-end model on the caller channel (test)\n\n"
            f"How often a turn's end sounds more finished than a hold, {heard} into each pause (AUC): "
            f"{fmt(v['auc'])} over {v['ends']} ends and {v['holds']} holds. By caller voice: {voices}.\n" + arrival)


def bargein_markdown(barge_in: dict) -> str:
    lines = ["\n## Barge-in (setting chosen on dev, measured on test)\n",
             "`vad`: cancel at every speech onset · `confirm`: cancel on an interruption word or long speech · "
             "`pause_confirm`: pause the bot at onset, then cancel or resume. Stop: caller onset → bot audio "
             "stops (paused or cancelled); confirm: → reply cancelled; pause: how long a backchannel paused the bot.\n",
             "| policy | setting | backchannels falsely interrupting | paused | pause p50 | interruptions missed "
             "| stop p50 | stop p90 | confirm p50 |", "|---|---|---|---|---|---|---|---|---|"]
    for name, b in barge_in.items():
        r = b["dev_chosen"]
        lines.append(f"| {name} | `{r['params']}` | {100 * r['false_interruption_rate']:.1f} % of {r['backchannels']} | "
                     f"{100 * r['pause_rate']:.0f} % | {_ms(r['pause_p50_ms'])} | "
                     f"{100 * r['missed_rate']:.1f} % of {r['interruptions']} | {_ms(r['stop_p50_ms'])} | "
                     f"{_ms(r['stop_p90_ms'])} | {_ms(r['confirm_p50_ms'])} |")
    return "\n".join(lines) + "\n"


def markdown(summary: dict, n_test: int, n_dev: int, recognizer: str, chunk_ms: int) -> str:
    lines = [f"# Turn-taking evaluation\n\n{n_test} test dialogues, operating points chosen on "
             f"{n_dev} dev dialogues; recognizer {recognizer} at {chunk_ms} ms; latency is the mean dead air "
             "after the true end of turn.\n",
             "F1 (TRADE protocol) scores where each take puts the end of the turn (the silence onset, or "
             "the mark's stamp for punctuation-only); F1 at take scores when the take happens.\n",
             "## eot-bench protocol (sweep on test)\n",
             "| detector | latency @5% cutoffs | @10% | cutoffs @300 ms | @600 ms | fewest cutoffs (at latency) |",
             "|---|---|---|---|---|---|"]
    for name, s in summary.items():
        t, low = s["test_sweep"], s["frontier"][0]
        lines.append(f"| {name} | {_fmt(t['latency_at_5'], 'lat')} | {_fmt(t['latency_at_10'], 'lat')} | "
                     f"{_fmt(t['cutoff_at_300'], 'cutoff')} | {_fmt(t['cutoff_at_600'], 'cutoff')} | "
                     f"{_fmt(low, 'cutoff')} ({_fmt(low, 'lat')}) |")
    lines += ["\n## Settings chosen on dev, measured on test\n",
              "| detector | dev sweep: latency @5% / @10% | setting (≤5% cutoffs on dev) | test cutoffs | test latency "
              "| best F1-at-take setting | P at take | R at take | F1 at take | F1 |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        a, f, d = s["dev_chosen"]["at_5"], s["dev_chosen"]["best_f1"], s["dev_sweep"]
        first = (f"`{a['params']}` | {100 * a['cutoff_rate']:.1f} % | {a['latency_ms']:.0f} ms" if a
                 else "not reached | – | –")
        lines.append(f"| {name} | {_fmt(d['latency_at_5'], 'lat')} / {_fmt(d['latency_at_10'], 'lat')} | {first} | "
                     f"`{f['params']}` | {f['precision_at_take']:.3f} | "
                     f"{f['recall_at_take']:.3f} | {f['f1_at_take']:.3f} | {f['f1']:.3f} |")
    lines += trade_protocol_markdown(summary)
    best_f1 = {name: s["dev_chosen"]["best_f1"] for name, s in summary.items()}
    lines += ["\n## By category (the dev-chosen best-F1-at-take setting, on test)\n"]
    lines += _by_table({name: f["hold_cutoff_by_category"] for name, f in best_f1.items()},
                       lambda v: f"{100 * v:.0f} %", lambda c: f"hold {c}") + [""]
    lines += _by_table({name: f["eot_latency_ms_by_category"] for name, f in best_f1.items()},
                       lambda v: f"{v:.0f} ms", lambda c: f"eot {c}")
    at_5 = {name: r for name, s in summary.items() if (r := s["test_sweep"]["latency_at_5"])}
    if at_5:
        n = next(iter(at_5.values()))
        lines += ["\n## At the 5 % point (each detector's setting at 5 % cutoffs on the test sweep)\n",
                  "Where the bar's cutoffs and dead air fall: hold cutoffs · mean latency after the end, per "
                  "category and per caller voice (holds / ends; – where there are none)."]
        for g in GROUPINGS:
            lines += [""] + _by_table(
                {name: {k: (r[f"hold_cutoff_by_{g}"].get(k), r[f"eot_latency_ms_by_{g}"].get(k))
                        for k in {*r[f"holds_by_{g}"], *r[f"eots_by_{g}"]}} for name, r in at_5.items()},
                lambda c: f"{'–' if c[0] is None else f'{100 * c[0]:.1f} %'} · {_ms(c[1])}",
                lambda k, g=g: f"{k} ({n[f'holds_by_{g}'].get(k, 0)} / {n[f'eots_by_{g}'].get(k, 0)})")
    lines.append("\n![Pareto frontiers](pareto.png)\n")
    return "\n".join(lines)


def trade_protocol_markdown(summary: dict) -> list[str]:
    rows = {name: s["trade_protocol"] for name, s in summary.items() if "trade_protocol" in s}
    if not rows:
        return []
    lines = ["\n## TRADE protocol (the paper's fixed detectors, on test)\n",
             "Each fires at every silence the VAD reports (punctuation-only at every mark), with no fallback timer.\n",
             "| detector | setting | P | R | F1 | F1 at take | cutoffs | latency |", "|---" * 8 + "|"]
    for name, r in rows.items():
        lines.append(f"| {name} | `{r['params']}` | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
                     f"{r['f1_at_take']:.3f} | {100 * r['cutoff_rate']:.1f} % | {r['latency_ms']:.0f} ms |")
    return lines


def _by_table(rows: dict[str, dict], cell, head) -> list[str]:
    """A breakdown: a row per detector, a column per group of its ``rows[name]`` (group → value)."""
    groups = sorted({g for r in rows.values() for g in r})
    lines = ["| detector | " + " | ".join(head(g) for g in groups) + " |", "|---" * (1 + len(groups)) + "|"]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(cell(r[g]) if g in r else "–" for g in groups) + " |")
    return lines


def plot_frontiers(summary: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, s in summary.items():
        rows = s["frontier"]
        ax.plot([100 * r["cutoff_rate"] for r in rows], [r["latency_ms"] for r in rows], marker="o", ms=3, label=name)
    ax.axvline(5, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("false cutoffs (% of hold silences)")
    ax.set_ylabel("mean latency after end of turn (ms)")
    ax.set_title("End-of-turn detectors: Pareto frontiers (test split)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
