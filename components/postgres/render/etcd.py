"""etcd, the DCS: /etc/default/etcd per member, the join drop-in, the witness's leader timer and
the parameters of the etcd step.
"""

from __future__ import annotations

from components.postgres.names import (
    ETCD_CLIENT_PORT,
    ETCD_METRICS_PORT,
    ETCD_PEER_PORT,
    ETCD_TLS,
    etcd_data_dir,
    etcd_members,
)
from components.postgres.render.patroni import etcd_hosts
from components.settings import Host, Settings
from components.systemd import oneshot_timer


def render_etcd(settings: Settings, host: Host) -> str:
    """/etc/default/etcd for Debian's etcd-server (its unit reads ETCD_* from there)."""
    members = etcd_members(settings)
    initial = ",".join(f"{m.name}=https://{m.private_ip}:{ETCD_PEER_PORT}" for m in members)
    ip = host.private_ip
    env = {
        "ETCD_NAME": host.name,
        "ETCD_DATA_DIR": etcd_data_dir(settings),
        "ETCD_LISTEN_PEER_URLS": f"https://{ip}:{ETCD_PEER_PORT}",
        "ETCD_LISTEN_CLIENT_URLS": f"https://{ip}:{ETCD_CLIENT_PORT},https://127.0.0.1:{ETCD_CLIENT_PORT}",
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": f"https://{ip}:{ETCD_PEER_PORT}",
        "ETCD_ADVERTISE_CLIENT_URLS": f"https://{ip}:{ETCD_CLIENT_PORT}",
        # Prometheus scrapes this plain listener on the private address (the client port wants a
        # client certificate); it serves only /metrics and /health.
        "ETCD_LISTEN_METRICS_URLS": f"http://{ip}:{ETCD_METRICS_PORT}",
        "ETCD_INITIAL_CLUSTER": initial,
        "ETCD_INITIAL_CLUSTER_STATE": "new",
        "ETCD_INITIAL_CLUSTER_TOKEN": f"{settings.postgres.cluster_name}-{settings.stack}",
        "ETCD_CERT_FILE": f"{ETCD_TLS}/host.crt",
        "ETCD_KEY_FILE": f"{ETCD_TLS}/host.key",
        "ETCD_TRUSTED_CA_FILE": f"{ETCD_TLS}/ca.crt",
        "ETCD_CLIENT_CERT_AUTH": "true",
        "ETCD_PEER_CERT_FILE": f"{ETCD_TLS}/host.crt",
        "ETCD_PEER_KEY_FILE": f"{ETCD_TLS}/host.key",
        "ETCD_PEER_TRUSTED_CA_FILE": f"{ETCD_TLS}/ca.crt",
        "ETCD_PEER_CLIENT_CERT_AUTH": "true",
        # Pre-vote (off by default in etcd 3.4, Debian 12's): a member cut off by a partition
        # campaigns with ever higher terms, and on reconnecting would depose the healthy leader;
        # the ~2 s election that follows made Patroni demote the new primary (pg-partition drill).
        "ETCD_PRE_VOTE": "true",
        "ETCD_HEARTBEAT_INTERVAL": str(settings.postgres.etcd_heartbeat_ms),
        "ETCD_ELECTION_TIMEOUT": str(settings.postgres.etcd_election_timeout_ms),
        "ETCD_AUTO_COMPACTION_MODE": "periodic",
        "ETCD_AUTO_COMPACTION_RETENTION": "1",
        "ETCD_QUOTA_BACKEND_BYTES": str(2 * 1024 * 1024 * 1024),
    }
    lines = [
        f"# etcd member {host.name} of the {len(members)}-member DCS of {settings.postgres.cluster_name}.",
        "# Rendered by the platform program (components/postgres/render.py); do not edit.",
    ]
    lines += [f'{k}="{v}"' for k, v in env.items()]
    return "\n".join(lines) + "\n"


def render_etcd_join_dropin() -> str:
    """etcd.service drop-in: /etc/etcd/join.env, written only when a member joins a running
    cluster (etcd.sh), overrides the bootstrap settings of /etc/default/etcd."""
    return "# Rendered by the platform program (components/postgres/render.py).\n[Service]\n" \
        "EnvironmentFile=-/etc/etcd/join.env\n"


def render_etcd_leader_units() -> dict[str, str]:
    """The witness's service + timer that keep the raft leader there (files/etcd-leader.sh)."""
    service, timer = oneshot_timer(
        "# Rendered by the platform program (components/postgres/render.py).",
        "Keep the etcd raft leader on this witness VM (platform)", "/usr/local/sbin/platform-etcd-leader",
        "30s", boot="30s", accuracy="1s", after="etcd.service")
    return {"etcd-leader.service": service, "etcd-leader.timer": timer}


def etcd_step_params(settings: Settings, host: Host) -> dict[str, str]:
    members = etcd_members(settings)
    return {
        "PREFERRED_LEADER": "1" if host.name == settings.postgres.etcd_witness else "0",
        "MEMBER_NAME": host.name,
        "DATA_DIR": etcd_data_dir(settings),
        "PEER_URL": f"https://{host.private_ip}:{ETCD_PEER_PORT}",
        "OWN_ENDPOINT": f"https://{host.private_ip}:{ETCD_CLIENT_PORT}",
        "OTHER_ENDPOINTS": ",".join(f"https://{m.private_ip}:{ETCD_CLIENT_PORT}" for m in members if m != host),
        "ALL_ENDPOINTS": ",".join(f"https://{m.private_ip}:{ETCD_CLIENT_PORT}" for m in members),
        "MEMBER_PEER_URLS": ",".join(f"https://{m.private_ip}:{ETCD_PEER_PORT}" for m in members),
    }


def etcd_endpoints(settings: Settings) -> str:
    return ",".join(f"https://{h}" for h in etcd_hosts(settings))
