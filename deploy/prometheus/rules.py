#!/usr/bin/env python3
"""Writes antrean's Prometheus rules from the objectives below (docs/slo.md).

One source, two outputs that must not drift apart:
- deploy/prometheus/antrean.rules.yaml: a plain rule file (promtool, a Prometheus without
  the operator: `rule_files` in deploy/prometheus/local.yaml);
- k8s/components/monitoring/prometheus-rules.yaml: the same groups as a Prometheus Operator
  PrometheusRule.

Each objective gets recording rules of its bad-event ratio over the windows of the
multi-window, multi-burn-rate method (Google SRE workbook, "Alerting on SLOs") and two
alerts: a page when the 30-day budget burns 14.4x over 1 h (confirmed over 5 min) or 6x
over 6 h (30 min), a ticket at 3x over 1 d (2 h) or 1x over 3 d (6 h). The other alerts are
thresholds. Every alert links its runbook, docs/runbooks/<alert>.md.

    deploy/prometheus/rules.py          write both files
    deploy/prometheus/rules.py --check  fail if either is not what this script writes, if an
                                        alert has no runbook or no test that fires it, or
                                        a runbook no alert
"""
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAIN = ROOT / "deploy/prometheus/antrean.rules.yaml"
OPERATOR = ROOT / "k8s/components/monitoring/prometheus-rules.yaml"
RUNBOOKS = "https://github.com/antrean/antrean/blob/main/docs/runbooks"

GRPC_SERVER_ERRORS = 'code=~"INTERNAL|UNAVAILABLE|DEADLINE_EXCEEDED|UNKNOWN|DATA_LOSS"'
BOOKING = 'method=~"antrean.v1.BookingService/.*"'
HOLD = 'method="antrean.v1.QuotaService/Hold"'
WEBHOOK = 'route="/webhooks/whatsapp"'


def rate(metric, *matchers):
    """`sum(rate(metric{matchers}[{w}]))`, a matcher per line when long; {w} is the window."""
    inline = f"sum(rate({metric}{{{', '.join(matchers)}}}[{{w}}]))"
    if len(inline) <= 90:
        return inline.replace("{}", "")
    inner = ",\n".join("  " + m for m in matchers)
    return f"sum(rate({metric}{{\n{inner}\n}}[{{w}}]))"


def slower(histogram, le, *matchers):
    """Events of a histogram above the bucket `le`: all of them minus those in it."""
    count = rate(f"{histogram}_count", *matchers)
    within = rate(f"{histogram}_bucket", *matchers, f'le="{le}"')
    return f"{count}\n-\n{within}"


# name, objective (good fraction over 30 days), what it promises, bad events, all events.
OBJECTIVES = [
    (
        "Booking",
        0.995,
        "BookingService answers without a server error",
        rate("rpc_server_requests_total", BOOKING, GRPC_SERVER_ERRORS),
        rate("rpc_server_requests_total", BOOKING),
    ),
    (
        "HoldLatency",
        0.99,
        "a seat hold is answered within 25 ms",
        slower("rpc_server_duration_seconds", "0.025", HOLD),
        rate("rpc_server_duration_seconds_count", HOLD),
    ),
    (
        "WebhookLatency",
        0.99,
        "the WhatsApp webhook is answered within 250 ms",
        slower("http_server_duration_seconds", "0.25", WEBHOOK),
        rate("http_server_duration_seconds_count", WEBHOOK),
    ),
    (
        "ReplyLatency",
        0.99,
        "a WhatsApp message is answered within 5 s of its webhook",
        slower("whatsapp_reply_delay_seconds", "5"),
        rate("whatsapp_reply_delay_seconds_count"),
    ),
    (
        "DeliveryLatency",
        0.99,
        "a message leaves the outbox within 30 s of being queued",
        slower("notification_delivery_delay_seconds", "30"),
        rate("notification_delivery_delay_seconds_count"),
    ),
]

# (severity, burn rate, long window, short window, for)
BURNS = [
    ("page", 14.4, "1h", "5m", "2m"),
    ("page", 6, "6h", "30m", "15m"),
    ("ticket", 3, "1d", "2h", "1h"),
    ("ticket", 1, "3d", "6h", "3h"),
]
WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]


