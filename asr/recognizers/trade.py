"""TRADE as a streaming recognizer: ``stream.push(pcm) → events``, bounded state.

Audio → ``StreamingLogMel`` → ``StreamingEncoder`` (chunk C, N_l left chunks, one look-ahead
copy) → every complete chunk is searched under its LDAA window (N_l left chunks + the chunk).
Tokens leave the search in order with the end time of the frame that emitted them:

* ``Final`` words: tokens every hypothesis agrees on (all of them, with greedy search), grouped
  into words; a word is committed once the next word has begun, or at a chunk's end when the
  LLM's next token starts a new word. Word times are emission frames, not forced alignments.
* ``SentenceEnd``: each agreed "." "?" "!" token, at its emission time — the semantic
  end-of-utterance signal.
* ``Partial``: the best hypothesis after the committed words.

``end_probability()`` reads the LLM's probability that the best hypothesis ends here (next token
a sentence-end mark or end-of-text): the graded form of the same signal, available after every
chunk, which turn-taking uses before a mark is committed.

``pause()`` (the VAD heard silence) decodes the audio since the last whole chunk at once, on
copies of the stream's state, as if the stream ended there (so a last word's mark comes at once):
its sentence-end marks and its end probability reach turn-taking a chunk and a look-ahead
sooner. The stream itself goes on unchanged, and a mark is announced once however many decodes
find it and however each spells the words before it (``PauseMarks``). Which pauses are worth a
decode is the caller's to say (``asr.utterances.UtteranceStreams`` knows the VAD's silences).

``trade-offline`` decodes a whole clip with full-context attention from the same checkpoint.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from asr.events import SENTENCE_END_MARKS, Final, Partial, SentenceEnd, StreamEvent, Transcript, Word
from asr.features import StreamingLogMel, log_mel_spectrogram
from asr.models.lora import merge_lora
from asr.models.trade.model import FRAME_S, Trade, load_trade
from asr.models.trade.search import Hyp, Search, SearchConfig
from asr.models.trade.targets import SENTENCE_END
from asr.models.whisper.model import StreamingEncoder
from asr.recognizer import Recognizer, RecognizerCapabilities, RecognizerStream, StreamingRecognizer, register

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints" / "trade-whisper"
WORD_ENDING_MARKS = (*SENTENCE_END, ",")
# the shipped checkpoint emits late without it: 0 → 3 took dev WER from 22.6% to 16.5% at 640 ms
# (first 40 dev utterances; asr/RESULTS.md)
BLANK_PENALTY = 3.0


def checkpoint_fingerprint(checkpoint: str | Path | None = None, **_) -> str:
    """A short hash of a checkpoint's files (default: the shipped one): results cached for one
    set of weights must not be reused for retrained weights at the same path."""
    import hashlib

    h = hashlib.sha1()
    for name in ("config.json", "vocab.json", "model.safetensors"):
        h.update((Path(checkpoint or SHIPPED) / name).read_bytes())
    return h.hexdigest()[:12]


def _load(checkpoint: str | Path | None, threads: int | None) -> Trade:
    """A checkpoint for decoding only: its LoRA adapters are folded into the LLM's weights."""
    if threads:
        torch.set_num_threads(threads)
    model = load_trade(checkpoint or SHIPPED)
    merge_lora(model.lm)
    return model


@register("trade")
class TradeRecognizer(StreamingRecognizer):
    name = "trade"
    weights_fingerprint = staticmethod(checkpoint_fingerprint)

    def __init__(self, chunk_ms: int = 640, checkpoint: str | Path | None = None, beam: int = 1,
                 fusion_weight: float = 0.5, blank_penalty: float = BLANK_PENALTY, context_tokens: int = 20,
                 threads: int | None = None, model: Trade | None = None):
        self.model = model or _load(checkpoint, threads)
        stack = self.model.cfg.frame_stack
        step_ms = int(1000 * FRAME_S * stack)
        if chunk_ms < step_ms or chunk_ms % step_ms:
            raise ValueError(f"chunk_ms must be a positive multiple of {step_ms}, got {chunk_ms}")
        self.chunk_ms = chunk_ms
        # one search for every stream: it keeps no per-stream state, and building its vocabulary
        # masks anew would cost every stream's start (the agent opens one per stretch of speech)
        self.search = Search(self.model, SearchConfig(beam=beam, fusion_weight=fusion_weight,
                                                      blank_penalty=blank_penalty, context_tokens=context_tokens))

    def stream(self) -> "TradeStream":
        return TradeStream(self.model, self.search, int(self.chunk_ms / 1000 / FRAME_S))


