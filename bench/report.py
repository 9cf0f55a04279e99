"""The benchmark's table and its targets (reported, never asserted)."""

from __future__ import annotations

from typing import Any


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return text + unit


def _pct(part: Any, whole: Any) -> float | None:
    if not part or not whole:
        return None
    return round(100.0 * part / whole, 1)


def sms_ceilings(rnd: dict[str, Any]) -> list[float]:
    """The round's SMS ceilings: before the pipeline and, if measured, after it."""
    found = (_get(rnd, part, "sms_per_s") for part in ("ceiling_sms", "ceiling_sms_after"))
    return [value for value in found if value]


def derived(rnd: dict[str, Any]) -> dict[str, Any]:
    """Ratios of one round: pipeline vs ceiling (the mean of the SMS ceilings measured
    before and after it), pipeline vs naive."""
    p = rnd.get("pipeline") or {}
    naive = rnd.get("naive") or {}
    ceilings = sms_ceilings(rnd)
    sms = p.get("sms_per_s")
    out = {
        "sms_ceiling_mean": round(sum(ceilings) / len(ceilings), 1) if ceilings else None,
        "sms_ceilings": " / ".join(f"{c:,.0f}" for c in ceilings) if ceilings else None,
        "sms_pct_of_ceiling": _pct(sms, sum(ceilings) / len(ceilings)) if ceilings else None,
        "sms_pct_range": (
            f"{_pct(sms, max(ceilings))}-{_pct(sms, min(ceilings))}" if sms and len(ceilings) > 1 else None
        ),
        "email_pct_of_ceiling": _pct(
            p.get("email_recipients_per_s"), _get(rnd, "ceiling_email", "email_recipients_per_s")
        ),
        "times_naive": None,
    }
    if p.get("messages_per_s") and naive.get("messages_per_s"):
        out["times_naive"] = round(p["messages_per_s"] / naive["messages_per_s"], 1)
    return out


