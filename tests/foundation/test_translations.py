"""The Dari (``fa``) catalogue is complete, keeps every placeholder, and ships compiled.

The .po file is read with a small parser of our own (standard library only), so these
checks need no gettext tools; only the recompilation check uses ``msgfmt`` and is skipped,
with the reason, where it is not installed.
"""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

LC_MESSAGES = Path(settings.BASE_DIR) / "locale" / "fa" / "LC_MESSAGES"
PO_PATH = LC_MESSAGES / "django.po"
MO_PATH = LC_MESSAGES / "django.mo"

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


@dataclass
class Entry:
    """One message of a .po file."""

    line: int
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def where(self) -> str:
        return f"{PO_PATH.name}:{self.line} {self.msgid[:60]!r}"


def _unquote(text: str) -> str:
    text = text.strip()
    assert text.startswith('"') and text.endswith('"'), f"not a quoted PO string: {text!r}"
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), text[1:-1])


def parse_po(path: Path) -> list[Entry]:
    """The live entries of a .po file (header included, obsolete ``#~`` entries left out)."""
    entries: list[Entry] = []
    current: Entry | None = None
    pending_flags: set[str] = set()
    target: tuple[str, int] | None = None  # which field continuation lines extend

    def finish() -> None:
        nonlocal current
        if current is not None:
            entries.append(current)
        current = None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            if not line:
                finish()
            target = None
            continue
        if line.startswith("#,"):
            finish()
            pending_flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        if line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            assert current is not None and target is not None, f"{path.name}:{number}: stray string"
            name, index = target
            if name == "msgstr":
                current.msgstr[index] += _unquote(line)
            else:
                setattr(current, name, getattr(current, name) + _unquote(line))
            continue
        if keyword in ("msgctxt", "msgid") and current is not None and (current.msgstr or keyword == "msgctxt"):
            finish()
        if current is None:
            current = Entry(line=number, flags=pending_flags)
            pending_flags = set()
        if keyword in ("msgctxt", "msgid", "msgid_plural"):
            setattr(current, keyword, _unquote(rest))
            target = (keyword, 0)
        elif keyword == "msgstr":
            current.msgstr[0] = _unquote(rest)
            target = ("msgstr", 0)
        elif match := re.fullmatch(r"msgstr\[(\d+)\]", keyword):
            index = int(match.group(1))
            current.msgstr[index] = _unquote(rest)
            target = ("msgstr", index)
        else:
            raise AssertionError(f"{path.name}:{number}: cannot read {raw!r}")
    finish()
    return entries


def _messages() -> list[Entry]:
    return [entry for entry in parse_po(PO_PATH) if entry.msgid]


def _header() -> dict[str, str]:
    header = next(entry for entry in parse_po(PO_PATH) if entry.msgid == "" and entry.msgctxt is None)
    fields = {}
    for line in header.msgstr[0].splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


# %(name)s, %s, %d ... ; "%%" is a literal percent sign.
_PYTHON_FORMAT = re.compile(r"%(?:%|(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa])")
_NAMED = re.compile(r"%\((\w+)\)")  # also counts "%%(name)s", which a script fills in later
_BRACE = re.compile(r"(?<!\{)\{(\w*)(?:[!:][^{}]*)?\}(?!\})")


def placeholders(text: str) -> tuple[Counter, Counter, Counter]:
    python = Counter(m for m in _PYTHON_FORMAT.findall(text) if m != "%%")
    return python, Counter(_NAMED.findall(text)), Counter(_BRACE.findall(text))


def _pairs(entry: Entry) -> list[tuple[str, str]]:
    """(source, translation) pairs to compare: msgstr[0] with the singular, the rest with the plural."""
    if entry.msgid_plural is None:
        return [(entry.msgid, entry.msgstr.get(0, ""))]
    return [(entry.msgid if index == 0 else entry.msgid_plural, text) for index, text in sorted(entry.msgstr.items())]


def test_the_catalogue_exists_with_dari_plural_forms():
    assert PO_PATH.is_file(), f"{PO_PATH} is missing: run makemessages -l fa"
    assert MO_PATH.is_file(), f"{MO_PATH} is missing: run compilemessages -l fa"
    header = _header()
    assert header.get("Language") == "fa"
    assert header.get("Plural-Forms") == "nplurals=2; plural=(n > 1);"
    assert header.get("Content-Type") == "text/plain; charset=UTF-8"
    assert len(_messages()) > 100