def indent(text):
    return "\n".join("  " + line for line in text.split("\n"))


def snake(name):
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def ratio(name, window):
    return f"slo:{snake(name)}_bad:ratio_rate{window}"


def alert(name, expr, severity, summary, description, for_=None):
    rule = {"alert": name, "expr": expr}
    if for_:
        rule["for"] = for_
    rule["labels"] = {"severity": severity}
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": f"{RUNBOOKS}/{name}.md",
    }
    return rule


def slo_groups():
    groups = []
    for name, objective, promise, bad, total in OBJECTIVES:
        budget = round(1 - objective, 6)
        records = [
            {
                "record": ratio(name, w),
                "expr": f"(\n{indent(bad.replace('{w}', w))}\n)\n/\n(\n{indent(total.replace('{w}', w))}\n)",
            }
            for w in WINDOWS
        ]
        alerts = []
        for severity in ("page", "ticket"):
            terms = [
                f"({ratio(name, long)} > {rate} * {budget} and {ratio(name, short)} > {rate} * {budget})"
                for sev, rate, long, short, _ in BURNS
                if sev == severity
            ]
            for_ = next(f for sev, _, _, _, f in BURNS if sev == severity)
            alerts.append(
                alert(
                    f"{name}BudgetBurn",
                    "\nor\n".join(terms),
                    severity,
                    f"SLO at risk: {promise} ({objective:.1%} over 30 days)",
                    "The error budget burns fast enough to be spent in "
                    + ("hours" if severity == "page" else "days")
                    + ": {{ $value | humanizePercentage }} of events are bad.",
                    for_,
                )
            )
        groups.append({"name": f"slo-{snake(name).replace('_', '-')}", "rules": records + alerts})
    return groups


def threshold_groups():
    day = 86400
    return [
        {
            "name": "antrean-availability",
            "rules": [
                alert(
                    "AntreanTargetDown",
                    'up{job=~"identity|quota|booking|notification|gateway"} == 0',
                    "page",
                    "{{ $labels.job }} at {{ $labels.instance }} does not answer its scrape",
                    "Prometheus cannot read /metrics of a replica for 5 minutes.",
                    "5m",
                ),
                alert(
                    "PostgresErrors",
                    'sum by (job) (rate(dependency_errors_total{dependency="postgres"}[5m])) > 0.5',
                    "page",
                    "{{ $labels.job }} cannot use PostgreSQL",
                    "{{ $value | humanize }} PostgreSQL errors per second for 5 minutes.",
                    "5m",
                ),
                alert(
                    "RedisErrors",
                    'sum by (job) (rate(dependency_errors_total{dependency="redis"}[5m])) > 0.5',
                    "page",
                    "quota cannot use Redis",
                    "{{ $value | humanize }} Redis errors per second for 5 minutes: holds are refused.",
                    "5m",
                ),
                alert(
                    "PostgresPoolSaturated",
                    'max by (job, pool) (db_pool_connections{state="busy"}'
                    " / ignoring(state) db_pool_max_connections) >= 0.9",
                    "ticket",
                    "{{ $labels.job }}'s PostgreSQL pool is {{ $value | humanizePercentage }} busy",
                    "Requests wait for a connection; at 100% they fail after 5 s.",
                    "10m",
                ),
                alert(
                    "RedisCountersLost",
                    'sum(increase(quota_counter_builds_total{kind="rebuild"}[10m])) > 20',
                    "ticket",
                    "quota rebuilt {{ $value | humanize }} days of seat counters from the ledger",
                    "Redis lost the counters (a restart or a failover without persistence).",
                ),
                alert(
                    "CertificateExpiry",
                    f"min by (job, identity) (tls_certificate_expiry_timestamp_seconds - time()) < 7 * {day}",
                    "ticket",
                    "{{ $labels.job }}'s certificate ({{ $labels.identity }}) expires in "
                    "{{ $value | humanizeDuration }}",
                    "cert-manager renews long before this: its renewal is failing.",
                    "1h",
                ),
                alert(
                    "CertificateExpiry",
                    f"min by (job, identity) (tls_certificate_expiry_timestamp_seconds - time()) < {day}",
                    "page",
                    "{{ $labels.job }}'s certificate ({{ $labels.identity }}) expires in "
                    "{{ $value | humanizeDuration }}",
                    "When it expires, every gRPC call to or from this service fails.",
                    "5m",
                ),
            ],
        },
        {
            "name": "antrean-pipelines",
            "rules": [
                alert(
                    "InboxStuck",
                    "max(whatsapp_inbox_oldest_pending_seconds) > 120",
                    "page",
                    "a WhatsApp message has waited {{ $value | humanizeDuration }} for its answer",
                    "The gateway's inbox is not being worked off.",
                    "5m",
                ),
                alert(
                    "OutboxStuck",
                    "max(notification_outbox_oldest_queued_seconds) > 300",
                    "page",
                    "a message has waited {{ $value | humanizeDuration }} in the outbox",
                    "Booking codes and reminders are not reaching applicants.",
                    "5m",
                ),
                alert(
                    "WhatsAppDeliveryFailures",
                    'sum(rate(notification_deliveries_total{channel="WHATSAPP",outcome="failed"}[15m]))'
                    '\n/\nsum(rate(notification_deliveries_total{channel="WHATSAPP"}[15m]))\n> 0.05',
                    "page",
                    "{{ $value | humanizePercentage }} of WhatsApp deliveries fail for good",
                    "The Cloud API refuses messages (token, template, limits or quality).",
                    "15m",
                ),
                alert(
                    "WhatsAppQualityDropped",
                    'sum(increase(whatsapp_quality_updates_total{event=~"FLAGGED|DOWNGRADE"}[1h])) > 0',
                    "ticket",
                    "Meta flagged a business number or lowered its messaging limit",
                    "Recipients block or report its messages; the limit falls next.",
                ),
                alert(
                    "DrawNotFinished",
                    "max(booking_draw_overdue_seconds) > 900",
                    "page",
                    "a release draw closed {{ $value | humanizeDuration }} ago without a result",
                    "Its entrants wait for their seats; they are released by nothing else.",
                    "5m",
                ),
            ],
        },
    ]


