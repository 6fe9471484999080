"""Replicas, requests and limits of every app container per sizing preset (pure).

Apps with a ReadWriteOnce volume (Nextcloud's /var/www/html, Odoo's filestore, Mautic's config
and media) run one replica: K3s ships only `local-path` volumes, which live on one node. Keycloak
keeps nothing on disk and runs two replicas in prod-ha (a PodDisruptionBudget keeps one up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.apps.render.kube import resources


@dataclass(frozen=True)
class Size:
    replicas: int
    cpu: str
    memory: str
    memory_limit: str

    def resources(self) -> dict[str, Any]:
        # No CPU limit: throttling a PHP or JVM process under load is worse than sharing the node.
        return resources(self.cpu, self.memory, memory_limit=self.memory_limit)


SIZES: dict[str, dict[str, Size]] = {
    "mvp": {
        "nextcloud": Size(1, "250m", "512Mi", "1Gi"),
        "nextcloud-cron": Size(1, "50m", "256Mi", "512Mi"),
        "odoo": Size(1, "250m", "768Mi", "1536Mi"),
        "keycloak": Size(1, "250m", "768Mi", "1Gi"),
        "mautic-web": Size(1, "250m", "512Mi", "1Gi"),
        "mautic-worker": Size(1, "100m", "256Mi", "512Mi"),
        "mautic-cron": Size(1, "50m", "256Mi", "512Mi"),
    },
    "prod-ha": {
        "nextcloud": Size(1, "500m", "1Gi", "2Gi"),
        "nextcloud-cron": Size(1, "100m", "256Mi", "1Gi"),
        "odoo": Size(1, "1", "2Gi", "3Gi"),
        "keycloak": Size(2, "500m", "1Gi", "1536Mi"),
        "mautic-web": Size(1, "500m", "1Gi", "2Gi"),
        "mautic-worker": Size(1, "250m", "512Mi", "1Gi"),
        "mautic-cron": Size(1, "100m", "256Mi", "1Gi"),
    },
}


def size(preset: str, role: str) -> Size:
    return SIZES[preset][role]
