#!/usr/bin/env python3
"""Writes antrean's Grafana dashboards (k8s/components/monitoring/dashboards/*.json).

The monitoring component ships each as a ConfigMap labelled grafana_dashboard: "1", which
Grafana's dashboard sidecar loads. Every query names only series the services export
(docs/slo.md, "The series"); tests/tests/observability.rs checks that against the /metrics
of a running system.

    deploy/grafana/dashboards.py          write the dashboards
    deploy/grafana/dashboards.py --check  fail if one is not what this script writes
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "k8s/components/monitoring/dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
BOOKING = 'method=~"antrean.v1.BookingService/.*"'
SERVER_ERRORS = 'code=~"INTERNAL|UNAVAILABLE|DEADLINE_EXCEEDED|UNKNOWN|DATA_LOSS"'
SERVICES = 'job=~"identity|quota|booking|notification|gateway"'


def target(expr, legend=""):
    return {"expr": expr, "legendFormat": legend}


def panel(title, kind, targets, unit="short", description="", width=12, height=8, **extra):
    p = {
        "title": title,
        "type": kind,
        "datasource": DATASOURCE,
        "description": description,
        "targets": [dict(t, refId=chr(ord("A") + i), datasource=DATASOURCE)
                    for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "gridPos": {"w": width, "h": height},
    }
    p.update(extra)
    return p


def series(title, targets, unit="short", description="", width=12, stack=False):
    p = panel(title, "timeseries", targets, unit, description, width)
    if stack:
        p["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal"}, "fillOpacity": 30}
    return p


def stat(title, expr, unit="short", description="", width=6):
    return panel(title, "stat", [target(expr)], unit, description, width, height=4,
                 options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"})


def bars(title, expr, legend, unit="short", description="", width=12):
    return panel(title, "bargauge", [target(expr, legend) | {"instant": True}], unit,
                 description, width, height=10,
                 options={"orientation": "horizontal", "displayMode": "gradient",
                          "reduceOptions": {"calcs": ["lastNotNull"]}})


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": [],
            "gridPos": {"w": 24, "h": 1}}


def datasource_variable():
    return {"name": "datasource", "label": "Prometheus", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0}


def query_variable(name, label, query):
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "query": {"query": query, "refId": name}, "definition": query,
            "refresh": 2, "sort": 1, "current": {}, "hide": 0}


def dashboard(uid, title, description, panels, variables=()):
    # Lay panels out left to right, top to bottom, on Grafana's 24-column grid.
    x = y = line = 0
    for i, p in enumerate(panels):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24 or p["type"] == "row":
            x, y, line = 0, y + line, 0
        p["gridPos"].update(x=x, y=y)
        p["id"] = i + 1
        x, line = x + w, max(line, h)
        if p["type"] == "row":
            x, y, line = 0, y + h, 0
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["antrean"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [datasource_variable(), *variables]},
        "annotations": {"list": []},
        "panels": panels,
    }


def quantile(q, histogram, by, matchers=""):
    return (f"histogram_quantile({q}, sum by ({by}le) "
            f"(rate({histogram}_bucket{{{matchers}}}[{RATE}])))")


def overview():
    return dashboard(
        "antrean-overview", "antrean: national overview",
        "Every office at once: bookings by channel, seats held and refused, the booking "
        "objective, the WhatsApp pipeline and the services' health.",
        [
            stat("Bookings confirmed, 24 h", "sum(increase(booking_confirmations_total[24h]))"),
            stat("Holds refused sold out, 24 h",
                 'sum(increase(quota_holds_total{outcome="sold_out"}[24h]))'),
            stat("Booking server errors, 1 h",
                 f"sum(rate(rpc_server_requests_total{{{BOOKING},{SERVER_ERRORS}}}[1h]))"
                 f" / sum(rate(rpc_server_requests_total{{{BOOKING}}}[1h]))", "percentunit",
                 "Objective: below 0.5% over 30 days (docs/slo.md)."),
            stat("Replicas up", f"sum(up{{{SERVICES}}})",
                 description="Replicas Prometheus can scrape."),
            series("Bookings confirmed per minute, by channel",
                   [target(f"sum by (channel) (rate(booking_confirmations_total[{RATE}])) * 60",
                           "{{channel}}")], stack=True),
            series("Seat holds per second, by outcome",
                   [target(f"sum by (outcome) (rate(quota_holds_total[{RATE}]))", "{{outcome}}")],
                   "reqps", stack=True),
            bars("Offices with the most bookings, 24 h",
                 "topk(15, sum by (office) (increase(booking_confirmations_total[24h])))",
                 "{{office}}"),
            bars("Offices refusing the most holds (sold out), 24 h",
                 'topk(15, sum by (office) (increase(quota_holds_total{outcome="sold_out"}[24h])))',
                 "{{office}}"),
            row("WhatsApp"),
            series("Webhooks per second, by result",
                   [target(f"sum by (result) (rate(whatsapp_webhooks_total[{RATE}]))", "{{result}}")],
                   "reqps"),
            series("Reply delay (webhook to answer)",
                   [target(quantile(0.5, "whatsapp_reply_delay_seconds", ""), "p50"),
                    target(quantile(0.99, "whatsapp_reply_delay_seconds", ""), "p99")], "s",
                   "Objective: 99% within 5 s."),
            series("Oldest waiting message",
                   [target("max(whatsapp_inbox_oldest_pending_seconds)", "inbox (unanswered)"),
                    target("max(notification_outbox_oldest_queued_seconds)", "outbox (undelivered)")],
                   "s", "Alerts at 2 min (inbox) and 5 min (outbox)."),
            series("Deliveries per second, by channel and outcome",
                   [target(f"sum by (channel, outcome) (rate(notification_deliveries_total[{RATE}]))",
                           "{{channel}} {{outcome}}")], "reqps"),
        ],
    )


def office():
    sel = 'office="$office"'
    return dashboard(
        "antrean-office", "antrean: one office",
        "One office's seats and bookings. Its queue, check-ins and waiting times are on the "
        "office's own dashboard page in antrean (/staff/dashboard).",
        [
            stat("Bookings confirmed, 24 h",
                 f"sum(increase(booking_confirmations_total{{{sel}}}[24h]))"),
            stat("Holds admitted, 24 h",
                 f'sum(increase(quota_holds_total{{{sel},outcome="admitted"}}[24h]))'),
            stat("Holds refused sold out, 24 h",
                 f'sum(increase(quota_holds_total{{{sel},outcome="sold_out"}}[24h]))'),
            stat("Sold-out share of holds, 1 h",
                 f'sum(rate(quota_holds_total{{{sel},outcome="sold_out"}}[1h]))'
                 f" / sum(rate(quota_holds_total{{{sel}}}[1h]))", "percentunit"),
            series("Seat holds per second, by outcome",
                   [target(f"sum by (outcome) (rate(quota_holds_total{{{sel}}}[{RATE}]))",
                           "{{outcome}}")], "reqps", stack=True),
            series("Bookings confirmed per minute, by channel",
                   [target(f"sum by (channel) (rate(booking_confirmations_total{{{sel}}}[{RATE}])) * 60",
                           "{{channel}}")], stack=True),
        ],
        [query_variable("office", "Office", "label_values(quota_holds_total, office)")],
    )


def service():
    job = 'job="$job"'
    return dashboard(
        "antrean-service", "antrean: one service",
        "Rate, errors and duration of one service's RPCs and HTTP routes, and what it "
        "depends on: its PostgreSQL pool, dependency errors and its TLS certificate.",
        [
            row("gRPC"),
            series("Requests per second, by method",
                   [target(f"sum by (method) (rate(rpc_server_requests_total{{{job}}}[{RATE}]))",
                           "{{method}}")], "reqps"),
            series("Server errors per second, by method and code",
                   [target(f"sum by (method, code) (rate(rpc_server_requests_total{{{job},{SERVER_ERRORS}}}[{RATE}]))",
                           "{{method}} {{code}}")], "reqps"),
            series("Refusals per second, by code",
                   [target(f'sum by (code) (rate(rpc_server_requests_total{{{job},code!="OK",code!~"INTERNAL|UNAVAILABLE|DEADLINE_EXCEEDED|UNKNOWN|DATA_LOSS"}}[{RATE}]))',
                           "{{code}}")], "reqps",
                   "Answers that refuse a request for its own reasons (sold out, invalid, limits)."),
            series("Duration p99, by method",
                   [target(quantile(0.99, "rpc_server_duration_seconds", "method, ", job),
                           "{{method}}")], "s"),
            row("HTTP (gateway)"),
            series("Requests per second, by route and status",
                   [target(f"sum by (route, code) (rate(http_server_requests_total{{{job}}}[{RATE}]))",
                           "{{route}} {{code}}")], "reqps"),
            series("Duration p99, by route",
                   [target(quantile(0.99, "http_server_duration_seconds", "route, ", job),
                           "{{route}}")], "s"),
            row("Dependencies"),
            series("PostgreSQL pool",
                   [target(f'sum by (instance) (db_pool_connections{{{job},state="busy"}})',
                           "busy {{instance}}"),
                    target(f"sum by (instance) (db_pool_max_connections{{{job}}})", "max {{instance}}")],
                   description="Alerts at 90% busy for 10 min.", width=8),
            series("Dependency errors per second",
                   [target(f"sum by (dependency) (rate(dependency_errors_total{{{job}}}[{RATE}]))",
                           "{{dependency}}")], "reqps", width=8),
            series("TLS certificate expires in",
                   [target(f"min by (instance) (tls_certificate_expiry_timestamp_seconds{{{job}}} - time())",
                           "{{instance}}")], "s", "cert-manager renews long before 7 days.", width=8),
        ],
        [query_variable("job", "Service", "label_values(db_pool_max_connections, job)")],
    )


def pipelines():
    return dashboard(
        "antrean-pipelines", "antrean: quota, WhatsApp pipeline and outbox",
        "The quota's counters and admissions, the WhatsApp inbox from webhook to answer, and "
        "the outbox from queued to delivered.",
        [
            row("Quota"),
            series("Holds per second, by outcome",
                   [target(f"sum by (outcome) (rate(quota_holds_total[{RATE}]))", "{{outcome}}")],
                   "reqps", stack=True, width=8),
            series("Day counters built from the ledger",
                   [target(f"sum by (kind) (increase(quota_counter_builds_total[{RATE}]))", "{{kind}}")],
                   description="first: a day's first use; rebuild: counters lost or dropped.",
                   width=8),
            series("Hold duration",
                   [target(quantile(0.5, "rpc_server_duration_seconds", "",
                                    'method="antrean.v1.QuotaService/Hold"'), "p50"),
                    target(quantile(0.99, "rpc_server_duration_seconds", "",
                                    'method="antrean.v1.QuotaService/Hold"'), "p99")],
                   "s", "Objective: 99% within 25 ms.", width=8),
            series("Holds recorded per ledger statement",
                   [target('max(quota_admissions_batch_holds{quantile="0.5"})', "p50"),
                    target('max(quota_admissions_batch_holds{quantile="0.99"})', "p99")],
                   width=8),
            series("Booking status changes per second",
                   [target(f"sum by (to) (rate(booking_transitions_total[{RATE}]))", "{{to}}")],
                   "reqps", width=8),
            series("Release draw overdue",
                   [target("max(booking_draw_overdue_seconds)", "oldest closed draw without result")],
                   "s", "Alerts above 15 min.", width=8),
            row("WhatsApp pipeline"),
            series("Webhooks per second, by result",
                   [target(f"sum by (result) (rate(whatsapp_webhooks_total[{RATE}]))", "{{result}}")],
                   "reqps", width=8),
            series("Webhook answer p99",
                   [target(quantile(0.99, "http_server_duration_seconds", "",
                                    'route="/webhooks/whatsapp"'), "p99")],
                   "s", "Objective: 99% within 250 ms.", width=8),
            series("Webhooks stored per statement",
                   [target('max(whatsapp_intake_batch_webhooks{quantile="0.99"})', "p99")], width=8),
            series("Reply delay",
                   [target(quantile(0.5, "whatsapp_reply_delay_seconds", ""), "p50"),
                    target(quantile(0.99, "whatsapp_reply_delay_seconds", ""), "p99")],
                   "s", "Objective: 99% within 5 s.", width=8),
            series("Oldest unanswered message",
                   [target("max(whatsapp_inbox_oldest_pending_seconds)", "inbox")], "s", width=8),
            series("Quality updates of the business numbers",
                   [target(f"sum by (event) (increase(whatsapp_quality_updates_total[{RATE}]))",
                           "{{event}}")], width=8),
            row("Outbox"),
            series("Deliveries per second, by channel and outcome",
                   [target(f"sum by (channel, outcome) (rate(notification_deliveries_total[{RATE}]))",
                           "{{channel}} {{outcome}}")], "reqps", width=8),
            series("Delivery delay p99, by channel",
                   [target(quantile(0.99, "notification_delivery_delay_seconds", "channel, "),
                           "{{channel}}")], "s", "Objective: 99% within 30 s.", width=8),
            series("Oldest undelivered message",
                   [target("max(notification_outbox_oldest_queued_seconds)", "outbox")], "s",
                   width=8),
            series("Messages accepted per statement",
                   [target('max(notification_accept_batch_messages{quantile="0.99"})', "p99")],
                   width=8),
        ],
    )


def outputs():
    return {OUT / f"{d['uid']}.json": json.dumps(d, indent=2) + "\n"
            for d in (overview(), office(), service(), pipelines())}


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for path, text in outputs().items():
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(text)
    if check:
        written = set(outputs())
        stale += [str(p.relative_to(ROOT)) for p in OUT.glob("*.json") if p not in written]
    if stale:
        sys.exit(f"{', '.join(stale)}: not what deploy/grafana/dashboards.py writes; run it")


if __name__ == "__main__":
    main()
