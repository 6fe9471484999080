"""Rendering of the small systemd units the components install. Pure."""

from __future__ import annotations


def oneshot_timer(header: str, description: str, exec_start: str, every: str, *, boot: str,
                  accuracy: str, after: str | None = None, timer_description: str | None = None
                  ) -> tuple[str, str]:
    """A oneshot service and the timer that runs it `every` (systemd time span), `boot` after boot."""
    service = [header, "[Unit]", f"Description={description}"]
    if after:
        service.append(f"After={after}")
    service += ["[Service]", "Type=oneshot", f"ExecStart={exec_start}", ""]
    timer = [header, "[Unit]", f"Description={timer_description or description}", "[Timer]",
             f"OnBootSec={boot}", f"OnUnitActiveSec={every}", f"AccuracySec={accuracy}",
             "[Install]", "WantedBy=timers.target", ""]
    return "\n".join(service), "\n".join(timer)