@register("trade-offline")
class TradeOfflineRecognizer(Recognizer):
    """Full-context encoder and one search over the whole clip (the offline mode of the checkpoint)."""

    name = "trade-offline"
    capabilities = RecognizerCapabilities(streaming=False, interim_results=False, word_timestamps=True)
    weights_fingerprint = staticmethod(checkpoint_fingerprint)

    def __init__(self, checkpoint: str | Path | None = None, beam: int = 1, fusion_weight: float = 0.5,
                 blank_penalty: float = BLANK_PENALTY, threads: int | None = None, model: Trade | None = None):
        self.model = model or _load(checkpoint, threads)
        self.search = Search(self.model, SearchConfig(beam=beam, fusion_weight=fusion_weight,
                                                      blank_penalty=blank_penalty))

    @torch.no_grad()
    def transcribe(self, audio: np.ndarray) -> Transcript:
        mel = log_mel_spectrogram(audio)[None]
        frames = torch.tensor([(mel.shape[-1] + 1) // 2])
        enc = self.model.encode(mel, frames, None)
        hyps = self.search.chunk(self.search.initial(), enc, enc, 0, last=True)
        best = self.search.finish(hyps, enc.shape[1] * FRAME_S)[0]
        words = _words(self.model, best.tokens, best.times)
        return Transcript(" ".join(w.text for w in words), words)


def _is_mark(text: str) -> bool:
    """A sentence-end token: ".", "?", "!" or a run of them in one token ("..", ".?")."""
    return bool(text.strip()) and set(text.strip()) <= set(SENTENCE_END_MARKS)


def _words(model: Trade, tokens: list[int], times: list[float]) -> list[Word]:
    """Group tokens into words at leading whitespace; punctuation stays with its word."""
    words: list[Word] = []
    for token, t in zip(tokens, times):
        text = model.vocab.token_text[token]
        if text[:1].isspace() or not words:
            if text.strip():
                words.append(Word(text.strip(), t, t))
            continue
        words[-1].text += text
        if any(ch.isalnum() for ch in text):
            words[-1].end_s = t
    return words


class PauseMarks:
    """The sentence ends pause decodes announced that the stream's own decode has not yet
    written, each as the end of the audio its pause heard. A pause decodes its last chunk with
    less audio, so it may spell the words before a mark differently ("adald." against
    "adaldled.") or choose another mark. A later decode's mark is the pause's if the word it
    follows ended in the audio that pause heard, give or take ``tolerance_s`` (the look-ahead lets
    a full decode emit a word a little later)."""

    def __init__(self, tolerance_s: float = 0.2):
        self.tolerance_s = tolerance_s
        self.heard_s: list[float] = []

    def __len__(self) -> int:
        return len(self.heard_s)

    def copy(self) -> "PauseMarks":
        marks = PauseMarks(self.tolerance_s)
        marks.heard_s = list(self.heard_s)
        return marks

    def announce(self, heard_s: float):
        self.heard_s.append(heard_s)

    def take(self, word_end_s: float) -> bool:
        """Whether a mark after a word ending at ``word_end_s`` was announced; if so, it is
        taken off (one announcement stands for one mark)."""
        for i, heard_s in enumerate(self.heard_s):
            if word_end_s <= heard_s + self.tolerance_s:
                del self.heard_s[i]
                return True
        return False

    def decoded_to(self, word_end_s: float):
        """The stream has settled its words up to one ending at ``word_end_s``: a mark a pause
        heard well before that, which the stream did not write, is not coming."""
        self.heard_s = [h for h in self.heard_s if word_end_s <= h + self.tolerance_s]


class TradeStream(RecognizerStream):
    def __init__(self, model: Trade, search: Search, chunk_frames: int):
        self.model, self.search, self.C = model, search, chunk_frames
        left = model.cfg.left_chunks(chunk_frames)
        self.features = StreamingLogMel()
        self.encoder = StreamingEncoder(model.encoder, chunk_frames, left, model.cfg.lookahead_frames(chunk_frames))
        self.window = torch.zeros(1, 0, model.encoder.dims.n_audio_state)
        self.window_frames = (left + 1) * chunk_frames
        self.hyps: list[Hyp] = search.initial()
        self.frames_done = 0  # encoder frames searched
        self.received = 0  # samples pushed
        self.stable = 0  # tokens every hypothesis agrees on (never change again)
        self.committed_tokens = 0  # tokens already in Final words
        self.announced = 0  # stable tokens already checked for sentence ends
        self.pause_marks = PauseMarks()
        self.paused: Hyp | None = None  # the last pause's best hypothesis, until the next chunk
        self.finished = False

    @property
    def now_s(self) -> float:
        return self.received / 16000

    def _push(self, pcm: np.ndarray) -> list[StreamEvent]:
        self.received += len(pcm)
        return self._decode(self.encoder.push(self.features.push(pcm)), final=False)

    def finish(self) -> list[StreamEvent]:
        self.finished = True
        enc = self.encoder.push(self.features.push(np.zeros(0, np.float32), final=True), final=True)
        return self._decode(enc, final=True)

    def commit(self) -> list[StreamEvent]:
        return [] if self.finished else self._events(final=False, pause=True)

    def pause(self) -> list[StreamEvent]:
        if self.finished:
            return []
        features, encoder = copy.copy(self.features), copy.copy(self.encoder)
        encoder.cache = list(encoder.cache)  # the only state the flush changes in place
        enc = encoder.push(features.push(np.zeros(0, np.float32), final=True), final=True)
        hyps, _, done = self._search(self.hyps, self.window, self.frames_done, enc, last=True)
        best = self.search.finish(hyps, done * FRAME_S)[0]  # as if it ended: a last word's mark comes now
        self.paused = best
        # an earlier pause's mark heard again stays the stream's to write: match against a copy
        events: list[StreamEvent] = self._new_marks(best, len(best.tokens), self.pause_marks.copy(), pause=True)
        tail = self._tail(best)
        return events + ([Partial(tail, self.now_s)] if tail else [])

    def _sentence_end(self, hyp: Hyp, k: int) -> SentenceEnd:
        # the flush pads the last chunk: a token emitted there belongs to the end of the audio
        return SentenceEnd(self.model.vocab.token_text[hyp.tokens[k]].strip(), min(hyp.times[k], self.now_s),
                           self.now_s)

    def _tail(self, hyp: Hyp) -> str:
        """The hypothesis after the committed words: what a ``Partial`` shows."""
        return "".join(self.model.vocab.token_text[t] for t in hyp.tokens[self.committed_tokens:]).strip()

    def _new_marks(self, hyp: Hyp, end: int, announced: PauseMarks, pause: bool = False) -> list[SentenceEnd]:
        """The sentence ends among tokens [self.announced, end) that no pause has announced yet
        (those a pause did are taken off ``announced``); a pause decode records its own. A run of
        marks ("?!", "a.m..!") ends one sentence: only its first counts; a mark the hypothesis
        goes on from without a space ("a.m.", "example.com") is inside a word."""
        def text(j: int) -> str:
            return self.model.vocab.token_text[hyp.tokens[j]] if 0 <= j < len(hyp.tokens) else ""

        events = []
        for k in range(self.announced, end):
            ends = _is_mark(text(k)) and not _is_mark(text(k - 1)) and not text(k + 1)[:1].isalnum()
            if ends and not announced.take(self._word_end_s(hyp, k)):
                events.append(self._sentence_end(hyp, k))
                if pause:
                    self.pause_marks.announce(self.now_s)
        return events

    def _word_end_s(self, hyp: Hyp, k: int) -> float:
        """Emission time of the last letter or digit before token k: the end of the word a mark
        follows."""
        text_of = self.model.vocab.token_text
        return next((hyp.times[j] for j in range(k - 1, -1, -1) if any(c.isalnum() for c in text_of[hyp.tokens[j]])),
                    0.0)

    def _search(self, hyps: list[Hyp], window: torch.Tensor, done: int, enc: torch.Tensor,
                last: bool = False) -> tuple[list[Hyp], torch.Tensor, int]:
        """Search encoder frames chunk by chunk from (hypotheses, LDAA window, frames done);
        ``last``: the audio ends with them (``Search.chunk``)."""
        for a in range(0, enc.shape[1], self.C):
            chunk = enc[:, a:a + self.C]
            window = torch.cat([window, chunk], 1)[:, -self.window_frames:]
            hyps = self.search.chunk(hyps, chunk, window, done, last=last and a + self.C >= enc.shape[1])
            done += chunk.shape[1]
        return hyps, window, done

    def _decode(self, enc: torch.Tensor, final: bool) -> list[StreamEvent]:
        if enc.shape[1]:
            self.paused = None
            self.hyps, self.window, self.frames_done = self._search(self.hyps, self.window, self.frames_done, enc,
                                                                    last=final)
        if final:
            self.hyps = self.search.finish(self.hyps, self.frames_done * FRAME_S)
        return self._events(final) if enc.shape[1] or final else []

    def _events(self, final: bool, pause: bool = False) -> list[StreamEvent]:
        best = self.hyps[0]
        if final:
            self.stable = len(best.tokens)
        else:
            n = 0
            while all(len(h.tokens) > n and h.tokens[n] == best.tokens[n] for h in self.hyps):
                n += 1
            self.stable = max(self.stable, n)
        text_of = self.model.vocab.token_text
        events: list[StreamEvent] = self._new_marks(best, self.stable, self.pause_marks)
        self.announced = self.stable
        self.pause_marks.decoded_to(self._word_end_s(best, self.stable))
        # commit the words before the last stable word start; the last word too once the
        # LLM expects a new word or punctuation next, the caller has paused, or the stream ended
        tokens = best.tokens
        starts = [k for k in range(self.committed_tokens + 1, self.stable) if text_of[tokens[k]][:1].isspace()]
        end = starts[-1] if starts else self.committed_tokens
        if final or pause or self.stable == len(tokens) and self._last_word_complete(best):
            end = self.stable
        if end > self.committed_tokens:
            times = [min(t, self.now_s) for t in best.times[self.committed_tokens:end]]  # the flush's padding
            words = _words(self.model, tokens[self.committed_tokens:end], times)
            for w in words:
                w.emitted_s = self.now_s
            if words:
                events.insert(0, Final(words))
            self.committed_tokens = end
        tail = self._tail(best)
        if tail and not final:
            events.append(Partial(tail, self.now_s))
        self._forget_committed()
        return events

    def _forget_committed(self):
        """Drop committed tokens the search no longer reads (it re-reads the last
        ``context_tokens``; the repetition guard, the last 20), so a long stream keeps a bounded
        tail, not its whole transcript. Committed tokens are shared by every hypothesis."""
        drop = self.committed_tokens - max(2 * self.search.cfg.context_tokens, 20)
        if drop <= 0:
            return
        for h in self.hyps:
            h.tokens, h.times = h.tokens[drop:], h.times[drop:]
        self.committed_tokens -= drop
        self.stable -= drop
        self.announced -= drop

    def decoded_s(self) -> float:
        return self.frames_done * FRAME_S

    def end_probability(self) -> float | None:
        """P(the next token ends the sentence or the text | best hypothesis, the pause's until
        the next chunk); None before the first word, after ``finish``, or when the hypothesis
        already ends with a sentence-end mark."""
        best = self._latest()
        if self.finished or best.hidden is None or not best.tokens or self.sentence_ended():
            return None
        return self.search.end_probability(best)

    def sentence_ended(self) -> bool:
        best = self._latest()
        return bool(best.tokens) and _is_mark(self.model.vocab.token_text[best.tokens[-1]])

    def _latest(self) -> Hyp:
        """The best hypothesis: the last pause's until the stream decodes the next chunk."""
        return self.paused or self.hyps[0]

    def state_size(self) -> dict[str, int]:
        return {**self.encoder.state_size(), "window_frames": self.window.shape[1],
                "hypothesis_tokens": max(len(h.tokens) for h in self.hyps), "pause_marks": len(self.pause_marks)}

    def _last_word_complete(self, hyp: Hyp) -> bool:
        """Whether the LLM expects a new word or punctuation next, so the last word is complete.
        Punctuation counts only after a word of two or more letters: after digits or a single
        letter it may go on as a number or an abbreviation ("4:32", "a.m.")."""
        if hyp.lm_logp is None:
            return False
        text_of = self.model.vocab.token_text
        nxt = text_of.get(self.search.top_token(hyp), " ")
        if nxt[:1].isspace():
            return True
        if nxt.strip() not in WORD_ENDING_MARKS:
            return False
        start = max((k for k, t in enumerate(hyp.tokens) if text_of[t][:1].isspace()), default=0)
        word = "".join(text_of[t] for t in hyp.tokens[start:]).strip()
        return len(word) > 1 and word.isalpha()
