"""Monitoring lines of the checklist: every scrape target up, rules healthy, Alertmanager delivering
to the configured receivers, every VM's journal arriving, Grafana and Loki where enabled. They ask
Prometheus and Alertmanager on the monitoring VM (over SSH there: both listen on its private address)."""

from __future__ import annotations

import json
import shlex
import time
import urllib.parse
from typing import Any

from components.checks import FAIL, PASS, SKIP, Context, Row, check, first_line
from components.monitoring import names as n

TEST_ALERT = "PlatformVerifyTest"


def _mon(ctx: Context) -> Any:
    return n.monitoring_host(ctx.settings)


def api(ctx: Context, path: str, port: int = n.PROMETHEUS_PORT, method: str = "GET", body: str = "") -> Any:
    """JSON from Prometheus (or Alertmanager) on the monitoring VM; None when it does not answer."""
    mon = _mon(ctx)
    url = f"http://{mon.private_ip}:{port}{path}"
    cmd = f"curl -sf --max-time 5 -X {method} -H 'Content-Type: application/json' {shlex.quote(url)}"
    if body:
        cmd += " --data-binary @-"
    p = ctx.run(mon, cmd, stdin=body)
    if p.returncode != 0:
        return None
    try:
        return json.loads(p.stdout)
    except json.JSONDecodeError:
        return None


NO_PROMETHEUS = [Row(FAIL, "-", "Prometheus does not answer on the monitoring VM")]


@check("monitoring", "every scrape target up")
def targets_up(ctx: Context) -> list[Row]:
    data = api(ctx, "/api/v1/targets?state=active")
    if data is None:
        return NO_PROMETHEUS
    by_job: dict[str, list[dict[str, Any]]] = {}
    for t in data["data"]["activeTargets"]:
        by_job.setdefault(t["labels"].get("job", "?"), []).append(t)
    rows = []
    for job, ts in sorted(by_job.items()):
        down = [f"{t['labels'].get('host', t['labels'].get('instance'))}: {t.get('lastError') or t['health']}"
                for t in ts if t["health"] != "up"]
        rows.append(Row(FAIL if down else PASS, job, "; ".join(down)[:140] if down else f"{len(ts)} up"))
    return rows


@check("monitoring", "rules loaded, no evaluation errors")
def rules_healthy(ctx: Context) -> list[Row]:
    data = api(ctx, "/api/v1/rules")
    if data is None:
        return NO_PROMETHEUS
    rows = []
    for g in data["data"]["groups"]:
        bad = [f"{r.get('name')}: {r.get('lastError')}" for r in g["rules"] if r.get("health") != "ok"]
        rows.append(Row(FAIL if bad else PASS, g["name"],
                        "; ".join(bad)[:140] if bad else f"{len(g['rules'])} rules ok"))
    return rows or [Row(FAIL, "-", "no rule groups loaded")]


@check("monitoring", "a healthy platform pages nobody")
def nothing_critical_firing(ctx: Context) -> list[Row]:
    """No critical alert firing (the rules are wrong, or the platform is not healthy); warnings are
    listed as evidence but pass: a fresh stack may legitimately warn (no backup yet)."""
    data = api(ctx, "/api/v1/query?query=" + urllib.parse.quote('ALERTS{alertstate="firing"}'))
    if data is None:
        return NO_PROMETHEUS
    firing: dict[str, list[str]] = {}
    for r in data["data"]["result"]:
        labels = r["metric"]
        firing.setdefault(labels.get("severity", "?"), []).append(
            labels["alertname"] + (f"({labels['host']})" if "host" in labels else ""))
    critical = sorted(firing.get("critical", []))
    warnings = sorted(firing.get("warning", []))
    evidence = f"critical: {', '.join(critical) or 'none'}; warning: {', '.join(warnings) or 'none'}"
    return [Row(FAIL if critical else PASS, "-", evidence[:160])]


def _notifications(ctx: Context) -> dict[str, float]:
    """integration -> notifications sent minus failed, from Alertmanager's own metrics."""
    mon = _mon(ctx)
    p = ctx.run(mon, f"curl -sf --max-time 5 http://{mon.private_ip}:{n.ALERTMANAGER_PORT}/metrics")
    out: dict[str, float] = {}
    for line in p.stdout.splitlines():
        for name, sign in (("alertmanager_notifications_total", 1), ("alertmanager_notifications_failed_total", -1)):
            if line.startswith(name + "{"):
                integration = line.split('integration="', 1)[1].split('"', 1)[0]
                out[integration] = out.get(integration, 0.0) + sign * float(line.rsplit(" ", 1)[1])
    return out


