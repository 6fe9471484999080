"""HostBaseline lines of the checklist: reachable, node_exporter up, firewall active and refusing."""

from __future__ import annotations

from components.checks import FAIL, PASS, Context, Row, check, first_line
from components.settings import Host


@check("baseline", "reachable over SSH, passwordless sudo")
def reachable(ctx: Context) -> list[Row]:
    rows = []
    for h in ctx.settings.hosts.all():
        p = ctx.run(h, "sudo -n true && hostname && cut -d' ' -f1 /proc/uptime")
        ok = p.returncode == 0 and p.stdout.split()[:1] == [h.name]
        rows.append(Row(PASS if ok else FAIL, h.name,
                        f"hostname={p.stdout.split()[0] if p.stdout.split() else '?'} "
                        f"uptime={p.stdout.split()[1] if len(p.stdout.split()) > 1 else '?'}s"
                        if ok else f"exit {p.returncode}: {first_line(p.stderr or p.stdout)}"))
    return rows


def _scraper(ctx: Context) -> Host:
    return ctx.settings.hosts["monitoring"][0]


@check("baseline", "node_exporter answering (from monitoring)")
def node_exporter(ctx: Context) -> list[Row]:
    mon = _scraper(ctx)
    rows = []
    for h in ctx.settings.hosts.all():
        p = ctx.run(mon, f"curl -sS --max-time 3 http://{h.private_ip}:9100/metrics | grep -c '^node_' || true")
        n = int(p.stdout.strip() or 0) if p.stdout.strip().isdigit() else 0
        rows.append(Row(PASS if n > 50 else FAIL, h.name,
                        f"{n} node_* samples from {mon.name}" if n else first_line(p.stderr) or "no samples"))
    return rows


@check("baseline", "firewall active, default deny inbound")
def firewall_active(ctx: Context) -> list[Row]:
    rows = []
    for h in ctx.settings.hosts.all():
        p = ctx.sudo(h, "nft list chain inet platform input")
        rules = sum(1 for ln in p.stdout.splitlines() if " accept" in ln)
        ok = p.returncode == 0 and "policy drop;" in p.stdout and "default deny" in p.stdout
        rows.append(Row(PASS if ok else FAIL, h.name,
                        f"policy drop, {rules} accept rules" if ok else first_line(p.stderr or p.stdout)))
    return rows


@check("baseline", "firewall: 9100 open to monitoring only")
def firewall_refuses(ctx: Context) -> list[Row]:
    """The same port, at the same moment, answers the monitoring VM and is refused to another VM:
    so the refusal is the firewall's, not a service that is down."""
    mon = _scraper(ctx)
    others = [h for h in ctx.settings.hosts.all() if h.name != mon.name]
    probe = "curl -sS --max-time 3 -o /dev/null http://{ip}:9100/metrics; echo rc=$?"
    rows = []
    for target in ctx.settings.hosts.all():
        source = next((h for h in others if h.name != target.name), None)
        if source is None:
            continue
        allowed = ctx.run(mon, probe.format(ip=target.private_ip)).stdout.strip().rsplit("rc=", 1)[-1]
        p = ctx.run(source, probe.format(ip=target.private_ip))
        rc = p.stdout.strip().rsplit("rc=", 1)[-1]
        refused = rc in ("7", "28")  # could not connect / timed out
        rows.append(Row(PASS if refused and allowed == "0" else FAIL, target.name,
                        f"{mon.name}: rc={allowed}; {source.name}: rc={rc} {first_line(p.stderr)}"))
    return rows
