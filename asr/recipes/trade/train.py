"""Train a TRADE model: L = (1 − α)·CE + α·RNN-T, dynamic chunks, AdamW with a cosine schedule.

Usage::

    python -m asr train --config asr/recipes/trade/configs/whisper.json --out exp/trade-whisper
    python -m asr train --config asr/recipes/trade/configs/smollm2.json --out exp/trade-smollm2
    # interrupted? run the same command again: it resumes from <out>/checkpoint.pt

Reads top to bottom: config, data, model, optimizer, loop (with periodic dev loss and
checkpoints), export. Writes <out>/log.jsonl (one line per logged step), <out>/loss.png,
<out>/checkpoint.pt (resume state) and <out>/final/ (the fp16 checkpoint the recognizer loads).
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

from typing import Literal, NamedTuple

import torch
from pydantic import BaseModel, Field

from asr.data.join import Pause, join_utterances
from asr.data.manifest import Utterance, read_manifest
from asr.models.trade.model import FRAME_S, Trade, TradeConfig, build_trade, collate, load_trade
from asr.models.trade.targets import make_targets
from asr.vocab import CompactVocab


class TrainConfig(BaseModel, extra="forbid"):
    model: dict = Field(default_factory=dict, description="TradeConfig fields")
    # fine-tune: start from this saved checkpoint (its vocabulary and model config, `model` overriding
    # fields that keep the weights' shapes, such as lookahead_ms)
    init: str | None = None
    # one manifest or several, pooled (e.g. read speech plus dialogue turns)
    train_manifest: str | list[str] = "data/asr/train.jsonl"
    dev_manifest: str = "data/asr/dev.jsonl"
    vocab_texts: str = "data/asr/text/train.jsonl"  # training texts the compact vocabulary is counted on
    vocab_size: int = Field(2000, gt=0)
    batch_seconds: float = Field(40.0, gt=0)  # padded audio per batch
    steps: int = Field(1500, gt=0)
    warmup: int = Field(100, ge=0)
    lr_pretrained: float = 1e-4  # encoder layers and LoRA
    lr_new: float = 1e-3  # adaptor and joint
    weight_decay: float = 0.01
    alpha: float = Field(0.5, ge=0, le=1)
    delay_penalty: float = Field(0.0, ge=0)  # k2's delay-penalised RNN-T: > 0 pulls emissions earlier
    # weight of the sentence-end loss in streaming steps (Trade.end_loss): is this word end a
    # sentence end, judged with the audio the search has when it must decide
    end_weight: float = Field(0.0, ge=0)
    # that loss's label where a piece of a turn stops and the speaker goes on (Utterance.continues):
    # 0, no sentence ends there; -1, not asked (whole turns already teach the holds)
    continued_end: Literal[0, -1] = 0
    chunk_ms: list[int] = [320, 640, 960, 1280, 1920]
    full_context_prob: float = Field(0.5, ge=0, le=1)
    # joined examples: a stream goes on after a sentence end, so part of the training inputs are
    # 2..join_max utterances with a pause between them (capped at join_max_s of audio)
    join_prob: float = Field(0.0, ge=0, le=1)
    join_max: int = Field(3, ge=2)
    join_max_s: float = Field(20.0, gt=0)
    join_gap_s: tuple[float, float] = (0.2, 1.0)
    # pauses that are not sentence ends: a pause_prob share of utterances get 1..pause_max silences
    # at word boundaries, log-uniform in pause_s (the dialogue holds' range), text unchanged
    pause_prob: float = Field(0.0, ge=0, le=1)
    pause_max: int = Field(2, ge=1)
    pause_s: tuple[float, float] = (0.2, 2.0)
    grad_clip: float = 1.0
    log_every: int = 10
    checkpoint_every: int = 50
    dev_every: int = 250
    dev_utterances: int = 40
    seed: int = 0
    threads: int = 2


class Example(NamedTuple):
    """One training input: utterances played one after another with ``gaps`` seconds of silence
    between them (most often a single utterance), and ``pauses[i]`` inside utterance i."""
    utts: tuple[Utterance, ...]
    gaps: tuple[float, ...] = ()
    pauses: tuple[tuple[Pause, ...], ...] = ()

    @property
    def duration(self) -> float:
        return sum(u.duration for u in self.utts) + sum(self.gaps) + sum(s for ps in self.pauses for _, s in ps)


def train_utterances(cfg: TrainConfig) -> list[Utterance]:
    paths = [cfg.train_manifest] if isinstance(cfg.train_manifest, str) else cfg.train_manifest
    return [u for path in paths for u in read_manifest(path)]


def draw_pauses(utt: Utterance, cfg: TrainConfig, rng: random.Random) -> tuple[Pause, ...]:
    if len(utt.words) < 2 or rng.random() >= cfg.pause_prob:
        return ()
    after = rng.sample(range(len(utt.words) - 1), min(rng.randint(1, cfg.pause_max), len(utt.words) - 1))
    lo, hi = (math.log(s) for s in cfg.pause_s)
    return tuple((k, round(math.exp(rng.uniform(lo, hi)), 2)) for k in sorted(after))


def examples(utts: list[Utterance], cfg: TrainConfig, seed: int) -> list[Example]:
    """The utterances in a seeded random order, a ``join_prob`` share of them starting a joined
    example, a ``pause_prob`` share of them with pauses inside."""
    rng = random.Random(seed)
    pool = list(utts)
    rng.shuffle(pool)
    out, i = [], 0
    while i < len(pool):
        group = [pool[i]]
        i += 1
        if rng.random() < cfg.join_prob:
            want = rng.randint(2, cfg.join_max)
            while len(group) < want and i < len(pool) and \
                    sum(u.duration for u in group) + pool[i].duration + cfg.join_gap_s[1] * len(group) <= cfg.join_max_s:
                group.append(pool[i])
                i += 1
        gaps = tuple(round(rng.uniform(*cfg.join_gap_s), 2) for _ in group[1:])
        out.append(Example(tuple(group), gaps, tuple(draw_pauses(u, cfg, rng) for u in group) if cfg.pause_prob else ()))
    return out


def batches(exs: list[Example], batch_seconds: float, seed: int) -> list[list[Example]]:
    """Length-sorted batches of at most ``batch_seconds`` padded audio, in a seeded random order."""
    ordered = sorted(exs, key=lambda e: e.duration)
    out, cur = [], []
    for ex in ordered:
        if cur and ex.duration * (len(cur) + 1) > batch_seconds:
            out.append(cur)
            cur = []
        cur.append(ex)
    out.append(cur)
    random.Random(seed).shuffle(out)
    return out


def batch_schedule(utts: list[Utterance], cfg: TrainConfig):
    """Every step's batch, epoch after epoch (deterministic, so a resumed run sees the same)."""
    epoch = 0
    while True:
        yield from batches(examples(utts, cfg, cfg.seed + epoch), cfg.batch_seconds, cfg.seed + epoch)
        epoch += 1