def targets(line: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 6 with this run's figure and whether it was met (None: not measured)."""
    rounds = line.get("rounds") or {}
    n = line.get("n") or 0
    latency = f"{line.get('latency_ms', 100):g}ms"
    lat = rounds.get(latency) or {}
    out: list[dict[str, Any]] = []

    def add(name: str, value: Any, ok: bool | None) -> None:
        out.append({"target": name, "value": value, "met": ok})

    for label, rnd in rounds.items():
        first = _get(rnd, "pipeline", "first_message_s")
        add(f"first message within 1 s of approval ({label})", first, None if first is None else first <= 1.0)
        pct = derived(rnd)["sms_pct_of_ceiling"]
        add(f"SMS >= 70% of the ceiling ({label})", pct, None if pct is None else pct >= 70)
        email = _get(rnd, "pipeline", "email_recipients_per_s")
        add(f"email >= 20,000 recipients/s ({label})", email, None if email is None else email >= 20_000)
        times = derived(rnd)["times_naive"]
        add(f">= 25x the naive design ({label})", times, None if times is None else times >= 25)
    sms = _get(lat, "pipeline", "sms_per_s")
    add(f"SMS >= 500/s at {latency}", sms, None if sms is None else sms >= 500)
    total = _get(lat, "pipeline", "total_s")
    complete = bool(_get(lat, "pipeline", "correct", "ok"))
    if n >= 100_000:
        limit, name = (1800, "1,000,000") if n >= 1_000_000 else (180, "100,000")
        add(
            f"{name} citizens handed over in under {limit // 60} min at {latency}",
            total,
            # The target is for an alert on both channels.
            None if total is None or line.get("channels", "both") != "both" else (complete and total < limit),
        )
    return out


ROWS = [
    ("ceiling: bare twilio SDK, SMS/s (mean)", ("derived", "sms_ceiling_mean")),
    ("ceiling: SMS/s before / after the pipeline", ("derived", "sms_ceilings")),
    ("ceiling: SMS in flight (mean / peak)", ("ceiling_sms", "in_flight")),
    ("ceiling: bare sendgrid SDK, recipients/s", ("ceiling_email", "email_recipients_per_s")),
    ("pipeline: submit_for_approval() took (s)", ("pipeline", "submit_call_s")),
    ("pipeline: approve_alert() returned (s)", ("pipeline", "approve_call_s")),
    ("pipeline: approval -> fan-out task began (s)", ("pipeline", "fanout_started_s")),
    ("pipeline: approval -> first message (s)", ("pipeline", "first_message_s")),
    ("pipeline: deliveries created/s (fan-out)", ("pipeline", "deliveries_created_per_s")),
    ("pipeline: SMS/s", ("pipeline", "sms_per_s")),
    ("pipeline: SMS % of ceiling (mean)", ("derived", "sms_pct_of_ceiling")),
    ("pipeline: SMS % of each ceiling", ("derived", "sms_pct_range")),
    ("pipeline: SMS in flight (mean / peak)", ("pipeline", "in_flight")),
    ("pipeline: email recipients/s", ("pipeline", "email_recipients_per_s")),
    ("pipeline: email % of ceiling", ("derived", "email_pct_of_ceiling")),
    ("pipeline: email requests (recipients/request)", ("pipeline", "email_per_request")),
    ("pipeline: messages handed over", ("pipeline", "handed_over")),
    ("pipeline: approval -> last SMS (s)", ("pipeline", "sms_last_s")),
    ("pipeline: approval -> last email (s)", ("pipeline", "email_last_s")),
    ("pipeline: approval -> last message (s)", ("pipeline", "total_s")),
    ("pipeline: approval -> alert SENT (s)", ("pipeline", "alert_sent_s")),
    ("pipeline: messages/s overall", ("pipeline", "messages_per_s")),
    ("pipeline: citizens reached: half / 90% / all (s)", ("pipeline", "reached")),
    ("pipeline: every address exactly once", ("pipeline", "correct", "ok")),
    ("ceiling: CPU us/SMS: SDK loops / stub", ("ceiling_sms", "cpu")),
    ("ceiling: CPU us/email recipient: SDK loops / stub", ("ceiling_email", "cpu")),
    ("pipeline: CPU us/SMS: SMS workers", ("pipeline", "cpu_us_per_message", "workers_sms")),
    ("pipeline: CPU us/email recipient: email workers", ("pipeline", "cpu_us_per_message", "workers_email")),
    ("pipeline: CPU us/message: fan-out workers", ("pipeline", "cpu_us_per_message", "workers_celery")),
    ("pipeline: CPU us/message: PostgreSQL", ("pipeline", "cpu_us_per_message", "postgres")),
    ("pipeline: CPU us/message: provider stub", ("pipeline", "cpu_us_per_message", "stub")),
    ("pipeline: CPU us/message: Redis (broker, limiter)", ("pipeline", "cpu_us_per_message", "redis")),
    ("pipeline: peak RSS, largest worker child (MB)", ("pipeline", "memory_peak_mb", "worker_child")),
    ("pipeline: peak RSS, worker parent (MB)", ("pipeline", "memory_peak_mb", "worker")),
    ("pipeline: peak RSS, stub (MB)", ("pipeline", "memory_peak_mb", "stub")),
    ("pipeline: peak RSS, bench driver (MB)", ("pipeline", "memory_peak_mb", "bench")),
    ("naive: citizens / messages handed over", ("naive", "done")),
    ("naive: messages/s overall", ("naive", "messages_per_s")),
    ("pipeline / naive (messages/s)", ("derived", "times_naive")),
]


def table(line: dict[str, Any]) -> str:
    rounds = line.get("rounds") or {}
    labels = list(rounds)
    columns: dict[str, dict[str, Any]] = {}
    for label, rnd in rounds.items():
        view = dict(rnd, derived=derived(rnd))
        for part in ("ceiling_sms", "ceiling_email"):
            if rnd.get(part):
                cpu = rnd[part].get("cpu_us_per_message") or {}
                view[part] = dict(rnd[part], cpu=f"{_fmt(cpu.get('sdk'))} / {_fmt(cpu.get('stub'))}")
        for part in ("ceiling_sms", "pipeline"):
            if rnd.get(part):
                view[part] = dict(view.get(part) or rnd[part])
                view[part]["in_flight"] = (
                    f"{_fmt(rnd[part].get('sms_in_flight_mean'))} / {rnd[part].get('in_flight_peak')}"
                )
        p = dict(view.get("pipeline") or {})
        p["handed_over"] = f"{p.get('sms', 0):,} SMS + {p.get('email_recipients', 0):,} email"
        if p.get("citizens_reached"):
            p["reached"] = " / ".join(_fmt(p.get(k)) for k in ("reached_half_s", "reached_90_s", "reached_all_s"))
        if p.get("email_requests"):
            p["email_per_request"] = f"{p['email_requests']:,} ({p['email_recipients'] / p['email_requests']:,.0f})"
        view["pipeline"] = p
        if rnd.get("naive"):
            nv = dict(rnd["naive"])
            nv["done"] = f"{nv.get('citizens', 0):,} / {nv.get('sms', 0) + nv.get('email_recipients', 0):,}" + (
                "" if nv.get("finished") else " (time limit)"
            )
            view["naive"] = nv
        columns[label] = view
    width = max(len(name) for name, _ in ROWS) + 2
    head = f"{'':{width}}" + "".join(f"{'stub ' + label:>26}" for label in labels)
    lines = [
        f"Alert pipeline benchmark: N={line.get('n'):,} citizens, {line.get('workers')} worker processes "
        f"({', '.join(f'{k} {v}' for k, v in (line.get('pools') or {}).items())}), "
        f"{(line.get('machine') or {}).get('cpus')} CPUs, commit {line.get('git') or '?'}"
        + (f", {line['channels']} only" if line.get("channels", "both") != "both" else "")
        + (f", SMS worker at nice {line['sms_nice']}" if line.get("sms_nice") else ""),
        f"seeded {_get(line, 'seed', 'citizens') or 0:,} citizens ({_get(line, 'seed', 'sms') or 0:,} phones, "
        f"{_get(line, 'seed', 'email') or 0:,} emails) in {_get(line, 'seed', 'seconds')} s by COPY; "
        f"migrations {line.get('migrate_s')} s; whole run {line.get('seconds')} s",
        "",
        head,
        "-" * len(head),
    ]
    for name, path in ROWS:
        lines.append(f"{name:{width}}" + "".join(f"{_fmt(_get(columns[lb], *path)):>26}" for lb in labels))
    lines += ["", "targets (reported, not asserted):"]
    for t in line.get("targets") or []:
        mark = {True: "met   ", False: "MISSED", None: "n/a   "}[t["met"]]
        lines.append(f"  {mark} {t['target']}: {_fmt(t['value'])}")
    return "\n".join(lines)
