"""A learned end-of-turn policy: the chance that the caller has finished, from what the
recognizer said about this pause and how long the silence has lasted.

The adaptive policy sorts the evidence into three states and waits a hand-set time in each.
This one weighs the same evidence on one scale — a sentence-end mark at the pause, the LLM's
end probability, an unfinished tail ("and", "um", an address without its domain), a marked tail
that may or may not be finished ("log in.", "it is."), a number shorter than a phone number, a
question, a segmented recognizer's final sentence, a turn of a few words, a turn that only
answers ("Nope,") — and lets each change how fast the chance grows with the silence. It is a
discrete-time hazard model: ``P(end | evidence, τ) = σ(φ(e)ᵀ W b(τ))``, with ``e`` the evidence,
``φ(e)`` the evidence and the product of every two of its items (a mark after a short number is
not a mark after "please"),
``b(τ) = [1, τ, log(τ + 0.05)]`` the silence so far, fit on training dialogues where each silence
is labelled a hold or the end of the turn (``python -m turn_taking fit``, ``turn_taking/learn.py``).
The turn is taken at the first moment the chance reaches ``threshold``, or after ``max_ms`` of
silence whatever it says.

Weights fit with ``--voice`` (the shipped ones) also read how finished the caller's voice sounds
0.2 s into the pause (``turn_taking.voice_end``), so words that could end a turn ("five five
five.") are not taken for an end when the voice is still held up; the agent and the framework
adapters (``turn_taking.tracker``) run that model for such a detector (``reads_voice``).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from turn_taking.detectors.adaptive import PauseEvidence, tail_cue

EVIDENCE = ("bias", "mark", "p_seen", "p_logit", "incomplete", "open", "digits", "question", "final_sentence",
            "no_words", "few_words", "answer", "comma", "stretch")
# how finished the voice sounds at the pause (turn_taking.voice_end), for weights fit with it (fit --voice)
VOICE = ("voice_seen", "voice_logit")
FEW_WORDS = 3  # "Yes.", "No, thanks.", "That's right.": short answers the recognizer seldom marks
# the words of a whole turn that only answers ("Nope,", "Sounds good,", "Yes, that's right"): often closed with a comma
ANSWER_WORDS = frozenset("""
yes yeah yep yup no nope nah sure okay ok alright all right correct exactly great perfect fine good sounds
thanks thank you that's it's true absolutely definitely please
""".split())
# every two items of evidence together (ahead of the evidence alone at 10 % cutoffs in a cross-validation on
# the training dialogues, on dev and on test; at 5 % within the noise of one tracing: turn_taking/RESULTS.md)
# (pairs that are never both non-zero are left out: values of the one tail cue, a text ending in "?" or ",";
# and p_seen*p_logit is p_logit, which is 0 unless a probability was seen; the same for the voice)
APART = ({"incomplete", "open", "digits"}, {"question", "comma"}, {"p_seen", "p_logit"}, set(VOICE))


def pairs(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((a, b) for i, a in enumerate(names[1:], 1) for b in names[i + 1:]
                 if not any({a, b} <= group for group in APART))


def feature_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """φ's names for the evidence ``names``: the evidence, then every pair's product."""
    return names + tuple(f"{a}*{b}" for a, b in pairs(names))


FEATURES = feature_names(EVIDENCE)
VOICE_FEATURES = feature_names(EVIDENCE + VOICE)
BASIS = ("1", "tau", "log_tau")
STEP_S = 0.01  # the resolution of the due time
SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "learned-eot.json"


def basis(tau: np.ndarray) -> np.ndarray:
    """b(τ) for seconds of silence ``tau``: (..., 3)."""
    tau = np.asarray(tau, np.float64)
    return np.stack([np.ones_like(tau), tau, np.log(tau + 0.05)], axis=-1)


@lru_cache(maxsize=4)
def _pair_index(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    return tuple(np.array([names.index(p[k]) for p in pairs(names)]) for k in (0, 1))


def features(e: np.ndarray, names: tuple[str, ...] = EVIDENCE) -> np.ndarray:
    """φ(e): the evidence (..., len(names)) and its pairwise products, (..., features)."""
    e, (a, b) = np.asarray(e, np.float64), _pair_index(names)
    return np.concatenate([e, e[..., a] * e[..., b]], axis=-1)


def _logit(p: float) -> float:
    return float(np.log(np.clip(p, 1e-3, 1 - 1e-3) / np.clip(1 - p, 1e-3, 1)))


def evidence(pause: PauseEvidence, names: tuple[str, ...] = EVIDENCE) -> np.ndarray:
    """e for the current pause, in the order of ``names`` (EVIDENCE, then VOICE if asked)."""
    p, cue, text = pause.fresh_probability(), tail_cue(pause.text), pause.text.strip()
    words, stretch = len(text.split()), pause.stretch_s()
    e = [1.0, pause.pause_mark() is not None, p is not None, 0.0 if p is None else _logit(p[0]) / 4,
         cue == "incomplete", cue == "open", cue == "digits", text.endswith("?"), pause.final_sentence(), not words,
         0 < words <= FEW_WORDS, is_answer(text), text.endswith(","), 0.0 if stretch is None else np.log1p(stretch)]
    if names != EVIDENCE:
        voice = pause.voice_score()
        e += [voice is not None, 0.0 if voice is None else _logit(voice[0]) / 4]
    return np.array(e, np.float64)


def is_answer(text: str) -> bool:
    """The turn's words only answer: yes, no, thanks, that's right, sounds good."""
    words = re.findall(r"[\w']+", text.lower())
    return bool(words) and all(w in ANSWER_WORDS for w in words)


def load_weights(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """(W (features, basis), the evidence it reads: EVIDENCE, or with VOICE) from a file
    ``python -m turn_taking fit`` wrote (read again when it changes: a sweep builds a detector per
    dialogue)."""
    try:
        modified = Path(path).stat().st_mtime_ns
    except OSError as e:
        raise ValueError(f"cannot read learned end-of-turn weights from {path}: {e} "
                         "(write them with python -m turn_taking fit)") from None
    return _read_weights(str(path), modified)


@lru_cache(maxsize=8)
def _read_weights(path: str, modified: int) -> tuple[np.ndarray, tuple[str, ...]]:
    try:
        spec = json.loads(Path(path).read_text())
        w = np.asarray(spec["weights"], np.float64)
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"cannot read learned end-of-turn weights from {path}: {e} "
                         "(write them with python -m turn_taking fit)") from None
    names = {FEATURES: EVIDENCE, VOICE_FEATURES: EVIDENCE + VOICE}.get(tuple(spec.get("features", ())))
    if names is None or tuple(spec.get("basis", ())) != BASIS or w.shape != (len(feature_names(names)), len(BASIS)):
        raise ValueError(f"{path} was fit for other features ({spec.get('features', spec.get('evidence'))}, "
                         f"{spec.get('basis')}); refit it with python -m turn_taking fit")
    return w, names


class LearnedDetector(PauseEvidence):
    name = "learned"

    # the defaults are the setting chosen on the dev dialogues for at most 5 % cutoffs (turn_taking/RESULTS.md)
    def __init__(self, threshold: float = 0.7, max_ms: float = 3000, weights: str | Path = SHIPPED,
                 fresh_ms: float = 160, delta_ms: float = 500):
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if max_ms <= 0:
            raise ValueError(f"max_ms must be > 0, got {max_ms}")
        self.threshold, self.max_s = threshold, max_ms / 1000
        self.weights, self.evidence_names = load_weights(weights)
        self.reads_voice = VOICE[0] in self.evidence_names
        super().__init__(fresh_ms, delta_ms)

    def probability(self, tau_s) -> np.ndarray:
        """P(the turn is over) after ``tau_s`` seconds of this silence, on the current evidence."""
        phi = features(evidence(self, self.evidence_names), self.evidence_names)
        return 1 / (1 + np.exp(-(basis(tau_s) @ self.weights.T @ phi)))

    def turn_end_due_s(self) -> float | None:
        if self._onset is None:
            return None
        start = max(0.0, self.heard_at() - self._onset)  # no decision before the evidence it reads
        taus = np.arange(start, self.max_s, STEP_S)
        hit = np.flatnonzero(self.probability(taus) >= self.threshold)
        return self._onset + (float(taus[hit[0]]) if len(hit) else max(start, self.max_s))
