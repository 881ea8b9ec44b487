"""asr.lm: bundled SmolLM2 from its GGUF, cached as safetensors; any local HF directory."""

import multiprocessing
import os

import pytest
import torch

from asr.lm import bundled_gguf, load_causal_lm


def test_unknown_bundled_name_says_what_exists():
    with pytest.raises(ValueError, match="smollm2-135m-instruct"):
        bundled_gguf("gpt-9")


@pytest.fixture(scope="module")
def smollm2():
    return load_causal_lm("smollm2-135m-instruct")


def test_bundled_smollm2_loads_as_float32_and_knows_facts(smollm2):
    model, tok = smollm2
    assert next(model.parameters()).dtype == torch.float32
    assert model.config.vocab_size == 49152 and model.config.num_hidden_layers == 30
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    out = model.generate(ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0, ids.shape[1]:])


def test_cache_is_a_directory_that_loads_again_identically(smollm2, tmp_path):
    model, tok = smollm2
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    again, tok2 = load_causal_lm(str(tmp_path))
    ids = tok("Hello there, how can I help?", return_tensors="pt").input_ids
    assert tok2("Hello there, how can I help?", return_tensors="pt").input_ids.tolist() == ids.tolist()
    with torch.no_grad():
        assert torch.equal(model(ids).logits, again(ids).logits)


def _racers(target: str, barrier, results):
    from pathlib import Path

    from asr.lm import publish_cache

    def build(folder):
        (folder / "weights").write_text(f"built by {os.getpid()}")
        barrier.wait()  # every process has built its own copy before any moves it into place

    publish_cache(Path(target), build)
    results.put((Path(target) / "weights").read_text())


def test_processes_filling_a_cold_cache_together_all_get_one_entry(tmp_path):
    """Trace workers start together on a fresh machine, each converting the same weights."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_racers, args=(str(tmp_path / "entry"), barrier, results)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    read = {results.get(timeout=5) for _ in procs}
    assert len(read) == 1 and read == {(tmp_path / "entry" / "weights").read_text()}
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]  # the losers' copies are gone
