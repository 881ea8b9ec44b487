"""Barge-in evaluation on the same cached caller traces as the end-of-turn sweep.

The bot speaks over each labelled bot turn (a turn the dialogue cut for an interruption is taken
to go on for 2 s past the interruption: the policy, not the recording, decides when it stops).
Each caller overlap is scored by the actions the policy took from its onset to the end of that
bot turn:

* backchannel: a *false interruption* when the reply was cancelled; a *pause* when the bot's
  audio stopped for a while and resumed (the cost of pausing, reported with its length);
* interruption: *stop latency* from the caller's speech onset to the bot's audio stopping
  (paused or cancelled); *confirm latency* to the cancellation; *missed* when it never came.
"""

from __future__ import annotations

import itertools

import numpy as np

from turn_taking.bargein import Action, BargeInClassifier, BargeInPolicy
from turn_taking.data.labels import Dialogue
from turn_taking.replay import Signal

CUT_TURN_RUNS_ON_S = 2.0
ONSET_SLACK_S = 0.3  # a VAD onset this far before the labelled overlap start still belongs to it
GRIDS = {
    "vad": [{"pause_on_speech": False, "max_backchannel_s": 0.0, "keywords": False}],
    "confirm": [{"pause_on_speech": False, "max_backchannel_s": m, "keywords": k}
                for m, k in itertools.product([0.4, 0.6, 0.8, 1.0, 1.2], [False, True])],
    "pause_confirm": [{"pause_on_speech": True, "max_backchannel_s": m, "keywords": k, "resume_after_s": r}
                      for m, k, r in itertools.product([0.6, 0.8, 1.0, 1.2], [False, True], [0.2, 0.4, 0.8])],
}


def bot_intervals(dialogue: Dialogue) -> list[tuple[float, float]]:
    out = []
    for i, t in enumerate(dialogue.turns):
        if t.speaker != "bot":
            continue
        end = t.end
        if t.cut_at is not None:
            end = max([end] + [o.end + CUT_TURN_RUNS_ON_S for o in dialogue.overlaps if o.bot_turn == i])
        out.append((t.start, end))
    return out


def replay_bargein(sigs: list[Signal], bots: list[tuple[float, float]], policy: BargeInPolicy) -> list[Action]:
    """The policy's actions over a dialogue: caller signals and bot start/stop in media time."""
    bot_events = [Signal(a, "bot_started", ()) for a, _ in bots] + [Signal(b, "bot_stopped", ()) for _, b in bots]
    clf, actions = BargeInClassifier(policy), []
    committed, heard_from = "", 0
    for s in sorted(sigs + bot_events, key=lambda s: s.at):
        actions += clf.advance(s.at)
        if s.kind == "bot_started":
            clf.bot_started()
        elif s.kind == "bot_stopped":
            clf.bot_stopped()
        elif s.kind == "speech_start":
            if not clf.deciding:
                heard_from = len(committed)
            actions += clf.on_speech_start(s.args[0], s.at)
        elif s.kind == "speech_end":
            actions += clf.on_speech_end(s.args[0], s.at)
        elif s.kind == "transcript":
            committed, partial = s.args
            actions += clf.on_transcript(f"{committed[heard_from:]} {partial}", s.at)
    return actions


class BargeInScores:
    def __init__(self):
        self.backchannels = self.false_interruptions = self.paused = 0
        self.pause_s: list[float] = []
        self.interruptions = self.missed = 0
        self.stop_s: list[float] = []
        self.confirm_s: list[float] = []

    def add(self, dialogue: Dialogue, bots: list[tuple[float, float]], actions: list[Action]):
        for o in dialogue.overlaps:
            bot_end = next(b for a, b in bots if a <= o.start <= b + ONSET_SLACK_S)
            mine = [a for a in actions if o.start - ONSET_SLACK_S <= a.at <= bot_end]
            first = {kind: next((a.at for a in mine if a.kind == kind), None) for kind in ("pause", "resume", "interrupt")}
            if o.label == "backchannel":
                self.backchannels += 1
                self.false_interruptions += first["interrupt"] is not None
                if first["pause"] is not None:
                    self.paused += 1
                    end = first["resume"] or first["interrupt"] or bot_end
                    self.pause_s.append(end - first["pause"])
            else:
                self.interruptions += 1
                stops = [t for t in (first["pause"], first["interrupt"]) if t is not None]
                if stops:
                    self.stop_s.append(max(0.0, min(stops) - o.start))
                if first["interrupt"] is None:
                    self.missed += 1
                else:
                    self.confirm_s.append(max(0.0, first["interrupt"] - o.start))

    def summary(self) -> dict:
        ms = lambda xs, q: float(np.percentile(np.asarray(xs) * 1000, q)) if xs else None  # noqa: E731
        return {"backchannels": self.backchannels,
                "false_interruption_rate": self.false_interruptions / max(1, self.backchannels),
                "pause_rate": self.paused / max(1, self.backchannels), "pause_p50_ms": ms(self.pause_s, 50),
                "interruptions": self.interruptions, "missed_rate": self.missed / max(1, self.interruptions),
                "stop_p50_ms": ms(self.stop_s, 50), "stop_p90_ms": ms(self.stop_s, 90),
                "confirm_p50_ms": ms(self.confirm_s, 50)}


def sweep_bargein(name: str, pairs: list[tuple[Dialogue, list[Signal]]], split: str) -> list[dict]:
    rows, bots = [], [bot_intervals(d) for d, _ in pairs]
    for params in GRIDS[name]:
        policy, scores = BargeInPolicy(**params), BargeInScores()
        for (d, sigs), b in zip(pairs, bots):
            scores.add(d, b, replay_bargein(sigs, b, policy))
        rows.append({"policy": name, "split": split, "params": params, "dialogues": len(pairs), **scores.summary()})
    return rows


def choose(rows: list[dict], max_false: float = 0.05) -> dict:
    """On dev: the fewest missed interruptions with at most ``max_false`` false interruptions,
    then the fastest stop, the fastest confirmation, the shortest pauses (the least false otherwise).
    Where dev cannot tell settings apart, the longest ``max_backchannel_s``: it costs nothing there
    and leaves room for backchannels longer than dev's."""
    ok = [r for r in rows if r["false_interruption_rate"] <= max_false] or \
        [min(rows, key=lambda r: r["false_interruption_rate"])]
    return min(ok, key=lambda r: (r["missed_rate"], r["stop_p50_ms"] or 1e9, r["confirm_p50_ms"] or 1e9,
                                  r["pause_p50_ms"] or 0, -r["params"]["max_backchannel_s"]))
