"""The stub's own control API under ``/_stub/``, for processes that cannot reach it in Python.

====================  =======  =========================================================
path                  method   what
====================  =======  =========================================================
/_stub/received       GET      provider requests received; ``?api=sms|email``,
                               ``?since=N`` (skip the first N), ``?fields=a,b`` (only these)
/_stub/stats          GET      counts, in-flight now and peak, callbacks sent
/_stub/callbacks      GET      callbacks sent (url, payload, headers, answer)
/_stub/config         GET      the current configuration
/_stub/config         POST     JSON object of settings to change (see ``StubConfig``)
/_stub/failures       POST     JSON failure rule (see ``FailureRule``), added to the list
/_stub/inbound        POST     JSON ``{"from", "to", "body", "date_sent"?, "sid"?, "status"?,
                               "messaging_service_sid"?}``: an inbound SMS held as if Twilio
                               received it while our webhook was down (``date_sent``: ISO 8601
                               or a Unix time; now unless given); listed by the Messages API
/_stub/reset          POST     forget everything received, back to the start configuration
/_stub/public-key     GET      ``{"public_key": ...}``: base64 DER of the event-signing key
====================  =======  =========================================================
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from alerts.providerstub.state import FailureRule

if TYPE_CHECKING:
    from alerts.providerstub.server import ProviderStub


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data, default=str), content_type="application/json")


async def _read_object(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data


class ControlAPI:
    def __init__(self, stub: ProviderStub) -> None:
        self.stub = stub

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_stub/received", self.received),
            web.get("/_stub/stats", self.stats),
            web.get("/_stub/callbacks", self.callbacks),
            web.get("/_stub/config", self.get_config),
            web.post("/_stub/config", self.set_config),
            web.post("/_stub/failures", self.add_failure),
            web.post("/_stub/inbound", self.inbound),
            web.post("/_stub/reset", self.reset),
            web.get("/_stub/public-key", self.public_key),
        ]

    async def received(self, request: web.Request) -> web.Response:
        records = self.stub.received(request.query.get("api"))
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="since must be a number") from None
        records = records[since:]
        wanted = request.query.get("fields")
        if wanted:
            names = wanted.split(",")
            records = [{name: r.get(name) for name in names} for r in records]
        return _json({"received": records})

    async def stats(self, request: web.Request) -> web.Response:
        return _json(self.stub.stats())

    async def callbacks(self, request: web.Request) -> web.Response:
        entries = [{k: v for k, v in entry.items() if k != "raw"} for entry in self.stub.callbacks()]
        return _json({"callbacks": entries})

    async def get_config(self, request: web.Request) -> web.Response:
        return _json({"config": self.stub.config.to_json(), "failures": [r.to_json() for r in self.stub.state.rules]})

    async def set_config(self, request: web.Request) -> web.Response:
        changes = await _read_object(request)
        try:
            config = self.stub.configure(**changes)
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return _json({"config": config.to_json()})

    async def add_failure(self, request: web.Request) -> web.Response:
        data = await _read_object(request)
        try:
            rule = FailureRule(**data)
            self.stub.state.add_rule(rule)
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return _json({"failure": rule.to_json()}, status=201)

    async def inbound(self, request: web.Request) -> web.Response:
        data = await _read_object(request)
        unknown = set(data) - {"from", "to", "body", "date_sent", "sid", "status", "messaging_service_sid"}
        if unknown:
            raise web.HTTPBadRequest(text=f"unknown fields: {', '.join(sorted(unknown))}")
        sent_at = data.get("date_sent")
        try:
            if isinstance(sent_at, str):
                sent_at = datetime.datetime.fromisoformat(sent_at.replace("Z", "+00:00"))
                if sent_at.tzinfo is None:
                    raise ValueError("date_sent needs a time zone (Z or +00:00)")
            elif sent_at is not None and not isinstance(sent_at, int | float):
                raise ValueError("date_sent must be ISO 8601 or a Unix time")
            sid = self.stub.receive_sms(
                str(data.get("from", "")),
                str(data.get("to", "")),
                str(data.get("body", "")),
                sent_at=sent_at,
                sid=data.get("sid"),
                status=data.get("status", "received"),
                messaging_service_sid=data.get("messaging_service_sid"),
            )
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return _json({"sid": sid}, status=201)

    async def reset(self, request: web.Request) -> web.Response:
        self.stub.reset()
        return _json({"reset": True})

    async def public_key(self, request: web.Request) -> web.Response:
        return _json({"public_key": self.stub.public_key})
