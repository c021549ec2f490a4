"""Front and back of a card as SVG, for eKYC and OCR tests (both generations).

The layout follows the specimens (identity-rules reference §2.2) closely enough for a reader to
find each field where it expects it: on the 2021 CCCD the QR code is on the front and the
fingerprint boxes on the back; on the 2024 căn cước the QR code, residence, place of birth
registration and dates are on the back. Text is real text (labels bilingual as printed), the QR
code is drawn with ``segno`` from the card's QR payload, the MRZ is set in an OCR-B-like monospace
font, and the photo is the chip's synthetic face (omitted under 6, as on the card). The images say
SANDBOX across them: none can pass for a real card.
"""

from __future__ import annotations

import base64
import textwrap
from xml.sax.saxutils import escape

from app.services.cards.holder import CardContent, PrintedField, printed_side

WIDTH, HEIGHT = 856, 540  # 85.6 mm x 54 mm (ID-1), 10 units per mm
MRZ_FONT = "'OCR-B', 'OCR B', 'OCR-B 10 BT', 'DejaVu Sans Mono', monospace"
TEXT_FONT = "'DejaVu Sans', Arial, sans-serif"
HEADER = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
          "SOCIALIST REPUBLIC OF VIET NAM", "Independence - Freedom - Happiness")
_BACKGROUND = {"cccd_2021": "#e7f0f7", "can_cuoc_2024": "#eef3ea"}


def _text(x: float, y: float, value: str, *, size: int = 16, weight: str = "normal",
          anchor: str = "start", fill: str = "#1b1b1b", font: str = TEXT_FONT,
          length: int | None = None) -> str:
    fit = f' textLength="{length}" lengthAdjust="spacingAndGlyphs"' if length else ""
    return (f'<text x="{x}" y="{y}" font-family="{escape(font)}" font-size="{size}" '
            f'font-weight="{weight}" text-anchor="{anchor}" fill="{fill}"{fit}>'
            f'{escape(value)}</text>')


def _emblem(x: float, y: float, radius: float) -> str:
    points = " ".join(f"{x + radius * 0.55 * p[0]:.1f},{y + radius * 0.55 * p[1]:.1f}" for p in (
        (0, -1), (0.22, -0.31), (0.95, -0.31), (0.36, 0.12), (0.59, 0.81), (0, 0.38),
        (-0.59, 0.81), (-0.36, 0.12), (-0.95, -0.31), (-0.22, -0.31)))
    return (f'<circle cx="{x}" cy="{y}" r="{radius}" fill="#c8102e" stroke="#d4a017" '
            f'stroke-width="5"/><polygon points="{points}" fill="#ffcd00"/>')


def _chip(x: float, y: float, scale: float = 1.0) -> str:
    return (f'<g transform="translate({x} {y}) scale({scale})"><rect width="90" height="70" '
            f'rx="10" fill="#d9b44a" stroke="#8a6d1d" stroke-width="2"/>'
            f'<path d="M30 0v70M60 0v70M0 35h90" stroke="#8a6d1d" stroke-width="2"/></g>')


def _photo(content: CardContent, face: bytes | None, x: float, y: float) -> str:
    if face is None or not content.has_biometrics:
        return ""
    data = base64.b64encode(face).decode("ascii")
    return (f'<image x="{x}" y="{y}" width="180" height="240" '
            f'href="data:image/jpeg;base64,{data}"/>'
            f'<rect x="{x}" y="{y}" width="180" height="240" fill="none" stroke="#555"/>')


def _qr(payload: str, x: float, y: float, size: float) -> str:
    import segno  # loaded by the first image drawn, not at start (issue 20)

    code = segno.make(payload, error="m")
    modules = code.symbol_size(scale=1, border=0)[0]
    scale = max(size / modules, 1.0)
    return (f'<g transform="translate({x} {y}) scale({scale / 2:.4f})">'
            f'{code.svg_inline(scale=2, border=0)}</g>')


def _field(item: PrintedField, x: float, y: float, *, wrap: int = 46) -> tuple[str, float]:
    """A label over its value (wrapped); returns the SVG and the next free y."""
    parts = [_text(x, y, item.label or "", size=11, fill="#3b3b3b")]
    for line in textwrap.wrap(item.value or "", wrap) or [""]:
        y += 18
        parts.append(_text(x, y, line, size=16, weight="bold"))
    return "".join(parts), y + 19


def _fields(items: list[PrintedField], names: tuple[str, ...], x: float, y: float,
            wrap: int = 46) -> str:
    out = []
    for item in items:
        if item.field in names:
            svg, y = _field(item, x, y, wrap=wrap)
            out.append(svg)
    return "".join(out)


