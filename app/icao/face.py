"""A deterministic synthetic portrait for DG2 (a few KB of JPEG, never a real person's face).

Simple shapes (background, hair, face oval, eyes, mouth) whose colours and proportions come from
SHA-256 of the seed, drawn with Pillow and saved as baseline JPEG without metadata. Pillow is the
one dependency outside the ICAO purity list (stdlib, cryptography, asn1crypto): it is confined to
this module, and ``dg2`` takes the image bytes, so the rest of ``app.icao`` never imports it. The
same seed gives the same bytes for a given Pillow/libjpeg build.
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING

from app.icao.dg2 import FacialImage, Gender

if TYPE_CHECKING:
    from PIL import Image

WIDTH, HEIGHT = 120, 160
_SKIN_TONES = ((241, 194, 125), (224, 172, 105), (198, 134, 66), (233, 196, 160), (255, 219, 172))
_HAIR = ((20, 20, 20), (45, 30, 20), (70, 50, 35), (90, 90, 90))


def _palette(
    digest: bytes,
) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    background = (200 + digest[0] % 56, 210 + digest[1] % 46, 220 + digest[2] % 36)
    return background, _SKIN_TONES[digest[3] % len(_SKIN_TONES)], _HAIR[digest[4] % len(_HAIR)]


def _draw(digest: bytes) -> Image.Image:
    from PIL import Image, ImageDraw  # by the first face drawn, not at start (issue 20)

    background, skin, hair = _palette(digest)
    image = Image.new("RGB", (WIDTH, HEIGHT), background)
    draw = ImageDraw.Draw(image)
    width = 64 + digest[5] % 12
    left, right = (WIDTH - width) // 2, (WIDTH + width) // 2
    draw.ellipse((left - 4, 22, right + 4, 90 + digest[6] % 10), fill=hair)
    draw.ellipse((left, 34, right, 128), fill=skin)
    draw.rectangle((WIDTH // 2 - 14, 120, WIDTH // 2 + 14, HEIGHT), fill=skin)
    eye_y = 70 + digest[7] % 6
    for eye_x in (WIDTH // 2 - 14, WIDTH // 2 + 14):
        draw.ellipse((eye_x - 5, eye_y - 3, eye_x + 5, eye_y + 3), fill=(40, 30, 30))
    draw.arc(
        (WIDTH // 2 - 12, 96, WIDTH // 2 + 12, 110 + digest[8] % 4),
        20,
        160,
        fill=(150, 60, 60),
        width=2,
    )
    return image


def synthetic_face(seed: bytes, *, gender: Gender = "unspecified") -> FacialImage:
    """A 120×160 JPEG portrait derived from ``seed``."""
    buffer = io.BytesIO()
    _draw(hashlib.sha256(b"dancu-sandbox/face" + seed).digest()).save(
        buffer, format="JPEG", quality=75
    )
    return FacialImage(
        image=buffer.getvalue(), image_type="jpeg", width=WIDTH, height=HEIGHT, gender=gender
    )
