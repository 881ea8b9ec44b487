"""Compact vocabulary on the bundled Whisper tokenizer: every sentence tokenises, ids are the
LLM's own, the mapping round-trips, punctuation is non-verbalised, H(c) gathers the variants."""

import pytest

from asr.vocab import CompactVocab, normalise_token

TRAIN = ["Hello, I need help with my order.", "My order number is 4 5 2 7 7 9.",
         "Can you send it to my new address instead?", "Sorry, one more thing. Is shipping free?",
         "Great, thank you so much. Goodbye!", "Hello? Is anybody there?", "I don't think so, thanks.",
         "Please e-mail jane.doe@example.com about ORDER 12."]


@pytest.fixture(scope="module")
def tok():
    from asr.models.whisper.load import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="module")
def vocab(tok):
    return CompactVocab.build(TRAIN, tok, k=25)


def test_normalisation():
    assert normalise_token(" Hello,") == "hello"
    assert normalise_token(" don't") == "don't"
    assert normalise_token("?") == "" and normalise_token(" ") == ""


def test_every_training_sentence_tokenises_and_round_trips(vocab):
    for text in TRAIN:
        ids = vocab.encode(text)
        assert vocab.decode(ids) == text


def test_ids_are_the_llm_ids(vocab, tok):
    for text in TRAIN:
        for i in vocab.encode(text):
            assert tok.decode([i]) == vocab.token_text[i]


def test_classes_and_H(vocab, tok):
    assert vocab.classes[0] == "<blank>" and vocab.size == 26
    ids = vocab.encode("Hello? Is anybody there?")
    classes = vocab.classes_of(ids)
    punct = [c for i, c in zip(ids, classes) if vocab.token_text[i] == "?"]
    assert punct and all(c == -1 for c in punct)  # punctuation never enters the lattice
    hello = vocab.classes.index("hello")
    variants = {vocab.token_text[i] for i in vocab.H[hello]}
    assert {"Hello"} <= variants or {" Hello"} <= variants
    assert all(normalise_token(vocab.token_text[i]) == "hello" for i in vocab.H[hello])


def test_unknown_characters_are_a_clear_error(vocab):
    with pytest.raises(ValueError, match="no active token"):
        vocab.encode("ünïcode")


def test_save_and_load(vocab, tmp_path):
    vocab.save(tmp_path / "v.json")
    again = CompactVocab.load(tmp_path / "v.json")
    assert again.classes == vocab.classes and again.encode(TRAIN[0]) == vocab.encode(TRAIN[0])