@check("monitoring", "Alertmanager delivers a test alert")
def test_alert(ctx: Context) -> list[Row]:
    m = ctx.settings.monitoring
    wanted = [i for i, on in (("webhook", bool(m.webhook_url)), ("email", bool(m.alert_email)),
                              ("slack", m.slack)) if on]
    if not wanted:
        return [Row(SKIP, "-", "no receiver configured (monitoring.webhookUrl, alertEmail, slackWebhookUrl)")]
    before = _notifications(ctx)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    alert = [{"labels": {"alertname": TEST_ALERT, "severity": "warning", "component": "monitoring",
                         "stack": ctx.settings.stack, "run": now},
              "annotations": {"summary": "Test alert from scripts/verify; nothing to do"},
              "startsAt": now}]
    if api(ctx, "/api/v2/alerts", n.ALERTMANAGER_PORT, "POST", json.dumps(alert)) is None and \
            not _alertmanager_ready(ctx):
        return [Row(FAIL, "-", "Alertmanager does not answer on the monitoring VM")]
    deadline = time.monotonic() + 30
    after = before
    while time.monotonic() < deadline:
        after = _notifications(ctx)
        if all(after.get(i, 0) > before.get(i, 0) for i in wanted):
            break
        time.sleep(1)
    return [Row(PASS if after.get(i, 0) > before.get(i, 0) else FAIL, i,
                f"delivered (sent - failed {before.get(i, 0):.0f} -> {after.get(i, 0):.0f})"
                if after.get(i, 0) > before.get(i, 0) else "not delivered within 30 s") for i in wanted]


def _alertmanager_ready(ctx: Context) -> bool:
    mon = _mon(ctx)
    return ctx.run(mon, f"curl -sf --max-time 5 http://{mon.private_ip}:{n.ALERTMANAGER_PORT}/-/ready").returncode == 0


@check("monitoring", "every VM's journal arrives on the monitoring VM")
def journals(ctx: Context) -> list[Row]:
    mon = _mon(ctx)
    p = ctx.sudo(mon, f"cd {n.JOURNAL_REMOTE_DIR} && stat -c '%n %Y' remote-*.journal 2>/dev/null; date +%s")
    lines = p.stdout.split()
    if not lines:
        return [Row(FAIL, "-", first_line(p.stderr) or "no answer")]
    now = int(lines[-1])
    newest: dict[str, int] = {}
    for name, mtime in zip(lines[:-1:2], lines[1:-1:2], strict=False):
        source = name.removeprefix("remote-").split("@", 1)[0].removesuffix(".journal")
        newest[source] = max(newest.get(source, 0), int(mtime))
    rows = []
    for h in ctx.settings.hosts.all():
        if h.name == mon.name:
            continue
        # Named by the address it uploads from (render/journal.py says why), the name accepted too.
        t = newest.get(h.private_ip, newest.get(h.name))
        ok = t is not None and now - t < 600
        seen = ", ".join(sorted(newest))
        rows.append(Row(PASS if ok else FAIL, h.name, f"last write {now - t} s ago" if t is not None
                        else f"no remote-{h.private_ip}.journal in {n.JOURNAL_REMOTE_DIR} (seen: {seen})"))
    return rows


HEARTBEAT_WINDOW_S = 2 * n.HEARTBEAT_EVERY_S + 60


