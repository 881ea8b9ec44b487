"""Entities in two forms: what is written (the reference) and what a caller says (what we synthesise).

A phone number is written ``555-012-3456`` and said "five five five, zero one two, three four
five six"; an order id is written ``AB-4821`` and said "A B, four eight two one". Every generator
takes a ``random.Random`` and returns ``(written, spoken)``; ``spoken`` contains only words a TTS
voice reads unambiguously (no digits, no symbols), so word timings map one-to-one onto it.
"""

from __future__ import annotations

import random
import string

UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
            "nine": "ninth", "twelve": "twelfth"}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
LETTER_NAMES = {c: c.upper() for c in string.ascii_lowercase}


def cardinal(n: int) -> str:
    """0 ≤ n < 1,000,000 in words: 4821 → 'four thousand eight hundred twenty one'."""
    if n < 20:
        return UNITS[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + UNITS[n % 10])
    if n < 1000:
        rest = n % 100
        return UNITS[n // 100] + " hundred" + ("" if rest == 0 else " " + cardinal(rest))
    rest = n % 1000
    return cardinal(n // 1000) + " thousand" + ("" if rest == 0 else " " + cardinal(rest))


def ordinal(n: int) -> str:
    """1 → 'first', 22 → 'twenty second'."""
    words = cardinal(n).split()
    last = words[-1]
    if last in ORDINALS:
        words[-1] = ORDINALS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def ordinal_suffix(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def digits_spoken(digits: str) -> str:
    """'4820' → 'four eight two zero' (one word per digit, as callers read ids)."""
    return " ".join(UNITS[int(d)] for d in digits)


def year_spoken(year: int) -> str:
    """2024 → 'twenty twenty four', 2005 → 'two thousand five', 1998 → 'nineteen ninety eight'."""
    if 2000 <= year < 2010:
        return cardinal(year)
    hi, lo = divmod(year, 100)
    return cardinal(hi) + " " + (f"oh {UNITS[lo]}" if lo < 10 else cardinal(lo))


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def phone_number(rng: random.Random) -> tuple[str, str]:
    groups = [str(rng.randint(200, 989)), _digits(rng, 3), _digits(rng, 4)]
    return "-".join(groups), ", ".join(digits_spoken(g) for g in groups)


def order_id(rng: random.Random) -> tuple[str, str]:
    letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.randint(1, 3)))
    digits = _digits(rng, rng.choice([4, 5, 6]))
    return f"{letters}-{digits}", " ".join(letters) + ", " + digits_spoken(digits)


def account_number(rng: random.Random) -> tuple[str, str]:
    groups = [_digits(rng, 4) for _ in range(rng.choice([2, 3]))]
    return " ".join(groups), ", ".join(digits_spoken(g) for g in groups)


def zip_code(rng: random.Random) -> tuple[str, str]:
    z = _digits(rng, 5)
    return z, digits_spoken(z)


def money(rng: random.Random) -> tuple[str, str]:
    dollars = rng.choice([rng.randint(1, 99), rng.randint(100, 999), rng.randint(1000, 4999)])
    cents = rng.choice([0, 0, rng.randint(1, 99)])
    if cents == 0:
        return f"${dollars:,}", f"{cardinal(dollars)} dollar{'s' * (dollars != 1)}"
    return (f"${dollars:,}.{cents:02d}",
            f"{cardinal(dollars)} dollar{'s' * (dollars != 1)} and {cardinal(cents)} cent{'s' * (cents != 1)}")


def date(rng: random.Random) -> tuple[str, str]:
    month, day = rng.choice(MONTHS), rng.randint(1, 28)
    if rng.random() < 0.4:
        year = rng.randint(1990, 2029)
        return f"{month} {day}, {year}", f"{month} {ordinal(day)}, {year_spoken(year)}"
    return f"{month} {ordinal_suffix(day)}", f"{month} {ordinal(day)}"


def time_of_day(rng: random.Random) -> tuple[str, str]:
    hour, minute = rng.randint(1, 12), rng.choice([0, 0, 15, 30, 45, rng.randint(1, 59)])
    ampm = rng.choice(["a.m.", "p.m."])
    spoken_ampm = "A M" if ampm == "a.m." else "P M"
    if minute == 0:
        return f"{hour} {ampm}", f"{cardinal(hour)} {spoken_ampm}"
    spoken_min = f"oh {UNITS[minute]}" if minute < 10 else cardinal(minute)
    return f"{hour}:{minute:02d} {ampm}", f"{cardinal(hour)} {spoken_min} {spoken_ampm}"


def spelled(word: str) -> str:
    """'Nguyen' → 'N G U Y E N' (letters as a caller spells them)."""
    return " ".join(c.upper() for c in word if c.isalpha())


def email(rng: random.Random, first: str, last: str, domains: list[str]) -> tuple[str, str]:
    first, last = first.lower(), last.lower()
    user = rng.choice([f"{first}.{last}", f"{first}{last}", f"{first[0]}{last}", f"{first}_{last}"])
    number = rng.choice(["", "", str(rng.randint(1, 99))])
    user += number
    domain = rng.choice(domains)
    spoken_parts = []
    for piece in _split_keep(user, "._"):
        if piece == ".":
            spoken_parts.append("dot")
        elif piece == "_":
            spoken_parts.append("underscore")
        elif piece.isdigit():
            spoken_parts.append(digits_spoken(piece))
        elif len(piece) <= 2 or rng.random() < 0.3:
            spoken_parts.append(spelled(piece))
        else:
            spoken_parts.append(piece)
    host, _, tld = domain.rpartition(".")
    spoken = " ".join(spoken_parts) + f" at {host} dot {tld}"
    return f"{user}@{domain}", spoken


def _split_keep(text: str, separators: str) -> list[str]:
    out, current = [], ""
    for ch in text:
        if ch in separators:
            if current:
                out.append(current)
            out.append(ch)
            current = ""
        elif current and ch.isdigit() != current[-1].isdigit():
            out.append(current)
            current = ch
        else:
            current += ch
    if current:
        out.append(current)
    return out
