"""Which voices speak which split. Test voices are never heard in training.

Held out for test only (whole voices, every rate and pitch):
- festival ``slt`` (the HTS voice);
- espeak language voices ``en-gb-scotland``, ``en-us-nyc`` and ``en-gb-x-gbcwmd``;
- espeak variants ``f5``, ``m7``, ``klatt3``, ``aunty``, ``steph2`` and ``norbert`` on any base.
Training and dev draw from the rest: Piper joe over length and noise scales, the other espeak
bases × variants × rate × pitch, and festival ``kal`` and ``ked``.
"""

from __future__ import annotations

import random

ESPEAK_TRAIN_BASES = ["en-us", "en", "en-gb-x-rp", "en-029", "en-gb-x-gbclan"]
ESPEAK_TEST_BASES = ["en-gb-scotland", "en-us-nyc", "en-gb-x-gbcwmd"]
ESPEAK_TRAIN_VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "f4", "klatt",
                         "klatt2", "klatt4", "Alex", "Andy", "Annie", "adam", "anika", "benjamin",
                         "caleb", "david", "ed", "edward", "iven", "john", "linda", "max", "michel",
                         "paul", "quincy", "rob", "robert", "shelby", "steph", "travis", "victor", "zac"]
ESPEAK_TEST_VARIANTS = ["f5", "m7", "klatt3", "aunty", "steph2", "norbert"]
FESTIVAL_TRAIN = ["kal", "ked"]
FESTIVAL_TEST = ["slt"]
HELD_OUT_MARKERS = ([f"espeak:{b}" for b in ESPEAK_TEST_BASES] + [f"+{v}?" for v in ESPEAK_TEST_VARIANTS]
                    + [f"festival:{v}" for v in FESTIVAL_TEST])


def _espeak(base: str, variant: str, rng: random.Random) -> str:
    name = base + (f"+{variant}" if variant else "")
    return f"espeak:{name}?rate={rng.randint(130, 200)}&pitch={rng.randint(25, 75)}"


def sample_voice(split: str, rng: random.Random) -> str:
    """A voice spec for one utterance of ``split`` (train and dev share voices; test never does)."""
    r = rng.random()
    if split == "test":
        if r < 0.3:
            return f"festival:slt?stretch={rng.uniform(0.9, 1.15):.2f}"
        if r < 0.65:
            return _espeak(rng.choice(ESPEAK_TEST_BASES), rng.choice(ESPEAK_TRAIN_VARIANTS + ESPEAK_TEST_VARIANTS), rng)
        return _espeak(rng.choice(ESPEAK_TRAIN_BASES + ESPEAK_TEST_BASES), rng.choice(ESPEAK_TEST_VARIANTS), rng)
    if r < 0.35:
        return f"piper:joe?length_scale={rng.uniform(0.85, 1.2):.2f}&noise_scale={rng.uniform(0.4, 0.9):.2f}"
    if r < 0.85:
        return _espeak(rng.choice(ESPEAK_TRAIN_BASES), rng.choice(ESPEAK_TRAIN_VARIANTS), rng)
    return f"festival:{rng.choice(FESTIVAL_TRAIN)}?stretch={rng.uniform(0.9, 1.2):.2f}"


def is_held_out(voice: str) -> bool:
    """True for a voice spec that only the test split may use."""
    spec = voice if "?" in voice else voice + "?"
    return any(m in spec for m in HELD_OUT_MARKERS)


def voice_family(voice: str) -> str:
    return voice.split(":", 1)[0]