def learning_rate_scale(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def build_vocab(cfg: TrainConfig, model_cfg: TradeConfig, out: Path) -> CompactVocab:
    path = out / "vocab.json"
    if path.is_file():
        return CompactVocab.load(path)
    texts = [" " + json.loads(line)["written"] for line in Path(cfg.vocab_texts).read_text().splitlines() if line]
    texts += [" " + u.text for u in train_utterances(cfg)]
    if model_cfg.family == "whisper":
        from asr.models.whisper.load import load_tokenizer

        tokenizer = load_tokenizer()
    else:
        from transformers import AutoTokenizer

        from asr.lm import cache_dir, load_causal_lm

        load_causal_lm(model_cfg.lm)  # converts a bundled GGUF once
        src = Path(model_cfg.lm) if Path(model_cfg.lm).is_dir() else cache_dir() / model_cfg.lm
        tokenizer = AutoTokenizer.from_pretrained(src)
    vocab = CompactVocab.build(texts, tokenizer, cfg.vocab_size)
    vocab.save(path)
    return vocab


def make_batch(exs: list[Example], model: Trade, continued_end: int):
    joined = [join_utterances(list(ex.utts), list(ex.gaps), [list(p) for p in ex.pauses] or None) for ex in exs]
    targets = [make_targets(u.text, u.words, model.vocab, u.continues, continued_end) for u, _ in joined]
    return collate([audio for _, audio in joined], targets, model.lm)


@torch.no_grad()
def dev_loss(model: Trade, dev: list[Utterance], cfg: TrainConfig, chunk_ms: int = 640) -> dict[str, float]:
    model.eval()
    totals: dict[str, float] = {}
    plain = cfg.model_copy(update={"join_prob": 0.0, "pause_prob": 0.0})  # comparable across stages
    groups = batches(examples(dev, plain, 0), cfg.batch_seconds, 0)
    for group in groups:
        batch = make_batch(group, model, cfg.continued_end)
        losses = model(batch, int(chunk_ms / 1000 / FRAME_S), cfg.alpha, cfg.delay_penalty, cfg.end_weight)
        for name, value in losses.items():
            totals[name] = totals.get(name, 0.0) + float(value) / len(groups)
    model.train()
    return totals


def plot_losses(log_path: Path, png: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line]
    train = [r for r in rows if "ce" in r]
    dev = [r for r in rows if "dev_ce" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("ce", "train CE"), ("rnnt", "train RNN-T / token"), ("end", "train sentence-end BCE")):
        rows = [r for r in train if key in r]
        if rows:
            ax.plot([r["step"] for r in rows], [r[key] for r in rows], label=label, alpha=0.8)
    for key, label in (("dev_ce", "dev CE (640 ms)"), ("dev_rnnt", "dev RNN-T (640 ms)"),
                       ("dev_end", "dev sentence-end BCE (640 ms)")):
        rows = [r for r in dev if key in r]
        if rows:
            ax.plot([r["step"] for r in rows], [r[key] for r in rows], "o-", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss per token")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def train(cfg: TrainConfig, out: Path, max_minutes: float | None = None) -> Path:
    """Trains (or resumes) into ``out`` and returns the final checkpoint directory. Uses
    ``cfg.threads`` torch threads and gives the process its previous count back afterwards:
    the shipped checkpoint's decisions can tip on float rounding that depends on it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, out, max_minutes)
    finally:
        torch.set_num_threads(previous)


def _train(cfg: TrainConfig, out: Path, max_minutes: float | None) -> Path:
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.json").write_text(cfg.model_dump_json(indent=1))

    # data
    train_utts = train_utterances(cfg)
    dev = read_manifest(cfg.dev_manifest)[:cfg.dev_utterances]

    # model and optimizer: pretrained parts (encoder, LoRA) at a low rate, new parts at a high one
    torch.manual_seed(cfg.seed)
    if cfg.init:
        model = load_trade(cfg.init, **cfg.model).train()
        model.vocab.save(out / "vocab.json")
    else:
        model = build_trade(TradeConfig(**cfg.model), build_vocab(cfg, TradeConfig(**cfg.model), out))
    new = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith(("joiner.", "lm.adaptor."))]
    old = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith(("joiner.", "lm.adaptor."))]
    opt = torch.optim.AdamW([{"params": old, "lr": cfg.lr_pretrained}, {"params": new, "lr": cfg.lr_new}],
                            weight_decay=cfg.weight_decay)
    step = 0
    ckpt = out / "checkpoint.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
        print(f"resumed at step {step}")
    schedule = batch_schedule(train_utts, cfg)
    for _ in range(step):
        next(schedule)
    chunk_rng = random.Random(cfg.seed * 1_000_003 + step)

    # loop
    model.train()
    started = time.time()
    log = (out / "log.jsonl").open("a")
    bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step", dynamic_ncols=True)
    while step < cfg.steps:
        group = next(schedule)
        full = chunk_rng.random() < cfg.full_context_prob
        chunk_ms = None if full else chunk_rng.choice(cfg.chunk_ms)
        for g, base in zip(opt.param_groups, (cfg.lr_pretrained, cfg.lr_new)):
            g["lr"] = base * learning_rate_scale(step, cfg)
        t0 = time.time()
        batch = make_batch(group, model, cfg.continued_end)
        losses = model(batch, int(chunk_ms / 1000 / FRAME_S) if chunk_ms else None, cfg.alpha,
                       cfg.delay_penalty, cfg.end_weight)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(old + new, cfg.grad_clip)
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix(ce=f"{float(losses['ce']):.3f}", rnnt=f"{float(losses['rnnt']):.3f}",
                        chunk=chunk_ms or "full")
        if step % cfg.log_every == 0 or step == 1:
            log.write(json.dumps({"step": step, "ce": float(losses["ce"]), "rnnt": float(losses["rnnt"]),
                                  **({"end": float(losses["end"])} if "end" in losses else {}),
                                  "chunk_ms": chunk_ms, "grad_norm": float(grad_norm),
                                  "lr": opt.param_groups[0]["lr"], "s_per_step": round(time.time() - t0, 2),
                                  "audio_s": round(sum(ex.duration for ex in group), 1)}) + "\n")
            log.flush()
        if step % cfg.dev_every == 0 or step == cfg.steps:
            d = dev_loss(model, dev, cfg)
            log.write(json.dumps({"step": step, **{f"dev_{k}": v for k, v in d.items() if k != "loss"}}) + "\n")
            log.flush()
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"model": model.trainable_state(), "optimizer": opt.state_dict(), "step": step}, tmp)
            tmp.rename(ckpt)
            model.save(out / "final")
            plot_losses(out / "log.jsonl", out / "loss.png")
        if max_minutes and time.time() - started > max_minutes * 60:
            print(f"stopping at step {step}: --max-minutes reached (rerun to resume)")
            break
    bar.close()
    return out / "final"
