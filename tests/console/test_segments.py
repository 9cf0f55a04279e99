"""SMS segment counting: GSM-7 with its extension table, and UCS-2."""

from __future__ import annotations

import pytest

from alerts.segments import count_segments, estimate_total_segments


def test_plain_english_is_gsm7_and_one_segment_up_to_160_characters():
    result = count_segments("a" * 160)
    assert (result.encoding, result.characters, result.segments) == ("GSM-7", 160, 1)


def test_161_gsm7_characters_take_two_segments_of_153():
    assert count_segments("a" * 161).segments == 2
    assert count_segments("a" * 306).segments == 2
    assert count_segments("a" * 307).segments == 3


def test_an_empty_text_costs_no_segments():
    assert count_segments("").segments == 0


@pytest.mark.parametrize("character", list("{}[]~\\|^€"))
def test_extension_table_characters_count_two_septets(character):
    result = count_segments(character * 80)
    assert result.encoding == "GSM-7"
    assert result.characters == 80
    assert result.units == 160
    assert result.segments == 1
    assert count_segments(character * 81).segments == 2


def test_an_extension_character_is_not_split_across_parts():
    # 152 plain septets then a two-septet euro: the euro cannot share the first part's last septet.
    text = "a" * 152 + "€" + "b" * 152
    result = count_segments(text)
    assert result.units == 306
    assert result.segments == 3


def test_gsm7_basic_accented_and_greek_letters_stay_gsm7():
    assert count_segments("Café à Genève: ΔΣΩ £5 ¿Ñ?").encoding == "GSM-7"


def test_one_dari_character_makes_the_whole_message_ucs2():
    result = count_segments("Leave Kabul now" + "ک")
    assert result.encoding == "UCS-2"
    assert result.non_gsm == ("ک",)


def test_ucs2_holds_70_in_one_segment_and_67_per_part_after():
    dari = "سلام"  # four Dari/Arabic letters
    assert count_segments("ب" * 70).segments == 1
    assert count_segments("ب" * 71).segments == 2
    assert count_segments("ب" * 134).segments == 2
    assert count_segments("ب" * 135).segments == 3
    assert count_segments(dari).per_segment == 70
    assert count_segments("ب" * 71).per_segment == 67


def test_a_curly_apostrophe_forces_ucs2():
    result = count_segments("Don’t travel")
    assert result.encoding == "UCS-2"
    assert result.non_gsm == ("’",)


def test_an_emoji_counts_two_utf16_units():
    result = count_segments("🚨" * 35)
    assert result.encoding == "UCS-2"
    assert result.characters == 35
    assert result.units == 70
    assert result.segments == 1
    assert count_segments("🚨" * 36).segments == 2


def test_total_segments_multiply_by_recipients():
    assert estimate_total_segments("a" * 161, 1000) == 2000
