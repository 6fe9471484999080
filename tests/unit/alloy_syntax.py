"""A small parser for the Alloy configuration syntax (the subset a config file uses: blocks with an
optional label, attributes, strings, numbers, booleans, lists, objects and references), so the
tests can read back what render/loki.py writes; Alloy itself does not install here. Raises
SyntaxError with the position on anything else."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(r"""
    (?P<ws>\s+|//[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[{}\[\]=,.])
""", re.X)


@dataclass(frozen=True)
class Reference:
    path: str  # e.g. "loki.write.local.receiver"


@dataclass
class Block:
    name: str
    label: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SyntaxError(f"unexpected {text[pos:pos + 20]!r} at offset {pos}")
        if m.lastgroup != "ws":
            out.append((m.lastgroup or "", m.group(), pos))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, k: int = 0) -> tuple[str, str, int]:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else ("eof", "", -1)

    def take(self, kind: str, value: str | None = None) -> str:
        t = self.peek()
        if t[0] != kind or (value is not None and t[1] != value):
            raise SyntaxError(f"expected {value or kind}, got {t[1]!r} at offset {t[2]}")
        self.i += 1
        return t[1]

    def dotted(self) -> str:
        parts = [self.take("ident")]
        while self.peek()[1] == ".":
            self.take("punct", ".")
            parts.append(self.take("ident"))
        return ".".join(parts)

    def body(self, end: str | None) -> Block:
        b = Block("", None)
        while self.peek()[1] != (end or "") and self.peek()[0] != "eof":
            name = self.dotted()
            if self.peek()[1] == "=":
                if "." in name or name in b.attributes:
                    raise SyntaxError(f"bad or repeated attribute {name}")
                self.take("punct", "=")
                b.attributes[name] = self.expr()
                continue
            label = json.loads(self.take("string")) if self.peek()[0] == "string" else None
            self.take("punct", "{")
            inner = self.body("}")
            self.take("punct", "}")
            b.blocks.append(Block(name, label, inner.attributes, inner.blocks))
        return b

    def expr(self) -> Any:
        kind, value, _ = self.peek()
        if kind == "string":
            self.i += 1
            return json.loads(value)
        if kind == "number":
            self.i += 1
            return float(value) if "." in value else int(value)
        if kind == "ident" and value in ("true", "false", "null"):
            self.i += 1
            return {"true": True, "false": False, "null": None}[value]
        if kind == "ident":
            return Reference(self.dotted())
        if value == "[":
            self.take("punct", "[")
            items = []
            while self.peek()[1] != "]":
                items.append(self.expr())
                if self.peek()[1] != "]":
                    self.take("punct", ",")
            self.take("punct", "]")
            return items
        if value == "{":
            self.take("punct", "{")
            obj = {}
            while self.peek()[1] != "}":
                key = json.loads(self.take("string")) if self.peek()[0] == "string" else self.take("ident")
                self.take("punct", "=")
                obj[key] = self.expr()
                if self.peek()[1] != "}":
                    self.take("punct", ",")
            self.take("punct", "}")
            return obj
        raise SyntaxError(f"unexpected {value!r} in an expression")


def parse(text: str) -> list[Block]:
    p = _Parser(text)
    root = p.body(None)
    if p.peek()[0] != "eof" or root.attributes:
        raise SyntaxError("top level holds only blocks")
    return root.blocks
