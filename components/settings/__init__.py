"""The stack configuration as validated, typed settings. Pure: importing this package (or any of
its modules but `load`) imports no Pulumi SDK.

    model.py    the frozen dataclasses and the table of host roles (ROLES)
    presets.py  the sizing presets (mvp, prod-ha)
    reader.py   typed access to raw config values that collects every problem (SettingsError)
    parse.py    parse_settings: raw values -> Settings
    load.py     load_settings: the running Pulumi stack -> Settings with secrets attached
"""

from components.settings.model import ROLES, SECRET_KEYS, Host, Inventory, Settings
from components.settings.parse import parse_settings
from components.settings.presets import PRESETS
from components.settings.reader import SettingsError

__all__ = ["PRESETS", "ROLES", "SECRET_KEYS", "Host", "Inventory", "Settings", "SettingsError", "parse_settings"]
