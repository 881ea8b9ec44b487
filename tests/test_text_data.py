"""Text side of the corpus: the normaliser, entity verbalisation, splits and sources."""

import random
import re

import pytest

from asr.data import text as T
from asr.data import verbalize as V
from asr.normalize import normalize


@pytest.mark.parametrize("make", [V.phone_number, V.account_number, V.zip_code, V.money, V.date,
                                  V.time_of_day, V.order_id])
def test_written_and_spoken_entities_normalise_alike(make):
    rng = random.Random(7)
    for _ in range(200):
        written, spoken = make(rng)
        assert not re.search(r"\d", spoken), spoken  # voices only ever read words
        assert normalize(written) == normalize(spoken), (written, spoken)


def test_normaliser_rules():
    assert normalize("Um, I paid $25.50 at 3pm.") == "i paid 2 5 dollars 5 0 cents at 3 p m"
    assert normalize("I am here") == "i am here"  # "am" is a word, not a time
    assert normalize("four thousand eight hundred twenty one") == normalize("4821") == "4 8 2 1"
    assert normalize("one hundred and five") == "1 0 5"
    assert normalize("the twenty second of May") == normalize("the 22nd of May")
    assert normalize("Oh, I see.") == "oh i see"  # an interjection, not a zero
    assert normalize("john.smith@example.com") == "john dot smith at example dot com"


def test_cardinals_and_ordinals_round_trip_through_the_normaliser():
    for n in list(range(0, 130)) + [999, 1000, 1005, 4821, 20000, 99999]:
        assert normalize(V.cardinal(n)) == " ".join(str(n)), n
    for n in range(1, 40):
        assert normalize(V.ordinal(n)) == " ".join(str(n)), n


@pytest.fixture(scope="module")
def corpus():
    return T.build_corpus(4000, seed=3)


def test_corpus_splits_are_disjoint_by_normalised_text(corpus):
    keys = {split: {s.key for s in sents} for split, sents in corpus.items()}
    assert all(keys.values())
    assert not keys["train"] & keys["dev"] and not keys["train"] & keys["test"] and not keys["dev"] & keys["test"]


def test_held_out_templates_appear_only_in_test(corpus):
    held = {s.template for s in corpus["test"] if s.template and T.held_out_template(s.template)}
    assert held, "some test sentences come from held-out templates"
    for split in ("train", "dev"):
        assert not any(s.template in held for s in corpus[split])


def test_sources_domains_and_spoken_forms(corpus):
    everything = [s for sents in corpus.values() for s in sents]
    assert {s.source for s in everything} <= set(T.SOURCES)
    if T.WORDNET_DIR.exists():
        assert any(s.source == "wordnet" for s in everything)
    assert {"customer_service", "everyday"} <= {s.domain for s in everything}
    assert all(not re.search(r"\d", s.spoken) for s in everything)
    # hesitations, self-corrections and questions are all present
    spoken = [s.spoken for s in everything]
    assert any(" um," in x.lower() or x.lower().startswith("um,") for x in spoken)
    assert any("I mean" in x or "no wait" in x for x in spoken)
    assert any(x.endswith("?") for x in spoken)


def test_corpus_is_deterministic():
    a, b = T.build_corpus(500, seed=1, wordnet=False), T.build_corpus(500, seed=1, wordnet=False)
    assert [s.written for s in a["train"]] == [s.written for s in b["train"]]