class Dumper(yaml.SafeDumper):
    pass


def block(dumper, data):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


Dumper.add_representer(str, block)


def dump(doc):
    return yaml.dump(doc, Dumper=Dumper, sort_keys=False, width=100)


def outputs():
    groups = slo_groups() + threshold_groups()
    header = "# Written by deploy/prometheus/rules.py from the objectives in it; docs/slo.md.\n"
    plain = header + dump({"groups": groups})
    operator = (
        header
        + "# The Prometheus must select PrometheusRules labelled app.kubernetes.io/part-of: antrean.\n"
        + dump(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PrometheusRule",
                "metadata": {
                    "name": "antrean",
                    "labels": {
                        "app.kubernetes.io/name": "antrean",
                        "app.kubernetes.io/part-of": "antrean",
                    },
                },
                "spec": {"groups": groups},
            }
        )
    )
    return {PLAIN: plain, OPERATOR: operator}


def coverage_problems():
    """Alerts without a runbook or a firing test; runbooks without an alert."""
    alerts = {
        r["alert"]
        for g in slo_groups() + threshold_groups()
        for r in g["rules"]
        if "alert" in r
    }
    runbooks = {p.stem for p in (ROOT / "docs/runbooks").glob("*.md")} - {"README"}
    tests = yaml.safe_load((ROOT / "deploy/prometheus/antrean.rules.test.yaml").read_text())
    fired = {
        case["alertname"]
        for t in tests["tests"]
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    problems = [f"{a}: no docs/runbooks/{a}.md" for a in sorted(alerts - runbooks)]
    problems += [f"docs/runbooks/{r}.md: no alert of that name" for r in sorted(runbooks - alerts)]
    problems += [f"{a}: no test in antrean.rules.test.yaml fires it" for a in sorted(alerts - fired)]
    return problems


def main():
    check = "--check" in sys.argv[1:]
    problems = []
    for path, text in outputs().items():
        if check:
            if not path.exists() or path.read_text() != text:
                problems.append(
                    f"{path.relative_to(ROOT)}: not what deploy/prometheus/rules.py writes; run it"
                )
        else:
            path.write_text(text)
    problems += coverage_problems()
    if problems:
        sys.exit("\n".join(problems))


if __name__ == "__main__":
    main()
