"""Reading the running stack's config (the Pulumi side of the settings).

`load_settings` reads every `platform:*` key, validates it with `parse_settings` (pure), refuses
secret keys stored in plain text, and attaches the secret values as Pulumi secrets. It runs before
any resource is registered, so a bad configuration touches nothing.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pulumi

from components.settings.model import OPTIONAL_SECRET_KEYS, SECRET_KEYS, Secrets, Settings
from components.settings.parse import parse_settings
from components.settings.reader import NAMESPACE, SettingsError, key_name


class StackConfigError(SettingsError, pulumi.RunError):
    """SettingsError as `pulumi up` should show it: the SDK's language host prints a RunError's
    message alone (no Python traceback) and exits non-zero. Still a SettingsError for callers."""


def raw_stack_config() -> dict[str, Any]:
    """Every `platform:*` key of the running stack, JSON objects decoded, prefix removed."""
    from pulumi.runtime import config as rc

    merged: dict[str, Any] = dict(rc.get_config_env())
    merged.update(rc.CONFIG.get())
    out: dict[str, Any] = {}
    for full_key, value in merged.items():
        ns, _, key = full_key.partition(":")
        if ns != NAMESPACE:
            continue
        if isinstance(value, str) and value[:1] in "[{":
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        out[key] = value
    return out


def load_settings() -> Settings:
    """Validate the running stack's config; raise StackConfigError (every problem, by key) before
    any resource exists."""
    from pulumi.runtime import config as rc

    values = raw_stack_config()
    problems: list[str] = []
    try:
        settings = parse_settings(values, pulumi.get_stack())
    except SettingsError as e:
        problems = e.problems
    for k in SECRET_KEYS + OPTIONAL_SECRET_KEYS:
        if values.get(k) not in (None, "") and not rc.is_config_secret(key_name(k)):
            problems.append(f"{key_name(k)}: is stored in plain text; set it with "
                            f"`pulumi config set --secret {key_name(k)}`")
    if problems:
        raise StackConfigError(problems)
    cfg = pulumi.Config(NAMESPACE)
    secrets = Secrets(
        ssh_private_key=cfg.require_secret("sshPrivateKey"),
        s3_access_key=cfg.require_secret("s3AccessKey"),
        s3_secret_key=cfg.require_secret("s3SecretKey"),
        optional={k: cfg.require_secret(k) for k in OPTIONAL_SECRET_KEYS if values.get(k) not in (None, "")},
    )
    return dataclasses.replace(settings, secrets=secrets)
