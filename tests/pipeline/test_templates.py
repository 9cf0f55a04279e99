"""Templates and placeholders: checked when saved, filled when sent."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from alerts.errors import TemplateError
from alerts.models import AlertTemplate, AlertText
from alerts.services.rendering import compile_text, fill_alert_placeholders, placeholder_errors
from alerts.services.templates import save_template
from tests.factories import AlertFactory

pytestmark = pytest.mark.django_db


def test_known_placeholders_pass() -> None:
    text = "{name} {area} {level} {level_name} {checkin_words} {checkin_link} {unsubscribe_link} {{literal}}"
    assert placeholder_errors(text) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Hello {nmae}", "Unknown placeholder {nmae}"),
        ("Hello {name", "Unbalanced braces"),
        ("Hello name}", "Unbalanced braces"),
        ("Hello {}", "Empty braces"),
        ("Hello {0}", "Empty braces"),
        ("Hello {name!r}", "takes no format"),
        ("Hello {name:>20}", "takes no format"),
        ("Hello {name.upper}", "Unknown placeholder"),
    ],
)
def test_bad_placeholders_are_named(text: str, fragment: str) -> None:
    errors = placeholder_errors(text)
    assert errors and fragment in errors[0]


def test_save_template_refuses_bad_placeholders_and_saves_nothing(author) -> None:
    with pytest.raises(TemplateError) as caught:
        save_template(level=4, language="en", sms_text="Go {nme}", email_subject="ok", email_body="{link}", by=author)
    assert set(caught.value.errors) == {"sms_text", "email_body"}
    assert not AlertTemplate.objects.exists()


def test_save_template_refuses_unknown_level_and_language(author) -> None:
    with pytest.raises(TemplateError) as caught:
        save_template(level=9, language="xx", sms_text="a", email_subject="b", email_body="c", by=author)
    assert set(caught.value.errors) == {"level", "language"}


def test_save_template_replaces_the_level_language_pair(author) -> None:
    save_template(level=3, language="en", sms_text="one {name}", email_subject="s", email_body="b", by=author)
    save_template(level=3, language="en", sms_text="two {name}", email_subject="s", email_body="b", by=author)
    template = AlertTemplate.objects.get()
    assert template.sms_text == "two {name}"
    assert template.updated_by == author


def test_model_clean_checks_placeholders_for_forms() -> None:
    template = AlertTemplate(level=2, language="en", sms_text="{nope}", email_subject="s", email_body="b")
    with pytest.raises(ValidationError) as caught:
        template.full_clean()
    assert "sms_text" in caught.value.message_dict
    text = AlertText(alert=AlertFactory(), language="en", sms_text="ok", email_subject="{bad", email_body="")
    with pytest.raises(ValidationError) as caught:
        text.full_clean()
    assert "email_subject" in caught.value.message_dict


def test_alert_placeholders_are_filled_and_the_rest_kept() -> None:
    text = "{name}: {area} {{braces}} level {level}"
    filled = fill_alert_placeholders(text, {"area": "Kabul {north}", "level": "4"})
    assert placeholder_errors(filled) == []
    assert compile_text(filled).render({"name": "Ana"}) == "Ana: Kabul {north} {braces} level 4"


def test_each_language_gets_the_level_words_in_that_language(db) -> None:
    from alerts.models import AlertTemplate
    from alerts.services.templates import draft_alert_for_level
    from tests.factories import AreaFactory, UserFactory

    area = AreaFactory(country="AF", region="", name="Afghanistan", level=3)
    for language in ("en", "fa"):
        AlertTemplate.objects.create(
            level=4,
            language=language,
            sms_text="{area}: {level_name}. {checkin_words}",
            email_subject="s",
            email_body="b {checkin_link}",
        )
    alert = draft_alert_for_level(area, 4, by=UserFactory())
    assert alert.texts.get(language="en").sms_text.startswith("Afghanistan: Do not travel.")
    assert alert.texts.get(language="fa").sms_text.startswith("Afghanistan: سفر نکنید.")
