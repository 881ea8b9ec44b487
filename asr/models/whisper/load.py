"""The bundled Whisper tiny.en (CTranslate2) as a PyTorch ``Whisper`` and its tokenizer.

The converted state dict is cached as safetensors (``$TRADE_CACHE``), so later loads skip
parsing. Names map one-to-one except CTranslate2's fused projections, which are split.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from asr.lm import cache_dir, publish_cache
from asr.models.whisper.ct2 import read_ct2
from asr.models.whisper.model import ModelDimensions, Whisper
from asr.models.whisper import bundled_whisper_dir

SOT, EOT, NO_TIMESTAMPS = 50257, 50256, 50362  # English-only special tokens


def _block(v: dict, src: str, dst: str, cross: bool) -> dict:
    n = v[f"{src}/self_attention/linear_0/weight"].shape[1]
    out = {}

    def lin(name, prefix):
        out[f"{name}.weight"], out[f"{name}.bias"] = v[f"{prefix}/weight"], v[f"{prefix}/bias"]

    def ln(name, prefix):
        out[f"{name}.weight"], out[f"{name}.bias"] = v[f"{prefix}/gamma"], v[f"{prefix}/beta"]

    qkv_w, qkv_b = v[f"{src}/self_attention/linear_0/weight"], v[f"{src}/self_attention/linear_0/bias"]
    out.update({f"{dst}.attn.query.weight": qkv_w[:n], f"{dst}.attn.query.bias": qkv_b[:n],
                f"{dst}.attn.key.weight": qkv_w[n:2 * n],
                f"{dst}.attn.value.weight": qkv_w[2 * n:], f"{dst}.attn.value.bias": qkv_b[2 * n:]})
    lin(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
    ln(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
    if cross:
        lin(f"{dst}.cross_attn.query", f"{src}/attention/linear_0")
        kv_w, kv_b = v[f"{src}/attention/linear_1/weight"], v[f"{src}/attention/linear_1/bias"]
        out.update({f"{dst}.cross_attn.key.weight": kv_w[:n],
                    f"{dst}.cross_attn.value.weight": kv_w[n:], f"{dst}.cross_attn.value.bias": kv_b[n:]})
        lin(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
        ln(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
    lin(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
    lin(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
    ln(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
    return out


def ct2_to_state_dict(v: dict) -> tuple[ModelDimensions, dict]:
    n_audio_layer = sum(1 for k in v if k.startswith("encoder/layer_") and k.endswith("ffn/linear_0/weight"))
    n_text_layer = sum(1 for k in v if k.startswith("decoder/layer_") and k.endswith("ffn/linear_0/weight"))
    emb = v["decoder/embeddings/weight"]
    dims = ModelDimensions(
        n_mels=v["encoder/conv1/weight"].shape[1], n_audio_ctx=v["encoder/position_encodings/encodings"].shape[0],
        n_audio_state=emb.shape[1], n_audio_head=int(v["encoder/num_heads"]), n_audio_layer=n_audio_layer,
        n_vocab=emb.shape[0], n_text_ctx=v["decoder/position_encodings/encodings"].shape[0],
        n_text_state=emb.shape[1], n_text_head=int(v["decoder/num_heads"]), n_text_layer=n_text_layer)
    sd = {"encoder.conv1.weight": v["encoder/conv1/weight"], "encoder.conv1.bias": v["encoder/conv1/bias"],
          "encoder.conv2.weight": v["encoder/conv2/weight"], "encoder.conv2.bias": v["encoder/conv2/bias"],
          "encoder.positional_embedding": v["encoder/position_encodings/encodings"],
          "encoder.ln_post.weight": v["encoder/layer_norm/gamma"], "encoder.ln_post.bias": v["encoder/layer_norm/beta"],
          "decoder.token_embedding.weight": emb,
          "decoder.positional_embedding": v["decoder/position_encodings/encodings"],
          "decoder.ln.weight": v["decoder/layer_norm/gamma"], "decoder.ln.bias": v["decoder/layer_norm/beta"]}
    for i in range(n_audio_layer):
        sd.update(_block(v, f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False))
    for i in range(n_text_layer):
        sd.update(_block(v, f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True))
    return dims, {k: t.float().contiguous() for k, t in sd.items()}


def load_whisper(model_dir: str | None = None) -> Whisper:
    """Whisper in eval mode (float32, CPU) from a CTranslate2 directory (default: bundled tiny.en)."""
    from safetensors.torch import load_file, save_file

    model_dir = Path(model_dir or bundled_whisper_dir())
    cached = cache_dir() / f"whisper-{model_dir.stat().st_ino}-{(model_dir / 'model.bin').stat().st_size}"
    if (cached / "model.safetensors").is_file():
        dims = ModelDimensions(**json.loads((cached / "dims.json").read_text()))
        sd = load_file(cached / "model.safetensors")
    else:
        dims, sd = ct2_to_state_dict(read_ct2(model_dir / "model.bin"))

        def save(folder: Path):
            save_file(sd, folder / "model.safetensors")
            (folder / "dims.json").write_text(json.dumps(asdict(dims)))

        publish_cache(cached, save)
    model = Whisper(dims)
    model.load_state_dict(sd)
    return model.eval()


def load_tokenizer(model_dir: str | None = None):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(Path(model_dir or bundled_whisper_dir()) / "tokenizer.json"))


def suppress_ids(model_dir: str | None = None) -> tuple[list[int], list[int]]:
    """(always suppressed, suppressed at the first step) as in the model's config.json."""
    cfg = json.loads((Path(model_dir or bundled_whisper_dir()) / "config.json").read_text())
    return cfg["suppress_ids"], cfg["suppress_ids_begin"]
