"""Identifiers that must be unique across the whole population: PIN, 9-digit CMND, mobile number.

None of them keeps a set of numbers already given: each has a counter per bucket and a seed-keyed
Feistel permutation of the bucket's number space (``seed.rng.UniqueBlocks``), so consecutive numbers
of a bucket do not form a sequence.

* PIN (rules §1.1): bucket = (place of birth registration, century/sex digit, 2-digit year); the six
  random digits are the bucket's n-th permuted block. The primary key enforces uniqueness.
* CMND (rules §1.1, field 13 of Law 2023 Art. 9): 2-digit police issuing code of the province, then
  seven digits; only for people old enough to have had one before 2016.
* Mobile numbers (rules §6.9): a real prefix, then seven digits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seed.rng import UniqueBlocks, choice, permute_serials
from seed.vitals import FEMALE

PIN_BUCKETS = 1000 * 10 * 100


class Identifiers:
    """The counters that carry over from batch to batch."""

    def __init__(self, *, seed: int, phone_prefixes: list[str]) -> None:
        self.pin = UniqueBlocks(seed=seed, name="pin", buckets=PIN_BUCKETS, modulus=10**6)
        self.cmnd = UniqueBlocks(seed=seed, name="cmnd", buckets=100, modulus=10**7)
        self.phone = UniqueBlocks(seed=seed, name="phone", buckets=len(phone_prefixes),
                                  modulus=10**7)
        self.phone_prefixes = np.array(phone_prefixes)
        self.emails_given = 0
        self.seed = seed

    def pins(self, *, place: np.ndarray, birth_year: np.ndarray, sex: np.ndarray) -> np.ndarray:
        """12-digit PINs as int64 (format with zero padding)."""
        century_sex = 2 * ((birth_year - 1900) // 100) + (sex == FEMALE)
        bucket = (place * 10 + century_sex) * 100 + birth_year % 100
        block = self.pin.take(bucket)
        return bucket * 10**6 + block

    def cmnd_numbers(self, prefix: np.ndarray) -> np.ndarray:
        return prefix * 10**7 + self.cmnd.take(prefix)

    def phones(self, rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
        """Mobile numbers as strings: '0' + 9 digits."""
        which = choice(rng, weights, n)
        number = self.phone.take(which)
        return np.strings.add(self.phone_prefixes[which], np.strings.zfill(number.astype(str), 7))

    def email_serials(self, n: int) -> np.ndarray:
        serial = np.arange(self.emails_given, self.emails_given + n, dtype=np.int64)
        self.emails_given += n
        return permute_serials(serial, seed=self.seed, name="email", modulus=10**8)


def phone_table(codes: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """All mobile prefixes with the weight of each (carrier share split evenly)."""
    prefixes, weights = [], []
    for carrier in codes["phone_prefixes"].values():
        for prefix in carrier["prefixes"]:
            prefixes.append(prefix)
            weights.append(carrier["weight"] / len(carrier["prefixes"]))
    return prefixes, np.array(weights)


def format_digits(values: np.ndarray, width: int) -> np.ndarray:
    return np.strings.zfill(values.astype(str), width)
