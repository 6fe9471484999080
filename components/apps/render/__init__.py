"""Every Kubernetes object of the apps and the in-cluster router, as data (pure)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from components.apps import names as n
from components.apps.render import common, keycloak, kube, mautic, nextcloud, odoo, router
from components.contract import Contract
from components.settings import Settings

APP_OBJECTS: dict[str, Callable[[Settings], list[kube.Obj]]] = {
    "nextcloud": nextcloud.objects, "odoo": odoo.objects, "keycloak": keycloak.objects, "mautic": mautic.objects,
}


def app_secret(settings: Settings, app: str) -> kube.SecretSpec:
    if app == "nextcloud":
        return nextcloud.secret()
    if app == "odoo":
        return odoo.secret(settings)
    if app == "keycloak":
        return keycloak.secret()
    return mautic.secret(settings)


def router_in_cluster(settings: Settings) -> bool:
    return settings.router.placement == "k3s" and settings.k3s.enabled


def namespaces(settings: Settings) -> list[kube.Obj]:
    out = [common.namespace(app) for app in settings.enabled_apps()]
    if router_in_cluster(settings):
        out.insert(0, kube.namespace(n.PLATFORM_NAMESPACE, kube.app_labels(n.ROUTER)))
    return out


def secrets(settings: Settings, contracts: Sequence[Contract]) -> list[kube.SecretSpec]:
    out = [app_secret(settings, app) for app in settings.enabled_apps()]
    if router_in_cluster(settings):
        out.insert(0, router.config_secret(settings, contracts))
    return out


def objects(settings: Settings, contracts: Sequence[Contract], ca_checksum: str) -> dict[str, list[kube.Obj]]:
    """Group name (the router, each enabled app) -> its objects (namespaces and Secrets apart)."""
    out: dict[str, list[kube.Obj]] = {}
    if router_in_cluster(settings):
        out["router"] = router.objects(settings, contracts, ca_checksum)
    for app in settings.enabled_apps():
        out[app] = APP_OBJECTS[app](settings)
    return out


def urls(settings: Settings) -> dict[str, str]:
    return {app: common.url(settings, app) for app in settings.enabled_apps()}