def test_every_entry_is_translated_and_none_is_fuzzy():
    problems = []
    for entry in parse_po(PO_PATH):
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {entry.where}")
        if not entry.msgid:
            continue
        expected = {0, 1} if entry.msgid_plural is not None else {0}
        if set(entry.msgstr) != expected:
            problems.append(f"msgstr forms {sorted(entry.msgstr)} instead of {sorted(expected)}: {entry.where}")
        problems.extend(f"untranslated: {entry.where}" for index, text in entry.msgstr.items() if not text.strip())
    assert not problems, "\n".join(problems)


def test_every_translation_keeps_the_placeholders_of_its_source():
    problems = []
    for entry in _messages():
        for source, translation in _pairs(entry):
            if placeholders(source) != placeholders(translation):
                problems.append(f"{entry.where}: {placeholders(source)} became {placeholders(translation)}")
            for edge in (source[:1], source[-1:]):  # a leading or trailing space or newline is layout
                if edge.isspace() and not (translation.startswith(edge) or translation.endswith(edge)):
                    problems.append(f"{entry.where}: lost the {edge!r} at an edge")
            if source.count("\n") != translation.count("\n"):
                problems.append(
                    f"{entry.where}: {source.count(chr(10))} line breaks became {translation.count(chr(10))}"
                )
            if sorted(re.findall(r"</?\w+", source)) != sorted(re.findall(r"</?\w+", translation)):
                problems.append(f"{entry.where}: HTML tags differ")
    assert not problems, "\n".join(problems)


def test_sms_keywords_stay_in_latin_letters():
    """People must type these words: a translation names each keyword its source names."""
    problems = []
    for entry in _messages():
        for source, translation in _pairs(entry):
            for word in ("SAFE", "NEED", "LEFT", "STOP", "START", "HELP"):
                if re.search(rf"\b{word}\b", source) and not re.search(rf"\b{word}\b", translation):
                    problems.append(f"{entry.where}: {word} is missing")
    assert not problems, "\n".join(problems)


def _expected_catalog() -> dict[object, str]:
    """What a compiled catalogue holds, built from the parsed .po."""
    catalog: dict[object, str] = {}
    for entry in parse_po(PO_PATH):
        if "fuzzy" in entry.flags and entry.msgid:
            continue
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            catalog[key] = entry.msgstr[0]
        else:
            for index, text in entry.msgstr.items():
                catalog[(key, index)] = text
    return catalog


def _compiled(path: Path) -> dict[object, str]:
    with path.open("rb") as handle:
        return dict(gettext.GNUTranslations(handle)._catalog)


def test_the_committed_mo_holds_exactly_what_the_po_says():
    expected, committed = _expected_catalog(), _compiled(MO_PATH)
    expected.pop("", None), committed.pop("", None)  # headers: compared in the msgfmt test
    stale = sorted(str(key) for key in expected.keys() ^ committed.keys())
    changed = sorted(str(key) for key in expected.keys() & committed.keys() if expected[key] != committed[key])
    assert not stale and not changed, (
        "locale/fa/LC_MESSAGES/django.mo is out of date; run compilemessages -l fa --ignore=.venv\n"
        + "\n".join(stale[:20] + changed[:20])
    )


def test_the_committed_mo_matches_a_fresh_msgfmt_compilation(tmp_path: Path):
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("msgfmt (GNU gettext) is not installed, so the .po cannot be recompiled here")
    fresh = tmp_path / "django.mo"
    subprocess.run([msgfmt, "--check-format", "-o", str(fresh), str(PO_PATH)], check=True, timeout=60)
    assert _compiled(fresh) == _compiled(MO_PATH), (
        "locale/fa/LC_MESSAGES/django.mo differs from the .po compiled now; run compilemessages -l fa --ignore=.venv"
    )


@pytest.mark.django_db
@pytest.mark.postgres
@pytest.mark.parametrize("how", ["accept-language", "cookie"])
def test_the_registration_page_in_dari_is_right_to_left(client, how: str):
    if how == "cookie":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fa"
        response = client.get(reverse("registrations:register"))
    else:
        response = client.get(reverse("registrations:register"), HTTP_ACCEPT_LANGUAGE="fa")
    assert response.status_code == 200
    page = response.content.decode()
    assert re.search(r'<html[^>]*\blang="fa"', page)
    assert re.search(r'<html[^>]*\bdir="rtl"', page)
    assert "<h1>در سفارت ثبت نام کنید</h1>" in page
    assert re.search(r"<button[^>]*>\s*ثبت نام\s*</button>", page)
    assert "Register with the embassy" not in page


@pytest.mark.django_db
@pytest.mark.postgres
def test_the_registration_page_stays_english_and_left_to_right_by_default(client):
    response = client.get(reverse("registrations:register"), HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert re.search(r'<html[^>]*\blang="en"', page) and re.search(r'<html[^>]*\bdir="ltr"', page)
    assert "<h1>Register with the embassy</h1>" in page
