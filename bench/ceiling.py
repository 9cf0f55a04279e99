"""The ceiling: the bare provider SDKs against the stub, with nothing of ours in between.

``python -m bench.ceiling sms|email --url URL --seconds S --start-at T`` runs one loop
process and prints one JSON line: how many messages (SMS) or recipients (email) the stub
accepted, and when the first and last answers came. The benchmark starts as many of these
processes as it runs worker processes, each with as many requests in flight as one worker
keeps (``SMS_CONCURRENCY``), and adds them up.

- SMS: the twilio SDK's asyncio client (``create_async``), ``--concurrency`` requests in
  flight over one connection pool, one message per request (Twilio has no batches).
- Email: the sendgrid SDK's Mail Send, one request at a time, each with ``--batch``
  (1,000) personalizations shaped like the pipeline's (substitutions, List-Unsubscribe
  headers, custom_args).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import warnings

from alerts.providerstub.server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_SENDGRID_KEY

MESSAGING_SERVICE_SID = "MG" + "1" * 32
SMS_BODY = (
    "URGENT Afghanistan: level 4, Do not travel. Leave now by any safe means. Do not come to the embassy "
    "unless told. Reply SAFE if you are safe, NEED if you need help, LEFT if you have left."
)
EMAIL_BODY = (
    "Dear -name-,\n\nThe advisory for Afghanistan is now level 4: Do not travel. Leave now by any safe "
    "commercial means.\n\nTell us at once if you need assistance: -checkin-\n\nStop these emails: -unsub-"
)


def _sleep_until(start_at: float) -> None:
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)


def run_sms(url: str, seconds: float, concurrency: int, start_at: float, offset: int) -> dict[str, object]:
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    warnings.simplefilter("ignore")
    times: list[float] = []
    errors = 0

    async def main() -> None:
        nonlocal errors
        http = AsyncTwilioHttpClient(pool_connections=True)
        client = Client(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, http_client=http)
        client.api.base_url = url
        resource = client.api.v2010.accounts(DEFAULT_ACCOUNT_SID).messages
        deadline = time.time() + seconds
        counter = iter(range(offset, offset + 10_000_000))

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                if time.time() >= deadline:
                    return
                try:
                    await resource.create_async(
                        to=f"+9379{i:07d}",
                        body=SMS_BODY,
                        messaging_service_sid=MESSAGING_SERVICE_SID,
                        status_callback=f"http://127.0.0.1:8000/hooks/twilio/status/?ref=delivery%3A{i}",
                    )
                    times.append(time.time())
                except Exception:  # counted, never fatal: a ceiling loop must end by itself
                    errors += 1

        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            await http.close()

    _sleep_until(start_at)
    began = time.time()
    asyncio.run(main())
    return {
        "count": len(times),
        "errors": errors,
        "began": began,
        "first": min(times, default=0),
        "last": max(times, default=0),
    }


def _email_body(start: int, batch: int) -> dict[str, object]:
    personalizations = []
    for i in range(start, start + batch):
        personalizations.append(
            {
                "to": [{"email": f"ceiling{i}@bench.example"}],
                "substitutions": {
                    "-name-": f"Citizen {i}",
                    "-checkin-": f"http://127.0.0.1:8000/c/{'x' * 60}{i}/",
                    "-unsub-": f"http://127.0.0.1:8000/u/{'y' * 60}{i}/",
                },
                "headers": {
                    "List-Unsubscribe": f"<http://127.0.0.1:8000/u/{'y' * 60}{i}/>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
                "custom_args": {"reference": f"delivery:{i}"},
            }
        )
    return {
        "personalizations": personalizations,
        "from": {"email": "alerts@embassy.example", "name": "Embassy alerts"},
        "subject": "URGENT Afghanistan: leave now",
        "content": [{"type": "text/plain", "value": EMAIL_BODY}],
    }


def run_email(url: str, seconds: float, batch: int, start_at: float, offset: int) -> dict[str, object]:
    from sendgrid import SendGridAPIClient

    sg = SendGridAPIClient(api_key=DEFAULT_SENDGRID_KEY, host=url)
    recipients = 0
    errors = 0
    first = last = 0.0
    _sleep_until(start_at)
    began = time.time()
    deadline = began + seconds
    start = offset
    while time.time() < deadline:
        body = _email_body(start, batch)  # built per request, as a real sender would
        start += batch
        try:
            sg.client.mail.send.post(request_body=body, timeout=30)
        except Exception:  # counted, never fatal
            errors += 1
            continue
        last = time.time()
        first = first or last
        recipients += batch
    return {"count": recipients, "errors": errors, "began": began, "first": first, "last": last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("api", choices=("sms", "email"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--offset", type=int, default=0)
    args = parser.parse_args()
    if args.api == "sms":
        result = run_sms(args.url, args.seconds, args.concurrency, args.start_at, args.offset)
    else:
        result = run_email(args.url, args.seconds, args.batch, args.start_at, args.offset)
    result["pid"] = os.getpid()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
