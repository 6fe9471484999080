"""Start the distribution's Patroni, first backporting upstream's leader-key fix on Patroni < 3.0.3.

Installed as /usr/local/lib/platform-patroni/patroni_launcher.py; the patroni.service drop-in runs
`python3 patroni_launcher.py /etc/patroni/config.yml` instead of /usr/bin/patroni.

Why: Patroni up to 3.0.2 (Debian 12's version) renews its leader key on etcd v3 with an
unconditional put whenever its own lease changed. After a network partition heals, the isolated
old leader still reads its stale watch cache (it talked to its own, minority etcd member), gets a
new lease and overwrites the leader key that the new primary took meanwhile: the new primary
demotes and the cluster is left without one (seen in 2 of 7 pg-partition drills). Upstream fixed
it in 3.0.3 (patroni/patroni#2689, #2693) with a transaction that only renews a key holding our
name, or creates a missing one. This module installs exactly that transaction on older versions
and does nothing on fixed ones, so a distribution upgrade makes it inert.

Second, on the same versions: when Patroni restarts while its PostgreSQL keeps running as the
synchronous primary (a Patroni crash and systemd's Restart=, or a restart in maintenance mode), it
rewrites postgresql.conf without synchronous_standby_names and never sets it again, because the
/sync key in etcd already names the standby: replication silently turns asynchronous while a
failover still trusts that standby (seen on the lab after a paused restart). Patroni's own
invariant is "a standby named in /sync is in synchronous_standby_names"; the launcher restores it
before Patroni's synchronous-replication step whenever the primary's setting is unknown.

Third, until upstream's fix (patroni/patroni#3516, for #2792): a restarted Patroni takes its
running PostgreSQL for a stranger when the process's start time, as the kernel reports it, differs
from the one in postmaster.pid by more than 3 s - which a clock step between the two makes happen.
Seen on the lab after a Patroni crash: the primary's postmaster kept running outside Patroni's
control (still accepting connections, archiving), Patroni reported it "crashed" and looped on a
crash recovery that the running postmaster's lock file refused, and the other node was promoted
next to it. The backport also accepts a process whose executable is postgres and whose working
directory is the data directory, as upstream now does; on a fixed Patroni it does nothing.
"""

from __future__ import annotations

import sys
import time
from typing import Any

# The 3.0.x releases before the fix; the replacement uses their internals.
BACKPORT_TO = ((3, 0, 0), (3, 0, 3))


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())


def backport() -> str | None:
    """Patch patroni.dcs.etcd3.Etcd3._update_leader if this Patroni needs it; say what was done."""
    from patroni.version import __version__

    low, fixed = BACKPORT_TO
    if _version(__version__) >= fixed:
        return None
    if _version(__version__) < low:
        return f"platform: Patroni {__version__} is older than 3.0; etcd3 leader-key fix not applied"
    from patroni.dcs import Leader, catch_return_false_exception
    from patroni.dcs.etcd3 import Etcd3, Etcd3Error, PatroniEtcd3Client, base64_encode

    needed = [hasattr(Etcd3, a) for a in ("_do_refresh_lease", "_run_and_handle_exceptions", "cluster")]
    if not all(needed) or not hasattr(PatroniEtcd3Client, "call_rpc"):
        return f"platform: Patroni {__version__} lacks the expected etcd3 internals; leader-key fix not applied"

    @catch_return_false_exception  # type: ignore[misc]
    def _update_leader(self: Any) -> bool:
        retry = self._retry.copy()

        def _retry(*args: Any, **kwargs: Any) -> Any:
            kwargs["retry"] = retry
            return retry(*args, **kwargs)

        self._run_and_handle_exceptions(self._do_refresh_lease, True, retry=_retry)
        if not self._lease:
            return False
        cluster = self.cluster
        leader_lease = cluster and isinstance(cluster.leader, Leader) and cluster.leader.session
        if leader_lease == self._lease:
            return True
        retry.deadline = retry.stoptime - time.time()
        if retry.deadline < 1:
            raise Etcd3Error("update_leader timeout")
        fields = {"key": base64_encode(self.leader_path), "value": base64_encode(self._name), "lease": self._lease}
        # Renew the key only while it still holds our name; else create it only if nobody holds it.
        request_put = {"request_put": fields}
        create = {"request_txn": {"compare": [{"key": fields["key"], "target": "CREATE", "create_revision": "0"}],
                                  "success": [request_put]}}
        txn = {"compare": [{"key": fields["key"], "target": "VALUE", "value": fields["value"]}],
               "success": [request_put], "failure": [create]}
        ret = self._run_and_handle_exceptions(self._client.call_rpc, "/kv/txn", txn, retry=_retry)
        return bool(ret.get("succeeded")
                    or ret.get("responses", [{}])[0].get("response_txn", {}).get("succeeded"))

    _update_leader.__doc__ = "platform backport of patroni/patroni#2689 + #2693"
    Etcd3._update_leader = _update_leader
    return (f"platform: Patroni {__version__} < {'.'.join(map(str, fixed))}: etcd3 leader key renewed "
            "by compare-and-swap (backport of patroni/patroni#2689, #2693)")


