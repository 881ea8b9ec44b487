"""Latency breakdown plot for a call: where each caller turn's voice-to-voice time went."""

from __future__ import annotations

from pathlib import Path

STAGES = [("eou_delay_ms", "speech end → turn taken", "#4C72B0"),
          ("llm_ttft_ms", "LLM first token", "#DD8452"),
          ("first_clause_ms", "LLM first clause", "#C4AD66"),
          ("tts_ttfb_ms", "TTS first audio + playout", "#55A868")]


def breakdown(row: dict) -> dict | None:
    """Split a turn's voice_to_voice into consecutive stages (ms); None if the turn was not answered."""
    need = ("eou_delay_ms", "llm_ttft_ms", "tts_ttfb_ms", "voice_to_voice_ms")
    if any(row.get(k) is None for k in need):
        return None
    measured = row["eou_delay_ms"] + row["llm_ttft_ms"] + row["tts_ttfb_ms"]
    rest = max(0.0, row["voice_to_voice_ms"] - measured)
    # what the measured stages do not cover is mostly generating the first speakable clause
    return {"eou_delay_ms": row["eou_delay_ms"], "llm_ttft_ms": row["llm_ttft_ms"],
            "first_clause_ms": rest, "tts_ttfb_ms": row["tts_ttfb_ms"]}


def plot_latency_breakdown(rows: list[dict], path: str | Path, title: str = "voice-to-voice breakdown"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    answered = [(r, b) for r in rows if (b := breakdown(r))]
    fig, ax = plt.subplots(figsize=(9, 0.6 * max(3, len(answered)) + 1.6))
    for y, (row, parts) in enumerate(answered):
        left = 0.0
        for key, label, color in STAGES:
            ax.barh(y, parts[key], left=left, color=color, label=label if y == 0 else None)
            left += parts[key]
        ax.text(left + 20, y, f"{row['voice_to_voice_ms']:.0f} ms", va="center", fontsize=9)
    ax.set_yticks(range(len(answered)),
                  [f"turn {r['turn']}" + (" (barge-in)" if r["start"] == "barge_in" else "") for r, _ in answered])
    ax.invert_yaxis()
    ax.set_xlabel("ms after the caller's true speech end")
    ax.set_title(title)
    ax.set_xlim(0, 1.12 * max((r["voice_to_voice_ms"] for r, _ in answered), default=1000))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(STAGES), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