def _mrz(content: CardContent) -> str:
    return "".join(_text(40, 430 + 40 * i, line, size=34, font=MRZ_FONT, length=776)
                   for i, line in enumerate(content.td1.lines))


def _header(x: float) -> str:
    sizes = ((17, "bold"), (15, "bold"), (13, "normal"), (12, "normal"))
    return "".join(_text(x, 36 + 20 * i, line, size=size, weight=weight, anchor="middle")
                   for i, (line, (size, weight)) in enumerate(zip(HEADER, sizes, strict=True)))


def _title(content: CardContent, x: float, y: float) -> str:
    vietnamese, english = content.generation.title.split(" / ")
    return (_text(x, y, vietnamese, size=30, weight="bold", anchor="middle", fill="#c8102e")
            + _text(x, y + 26, english, size=16, anchor="middle", fill="#c8102e"))


TEXT_FRONT_2021 = ("pin", "full_name", "date_of_birth", "sex", "nationality", "place_of_origin",
                   "place_of_residence")
TEXT_FRONT_2024 = ("pin", "full_name", "date_of_birth", "sex", "nationality")


def _front_2021(content: CardContent, items: list[PrintedField], face: bytes | None) -> str:
    expiry = next(i for i in items if i.field == "expiry_date")
    return "".join((
        _emblem(120, 90, 60), _photo(content, face, 30, 170),
        _text(30, 440, expiry.label or "", size=12), _text(30, 464, expiry.value or "", size=18,
                                                            weight="bold"),
        _header(470), _title(content, 470, 150), _chip(730, 320, 0.6),
        _qr(content.qr_payload, 700, 170, 130),
        _fields(items, TEXT_FRONT_2021, 240, 215, wrap=52)))


def _back_2021(content: CardContent, items: list[PrintedField]) -> str:
    boxes = "".join(f'<rect x="{x}" y="40" width="170" height="210" rx="12" fill="#fff" '
                    f'stroke="#666"/>' + _text(x + 85, 268, vietnamese, size=11, anchor="middle")
                    + _text(x + 85, 283, english, size=11, anchor="middle")
                    for x, vietnamese, english in ((480, "Ngón trỏ trái", "Left index finger"),
                                                   (660, "Ngón trỏ phải", "Right index finger")))
    authority = content.generation.issuing_authority.split(" / ")
    return "".join((
        _fields(items, ("identifying_marks", "issue_date"), 40, 60, wrap=38),
        *(_text(40, 250 + 18 * i, line, size=12, weight="bold") for i, line in enumerate(
            textwrap.wrap(authority[0], 52))),
        _chip(40, 300), boxes, _mrz(content)))  # the signature and seal are not drawn


def _front_2024(content: CardContent, items: list[PrintedField], face: bytes | None) -> str:
    return "".join((
        _emblem(110, 90, 55), _header(500), _title(content, 500, 150), _chip(60, 180),
        _photo(content, face, 40, 270) if content.has_biometrics else "",
        _fields(items, TEXT_FRONT_2024, 260, 210, wrap=44)))


def _back_2024(content: CardContent, items: list[PrintedField]) -> str:
    authority = content.generation.issuing_authority
    return "".join((
        _fields(items, ("place_of_residence", "place_of_birth_registration"), 40, 50, wrap=44),
        _fields(items, ("issue_date", "expiry_date"), 40, 250, wrap=44),
        _text(520, 380, authority, size=15, weight="bold", anchor="middle"),
        _chip(560, 230), _qr(content.qr_payload, 660, 30, 180), _mrz(content)))


def _document(body: str, content: CardContent, side: str) -> str:
    background = _BACKGROUND[content.generation.code]
    title = f"{content.generation.title} - {side}"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="856" height="540" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>{escape(title)}</title>'
            f'<rect width="{WIDTH}" height="{HEIGHT}" rx="30" fill="{background}" stroke="#999"/>'
            f'{body}'
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" font-family="{TEXT_FONT}" font-size="90" '
            f'fill="#c8102e" fill-opacity="0.08" text-anchor="middle" '
            f'transform="rotate(-18 {WIDTH / 2} {HEIGHT / 2})">SANDBOX</text></svg>')


def card_svg(content: CardContent, side: str, *, face: bytes | None) -> str:
    """The ``front`` or ``back`` of the card as an SVG document."""
    items = printed_side(content, side)
    is_2021 = content.generation.code == "cccd_2021"
    if side == "front":
        body = (_front_2021 if is_2021 else _front_2024)(content, items, face)
    else:
        body = (_back_2021 if is_2021 else _back_2024)(content, items)
    return _document(body, content, side)
