"""Frame-synchronous TRADE search: greedy is beam 1 of the same loop.

Per chunk every hypothesis re-prefills the LLM on the chunk's LDAA window and its last
``context_tokens`` tokens. Then, frame by frame (one joint frame = ``frame_stack`` × 20 ms):

* the transducer gives p(blank) (less ``blank_penalty`` in log space) and, for the non-blank
  mass, the classes are re-ranked by zero-cost fusion
  ``w·log p_T(c) + (1 − w)·log Σ_{v∈H(c)} p_LLM(v)`` (renormalised over classes);
* a non-blank candidate emits the surface token ``argmax_{v∈H(c)} p_LLM(v)`` and advances the
  LLM by one step; at most one symbol per frame per hypothesis;
* a blank candidate first emits the LLM's top token while it is non-verbalised (punctuation,
  at most ``max_nonverbal`` after a word), stamped with the frame's end time — this is where
  sentence-end marks and their timestamps come from;
* the ``beam`` best candidates survive; hypotheses with the same tokens are merged.

Where the audio ends (a stream's end, a pause decode, an offline clip) the last frame is searched
again, up to ``final_symbols`` times, while a survivor still emits; there a blank ends a
hypothesis, which then competes with the score it ended with. RNN-T training puts every
token still owed at the input's last frame (its lattice allows several symbols per frame), so
with one symbol per frame a word the transducer kept for the end would wait for more audio that
a pause decode never gets.

A repetition guard refuses a token that would make the same 1–4-gram occur a fourth (1-gram:
fifth) time in a row. Offline decoding is one chunk that spans the whole utterance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from asr.models.trade.model import FRAME_S, Trade
from asr.vocab import BLANK


@dataclass(frozen=True)
class SearchConfig:
    beam: int = 1
    fusion_weight: float = 0.5  # w: transducer share of the class score
    blank_penalty: float = 0.0  # subtracted from log p(blank): > 0 emits earlier
    context_tokens: int = 20  # transcript re-prefilled with each window (long-form)
    max_nonverbal: int = 2
    final_symbols: int = 4  # extra symbols a hypothesis may emit at the last frame of the audio

    def __post_init__(self):
        if self.beam < 1:
            raise ValueError(f"beam must be ≥ 1, got {self.beam}")
        if not 0.0 <= self.fusion_weight <= 1.0:
            raise ValueError(f"fusion_weight must be in [0, 1], got {self.fusion_weight}")
        if self.final_symbols < 0:
            raise ValueError(f"final_symbols must be ≥ 0, got {self.final_symbols}")


@dataclass
class Hyp:
    tokens: list[int] = field(default_factory=list)  # LLM ids
    times: list[float] = field(default_factory=list)  # emission time of each, seconds of audio
    score: float = 0.0
    state: object = None  # the LLM's state after ``tokens`` (this chunk's window)
    hidden: Tensor | None = None  # the LLM's final-layer hidden state after ``tokens`` (1, dim)
    pred: Tensor | None = None  # joiner.pred_proj(hidden)  (dj,)
    lm_logp: Tensor | None = None  # log p_LLM renormalised over the compact vocabulary: entry p is LLM id Search.ids[p]
    class_logp: Tensor | None = None  # log Σ_{v∈H(c)} p_LLM(v), per class (K+1,), up to a constant
    end_p: float | None = None  # Search.end_probability, once asked (callers read it after every push)


class Search:
    def __init__(self, model: Trade, cfg: SearchConfig = SearchConfig()):
        self.model, self.cfg = model, cfg
        vocab = model.vocab
        out = model.lm.output_weight()
        # Only the compact vocabulary can be emitted, so only its rows of the output projection
        # are scored (a few thousand of Whisper's 51,864: reading them all was a decode's largest
        # single cost). Renormalising over them shifts every class score by one constant, which the
        # fusion's own renormalisation cancels; ``end_probability`` uses the whole vocabulary.
        # The projection is frozen in both LLM families, so the copy never goes stale.
        self.ids = torch.tensor(sorted(i for i in vocab.token_text if i < out.shape[0]))
        position = {int(i): p for p, i in enumerate(self.ids)}
        self.out_weight = out.detach()[self.ids].clone()
        self.fusion_pos = torch.tensor([position[int(i)] for i in model.fusion_ids])
        self.nonverbal = set(vocab.nonverbal_ids)
        self.members = {c: torch.tensor([position[i] for i in ids]) for c, ids in vocab.H.items()}  # class → positions

    # ---- LLM bookkeeping ------------------------------------------------------------------
    def _scored(self, hyp: Hyp, hidden: Tensor, state) -> Hyp:
        m = self.model
        lm_logp = (hidden[0] @ self.out_weight.T).log_softmax(-1)
        probs = torch.zeros(m.vocab.size).index_add_(0, m.fusion_class, lm_logp[self.fusion_pos].exp())
        hyp.state, hyp.hidden, hyp.pred = state, hidden, m.joiner.pred_proj(hidden)[0]
        hyp.lm_logp, hyp.class_logp = lm_logp, probs.clamp(min=1e-30).log()
        return hyp

    def _advance(self, hyp: Hyp, token: int, time_s: float, score: float) -> Hyp:
        hidden, state = self.model.lm.step(hyp.state, token)
        return self._scored(Hyp(hyp.tokens + [token], hyp.times + [time_s], score), hidden, state)

    def _prefill(self, hyp: Hyp, window: Tensor) -> Hyp:
        """Prompt + the last ``context_tokens`` tokens over the chunk's LDAA window."""
        context = self.model.lm.prompt + (hyp.tokens[-self.cfg.context_tokens:] if self.cfg.context_tokens else [])
        hidden, state = self.model.lm.start(window, torch.tensor([context]))
        return self._scored(Hyp(hyp.tokens, hyp.times, hyp.score), hidden, state)

    @torch.no_grad()
    def end_probability(self, hyp: Hyp) -> float:
        """P(the next token ends the sentence or the text), over the LLM's whole vocabulary:
        computed once per hypothesis, since it costs the full output projection."""
        if hyp.end_p is None:
            logp = self.model.lm.logits(hyp.hidden)[0].log_softmax(-1)
            hyp.end_p = float(logp[self.model.end_ids].exp().sum())
        return hyp.end_p

    def _repeats(self, tokens: list[int], token: int) -> bool:
        seq = tokens + [token]
        for n in range(1, 5):
            times = 5 if n == 1 else 4
            if len(seq) >= n * times and all(seq[-n * (k + 1):len(seq) - n * k] == seq[-n:] for k in range(times)):
                return True
        return False

    def top_token(self, hyp: Hyp) -> int:
        """The LLM's most likely next token among the active (pruned-tokenizer) ones."""
        return int(self.ids[hyp.lm_logp.argmax()])

    def _punctuate(self, hyp: Hyp, time_s: float) -> Hyp:
        """At a blank right after a word: emit the LLM's top tokens while they are non-verbalised."""
        if not hyp.tokens or hyp.tokens[-1] in self.nonverbal:
            return hyp
        for _ in range(self.cfg.max_nonverbal):
            top = self.top_token(hyp)
            if top not in self.nonverbal:
                break
            hyp = self._advance(hyp, top, time_s, hyp.score)
        return hyp

    # ---- the loop -----------------------------------------------------------------------
    def initial(self) -> list[Hyp]:
        return [Hyp()]

    @torch.no_grad()
    def finish(self, hyps: list[Hyp], end_s: float) -> list[Hyp]:
        """The stream has ended, which is a blank for every hypothesis: its punctuation comes now."""
        return [self._punctuate(h, end_s) for h in hyps]

    @torch.no_grad()
    def chunk(self, hyps: list[Hyp], enc: Tensor, window: Tensor, first_frame: int, last: bool = False) -> list[Hyp]:
        """Decode one chunk. enc (1, c, D): its encoder frames, starting at encoder frame
        ``first_frame``; window (1, S, D): the LDAA window (left chunks + this chunk); ``last``:
        the audio ends with this chunk, so its last frame may emit ``final_symbols`` more."""
        m = self.model
        hyps = [self._prefill(h, window) for h in hyps]
        enc_j = m.joiner.enc_proj(m.stack(enc))[0]  # (c / stack, dj)
        frames = enc_j.shape[0]
        for f in range(frames):
            end_s = (first_frame + (f + 1) * m.cfg.frame_stack) * FRAME_S
            survivors = self._frame(hyps, enc_j[f], end_s)
            for _ in range(self.cfg.final_symbols if last and f == frames - 1 else 0):
                if not any(emitted for _, emitted in survivors):
                    break
                # where the audio ends, a blank ends a hypothesis: only those that emitted go on
                survivors = self._frame([h for h, emitted in survivors if emitted], enc_j[f], end_s,
                                        ended=[h for h, emitted in survivors if not emitted])
            hyps = [h for h, _ in survivors]
        return hyps

    def _frame(self, hyps: list[Hyp], enc_f: Tensor, end_s: float,
               ended: list[Hyp] = ()) -> list[tuple[Hyp, bool]]:
        """One pass over one joint frame: each hypothesis takes a blank or one symbol; the
        ``beam`` best survive, each with whether it emitted a symbol. ``ended``: hypotheses that
        took the blank at the audio's last frame on an earlier pass; they compete as they are."""
        m, cfg = self.model, self.cfg
        candidates: list[tuple[float, Hyp, int | None]] = [(h.score, h, None) for h in ended]  # (score, hyp, class)
        for hyp in hyps:
            logp = m.joiner(enc_f, hyp.pred).log_softmax(-1)  # (K+1,)
            candidates.append((hyp.score + float(logp[BLANK]) - cfg.blank_penalty, hyp, BLANK))
            fused = cfg.fusion_weight * logp[1:] + (1 - cfg.fusion_weight) * hyp.class_logp[1:]
            fused = fused.log_softmax(-1) + torch.log1p(-logp[BLANK].exp().clamp(max=1 - 1e-6))
            top = fused.topk(min(cfg.beam, len(fused)))
            candidates += [(hyp.score + float(s), hyp, int(c) + 1) for s, c in zip(top.values, top.indices)]
        candidates.sort(key=lambda x: -x[0])
        survivors: dict[tuple[int, ...], tuple[Hyp, bool]] = {}
        for score, hyp, c in candidates:
            if len(survivors) == cfg.beam:
                break
            if c is None:
                new, emitted = hyp, False
            elif c == BLANK:
                new, emitted = self._punctuate(Hyp(hyp.tokens, hyp.times, score, hyp.state, hyp.hidden, hyp.pred,
                                                   hyp.lm_logp, hyp.class_logp), end_s), False
            else:
                positions = self.members[c]
                token = int(self.ids[positions[hyp.lm_logp[positions].argmax()]])
                if self._repeats(hyp.tokens, token):
                    continue
                new, emitted = self._advance(hyp, token, end_s, score), True
            key = tuple(new.tokens)
            if key in survivors:  # the same text by another path: add the probabilities
                kept = survivors[key][0]
                kept.score = float(torch.logaddexp(torch.tensor(kept.score), torch.tensor(new.score)))
            else:
                survivors[key] = (new, emitted)
        return sorted(survivors.values(), key=lambda s: -s[0].score)