def backport_sync_names() -> str | None:
    """Patch Ha.process_sync_replication to restore synchronous_standby_names after a restart."""
    from patroni.version import __version__

    low, fixed = BACKPORT_TO
    if not low <= _version(__version__) < fixed:
        return None
    from patroni.ha import Ha
    from patroni.postgresql.config import ConfigHandler

    if not hasattr(Ha, "process_sync_replication") or "_synchronous_standby_names" not in \
            ConfigHandler.__init__.__code__.co_names:
        return f"platform: Patroni {__version__} lacks the expected sync internals; sync fix not applied"
    original = Ha.process_sync_replication

    def process_sync_replication(self: Any) -> Any:
        sync = self.cluster.sync
        if self.is_synchronous_mode() and not sync.is_empty and sync.members \
                and sync.leader == self.state_handler.name \
                and self.state_handler.config._synchronous_standby_names is None:
            print(f"platform: restoring synchronous_standby_names for {sync.members} (named in /sync)",
                  file=sys.stderr, flush=True)
            self.state_handler.sync_handler.set_synchronous_standby_names(list(sync.members))
        return original(self)

    Ha.process_sync_replication = process_sync_replication
    return f"platform: Patroni {__version__}: synchronous_standby_names restored from /sync after a restart"


def backport_postmaster_check() -> str | None:
    """Patch PostmasterProcess._is_postmaster_process to also recognise the postmaster by its
    executable and working directory when the start times disagree (patroni/patroni#2792)."""
    import inspect
    import os

    from patroni.postgresql.postmaster import PostmasterProcess

    original = PostmasterProcess._is_postmaster_process
    try:
        if "cwd" in inspect.getsource(original):
            return None  # this Patroni's own check already looks at the working directory
    except (OSError, TypeError):
        pass
    import psutil

    recognised: set[int] = set()

    def _is_postmaster_process(self: Any) -> bool:
        if original(self):
            return True
        try:
            if self.pid in (os.getpid(), os.getppid()) or self.ppid() == os.getpid():
                return False
            data_dir = self._postmaster_pid.get("data_dir", "")
            ours = (os.path.basename(self.exe()) in ("postgres", "postmaster") and bool(data_dir)
                    and os.path.samefile(self.cwd(), data_dir))
        except (psutil.Error, OSError):
            return False
        if ours and self.pid not in recognised:
            recognised.add(self.pid)
            print(f"platform: process {self.pid} is the postmaster of {data_dir} (its executable and working "
                  "directory), although its start time differs from postmaster.pid's", file=sys.stderr, flush=True)
        return ours

    PostmasterProcess._is_postmaster_process = _is_postmaster_process
    return ("platform: a running postmaster is recognised by its executable and working directory too "
            "(backport of patroni/patroni#3516)")


def main() -> None:
    for fix in (backport, backport_sync_names, backport_postmaster_check):
        note = fix()
        if note:
            print(note, file=sys.stderr, flush=True)
    from patroni.__main__ import main as patroni_main

    sys.argv[0] = "patroni"
    patroni_main()


if __name__ == "__main__":
    main()
