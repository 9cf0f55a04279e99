from __future__ import annotations

import itertools
from xml.etree import ElementTree

from django.test import Client

from tests.webhooks.helpers import post_twilio

INBOUND = "/hooks/twilio/inbound/"
OUR_NUMBER = "+15005550000"
_sids = itertools.count(1)


def text_us(client: Client, from_number: str, body: str, *, sid: str | None = None, **extra: str) -> tuple[int, str]:
    """Send an inbound SMS through the signed webhook; return (status code, reply text)."""
    params = {
        "MessageSid": sid or f"SMin{next(_sids):030d}",
        "AccountSid": "AC" + "0" * 32,
        "From": from_number,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }
    response = post_twilio(client, INBOUND, params)
    if response.status_code != 200:
        return response.status_code, ""
    assert response["Content-Type"].startswith("text/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Response"
    return response.status_code, " ".join(m.text or "" for m in root.iter("Message"))
