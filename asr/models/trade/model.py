"""TRADE: a streaming encoder, an LLM under an LDAA window, and a transducer joint whose
prediction network is the LLM's own final-layer hidden states (seed-methods §1).

    encoder (Whisper tiny.en, chunked, one look-ahead copy) ─┬─ stack ─► Joiner ◄─ LLM hidden (row u)
                                                             └─ LDAA window ─► LLM (teacher forcing: CE)

Training loss: (1 − α)·CE(LLM) + α·RNN-T(joint), both per token. A step is either full
context (the offline model) or streaming with chunk C: the encoder runs under the chunk mask,
each CE position sees the window of the chunk its target is complete in, and the joint at
frame t reads the LLM hidden states computed with chunk(t)'s window — one no-grad LLM pass
per chunk, detached, so memory stays at the offline level.

Frames are 20 ms (Whisper's encoder rate); the joint runs at ``frame_stack`` × 20 ms.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asr.features import log_mel_spectrogram
from asr.losses import rnnt_loss
from asr.models.trade.lm import AudioLM, CausalLMWithAudio, WhisperDecoderLM
from asr.models.trade.targets import SENTENCE_END, Targets
from asr.models.whisper.model import AudioEncoder
from asr.vocab import BLANK, CompactVocab

FRAME_S = 0.02  # one encoder frame
FAMILIES = ("whisper", "causal-lm")


@dataclass(frozen=True)
class TradeConfig:
    family: str = "whisper"  # "whisper": Whisper's decoder (a); "causal-lm": an HF causal LM (b)
    lm: str = "smollm2-135m-instruct"  # family (b) only: a bundled name or an HF directory
    joint_dim: int = 256
    frame_stack: int = 2  # encoder frames per joint frame (40 ms)
    lora_rank: int = 16
    lora_alpha: float = 32.0
    encoder_trainable_layers: int = 2  # the top ones; the rest stay as bundled
    left_context_s: float = 5.0  # LDAA and encoder left context
    adaptor_stack: int = 4  # family (b): encoder frames per LLM audio position (80 ms)
    lookahead_ms: float | None = None  # encoder look-ahead into the next chunk; None: the whole chunk

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")

    def left_chunks(self, chunk_frames: int) -> int:
        return max(1, round(self.left_context_s / (chunk_frames * FRAME_S)))

    def lookahead_frames(self, chunk_frames: int) -> int:
        """Encoder frames of the next chunk a chunk waits for: what streaming adds to latency
        beyond the chunk itself."""
        if self.lookahead_ms is None:
            return chunk_frames
        return min(chunk_frames, round(self.lookahead_ms / 1000 / FRAME_S))


class Joiner(nn.Module):
    """Linear(enc) + Linear(LLM hidden) → ReLU → Linear → compact vocabulary + blank."""

    def __init__(self, enc_dim: int, pred_dim: int, joint_dim: int, vocab_size: int):
        super().__init__()
        self.enc_proj = nn.Linear(enc_dim, joint_dim)
        self.pred_proj = nn.Linear(pred_dim, joint_dim)
        self.out = nn.Linear(joint_dim, vocab_size)

    def forward(self, enc: Tensor, pred: Tensor) -> Tensor:
        """Already-projected enc and pred, broadcastable → logits (…, V)."""
        return self.out(F.relu(enc + pred))


@dataclass
class Batch:
    mel: Tensor  # (B, 80, M) log-mel, padded
    frames: Tensor  # (B,) valid encoder frames
    tokens: Tensor  # (B, N) prompt + transcript LLM ids (padded with 0)
    ce_targets: Tensor  # (B, N) next id at each position, -100 where nothing is predicted
    target_frame: Tensor  # (B, N) encoder frame by which each position's target is complete
    rows: Tensor  # (B, U+1) position whose hidden state is lattice row u
    classes: Tensor  # (B, U) compact classes of the verbalised tokens
    n_classes: Tensor  # (B,)
    end_labels: Tensor  # (B, N) does a sentence end at this position's target (1/0), -1: no decision
    decision_frame: Tensor  # (B, N) encoder frame the search decides that at: the input token's word end


def collate(audios: list, targets: list[Targets], lm: AudioLM) -> Batch:
    """16 kHz clips and their targets → one padded batch."""
    mels = [log_mel_spectrogram(a) for a in audios]
    M = max(m.shape[1] for m in mels)
    mel = torch.stack([F.pad(m, (0, M - m.shape[1]), value=float(m.min())) for m in mels])
    frames = torch.tensor([(m.shape[1] + 1) // 2 for m in mels])
    P = len(lm.prompt)
    N = P + max(len(t.ids) for t in targets)
    U = max(len(t.classes) for t in targets)
    B = len(targets)
    tokens, ce = torch.zeros(B, N, dtype=torch.long), torch.full((B, N), -100, dtype=torch.long)
    target_frame, rows = torch.zeros(B, N, dtype=torch.long), torch.zeros(B, U + 1, dtype=torch.long)
    classes = torch.zeros(B, U, dtype=torch.long)
    end_labels, decision_frame = torch.full((B, N), -1, dtype=torch.long), torch.zeros(B, N, dtype=torch.long)
    for b, t in enumerate(targets):
        seq = lm.prompt + t.ids
        n = len(seq)
        tokens[b, :n] = torch.tensor(seq)
        ce[b, P - 1:n] = torch.tensor(t.ids + [-100 if t.continues else lm.eos])
        last = int(frames[b]) - 1
        ends = [min(last, int(e / FRAME_S)) for e in t.end_s] or [last]
        target_frame[b, P - 1:n] = torch.tensor(ends + [last])
        end_labels[b, P - 1:n] = torch.tensor(t.end_labels)
        decision_frame[b, P - 1:n] = torch.tensor(ends[:1] + ends)  # the previous token's word end
        # row u: the hidden state just before the (u+1)-th verbalised token; row U: after the last token
        rows[b, :len(t.verbal)] = torch.tensor([P + k - 1 for k in t.verbal], dtype=torch.long)
        rows[b, len(t.verbal)] = n - 1
        classes[b, :len(t.classes)] = torch.tensor(t.classes)
    return Batch(mel, frames, tokens, ce, target_frame, rows, classes,
                 torch.tensor([len(t.classes) for t in targets]), end_labels, decision_frame)


def window_mask(chunk: Tensor, C: int, left_chunks: int, frames: Tensor, S: int) -> Tensor:
    """LDAA: chunk (B, N) per position → bool (B, N, S), True for frames of chunks
    chunk−N_l … chunk that exist. ``chunk`` is clamped to each item's last chunk."""
    last = (frames - 1) // C  # (B,)
    chunk = torch.minimum(chunk, last[:, None])
    s = torch.arange(S)
    lo = ((chunk - left_chunks).clamp(min=0) * C)[..., None]
    hi = torch.minimum((chunk + 1) * C, frames[:, None])[..., None]
    return (s >= lo) & (s < hi)


