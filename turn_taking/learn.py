"""Fit the learned end-of-turn policy (``turn_taking.detectors.learned``) on labelled dialogues.

Each dialogue's cached trace is replayed as a call hears it. Every ``step_s`` of every silence
the VAD reports, while the silence lasts, the evidence the detector holds at that moment is one
example: labelled 1 inside a labelled end of turn, 0 inside a hold, and left out elsewhere
(silences nobody labelled, such as a caller's pause over the bot). Only silences still running
at ``τ`` are examples at ``τ``, so the fit estimates the chance the turn is over given that the
caller has not resumed yet: what a policy deciding at ``τ`` needs. The turn's text restarts
when the bot answers each labelled end, as it does once a call takes the turn. Every silence
weighs the same in the fit (``per_silence``), as every hold and every end does in the evaluation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize

from turn_taking.data.labels import Dialogue
from turn_taking.detectors.adaptive import PauseEvidence
from turn_taking.detectors.learned import BASIS, EVIDENCE, VOICE, basis, evidence, feature_names, features
from turn_taking.eval.metrics import EARLY_S, Scores, latency_at
from turn_taking.replay import Listener, Signal

STEP_S, MAX_S = 0.05, 3.0


class Moments(NamedTuple):
    """The examples as arrays: evidence ``e`` (n, evidence), silence so far ``tau``, label ``y``,
    and which silence and which dialogue (in the order added) each is a moment of."""
    e: np.ndarray
    tau: np.ndarray
    y: np.ndarray
    silence: np.ndarray
    dialogue: np.ndarray


class Examples:
    """Evidence ``e`` (n, evidence ``names``), silence so far ``tau`` (n,) and labels ``y`` (n,),
    over every dialogue added."""

    def __init__(self, names: tuple[str, ...] = EVIDENCE):
        self.names = names
        self.e: list[np.ndarray] = []
        self.tau: list[float] = []
        self.y: list[int] = []
        self.silence: list[int] = []  # which silence each example is a moment of, numbered across dialogues
        self.dialogue: list[int] = []
        self._silences = self._dialogues = 0

    def add(self, dialogue: Dialogue, sigs: list[Signal]):
        """The examples of one replayed dialogue."""
        pause = PauseEvidence()
        listener = Listener(pause)
        silences = sorted(dialogue.silences, key=lambda s: s.start)
        answered = sorted(s.end for s in silences if s.label == "eot")
        last, k = 0.0, 1
        for s in sigs:
            onset = listener.onset
            while onset is not None and k * STEP_S <= MAX_S and (t := onset + k * STEP_S) < s.at:
                label = label_at(silences, t)
                if t >= last and label is not None:
                    self.e.append(evidence(pause, self.names))
                    self.tau.append(k * STEP_S)
                    self.y.append(label)
                    self.silence.append(self._silences)
                    self.dialogue.append(self._dialogues)
                k += 1
            while answered and s.at >= answered[0]:  # the bot answered: a new turn's text begins
                listener.turn_taken()
                answered.pop(0)
            last = s.at
            listener.hear(s)
            if listener.onset != onset:
                k, self._silences = 1, self._silences + 1
        self._dialogues += 1

    def arrays(self) -> Moments:
        return Moments(np.asarray(self.e).reshape(-1, len(self.names)), np.asarray(self.tau),
                       np.asarray(self.y, np.float64), np.asarray(self.silence, np.int64),
                       np.asarray(self.dialogue, np.int64))


def examples_of(pairs: list[tuple[Dialogue, list[Signal]]], names: tuple[str, ...] = EVIDENCE,
                leave_out: list[str] = ()) -> Moments:
    """The examples of every replayed dialogue of ``pairs``, the evidence in ``leave_out`` held at 0."""
    examples = Examples(names)
    for dialogue, sigs in pairs:
        examples.add(dialogue, sigs)
    moments = examples.arrays()
    moments.e[:, [names.index(n) for n in leave_out]] = 0.0
    return moments


def per_silence(silence: np.ndarray) -> np.ndarray:
    """Example weights under which every silence counts once, however long it lasted (mean 1).

    The evaluation scores each hold once (cut off or not) and each end once (its dead air), but
    a 2 s end gives 40 examples and a 0.3 s hold 6; unweighted, the fit listens to long silences
    and the policy waits too long at short ones. Chosen on dev (turn_taking/RESULTS.md)."""
    _, index, counts = np.unique(silence, return_inverse=True, return_counts=True)
    w = 1.0 / counts[index]
    return w / w.mean()


def label_at(silences, t: float) -> int | None:
    for s in silences:
        if s.start - EARLY_S <= t < s.end:
            return int(s.label == "eot")
    return None


def design(e: np.ndarray, tau: np.ndarray, names: tuple[str, ...] = EVIDENCE) -> np.ndarray:
    """The logistic regression's inputs from the evidence ``e`` (n, evidence): every feature φ(e)
    times every basis function of τ, (n, features × basis), so that ``x · vec(W) = φ(e)ᵀ W b(τ)``."""
    phi = features(e, names)
    return (phi[:, :, None] * basis(tau)[:, None, :]).reshape(len(e), -1)


# chosen with 1000 training calls, on dev and by cross-validation: weaker penalties helped down
# to 1e-4 and little below it (turn_taking/RESULTS.md). Dev's callers speak the training voices;
# ``cross_voices`` measures each penalty on voices the fit never heard
L2 = 1e-4


def fit(e: np.ndarray, tau: np.ndarray, y: np.ndarray, l2: float = L2,
        weights: np.ndarray | None = None, names: tuple[str, ...] = EVIDENCE) -> np.ndarray:
    """W (features, basis) maximising the mean (``weights``-weighted) log-likelihood minus
    ``l2``·|W|²."""
    return logistic(design(e, tau, names), y, l2, weights).reshape(len(feature_names(names)), len(BASIS))


def logistic(x: np.ndarray, y: np.ndarray, l2: float, weights: np.ndarray | None = None) -> np.ndarray:
    """w maximising the mean (``weights``-weighted) log-likelihood of ``y`` under σ(x·w), minus
    ``l2``·|w|²."""
    weights = np.ones(len(y)) if weights is None else weights

    def loss(w):
        z = x @ w
        nll = np.mean(weights * (np.logaddexp(0, z) - y * z))
        grad = x.T @ (weights * (1 / (1 + np.exp(-z)) - y)) / len(y)
        return nll + l2 * w @ w, grad + 2 * l2 * w

    res = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    if not res.success:
        raise RuntimeError(f"the fit did not converge: {res.message}")
    return res.x


def save(w: np.ndarray, path: Path, names: tuple[str, ...] = EVIDENCE, **about):
    """The weights file: W's rows in the order of ``names``' features, one a line, then how they were made."""
    rows = ",\n".join(f"  {json.dumps(np.round(row, 5).tolist())}" for row in w)
    more = "".join(f",\n {json.dumps(k)}: {json.dumps(v)}" for k, v in about.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'{{\n "features": {json.dumps(feature_names(names))},\n "basis": {json.dumps(BASIS)},\n'
                    f' "weights": [\n{rows}\n ]{more}\n}}\n')


def traced(labels: Path, limit: int | None, traces: Path, recognizer: str, chunk_ms: int, workers: int,
           options: dict, listening: dict, final_recognizer: str | None,
           voice: bool) -> tuple[list[tuple[Dialogue, list[Signal]]], tuple[str, ...]]:
    """(the first ``limit`` dialogues of ``labels`` with their signals, traced or read from the
    cache, the evidence names a fit reads); with ``voice``, each dialogue's voice-end scores are
    the out-of-fold ones (``turn_taking.eval.voice.out_of_fold``)."""
    from turn_taking.eval.report import traces_for

    pairs, _ = traces_for(labels, limit, traces, recognizer, chunk_ms, workers, options, listening,
                          final_recognizer, peers=False, voice="out_of_fold" if voice else None)
    return pairs, EVIDENCE + VOICE if voice else EVIDENCE


def fit_on(labels: Path, limit: int | None, traces: Path, out: Path, recognizer: str, chunk_ms: int, workers: int,
           options: dict, listening: dict, final_recognizer: str | None, command: str = "",
           leave_out: list[str] = (), voice: bool = False, l2: float = L2) -> dict:
    """Trace (cached) and fit on the first ``limit`` dialogues of ``labels`` with penalty ``l2``;
    write ``out`` with ``command``, the one that made it. ``leave_out``: evidence the fit may not use (held at 0,
    so its weights and those of its products are 0), to measure what it adds. ``voice``: the
    voice-end model's score is evidence too, each dialogue's from a head fit on the other voices
    (``turn_taking.eval.voice.out_of_fold``), so the policy trusts it as much as on a new voice."""
    pairs, names = traced(labels, limit, traces, recognizer, chunk_ms, workers, options, listening, final_recognizer,
                          voice)
    e, tau, y, silence, _ = examples_of(pairs, names, leave_out)
    if not 0 < y.sum() < len(y):
        raise ValueError(f"{labels}: {len(pairs)} dialogues gave {int(y.sum())} end and {int(len(y) - y.sum())} hold "
                         "examples; a fit needs both (more dialogues, or labels from python -m turn_taking data build)")
    weights = per_silence(silence)
    w = fit(e, tau, y, l2, weights=weights, names=names)
    z = design(e, tau, names) @ w.ravel()
    about = {"fit_on": f"{labels.name}, {len(pairs)} dialogues", "examples": len(y), "end_examples": int(y.sum()),
             "silences": int(len(np.unique(silence))), "l2": l2,
             "log_loss": round(float(np.mean(weights * (np.logaddexp(0, z) - y * z))), 4),  # each silence once
             "recognizer": f"{recognizer}@{chunk_ms}ms" + (f" + {final_recognizer} finals" if final_recognizer else ""),
             **({"left_out": list(leave_out)} if leave_out else {}), "command": command}
    save(w, out, names, **about)
    return about


CV_THRESHOLDS = tuple(round(0.5 + 0.01 * k, 2) for k in range(48))  # the eval grid's range, finely
CV_MAX_MS = 2000  # the eval grid's shorter longest wait


def cross_voices(labels: Path, limit: int | None, traces: Path, recognizer: str, chunk_ms: int, workers: int,
                 options: dict, listening: dict, final_recognizer: str | None, l2s: list[float],
                 leave_out: list[str] = (), voice: bool = False) -> dict[float, dict]:
    """``cross_voice_sweep`` on the first ``limit`` dialogues of ``labels``, traced (cached) as
    ``fit_on`` traces them."""
    pairs, names = traced(labels, limit, traces, recognizer, chunk_ms, workers, options, listening, final_recognizer,
                          voice)
    return cross_voice_sweep(pairs, l2s, names, leave_out)


def cross_voice_sweep(pairs: list[tuple[Dialogue, list[Signal]]], l2s: list[float], names: tuple[str, ...] = EVIDENCE,
                      leave_out: list[str] = ()) -> dict[float, dict]:
    """For each L2 in ``l2s``, what the fitted policy does for a caller whose voice it was never fit
    on: each caller voice's calls are replayed with weights fit on the other voices' calls, and
    the takes of all voices pooled and swept over ``CV_THRESHOLDS``. Returns per L2 the sweep's
    rows at 5 % and 10 % cutoffs (``latency_at``); dev, whose callers speak the training voices,
    cannot tell this."""
    import tempfile

    from tqdm import tqdm

    from turn_taking.eval.sweep import scored
    from turn_taking.eval.voice import base_voice

    voices = [base_voice(d.caller_voice) for d, _ in pairs]
    if len(set(voices)) < 2:
        raise ValueError(f"leaving each caller voice out needs calls in two voices or more, got {sorted(set(voices))}")
    e, tau, y, silence, dialogue = examples_of(pairs, names, leave_out)
    example_voice = np.asarray(voices)[dialogue]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for l2 in l2s:
            scores = {th: Scores() for th in CV_THRESHOLDS}
            for v in tqdm(sorted(set(voices)), desc=f"l2 {l2:g}, each voice left out", unit="voice"):
                fit_voices = example_voice != v
                path = Path(tmp) / f"{l2:g}-{v.replace(':', '_')}.json"
                save(fit(e[fit_voices], tau[fit_voices], y[fit_voices], l2, per_silence(silence[fit_voices]), names),
                     path, names)
                left_out = [p for p, u in zip(pairs, voices) if u == v]
                for th in CV_THRESHOLDS:
                    scored("learned", {"weights": str(path), "threshold": th, "max_ms": CV_MAX_MS}, left_out,
                           into=scores[th])
            rows = [{"params": {"threshold": th, "max_ms": CV_MAX_MS}, **s.summary()} for th, s in scores.items()]
            out[l2] = {"at_5": latency_at(rows, 0.05), "at_10": latency_at(rows, 0.10)}
    return out


def cross_voices_markdown(rows: dict[float, dict]) -> str:
    """``cross_voices``' result as a table."""
    cell = lambda r: "not reached" if r is None else (  # noqa: E731
        f"{r['latency_ms']:.0f} ms ({100 * r['cutoff_rate']:.1f} %, threshold {r['params']['threshold']})")
    lines = ["| l2 | latency at 5 % cutoffs | at 10 % |", "|---|---|---|"]
    return "\n".join(lines + [f"| {l2:g} | {cell(r['at_5'])} | {cell(r['at_10'])} |" for l2, r in rows.items()])


