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
    """Hands out distinct numbers in [0, modulus) per bucket, in a seed-keyed pseudo-random order.

    Each bucket has a counter; its n-th number is ``n`` through a keyed Feistel permutation of
    [0, modulus) (``feistel``), the bucket being part of the key. So the numbers are unique without
    remembering those already given (the database's primary key is the final check), and
    consecutive numbers of a bucket show no pattern: knowing one PIN and its neighbour in the same
    bucket says nothing about a third (an affine map ``a·n + c`` would make them an arithmetic
    sequence). ``a`` and ``c`` are kept for ``permute_serials``.
    """

    def __init__(self, *, seed: int, name: str, buckets: int, modulus: int) -> None:
        rng = stream(seed, "blocks", name)
        a = rng.integers(1, modulus, size=buckets, dtype=np.int64) | 1  # odd: coprime to 2
        a[a % 5 == 0] += 2  # and to 5 (a stays odd and below modulus + 2)
        self.a = a % modulus
        self.c = rng.integers(0, modulus, size=buckets, dtype=np.int64)
        self.round_keys = rng.integers(0, 2**63, size=FEISTEL_ROUNDS, dtype=np.int64)
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
        return feistel(n, tweak=bucket, keys=self.round_keys, modulus=self.modulus)


FEISTEL_ROUNDS = 6  # even: the two halves end in their starting radices


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a well-spread 64-bit hash of each value (wrapping arithmetic)."""
    x = x.astype(np.uint64)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def feistel(n: np.ndarray, *, tweak: np.ndarray, keys: np.ndarray, modulus: int) -> np.ndarray:
    """A keyed permutation of [0, modulus) for each ``tweak`` (format-preserving, vectorised).

    ``modulus = p · q`` with ``p`` the power of ten nearest its square root; ``n = L·q + R``. Each
    round maps (L in [0, p), R in [0, q)) to (R, (L + F(R)) mod p), swapping the radices, so every
    round is a bijection and an even number of rounds lands back in [0, modulus).
    """
    p = 10 ** (len(str(modulus - 1)) // 2)
    q = modulus // p
    if p * q != modulus:
        raise ValueError("the modulus must be a power of ten")
    left, right = n // q, n % q
    base = tweak.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    for key in keys:
        f = _mix(base ^ np.uint64(key) ^ _mix(right.astype(np.uint64) + np.uint64(1)))
        left, right = right, ((left.astype(np.uint64) + f % np.uint64(p)) % np.uint64(p)).astype(
            np.int64)
        p, q = q, p
    return left * q + right


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
