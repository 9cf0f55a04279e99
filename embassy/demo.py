"""Demo data that tells the story of August 2021 in Afghanistan.

The country is at level 3 (Reconsider travel) and ready to be raised to 4. Nimruz
(capital Zaranj, fell on 6 August) and Jowzjan (capital Sheberghan, fell on 7 August)
are already at level 4. Registrants are spread over the provinces, with households,
some unverified or opted out, and a few check-ins. Staff accounts exist for each role.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from alerts.models import Alert, AlertTemplate, AlertText, Area, CheckIn, Delivery, LevelChange
from registrations.models import Citizen, HouseholdMember, Presence

DEMO_PASSWORD = "evacuate-kabul-2021"


@dataclass(frozen=True)
class Province:
    region: str
    name: str
    city: str
    lat: float
    lon: float
    citizens: int


#: The areas' names in Dari, what {area} says in the Dari texts (``Area.local_names``).
DARI_NAMES = {
    "AF": "افغانستان",
    "AF-KAB": "کابل",
    "AF-BAL": "بلخ",
    "AF-HER": "هرات",
    "AF-KAN": "قندهار",
    "AF-JOW": "جوزجان",
    "AF-NIM": "نیمروز",
    "AF-NAN": "ننگرهار",
    "PK": "پاکستان",
    "IR": "ایران",
}

PROVINCES = [
    Province("AF-KAB", "Kabul", "Kabul", 34.5553, 69.2075, 70),
    Province("AF-BAL", "Balkh", "Mazar-i-Sharif", 36.7090, 67.1109, 18),
    Province("AF-HER", "Herat", "Herat", 34.3529, 62.2040, 16),
    Province("AF-KAN", "Kandahar", "Kandahar", 31.6289, 65.7372, 10),
    Province("AF-JOW", "Jowzjan", "Sheberghan", 36.6676, 65.7529, 12),
    Province("AF-NIM", "Nimruz", "Zaranj", 30.9597, 61.8606, 9),
    Province("AF-NAN", "Nangarhar", "Jalalabad", 34.4265, 70.4515, 8),
]

FIRST = [
    "Sara",
    "Ahmad",
    "Laila",
    "Omid",
    "Farid",
    "Mina",
    "Daniel",
    "Claire",
    "Yusuf",
    "Nadia",
    "Tom",
    "Hana",
    "Karim",
    "Zahra",
    "Lucas",
    "Emma",
    "Jawad",
    "Parisa",
    "Ben",
    "Roya",
    "Samir",
    "Lena",
    "Idris",
    "Maryam",
]
LAST = [
    "Ahmadi",
    "Karimi",
    "Rahimi",
    "Haidari",
    "Smith",
    "Martin",
    "Nazari",
    "Sultani",
    "Müller",
    "Popal",
    "Wardak",
    "Jones",
    "Hashimi",
    "Dubois",
    "Amiri",
    "Noori",
    "Safi",
    "Barakzai",
    "Rossi",
    "Kakar",
]

TEMPLATES = {
    ("en", 1): (
        "{area}: advisory level {level}, {level_name}. Stay registered and keep your details current.",
        "{area}: {level_name}",
        "Dear {name},\n\nThe advisory for {area} is now level {level}: {level_name}.\n\n"
        "Keep your registration current: {checkin_link}\n\nStop these emails: {unsubscribe_link}",
    ),
    ("en", 2): (
        "{area}: advisory raised to level {level}, {level_name}. Stay alert, avoid crowds. {checkin_words}",
        "{area}: exercise increased caution",
        "Dear {name},\n\nThe advisory for {area} is now level {level}: {level_name}. Avoid crowds and "
        "demonstrations and keep your travel documents with you.\n\nTell us how you are: {checkin_link}\n\n"
        "Stop these emails: {unsubscribe_link}",
    ),
    ("en", 3): (
        "{area}: level {level}, {level_name}. Make plans to leave while commercial flights run. {checkin_words}",
        "{area}: reconsider travel; plan to leave",
        "Dear {name},\n\nThe advisory for {area} is now level {level}: {level_name}. If you are there, "
        "make plans to leave while commercial options remain.\n\nTell us how you are: {checkin_link}\n\n"
        "Stop these emails: {unsubscribe_link}",
    ),
    ("en", 4): (
        "URGENT {area}: level {level}, {level_name}. Leave now by any safe means. Do not come to the "
        "embassy unless told. {checkin_words}",
        "URGENT {area}: leave now",
        "Dear {name},\n\nThe advisory for {area} is now level {level}: {level_name}. Leave now by any "
        "safe commercial means. Do not travel to the embassy or the airport unless we tell you to.\n\n"
        "Tell us at once if you need assistance: {checkin_link}\n\nStop these emails: {unsubscribe_link}",
    ),
    ("fa", 1): (
        "{area}: سطح هشدار {level}، {level_name}. معلومات ثبت‌نام خود را تازه نگه دارید.",
        "{area}: {level_name}",
        "{name} گرامی،\n\nسطح هشدار برای {area} اکنون {level} است: {level_name}.\n\n"
        "معلومات خود را تازه نگه دارید: {checkin_link}\n\nلغو این ایمیل‌ها: {unsubscribe_link}",
    ),
    ("fa", 2): (
        "{area}: سطح هشدار به {level} بالا رفت، {level_name}. محتاط باشید و از ازدحام دوری کنید. {checkin_words}",
        "{area}: احتیاط بیشتر",
        "{name} گرامی،\n\nسطح هشدار برای {area} اکنون {level} است: {level_name}. از ازدحام و تظاهرات دوری "
        "کنید و اسناد سفر را همراه داشته باشید.\n\nاز وضعیت خود خبر دهید: {checkin_link}\n\n"
        "لغو این ایمیل‌ها: {unsubscribe_link}",
    ),
    ("fa", 3): (
        "{area}: سطح {level}، {level_name}. تا پروازهای تجارتی جریان دارد برای خروج برنامه بریزید. {checkin_words}",
        "{area}: در سفر تجدید نظر کنید",
        "{name} گرامی،\n\nسطح هشدار برای {area} اکنون {level} است: {level_name}. اگر آنجا هستید، تا "
        "راه‌های تجارتی باز است برای خروج برنامه بریزید.\n\nاز وضعیت خود خبر دهید: {checkin_link}\n\n"
        "لغو این ایمیل‌ها: {unsubscribe_link}",
    ),
    ("fa", 4): (
        "فوری {area}: سطح {level}، {level_name}. همین حالا با هر وسیلهٔ امن خارج شوید. بدون خبر ما به "
        "سفارت نیایید. {checkin_words}",
        "فوری {area}: همین حالا خارج شوید",
        "{name} گرامی،\n\nسطح هشدار برای {area} اکنون {level} است: {level_name}. همین حالا با هر وسیلهٔ "
        "امن تجارتی خارج شوید. تا ما نگفته‌ایم به سفارت یا میدان هوایی نروید.\n\n"
        "اگر کمک لازم دارید فوراً خبر دهید: {checkin_link}\n\nلغو این ایمیل‌ها: {unsubscribe_link}",
    ),
}


def demo_loaded() -> bool:
    return Area.objects.filter(country="AF", region="").exists()


@transaction.atomic
def load_demo_data(seed: int = 2021) -> dict[str, int]:
    """Create the demo world. Returns counts of what was made."""
    rng = random.Random(seed)  # the same demo every time
    users = _staff()
    now = timezone.now()
    areas = _areas(users["admin"], now)
    _templates(users["admin"])
    counts = {"citizens": 0, "people": 0}
    serial = 0
    for province in PROVINCES:
        for _ in range(province.citizens):
            serial += 1
            people = _citizen(rng, serial, province, now)
            counts["citizens"] += 1
            counts["people"] += people
    for serial_abroad, (country, city) in enumerate([("PK", "Islamabad")] * 4 + [("IR", "Mashhad")] * 3, 500):
        _citizen(rng, serial_abroad, Province("", city, city, 0, 0, 0), now, country=country)
        counts["citizens"] += 1
    _nimruz_alert(users, areas["AF-NIM"], now)
    counts["areas"] = Area.objects.count()
    return counts


def _staff() -> dict:
    from alerts.console.permissions import Role, assign_role, ensure_roles

    ensure_roles()
    User = get_user_model()
    made = {}
    for key, username, name, roles in [
        ("author", "amina", "Amina Author", [Role.AUTHOR]),
        ("approver", "james", "James Approver", [Role.APPROVER]),
        ("approver2", "lena", "Lena Approver", [Role.APPROVER, Role.AUTHOR]),
        ("admin", "admin", "Ada Administrator", [Role.ADMINISTRATOR]),
    ]:
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": name.split()[0], "last_name": name.split()[1], "is_staff": True}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            if key == "admin":
                user.is_superuser = True
            user.save()
        for role in roles:
            assign_role(user, role)
        made[key] = user
    return made


def _areas(admin, now: datetime.datetime) -> dict[str, Area]:
    af, _ = Area.objects.get_or_create(
        country="AF", region="", defaults={"name": "Afghanistan", "level": 3, "local_names": {"fa": DARI_NAMES["AF"]}}
    )
    areas = {"AF": af}
    falls = {
        "AF-NIM": (datetime.date(2021, 8, 6), "Zaranj, the capital of Nimruz, has fallen. Fighting near the border."),
        "AF-JOW": (datetime.date(2021, 8, 7), "Sheberghan, the capital of Jowzjan, has fallen."),
    }
    for province in PROVINCES:
        level = 4 if province.region in falls else None
        area, _ = Area.objects.get_or_create(
            country="AF",
            region=province.region,
            defaults={"name": province.name, "level": level, "local_names": {"fa": DARI_NAMES[province.region]}},
        )
        areas[province.region] = area
        if province.region in falls:
            day, reason = falls[province.region]
            change = LevelChange.objects.create(area=area, old_level=None, new_level=4, reason=reason, changed_by=admin)
            LevelChange.objects.filter(pk=change.pk).update(changed_at=now - datetime.timedelta(hours=30))
            Area.objects.filter(pk=area.pk).update(level_changed_at=now - datetime.timedelta(hours=30))
    for code, name, level in [("PK", "Pakistan", 3), ("IR", "Iran", 3)]:
        areas[code], _ = Area.objects.get_or_create(
            country=code, region="", defaults={"name": name, "level": level, "local_names": {"fa": DARI_NAMES[code]}}
        )
    LevelChange.objects.get_or_create(
        area=af,
        new_level=3,
        defaults={
            "old_level": 2,
            "reason": "Provincial capitals are falling; the situation is deteriorating.",
            "changed_by": admin,
        },
    )
    return areas


def _templates(admin) -> None:
    for (language, level), (sms, subject, body) in TEMPLATES.items():
        AlertTemplate.objects.update_or_create(
            level=level,
            language=language,
            defaults={"sms_text": sms, "email_subject": subject, "email_body": body, "updated_by": admin},
        )


def _citizen(rng: random.Random, serial: int, province: Province, now, country: str = "AF") -> int:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    kind = rng.random()
    phone = f"+9370{serial:07d}" if kind < 0.9 else ""
    email = f"{first}.{last}.{serial}@example.org".lower().replace("ü", "u") if kind > 0.2 or not phone else ""
    verified = rng.random() > 0.08
    citizen = Citizen.objects.create(
        full_name=f"{first} {last}",
        phone=phone,
        email=email,
        phone_verified_at=now if phone and verified else None,
        email_verified_at=now if email and verified else None,
        phone_opted_out_at=now if phone and rng.random() < 0.03 else None,
        preferred_language=rng.choice(["en", "en", "fa", "fa", "ps", "fr"]),
        emergency_contact_name=f"{rng.choice(FIRST)} {last}",
        emergency_contact_phone="+442079460" + f"{serial % 1000:03d}",
        consent_at=now,
    )
    lives_here = rng.random() < 0.4
    jitter = (rng.random() - 0.5) * 0.1
    has_point = bool(province.lat) and rng.random() < 0.5
    Presence.objects.create(
        citizen=citizen,
        country=country,
        region=province.region,
        city=province.city,
        latitude=round(province.lat + jitter, 6) if has_point else None,
        longitude=round(province.lon + jitter, 6) if has_point else None,
        lives_here=lives_here,
        arrival_date=None if lives_here else now.date() - datetime.timedelta(days=rng.randint(5, 200)),
        departure_date=None if lives_here else now.date() + datetime.timedelta(days=rng.randint(3, 90)),
    )
    members = rng.choice([0, 0, 1, 2, 3, 4])
    HouseholdMember.objects.bulk_create(
        HouseholdMember(
            citizen=citizen,
            full_name=f"{rng.choice(FIRST)} {last}",
            relationship=rng.choice(["partner", "child", "child", "parent", "sibling"]),
            age_group=rng.choice(["adult", "child", "child", "senior"]),
        )
        for _ in range(members)
    )
    return 1 + members


def _nimruz_alert(users: dict, nimruz: Area, now) -> None:
    """The level-4 alert already sent to Nimruz, with its outcome and the answers since."""
    if Alert.objects.filter(title__startswith="Nimruz: leave now").exists():
        return
    sent_at = now - datetime.timedelta(hours=29)
    alert = Alert.objects.create(
        title="Nimruz: leave now",
        is_test=False,
        state=Alert.State.SENT,
        created_by=users["author"],
        approved_by=users["approver"],
        approved_at=sent_at,
        started_at=sent_at,
        finished_at=sent_at + datetime.timedelta(minutes=2),
        response_type=Alert.ResponseType.EVACUATE,
        urgency=Alert.Urgency.IMMEDIATE,
        severity=Alert.Severity.EXTREME,
        certainty=Alert.Certainty.OBSERVED,
    )
    # created_at is set on insert: back-date it, or the history says the alert was made a
    # day after it was approved.
    Alert.objects.filter(pk=alert.pk).update(created_at=sent_at - datetime.timedelta(minutes=20))
    alert.areas.add(nimruz)
    sms, subject, body = TEMPLATES[("en", 4)]
    fill = {"area": "Nimruz", "level": "4", "level_name": "Do not travel"}
    AlertText.objects.create(
        alert=alert,
        language="en",
        sms_text=sms.replace("{area}", fill["area"]).replace("{level}", "4").replace("{level_name}", "Do not travel"),
        email_subject=subject.replace("{area}", fill["area"]),
        email_body=body.replace("{area}", fill["area"])
        .replace("{level}", "4")
        .replace("{level_name}", "Do not travel"),
    )
    statuses = [CheckIn.Status.SAFE, CheckIn.Status.DEPARTED, CheckIn.Status.NEEDS_ASSISTANCE, None, None]
    for index, citizen in enumerate(Citizen.objects.filter(presences__region="AF-NIM").distinct().order_by("pk")):
        if citizen.phone_reachable:
            Delivery.objects.create(
                alert=alert,
                channel="sms",
                address=citizen.phone,
                citizen=citizen,
                language="en",
                state=Delivery.State.DELIVERED,
                attempts=1,
                sent_at=sent_at,
                delivered_at=sent_at,
                provider_message_id=f"SMdemo{alert.pk:04d}{index:026d}",
            )
        status = statuses[index % len(statuses)]
        if status:
            CheckIn.objects.create(
                citizen=citizen, status=status, source=CheckIn.Source.SMS, raw_text=status.value.upper(), alert=alert
            )
