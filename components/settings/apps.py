"""`platform:apps`: the business apps on K3s (components/apps/), their host names and the
cluster-wide app options. Pure."""

from __future__ import annotations

from typing import Any

from components.settings.model import APPS, AppSettings, AppsSettings, K3sSettings
from components.settings.reader import Reader

# A host name under a registrable domain: at least two labels, the last alphabetic (Let's Encrypt
# issues only for public DNS names; `localhost` or a bare label can never get a certificate).
HOSTNAME_RE = r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
TLS_ISSUERS = ("production", "staging")  # letsencrypt-<issuer> (components/k3s/render/addons.py)
STORAGE_CLASS_RE = r"[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?"
KEYS = APPS + ("tlsIssuer", "storageClass", "adminEmail")


def parse_apps(r: Reader, raw: Any, k3s: K3sSettings, domain: str, acme_email: str) -> AppsSettings:
    a = r.obj("apps", raw, KEYS)
    items = []
    for name in APPS:
        ap = r.obj(f"apps.{name}", a.get(name), ("enabled", "hostname"))
        enabled = r.boolean(f"apps.{name}.enabled", ap.get("enabled"), k3s.enabled)
        if enabled and not k3s.enabled:
            r.problem(f"apps.{name}.enabled", "is true but k3s.enabled is false; the apps run only in K3s")
        hostname = r.string(f"apps.{name}.hostname", ap.get("hostname"), f"{name}.{domain}", pattern=HOSTNAME_RE,
                            what="a lower-case DNS name with at least two labels (Let's Encrypt issues "
                                 "certificates only for such names)")
        items.append(AppSettings(name=name, enabled=enabled, hostname=hostname))
    seen: dict[str, str] = {}
    for app in items:
        if not app.enabled:
            continue
        if app.hostname in seen:
            r.problem(f"apps.{app.name}.hostname", f"{app.hostname!r} is also apps.{seen[app.hostname]}.hostname; "
                      "each app needs its own host name (one Ingress and one certificate per app)")
        seen.setdefault(app.hostname, app.name)
    return AppsSettings(
        items=tuple(items),
        tls_issuer=r.string("apps.tlsIssuer", a.get("tlsIssuer"), "production", allowed=TLS_ISSUERS),
        storage_class=r.string("apps.storageClass", a.get("storageClass"), "local-path", pattern=STORAGE_CLASS_RE,
                               what="a StorageClass name (K3s ships `local-path`)"),
        admin_email=r.string("apps.adminEmail", a.get("adminEmail"), acme_email,
                             pattern=r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}",
                             what="an e-mail address (the apps' first administrator)"),
    )
