"""Deterministic randomness: a PCG64 stream per (seed, batch, purpose), unique numbers by counters.

Batches draw from independent streams, so a batch's people depend only on (seed, batch index) and
on the few counters that carry identifiers from batch to batch (PIN blocks, CMND and phone numbers).
"""

from __future__ import annotations

import zlib

import numpy as np

DAYS_PER_YEAR = 365.2425


def stream(seed: int, *key: int | str) -> np.random.Generator:
    """An independent generator for ``seed`` and a key such as (batch, "names")."""
    words = [seed & 0xFFFFFFFF, seed >> 32]
    words += [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in key]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))


class UniqueBlocks:
    """Hands out distinct numbers in [0, modulus) per bucket, in a seed-scrambled order.

    Each bucket has a counter and an affine permutation ``(a * n + c) mod modulus`` with ``a``
    coprime to the modulus (a power of ten), so the n-th number of a bucket is unique without
    remembering the numbers already given; the database's primary key is the final check.
    """

    def __init__(self, *, seed: int, name: str, buckets: int, modulus: int) -> None:
        rng = stream(seed, "blocks", name)
        a = rng.integers(1, modulus, size=buckets, dtype=np.int64) | 1  # odd: coprime to 2
        a[a % 5 == 0] += 2  # and to 5 (a stays odd and below modulus + 2)
        self.a = a % modulus
        self.c = rng.integers(0, modulus, size=buckets, dtype=np.int64)
        self.used = np.zeros(buckets, dtype=np.int64)
        self.modulus = modulus
        self.name = name

    def take(self, bucket: np.ndarray) -> np.ndarray:
        """One fresh number for each entry of ``bucket`` (an int array), in entry order."""
        order = np.argsort(bucket, kind="stable")
        sorted_buckets = bucket[order]
        first = np.searchsorted(sorted_buckets, sorted_buckets, side="left")
        rank = np.empty_like(bucket)
        rank[order] = np.arange(len(bucket)) - first
        n = self.used[bucket] + rank
        self.used += np.bincount(bucket, minlength=len(self.used))
        if len(n) and int(n.max()) >= self.modulus:
            raise OverflowError(f"{self.name}: a bucket ran out of its {self.modulus} numbers")
        return (self.a[bucket] * n + self.c[bucket]) % self.modulus


def permute_serials(serial: np.ndarray, *, seed: int, name: str, modulus: int) -> np.ndarray:
    """A seed-scrambled bijection of [0, modulus): distinct serials give distinct numbers."""
    blocks = UniqueBlocks(seed=seed, name=name, buckets=1, modulus=modulus)
    return (blocks.a[0] * serial + blocks.c[0]) % modulus


def choice(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn with the given (unnormalised) weights."""
    cum = np.cumsum(weights, dtype=float)
    return np.searchsorted(cum, rng.random(size) * cum[-1], side="right").clip(0, len(cum) - 1)


def pick_rows(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise categorical draw: ``cum`` holds one cumulative distribution per row."""
    return (cum < u[:, None]).sum(axis=1).clip(0, cum.shape[1] - 1)
