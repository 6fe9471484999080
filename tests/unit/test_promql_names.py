"""The metric contract's scanner (components/monitoring/promql.py): the metric names a rule reads."""

from __future__ import annotations

import pytest

from components import catalog
from components.monitoring.promql import metric_names, rule_metrics
from tests.unit.helpers import STACKS, settings


@pytest.mark.parametrize(("expr", "names"), [
    ('up{job="node"} == 0', {"up"}),
    ('max(patroni_xlog_location{job="patroni"}) - on() group_right() (patroni_xlog_replayed_location '
     'and on(instance) patroni_replica{job="patroni"} == 1) > 1048576', {"patroni_xlog_location",
                                                                         "patroni_xlog_replayed_location",
                                                                         "patroni_replica"}),
    ('up{job="x"} == 1 unless on(instance) count by (instance) (pgbouncer_databases{job="y"})',
     {"up", "pgbouncer_databases"}),
    ('predict_linear(node_filesystem_avail_bytes{fstype!~"tmpfs|a{b}"}[6h], 86400) < 0 and foo offset 5m > 1e6',
     {"node_filesystem_avail_bytes", "foo"}),
    ('changes(platform:patroni_leader_timeline:max{cluster="c"}[5m]) > 0', {"platform:patroni_leader_timeline:max"}),
    ("vector(1)", set()),
])
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize("stack", STACKS)
def test_every_rule_reads_known_metric_names(stack: str) -> None:
    used = rule_metrics(catalog.contracts(settings(stack)))
    assert "up" in used and "redis_instance_info" in used and "patroni_primary" in used
    # Recorded by a rule itself: not expected from an exporter.
    assert not any(name.startswith("platform:") for name in used)
