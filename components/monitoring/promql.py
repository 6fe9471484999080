"""The metric names a PromQL expression reads, for the metric contract: every metric a rule (or,
later, a dashboard) uses must exist in the real Prometheus, so an exporter upgrade that renames one
fails a test instead of silencing an alert. Pure; a small scanner, not a full PromQL parser: it
drops strings, label matchers, range/offset brackets and grouping label lists, then keeps the
identifiers that are not functions, keywords or numbers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from components.contract import Contract

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan",
            # aggregations: `count by (x) (...)` puts the grouping before the parenthesis
            "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
            "quantile"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _BRACKETS.sub("", text)
    text = _LABEL_LISTS.sub(r"\1", text)
    names = set()
    for m in _IDENT.finditer(text):
        word = m.group()
        rest = text[m.end():].lstrip()
        if rest.startswith("(") or word.lower() in KEYWORDS:
            continue  # a function call, or an operator keyword
        if m.start() > 0 and (text[m.start() - 1].isdigit() or text[m.start() - 1] == "."):
            continue  # the exponent or unit of a number (1e6, 5m)
        names.add(word)
    return names


def rule_metrics(contracts: Iterable[Contract]) -> dict[str, set[str]]:
    """metric name -> the rules (alerts and recording rules) that read it. Metrics the rules
    record themselves are left out: they exist once the rule has run."""
    recorded: set[str] = set()
    uses: dict[str, set[str]] = {}

    def add(rule: str, expr: str) -> None:
        for name in metric_names(expr):
            uses.setdefault(name, set()).add(rule)

    for c in contracts:
        rec: Mapping[str, str] = c.recording_rules
        recorded |= set(rec)
        for name, expr in rec.items():
            add(name, expr)
        for a in c.alerts:
            add(a.name, a.expr)
    return {m: r for m, r in uses.items() if m not in recorded}
