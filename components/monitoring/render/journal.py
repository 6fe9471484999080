"""The journal hop: systemd-journal-upload on every VM -> systemd-journal-remote on the monitoring
VM, over HTTPS with the host certificates of the internal CA (the uploader verifies the sink; the
sink cannot verify uploaders, see render_remote_conf), and the maintenance timer that caps the
received journals' disk use and reports their freshness."""

from __future__ import annotations

from components.monitoring import names as n
from components.systemd import oneshot_timer

HEADER = "# Rendered by the platform program (components/monitoring/render/journal.py).\n"
UPLOAD_TLS = "/etc/systemd/platform-journal-upload"  # ca.crt, host.crt, host.key (root:systemd-journal)
REMOTE_TLS = "/etc/systemd/platform-journal-remote"  # ca.crt, host.crt, host.key (root:systemd-journal-remote)


def render_remote_conf() -> str:
    return HEADER + "\n".join([
        "[Remote]",
        "Seal=false",
        # One file set per sending VM: remote-<peer address>.journal. systemd-journal-remote (252)
        # neither requires nor verifies client certificates although TrustedCertificateFile is set
        # (systemd issue #4092), so files are named by the peer's address, not its certificate;
        # who may send at all is decided by the firewall (the platform's VMs only).
        "SplitMode=host",
        f"ServerKeyFile={REMOTE_TLS}/host.key",
        f"ServerCertificateFile={REMOTE_TLS}/host.crt",
        f"TrustedCertificateFile={REMOTE_TLS}/ca.crt",
        "",
    ])


def render_upload_conf(mon_ip: str) -> str:
    return HEADER + "\n".join([
        "[Upload]",
        f"URL=https://{mon_ip}:{n.JOURNAL_REMOTE_PORT}",
        f"ServerKeyFile={UPLOAD_TLS}/host.key",
        f"ServerCertificateFile={UPLOAD_TLS}/host.crt",
        f"TrustedCertificateFile={UPLOAD_TLS}/ca.crt",
        "",
    ])


def render_upload_dropin() -> str:
    """Keep retrying: the monitoring VM may come up after the others, or be rebuilt."""
    return HEADER + "[Unit]\nStartLimitIntervalSec=0\n[Service]\nRestart=always\nRestartSec=10\n"


def render_heartbeat_units() -> dict[str, str]:
    """A journal entry every HEARTBEAT_EVERY_S on every uploading VM. Without it a quiet VM (a
    Redis VM between events) sent nothing for 15 minutes in the lab and JournalNotReceived fired
    for a working hop."""
    service, timer = oneshot_timer(
        HEADER.rstrip("\n"), "Write a journal entry that proves the journal upload works (platform)",
        f"/usr/bin/systemd-cat -t {n.HEARTBEAT_IDENTIFIER} -p info /bin/echo journal heartbeat",
        f"{n.HEARTBEAT_EVERY_S}s", boot="30s", accuracy="5s",
        timer_description="Journal heartbeat (platform)")
    return {f"{n.HEARTBEAT_IDENTIFIER}.service": service, f"{n.HEARTBEAT_IDENTIFIER}.timer": timer}


def render_maintenance_env(retention_days: int, max_use_percent: int, sources: dict[str, str]) -> str:
    """`sources`: address a VM uploads from -> its name (the metric's `source` label); a VM in it
    that never sent is reported with timestamp 0, so its absence alerts too."""
    pairs = " ".join(f"{ip}={name}" for ip, name in sorted(sources.items()))
    return HEADER.replace("\n", " (parameters of files/journal-maintain.sh)\n") + "".join([
        f"JOURNAL_DIR={n.JOURNAL_REMOTE_DIR}\n",
        f'SOURCES="{pairs}"\n',
        f"RETENTION_DAYS={retention_days}\n",
        f"MAX_USE_PERCENT={max_use_percent}\n",
        f"TEXTFILE_DIR={n.TEXTFILE_DIR}\n",
    ])


def render_maintenance_units() -> dict[str, str]:
    service, timer = oneshot_timer(
        HEADER.rstrip("\n"), "Cap the received journals' disk use; report when each VM last sent (platform)",
        "/usr/local/lib/platform-monitoring/journal-maintain", "1min", boot="1min", accuracy="5s",
        timer_description="Maintain the received journals (platform)")
    return {"platform-journal-maintain.service": service, "platform-journal-maintain.timer": timer}
