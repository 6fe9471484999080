"""Alerts about the VMs themselves (node_exporter on every host). Pure."""

from __future__ import annotations

from components.contract import Alert
from components.settings import Settings

# Filesystems that hold data (not pseudo or in-memory ones).
DATA_FS = 'fstype!~"tmpfs|ramfs|devtmpfs|squashfs|nsfs|autofs|fuse.lxcfs",mountpoint!~"/run.*|/sys.*|/proc.*"'


def alerts(settings: Settings) -> tuple[Alert, ...]:
    return (
        # for 15s: two failed scrapes in a row at the 15 s interval (one lost scrape does not page);
        # 20s meant three evaluations, and a dead VM was paged only after ~75 s.
        Alert("HostDown", 'up{job="node"} == 0', "15s", "critical",
              "{{ $labels.host }} is down",
              "node_exporter on {{ $labels.host }} ({{ $labels.vm_role }}) has missed two scrapes in a row: the VM "
              "is down or unreachable from the monitoring VM. Its services' alerts are silenced while this fires."),
        Alert("DiskFullIn24h",
              f"predict_linear(node_filesystem_avail_bytes{{job=\"node\",{DATA_FS}}}[6h], 86400) < 0 "
              f"and node_filesystem_avail_bytes{{job=\"node\",{DATA_FS}}} "
              f"/ node_filesystem_size_bytes{{job=\"node\",{DATA_FS}}} < 0.25",
              "30m", "warning",
              "{{ $labels.mountpoint }} on {{ $labels.host }} fills up within 24 h",
              "At the rate of the last 6 hours {{ $labels.mountpoint }} on {{ $labels.host }} is full within a day "
              "(less than 25% left now)."),
        Alert("DiskAlmostFull",
              f"node_filesystem_avail_bytes{{job=\"node\",{DATA_FS}}} "
              f"/ node_filesystem_size_bytes{{job=\"node\",{DATA_FS}}} < 0.05",
              "5m", "critical",
              "{{ $labels.mountpoint }} on {{ $labels.host }} is almost full",
              "Less than 5% of {{ $labels.mountpoint }} on {{ $labels.host }} is free."),
        # The host's clock against the monitoring VM's: the time node_exporter reports, minus the
        # time Prometheus scraped it (a scrape takes milliseconds).
        Alert("ClockSkew", 'abs(node_time_seconds{job="node"} - timestamp(node_time_seconds{job="node"})) > 1',
              "5m", "warning",
              "The clock of {{ $labels.host }} is off by {{ $value | humanizeDuration }}",
              "{{ $labels.host }}'s clock differs from the monitoring VM's by more than 1 s (TLS, etcd leases and "
              "log correlation depend on it); check chrony."),
        Alert("SystemdUnitFailed", 'node_systemd_unit_state{job="node",state="failed"} == 1', "2m", "warning",
              "{{ $labels.name }} failed on {{ $labels.host }}",
              "systemd reports {{ $labels.name }} on {{ $labels.host }} as failed: `systemctl status "
              "{{ $labels.name }}` and `journalctl -u {{ $labels.name }}` there."),
    )
