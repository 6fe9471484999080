"""The platform program: validated settings -> components -> stack outputs."""

import pulumi

from components.platform import build_platform
from components.settings.load import load_settings

outputs = build_platform(load_settings())
for name, value in outputs.items():
    pulumi.export(name, value)
