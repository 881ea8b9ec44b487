"""Turn-taking metrics: the definitions that every table in ``turn_taking/RESULTS.md`` uses.

* eot-bench protocol: every labelled silence is a decision point. A ``hold`` is *cut off* when
  the detector takes the turn before the caller resumes; an ``eot``'s *latency* is the dead air
  from the true end of turn to the take (when no take comes before the caller speaks again, the
  whole gap counts). Both use when each take happens.
* TRADE protocol: the ends the detector predicts (where in the audio it puts each take's end:
  the silence onset, or a punctuation stamp) against the reference turn ends (eot onsets),
  greedy one-to-one matching within 0.5 s → precision, recall, F1. How late the take comes is
  eot-bench's business, so the same matching on the take times is reported beside it
  (``f1_at_take``): it also asks that the decision come within 0.5 s.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from asr.eval.harness import voice_groups
from asr.eval.wer import ErrorCounts, word_errors
from turn_taking.data.labels import Dialogue
from turn_taking.replay import Take

GROUPINGS = ("category", "voice")  # the breakdowns every score carries
EARLY_S = 0.25  # a take this far before the labelled onset still belongs to that silence (VAD cuts early)
F1_TOLERANCE_S = 0.5


@dataclass
class Scores:
    holds: int = 0
    cutoffs: int = 0
    latencies: list[float] = field(default_factory=list)
    matched: int = 0
    matched_at_take: int = 0
    takes: int = 0
    ends: int = 0
    hold_by: dict[str, dict[str, list[int]]] = field(  # grouping → group → [cut, holds]
        default_factory=lambda: {g: defaultdict(lambda: [0, 0]) for g in GROUPINGS})
    eot_by: dict[str, dict[str, list[float]]] = field(default_factory=lambda: {g: defaultdict(list) for g in GROUPINGS})

    def add(self, dialogue: Dialogue, takes: list[Take]):
        starts = sorted(w.start for w in dialogue.words)
        t = np.asarray(sorted(k.at for k in takes))
        voice = voice_groups(dialogue.caller_voice)[0]  # the base voice, without an espeak variant
        for s in dialogue.silences:
            groups = {"category": s.category, "voice": voice}
            if s.label == "hold":
                cut = bool(np.any((t >= s.start - EARLY_S) & (t < s.end)))
                self.holds += 1
                self.cutoffs += cut
                for g, key in groups.items():
                    self.hold_by[g][key][0] += cut
                    self.hold_by[g][key][1] += 1
            else:
                resume = next((w for w in starts if w > s.start + 1e-6), dialogue.duration)
                hit = t[(t >= s.start - EARLY_S) & (t < resume)]
                latency = max(0.0, float(hit[0]) - s.start) if len(hit) else resume - s.start
                self.latencies.append(latency)
                for g, key in groups.items():
                    self.eot_by[g][key].append(latency)
        ends = [s.start for s in dialogue.silences if s.label == "eot"]
        self.matched += greedy_matches([k.ends_at for k in takes], ends, F1_TOLERANCE_S)
        self.matched_at_take += greedy_matches(list(t), ends, F1_TOLERANCE_S)
        self.takes += len(t)
        self.ends += len(ends)

    def summary(self) -> dict:
        lat = np.asarray(self.latencies) * 1000
        p, r = self._precision_recall(self.matched)
        p_take, r_take = self._precision_recall(self.matched_at_take)
        return {"cutoff_rate": self.cutoffs / max(1, self.holds), "latency_ms": float(lat.mean()) if len(lat) else 0.0,
                "latency_p50_ms": float(np.median(lat)) if len(lat) else 0.0,
                "latency_p90_ms": float(np.percentile(lat, 90)) if len(lat) else 0.0,
                "precision": p, "recall": r, "f1": _f1(p, r),
                "precision_at_take": p_take, "recall_at_take": r_take, "f1_at_take": _f1(p_take, r_take),
                "holds": self.holds, "eots": len(lat),
                **{f"hold_cutoff_by_{g}": {k: v[0] / v[1] for k, v in sorted(self.hold_by[g].items())}
                   for g in GROUPINGS},
                **{f"holds_by_{g}": {k: v[1] for k, v in sorted(self.hold_by[g].items())} for g in GROUPINGS},
                **{f"eot_latency_ms_by_{g}": {k: 1000 * float(np.mean(v)) for k, v in sorted(self.eot_by[g].items())}
                   for g in GROUPINGS},
                **{f"eots_by_{g}": {k: len(v) for k, v in sorted(self.eot_by[g].items())} for g in GROUPINGS}}

    def _precision_recall(self, matched: int) -> tuple[float, float]:
        return matched / self.takes if self.takes else 0.0, matched / self.ends if self.ends else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def greedy_matches(pred: list[float], ref: list[float], tol: float) -> int:
    """One-to-one matches within ``tol``, closest pairs first."""
    pairs = sorted((abs(p - r), i, j) for i, p in enumerate(pred) for j, r in enumerate(ref) if abs(p - r) <= tol)
    used_p, used_r, n = set(), set(), 0
    for _, i, j in pairs:
        if i not in used_p and j not in used_r:
            used_p.add(i)
            used_r.add(j)
            n += 1
    return n


def frontier(rows: list[dict]) -> list[dict]:
    """The Pareto-optimal rows: no other row has both fewer cutoffs and less latency."""
    best, out = float("inf"), []
    for r in sorted(rows, key=lambda r: (r["cutoff_rate"], r["latency_ms"])):
        if r["latency_ms"] < best:
            best = r["latency_ms"]
            out.append(r)
    return out


def latency_at(rows: list[dict], cutoff: float) -> dict | None:
    """The fastest row whose cutoff rate is at most ``cutoff``."""
    ok = [r for r in rows if r["cutoff_rate"] <= cutoff + 1e-12]
    return min(ok, key=lambda r: r["latency_ms"]) if ok else None


def cutoff_at(rows: list[dict], latency_ms: float) -> dict | None:
    """The row with the fewest cutoffs whose mean latency is at most ``latency_ms``."""
    ok = [r for r in rows if r["latency_ms"] <= latency_ms]
    return min(ok, key=lambda r: r["cutoff_rate"]) if ok else None


def mark_timing(replayable: list[tuple[Dialogue, list]]) -> dict:
    """How the recognizer's sentence-end marks serve turn-taking, whatever a detector makes of
    them: the share of turn ends with a mark placed within 0.5 s and heard before the caller or
    the bot speaks again, how long after the end it is heard (p50 / p90), and the share of holds
    with such a mark (a false end)."""
    arrivals, eots, holds, false_ends = [], 0, 0, 0
    for dialogue, sigs in replayable:
        marks = [(s.at, s.args[1]) for s in sigs if s.kind == "sentence_end"]
        for silence in dialogue.silences:
            heard = [at for at, time_s in marks if abs(time_s - silence.start) <= F1_TOLERANCE_S and at < silence.end]
            if silence.label == "eot":
                eots += 1
                arrivals += [min(heard) - silence.start] if heard else []
            else:
                holds += 1
                false_ends += bool(heard)
    p50, p90 = (float(np.percentile(arrivals, q)) * 1000 if arrivals else None for q in (50, 90))
    return {"eots": eots, "eots_marked": len(arrivals) / max(1, eots), "arrival_p50_ms": p50, "arrival_p90_ms": p90,
            "holds": holds, "holds_marked": false_ends / max(1, holds)}


def final_arrival(traces) -> dict:
    """In the hybrid, how long after the speech end it covers each segment final is heard
    (p50 / p90). The agent takes no turn before its last segment's final has arrived, which the
    replay does not model: a detector due sooner waits for it."""
    delays = [e.at - e.time for t in traces for e in t.events if e.kind == "segment_final"]
    p50, p90 = (float(np.percentile(delays, q)) * 1000 if delays else None for q in (50, 90))
    return {"finals": len(delays), "p50_ms": p50, "p90_ms": p90}


def caller_wer(replayable: list[tuple[Dialogue, list]]) -> dict:
    """WER of everything the recognizer wrote on the caller channels, as the agent hears them
    (one stream per stretch of speech), against what the callers said: turns, backchannels and
    barge-ins in order."""
    counts = ErrorCounts()
    for dialogue, sigs in replayable:
        heard = next((" ".join(s.args).strip() for s in reversed(sigs) if s.kind == "transcript"), "")
        counts += word_errors(" ".join(text for _, _, text in dialogue.caller_speech()), heard)
    return {"wer": counts.wer, "words": counts.reference_words, "substitutions": counts.substitutions,
            "deletions": counts.deletions, "insertions": counts.insertions}

