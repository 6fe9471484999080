"""The stack configuration as validated, typed settings. Pure: importing this package (or any of
its modules but `load`) imports no Pulumi SDK.

    model.py    the frozen dataclasses and the table of host roles (ROLES)
    presets.py  the sizing presets (mvp, prod-ha)
    reader.py   typed access to raw config values that collects every problem (SettingsError)
    parse.py    parse_settings: raw values -> Settings
    load.py     load_settings: the running Pulumi stack -> Settings with secrets attached
"""

from components.settings.model import (
    APPS,
    POSTGRES_APPS,
    REDIS_APPS,
    ROLE_KEYS,
    ROLES,
    SECRET_KEYS,
    AppSettings,
    Host,
    Inventory,
    Role,
    Settings,
)
from components.settings.parse import TOP_LEVEL_KEYS, parse_settings
from components.settings.presets import PRESETS, Preset
from components.settings.reader import NAMESPACE, SettingsError, key_name

__all__ = [
    "APPS", "NAMESPACE", "POSTGRES_APPS", "PRESETS", "REDIS_APPS", "ROLES", "ROLE_KEYS", "SECRET_KEYS",
    "TOP_LEVEL_KEYS", "AppSettings", "Host", "Inventory", "Preset", "Role", "Settings", "SettingsError",
    "key_name", "parse_settings",
]
