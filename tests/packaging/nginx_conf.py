"""Just enough of nginx to check the shipped proxy configuration without running nginx.

:func:`load` tokenizes a configuration (comments, quotes, blocks) and expands ``include``
relative to the main file's folder, as nginx does with ``-c``. :func:`route` picks the
``location`` nginx would pick for a request URI: it first normalises the path the way
nginx does before matching (percent-decoding, merging slashes, resolving ``.`` and
``..``), then applies nginx's order: an exact ``=`` match, else the longest prefix, which
wins outright with ``^~``; else the first matching regular expression; else that prefix.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None
    children: list[Directive] = field(default_factory=list)

    def find(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]


_TOKEN = re.compile(
    r"""\s+|#[^\n]*|"((?:\\.|[^"\\])*)"|'((?:\\.|[^'\\])*)'|([{};])|([^\s{};"'#]+)"""
)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot tokenize at {text[pos : pos + 30]!r}")
        pos = match.end()
        dq, sq, punct, word = match.groups()
        if dq is not None:
            out.append(dq)
        elif sq is not None:
            out.append(sq)
        elif punct is not None:
            out.append(punct)
        elif word is not None:
            out.append(word)
    return out


def _parse(tokens: list[str], pos: int, base: Path) -> tuple[list[Directive], int]:
    items: list[Directive] = []
    words: list[str] = []
    while pos < len(tokens):
        token = tokens[pos]
        pos += 1
        if token == ";":
            name, *args = words
            if name == "include":
                for path in sorted(glob.glob(str(base / args[0]))):
                    items.extend(_parse(_tokens(Path(path).read_text()), 0, base)[0])
            else:
                items.append(Directive(name, args))
            words = []
        elif token == "{":
            block, pos = _parse(tokens, pos, base)
            name, *args = words
            items.append(Directive(name, args, block))
            words = []
        elif token == "}":
            return items, pos
        else:
            words.append(token)
    if words:
        raise ValueError(f"unterminated directive {words}")
    return items, pos


def load(path: Path) -> list[Directive]:
    """The directives of ``path``, every ``include`` expanded."""
    return _parse(_tokens(path.read_text(encoding="utf-8")), 0, path.parent)[0]


def servers(config: list[Directive]) -> list[Directive]:
    (http,) = [d for d in config if d.name == "http"]
    return http.find("server")


def normalize(uri: str) -> str:
    """The path nginx matches locations against (``merge_slashes on``, the default)."""
    path = unquote(uri.split("?", 1)[0])
    path = re.sub(r"/{2,}", "/", path)
    out: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    trailing = path.endswith(("/", "/.", "/..")) and out
    return "/" + "/".join(out) + ("/" if trailing else "")


def route(server: Directive, uri: str) -> Directive:
    """The ``location`` of ``server`` that serves ``uri``."""
    path = normalize(uri)
    locations = server.find("location")
    prefixes: list[tuple[str, bool, Directive]] = []
    regexes: list[tuple[re.Pattern[str], Directive]] = []
    for loc in locations:
        if loc.args[0] == "=":
            if loc.args[1] == path:
                return loc
        elif loc.args[0] == "^~":
            prefixes.append((loc.args[1], True, loc))
        elif loc.args[0] in ("~", "~*"):
            flags = re.IGNORECASE if loc.args[0] == "~*" else 0
            # PCRE's named groups (?<name>...) are Python's (?P<name>...).
            python_re = re.sub(r"\(\?<(\w+)>", r"(?P<\1>", loc.args[1])
            regexes.append((re.compile(python_re, flags), loc))
        else:
            prefixes.append((loc.args[0], False, loc))
    matching = [p for p in prefixes if path.startswith(p[0])]
    best = max(matching, key=lambda p: len(p[0]), default=None)
    if best is not None and best[1]:
        return best[2]
    for pattern, loc in regexes:
        if pattern.search(path):
            return loc
    if best is None:
        raise LookupError(f"no location for {uri}")
    return best[2]


def is_refused(location: Directive) -> bool:
    return any(d.args[:1] == ["404"] for d in location.find("return"))


def is_proxied(location: Directive) -> bool:
    return any(d.args == ["http://signage"] for d in location.find("proxy_pass"))
