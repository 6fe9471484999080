"""Rendering of the small systemd units the components install. Pure."""

from __future__ import annotations

from components.cron import cron_to_oncalendar


def oneshot_timer(header: str, description: str, exec_start: str, every: str, *, boot: str,
                  accuracy: str, after: str | None = None, timer_description: str | None = None,
                  wants: str | None = None, env_file: str | None = None, timeout_s: int | None = None,
                  after_finish: bool = False) -> tuple[str, str]:
    """A oneshot service and the timer that runs it `every` (systemd time span), `boot` after boot;
    with `after_finish`, `every` counts from the end of the last run (a run that can take long is
    never followed by the next at once)."""
    service = [header, "[Unit]", f"Description={description}"]
    if after:
        service.append(f"After={after}")
    if wants:
        service.append(f"Wants={wants}")
    service += ["[Service]", "Type=oneshot"]
    if env_file:
        service.append(f"EnvironmentFile={env_file}")
    service.append(f"ExecStart={exec_start}")
    if timeout_s is not None:
        service.append(f"TimeoutStartSec={timeout_s}")
    service.append("")
    since = "OnUnitInactiveSec" if after_finish else "OnUnitActiveSec"
    timer = [header, "[Unit]", f"Description={timer_description or description}", "[Timer]",
             f"OnBootSec={boot}", f"{since}={every}", f"AccuracySec={accuracy}",
             "[Install]", "WantedBy=timers.target", ""]
    return "\n".join(service), "\n".join(timer)


def scheduled_oneshot(header: str, description: str, exec_start: str, schedule_key: str, schedule: str, *,
                      after: str, timer_description: str, timeout: str = "3600") -> tuple[str, str]:
    """A low-priority oneshot service (a backup) and the timer that runs it on a cron `schedule`
    (the config key `schedule_key`), catching up a run missed while the VM was off."""
    service = "\n".join([
        header,
        "[Unit]",
        f"Description={description}",
        f"After={after} network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        f"ExecStart={exec_start}",
        f"TimeoutStartSec={timeout}",
        "Nice=10",
        "IOSchedulingClass=best-effort",
        "IOSchedulingPriority=7",
        "",
    ])
    timer = "\n".join([
        header,
        f"# {schedule_key} = {schedule}",
        "[Unit]",
        f"Description={timer_description}",
        "",
        "[Timer]",
        f"OnCalendar={cron_to_oncalendar(schedule)}",
        "Persistent=true",
        "RandomizedDelaySec=60",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ])
    return service, timer