def fit_voice(labels: Path, limit: int | None, traces: Path, out: Path, recognizer: str, chunk_ms: int,
              workers: int, options: dict, listening: dict, final_recognizer: str | None, command: str = "") -> dict:
    """Fit the voice-end model's head (``turn_taking.voice_end``) on the labelled pauses of the first
    ``limit`` dialogues of ``labels``, at the onsets the detectors' VAD hears in their traces; write
    ``out`` with ``command``."""
    from turn_taking.eval.report import traces_folder, traces_for
    from turn_taking.eval.voice import features_cache, labelled, pause_features
    from turn_taking.voice_end import Head

    pairs, by_id = traces_for(labels, limit, traces, recognizer, chunk_ms, workers, options, listening,
                              final_recognizer, peers=False)
    dialogues = [d for d, _ in pairs]
    x, y, _ = labelled(dialogues, pause_features(dialogues, by_id, features_cache(traces_folder(traces), labels)))
    if not 0 < y.sum() < len(y):
        raise ValueError(f"{labels}: {len(dialogues)} dialogues gave {int(y.sum())} end and {int(len(y) - y.sum())} "
                         "hold pauses; a fit needs both")
    head = Head.fit(x, y, fit_on=f"{labels.name}, {len(dialogues)} dialogues", pauses=len(y), ends=int(y.sum()),
                    command=command)
    p = np.clip(head(x), 1e-6, 1 - 1e-6)
    head.about["log_loss"] = round(float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))), 4)
    head.save(out)
    return head.about
