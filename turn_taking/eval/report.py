"""``python -m turn_taking eval``: trace once, sweep every detector, write report.md and plots.

Operating points are chosen on the tuning split (dev) and measured on the evaluation split; the
eot-bench frontier figures are also given for sweeps on the evaluation split itself, the way
eot-bench reports every detector.
"""

from __future__ import annotations

import json
from pathlib import Path

from turn_taking.data.labels import read_dialogues
from turn_taking.eval.metrics import cutoff_at, frontier, latency_at
from turn_taking.eval.sweep import replayable, sweep
from turn_taking.trace import build_traces, read_traces

PEERS = ("smart_turn", "livekit")


def traces_for(labels: Path, limit: int | None, out: Path, recognizer: str, chunk_ms: int, workers: int):
    dialogues = read_dialogues(labels)[:limit]
    path = out / "traces" / f"{labels.stem}-{recognizer}-{chunk_ms}.jsonl"
    build_traces(dialogues, path, recognizer, {"chunk_ms": chunk_ms}, workers=workers)
    return replayable(dialogues, read_traces(path))


def _fmt(r: dict | None, key: str) -> str:
    if r is None:
        return "not reached"
    return f"{100 * r['cutoff_rate']:.1f} %" if key == "cutoff" else f"{r['latency_ms']:.0f} ms"


def evaluate(dialogues: Path, tune: Path, detectors: list[str], out: Path, limit: int | None = None,
             tune_limit: int | None = None, recognizer: str = "trade", chunk_ms: int = 320, workers: int = 2) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    test, dev = (traces_for(dialogues, limit, out, recognizer, chunk_ms, workers),
                 traces_for(tune, tune_limit, out, recognizer, chunk_ms, workers))
    summary = {}
    for name in detectors:
        dev_rows, test_rows = sweep(name, dev, "dev"), sweep(name, test, "test")
        by_params = {json.dumps(r["params"], sort_keys=True): r for r in test_rows}
        on_test = lambda r: r and by_params[json.dumps(r["params"], sort_keys=True)]  # noqa: E731
        summary[name] = {
            "frontier": frontier(test_rows),
            "test_sweep": {"latency_at_5": latency_at(test_rows, 0.05), "latency_at_10": latency_at(test_rows, 0.10),
                           "cutoff_at_300": cutoff_at(test_rows, 300), "cutoff_at_600": cutoff_at(test_rows, 600)},
            "dev_chosen": {"at_5": on_test(latency_at(dev_rows, 0.05)), "at_10": on_test(latency_at(dev_rows, 0.10)),
                           "best_f1": on_test(max(dev_rows, key=lambda r: r["f1"]))},
        }
        (out / f"sweep-{name}.json").write_text(json.dumps({"dev": dev_rows, "test": test_rows}, indent=1))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    plot_frontiers(summary, out / "pareto.png")
    (out / "report.md").write_text(markdown(summary, len(test), len(dev), recognizer, chunk_ms))
    return summary


def markdown(summary: dict, n_test: int, n_dev: int, recognizer: str, chunk_ms: int) -> str:
    lines = [f"# Turn-taking evaluation\n\n{n_test} test dialogues, operating points chosen on "
             f"{n_dev} dev dialogues; recognizer {recognizer} at {chunk_ms} ms; latency is the mean dead air "
             "after the true end of turn.\n",
             "## eot-bench protocol (sweep on test)\n",
             "| detector | latency @5% cutoffs | @10% | cutoffs @300 ms | @600 ms | fewest cutoffs (at latency) |",
             "|---|---|---|---|---|---|"]
    for name, s in summary.items():
        t, low = s["test_sweep"], s["frontier"][0]
        lines.append(f"| {name} | {_fmt(t['latency_at_5'], 'lat')} | {_fmt(t['latency_at_10'], 'lat')} | "
                     f"{_fmt(t['cutoff_at_300'], 'cutoff')} | {_fmt(t['cutoff_at_600'], 'cutoff')} | "
                     f"{_fmt(low, 'cutoff')} ({_fmt(low, 'lat')}) |")
    lines += ["\n## Settings chosen on dev, measured on test\n",
              "| detector | setting (≤5% cutoffs on dev) | test cutoffs | test latency | best-F1 setting | P | R | F1 |",
              "|---|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        a, f = s["dev_chosen"]["at_5"], s["dev_chosen"]["best_f1"]
        first = (f"`{a['params']}` | {100 * a['cutoff_rate']:.1f} % | {a['latency_ms']:.0f} ms" if a
                 else "not reached | – | –")
        lines.append(f"| {name} | {first} | `{f['params']}` | {f['precision']:.3f} | {f['recall']:.3f} | {f['f1']:.3f} |")
    lines += ["\n## By category (the dev-chosen best-F1 setting, on test)\n",
              "| detector | " + " | ".join(f"hold {c}" for c in _cats(summary, "hold_cutoff_by_category")) + " |"]
    lines.append("|---" * (1 + len(_cats(summary, "hold_cutoff_by_category"))) + "|")
    for name, s in summary.items():
        f = s["dev_chosen"]["best_f1"]
        lines.append(f"| {name} | " + " | ".join(f"{100 * f['hold_cutoff_by_category'].get(c, 0):.0f} %"
                                                   for c in _cats(summary, "hold_cutoff_by_category")) + " |")
    cats = _cats(summary, "eot_latency_ms_by_category")
    lines += ["", "| detector | " + " | ".join(f"eot {c}" for c in cats) + " |", "|---" * (1 + len(cats)) + "|"]
    for name, s in summary.items():
        f = s["dev_chosen"]["best_f1"]
        lines.append(f"| {name} | " + " | ".join(f"{f['eot_latency_ms_by_category'].get(c, 0):.0f} ms" for c in cats) + " |")
    lines.append("\n![Pareto frontiers](pareto.png)\n")
    return "\n".join(lines)


def _cats(summary: dict, key: str) -> list[str]:
    return sorted({c for s in summary.values() for c in s["dev_chosen"]["best_f1"][key]})


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