class Trade(nn.Module):
    def __init__(self, cfg: TradeConfig, encoder: AudioEncoder, lm: AudioLM, vocab: CompactVocab):
        super().__init__()
        self.cfg, self.encoder, self.lm, self.vocab = cfg, encoder, lm, vocab
        encoder.requires_grad_(False)
        for block in list(encoder.blocks)[len(encoder.blocks) - cfg.encoder_trainable_layers:]:
            block.requires_grad_(True)
        encoder.ln_post.requires_grad_(True)
        d = encoder.dims.n_audio_state
        self.joiner = Joiner(d * cfg.frame_stack, lm.dim, cfg.joint_dim, vocab.size)
        fusion_ids = sorted(vocab.class_of_id)
        self.register_buffer("fusion_ids", torch.tensor(fusion_ids), persistent=False)  # LLM ids in some H(c)
        self.register_buffer("fusion_class", torch.tensor([vocab.class_of_id[i] for i in fusion_ids]),
                             persistent=False)
        self.register_buffer("nonverbal_ids", torch.tensor(vocab.nonverbal_ids, dtype=torch.long), persistent=False)
        self.register_buffer("end_ids", torch.tensor([i for i, t in vocab.token_text.items() if t.strip() in SENTENCE_END]
                                                     + [lm.eos], dtype=torch.long), persistent=False)

    # ---- encoder side -------------------------------------------------------------------
    def encode(self, mel: Tensor, frames: Tensor, chunk_frames: int | None) -> Tensor:
        """(B, 80, M) → (B, T, D); streaming attention pattern when ``chunk_frames`` is set."""
        left = self.cfg.left_chunks(chunk_frames) if chunk_frames else -1
        lookahead = self.cfg.lookahead_frames(chunk_frames) if chunk_frames else 0
        return self.encoder(mel, chunk_frames, left, lookahead=lookahead, lengths=frames)

    def stack(self, enc: Tensor) -> Tensor:
        """(B, T, D) → (B, ⌈T/s⌉, s·D): the joint's frames."""
        s = self.cfg.frame_stack
        B, T, D = enc.shape
        enc = F.pad(enc, (0, 0, 0, (-T) % s))
        return enc.reshape(B, -1, s * D)

    # ---- losses -------------------------------------------------------------------------
    def forward(self, batch: Batch, chunk_frames: int | None, alpha: float = 0.5,
                delay_penalty: float = 0.0, end_weight: float = 0.0) -> dict[str, Tensor]:
        """Losses of one batch; ``chunk_frames`` None is a full-context step. ``end_weight`` > 0
        adds the sentence-end loss (``end_loss``) to streaming steps."""
        enc = self.encode(batch.mel, batch.frames, chunk_frames)  # (B, T, D)
        B, T, _ = enc.shape
        N = batch.tokens.shape[1]
        valid = torch.arange(T)[None, :] < batch.frames[:, None]  # (B, T)
        if chunk_frames:
            C, left = chunk_frames, self.cfg.left_chunks(chunk_frames)
            ce_mask = window_mask(batch.target_frame // C, C, left, batch.frames, T)  # (B, N, T)
        else:
            ce_mask = valid[:, None, :].expand(B, N, T)
        hidden = self.lm.hidden(enc, ce_mask, batch.tokens)  # (B, N, d)
        scored = batch.ce_targets != -100
        ce = F.cross_entropy(self.lm.logits(hidden[scored]), batch.ce_targets[scored])

        row_index = batch.rows[..., None].expand(-1, -1, hidden.shape[-1])
        enc_j = self.joiner.enc_proj(self.stack(enc))  # (B, T', dj)
        Tj = enc_j.shape[1]
        if chunk_frames:
            pred = self._chunk_predictions(enc, batch, chunk_frames, row_index)  # (B, K, U+1, dj)
            chunk_of_frame = (torch.arange(Tj) * self.cfg.frame_stack // chunk_frames).clamp(max=pred.shape[1] - 1)
            pred = pred[:, chunk_of_frame]  # (B, T', U+1, dj)
        else:
            pred = self.joiner.pred_proj(hidden.gather(1, row_index))[:, None]  # (B, 1, U+1, dj)
        logits = self.joiner(enc_j[:, :, None], pred)  # (B, T', U+1, V)
        joint_frames = (batch.frames + self.cfg.frame_stack - 1) // self.cfg.frame_stack
        rnnt = rnnt_loss(logits, batch.classes, joint_frames, batch.n_classes, blank=BLANK, reduction="sum",
                         delay_penalty=delay_penalty) / batch.n_classes.sum().clamp(min=1)
        losses = {"loss": (1 - alpha) * ce + alpha * rnnt, "ce": ce.detach(), "rnnt": rnnt.detach()}
        if chunk_frames and end_weight:
            end = self.end_loss(enc, batch, chunk_frames)
            losses.update(loss=losses["loss"] + end_weight * end, end=end.detach())
        return losses

    def end_loss(self, enc: Tensor, batch: Batch, C: int) -> Tensor:
        """Binary cross-entropy of P(sentence end | text so far, audio up to the last word's
        chunk) at every word end. CE alone never asks this: the token after a word is trained
        with the window its own word is complete in, so after "my number is 649" + pause the LLM
        sees the next digits and is never taught that the pause alone is no sentence end. The
        search asks exactly this at a blank, and ``end_probability`` reads the same mass. As in
        the CE pass, one teacher-forced pass gives each position its own window, so earlier
        positions keep theirs (the search re-prefills them all under the current one)."""
        scored = batch.end_labels >= 0
        if not scored.any():
            return enc.new_zeros(())
        mask = window_mask(batch.decision_frame // C, C, self.cfg.left_chunks(C), batch.frames, enc.shape[1])
        hidden = self.lm.hidden(enc, mask, batch.tokens)
        log_end = self.lm.logits(hidden[scored]).log_softmax(-1)[:, self.end_ids].logsumexp(-1)
        log_not_end = torch.log(-torch.expm1(log_end.clamp(max=-1e-6)))
        y = batch.end_labels[scored].float()
        return -(y * log_end + (1 - y) * log_not_end).mean()

    def _chunk_predictions(self, enc: Tensor, batch: Batch, C: int, row_index: Tensor) -> Tensor:
        """The joint's prediction input as decoding sees it: for each chunk k, the LLM re-run
        on chunk k's window (no gradient, TRADE's gradient stopping) → (B, K, U+1, dj)."""
        B, T, _ = enc.shape
        N = batch.tokens.shape[1]
        left = self.cfg.left_chunks(C)
        preds = []
        with torch.no_grad():
            for k in range((T + C - 1) // C):
                mask = window_mask(torch.full((B, N), k), C, left, batch.frames, T)
                h = self.lm.hidden(enc, mask, batch.tokens).gather(1, row_index)  # (B, U+1, d)
                preds.append(h)
        return self.joiner.pred_proj(torch.stack(preds, 1))  # gradient reaches the projection only

    # ---- checkpoints --------------------------------------------------------------------
    def trainable_state(self) -> dict[str, Tensor]:
        """Only what differs from the bundled weights: trained encoder layers, LoRA, adaptor, joint."""
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}

    def save(self, directory: str | Path, dtype: torch.dtype = torch.float16):
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({n: t.to(dtype).contiguous() for n, t in self.trainable_state().items()},
                  directory / "model.safetensors")
        (directory / "config.json").write_text(json.dumps(asdict(self.cfg), indent=1))
        self.vocab.save(directory / "vocab.json")


def build_trade(cfg: TradeConfig, vocab: CompactVocab) -> Trade:
    """A TRADE model on the bundled weights, with fresh LoRA, adaptor and joint."""
    from asr.models.whisper.load import load_whisper

    whisper = load_whisper()
    if cfg.family == "whisper":
        lm: AudioLM = WhisperDecoderLM(whisper.decoder, cfg.lora_rank, cfg.lora_alpha)
    else:
        from asr.lm import load_causal_lm

        model, tokenizer = load_causal_lm(cfg.lm)
        lm = CausalLMWithAudio(model, tokenizer, whisper.dims.n_audio_state, cfg.lora_rank, cfg.lora_alpha,
                               cfg.adaptor_stack)
    return Trade(cfg, whisper.encoder, lm, vocab)


def load_trade(directory: str | Path, **overrides) -> Trade:
    """A saved TRADE model (``Trade.save``) in eval mode, float32. ``overrides``: config fields
    that leave the weights' shapes alone (``lookahead_ms``, ``left_context_s``), for fine-tuning."""
    from safetensors.torch import load_file

    directory = Path(directory)
    if not (directory / "model.safetensors").is_file():
        raise FileNotFoundError(f"no TRADE checkpoint in {directory}: train one with "
                                "`python -m asr train` (asr/recipes/trade/README.md)")
    cfg = TradeConfig(**{**json.loads((directory / "config.json").read_text()), **overrides})
    model = build_trade(cfg, CompactVocab.load(directory / "vocab.json"))
    state = {n: t.float() for n, t in load_file(directory / "model.safetensors").items()}
    missing = set(model.trainable_state()) - set(state)
    if missing:
        raise ValueError(f"{directory} lacks {len(missing)} trained tensors (e.g. {sorted(missing)[0]})")
    model.load_state_dict(state, strict=False)
    return model.eval()
