"""How many SMS segments a text costs, as a phone network counts them.

A text goes as GSM-7 when every character is in the GSM 03.38 default alphabet or its
extension table (an extension character, such as ``{ } [ ] ~ \\ | ^ €``, takes two septets:
an escape and the character). One character outside both makes the whole message UCS-2
(UTF-16): a single Dari or Arabic letter halves the room in every segment.

Limits: GSM-7 160 septets in a single segment, 153 per part when concatenated (the
user-data header takes the rest); UCS-2 70 code units single, 67 per part. A two-septet
character or a surrogate pair is never split across parts, so a part may end short.

``static/console/segments.js`` mirrors this for live typing; this module is authoritative.
"""

from __future__ import annotations

from dataclasses import dataclass

# GSM 03.38 default alphabet (the escape at 0x1B is not a printable character).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: each costs an escape septet plus itself.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" or "UCS-2"
    characters: int  # characters as a person counts them (Unicode code points)
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int  # 0 for an empty text
    per_segment: int  # room in each segment at this length (160/153 or 70/67)
    non_gsm: tuple[str, ...]  # the distinct characters that forced UCS-2, in order of appearance

    def as_dict(self) -> dict[str, object]:
        return {
            "encoding": self.encoding,
            "characters": self.characters,
            "units": self.units,
            "segments": self.segments,
            "per_segment": self.per_segment,
            "non_gsm": list(self.non_gsm),
        }


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def count_segments(text: str) -> SegmentCount:
    """Encoding, characters and segments of ``text`` sent as one SMS."""
    non_gsm = tuple(dict.fromkeys(ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION))
    if not non_gsm:
        widths = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        encoding, single, part = "GSM-7", GSM7_SINGLE, GSM7_PART
    else:
        widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]  # astral characters are surrogate pairs
        encoding, single, part = "UCS-2", UCS2_SINGLE, UCS2_PART
    units = sum(widths)
    if units == 0:
        segments = 0
    elif units <= single:
        segments = 1
    else:
        segments = _parts(widths, part)
    return SegmentCount(
        encoding=encoding,
        characters=len(text),
        units=units,
        segments=segments,
        per_segment=single if segments <= 1 else part,
        non_gsm=non_gsm[:10],
    )


def _parts(widths: list[int], room: int) -> int:
    """Parts needed when no character may straddle two parts."""
    parts, used = 1, 0
    for width in widths:
        if used + width > room:
            parts += 1
            used = 0
        used += width
    return parts


def estimate_total_segments(text: str, recipients: int) -> int:
    """Segments billed for sending ``text`` to ``recipients`` numbers."""
    return count_segments(text).segments * max(0, recipients)