@check("monitoring", "every VM's journal heartbeat arrived in the last 5 minutes (a quiet VM too)")
def heartbeats(ctx: Context) -> list[Row]:
    mon = _mon(ctx)
    others = [h for h in ctx.settings.hosts.all() if h.name != mon.name]
    # One line per VM: its address and the time of the newest heartbeat entry in its received
    # journal files (empty: none in the window); then this VM's clock. A VM's files are exactly
    # remote-<address>.journal and its rotated remote-<address>@*.journal (a plain `<address>*`
    # would take 10.0.1.11's files for 10.0.1.1's), and journalctl refuses a --file that matches
    # nothing, so only the files that exist are passed.
    newest_heartbeat = (
        "hb() { local f fs=(); "
        f'for f in "{n.JOURNAL_REMOTE_DIR}/remote-$1.journal" "{n.JOURNAL_REMOTE_DIR}/remote-$1@"*.journal; do '
        '[ -e "$f" ] && fs+=("--file=$f"); done; [ ${#fs[@]} -gt 0 ] || return 0; '
        f'journalctl "${{fs[@]}}" -t {n.HEARTBEAT_IDENTIFIER} --since=-{HEARTBEAT_WINDOW_S}s -o short-unix -q '
        "--no-pager 2>/dev/null | tail -n 1 | cut -d' ' -f1; }")
    script = "; ".join([newest_heartbeat, *(f"echo {h.private_ip} $(hb {h.private_ip})" for h in others),
                        "date +%s"])
    p = ctx.sudo(mon, script)
    lines = p.stdout.strip().splitlines()
    if len(lines) != len(others) + 1:
        return [Row(FAIL, "-", first_line(p.stderr) or f"unexpected answer: {first_line(p.stdout)}")]
    now = float(lines[-1])
    newest = {parts[0]: parts[1] if len(parts) > 1 else "" for parts in (ln.split() for ln in lines[:-1])}
    rows = []
    for h in others:
        t = newest.get(h.private_ip, "")
        rows.append(Row(PASS, h.name, f"{now - float(t):.0f} s ago") if t else
                    Row(FAIL, h.name, f"no {n.HEARTBEAT_IDENTIFIER} entry from {h.private_ip} in the last "
                        f"{HEARTBEAT_WINDOW_S} s: `systemctl status {n.HEARTBEAT_IDENTIFIER}.timer "
                        "systemd-journal-upload` there"))
    return rows


@check("monitoring", "Grafana, Loki and Alloy healthy where enabled")
def grafana_loki(ctx: Context) -> list[Row]:
    m = ctx.settings.monitoring
    mon = _mon(ctx)
    rows = []
    for name, key, enabled, url in (
            ("grafana", "grafana", m.grafana_enabled, f"http://{mon.private_ip}:{n.GRAFANA_PORT}/api/health"),
            ("loki", "loki", m.loki_enabled, f"http://{mon.private_ip}:{n.LOKI_PORT}/ready"),
            ("alloy", "loki", m.loki_enabled, f"http://{mon.private_ip}:{n.ALLOY_PORT}/-/ready")):
        if not enabled:
            rows.append(Row(SKIP, name, f"monitoring.{key}.enabled is false"))
            continue
        p = ctx.run(mon, f"curl -sf --max-time 5 {url}")
        rows.append(Row(PASS if p.returncode == 0 else FAIL, name,
                        first_line(p.stdout or p.stderr) or f"exit {p.returncode}"))
    return rows


LOKI_WINDOW = "15m"


@check("monitoring", "every VM's journal reaches Loki (where enabled)")
def loki_hosts(ctx: Context) -> list[Row]:
    """Loki has entries of the last 15 minutes from every VM (labelled `host` by Alloy)."""
    if not ctx.settings.monitoring.loki_enabled:
        return [Row(SKIP, "loki", "monitoring.loki.enabled is false")]
    mon = _mon(ctx)
    query = f'count by (host) (count_over_time({{stack="{ctx.settings.stack}"}}[{LOKI_WINDOW}]))'
    p = ctx.run(mon, f"curl -sfG --max-time 10 --data-urlencode {shlex.quote('query=' + query)} "
                     f"http://{mon.private_ip}:{n.LOKI_PORT}/loki/api/v1/query")
    if p.returncode != 0:
        return [Row(FAIL, "loki", f"query failed: {first_line(p.stderr) or p.returncode}")]
    seen = loki_hosts_seen(p.stdout)
    return [Row(PASS if h.name in seen else FAIL, h.name,
                f"{seen[h.name]} entries in {LOKI_WINDOW}" if h.name in seen
                else f"no entries in Loki in {LOKI_WINDOW} (seen: {', '.join(sorted(seen)) or 'none'})")
            for h in ctx.settings.hosts.all()]


def loki_hosts_seen(body: str) -> dict[str, int]:
    """host -> entry count, from Loki's instant-query answer (a vector by `host`)."""
    try:
        result = json.loads(body)["data"]["result"]
        return {r["metric"].get("host", "?"): int(float(r["value"][1])) for r in result}
    except (ValueError, KeyError, TypeError, IndexError):
        return {}
