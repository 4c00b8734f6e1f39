"""A report as a list of blocks, written as Markdown (figures beside it) or as one self-contained
HTML file (figures embedded as data URIs: no network, opens from disk in any browser)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2
    anchor: str = ""


@dataclass(frozen=True)
class Text:
    text: str  # plain text; **bold**, *italic* and `code` are kept in Markdown and rendered in HTML


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    path: Path  # a PNG under the report folder
    alt: str


@dataclass(frozen=True)
class Code:
    text: str


Block = Heading | Text | Bullets | Table | Figure | Code


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block], root: Path) -> str:
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Text):
            out.append(b.text)
        elif isinstance(b, Bullets):
            out += [f"- {item}" for item in b.items]
        elif isinstance(b, Table):
            out.append("| " + " | ".join(map(_md_cell, b.header)) + " |")
            out.append("|" + " --- |" * len(b.header))
            out += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in b.rows]
        elif isinstance(b, Figure):
            out.append(f"![{b.alt}]({b.path.relative_to(root).as_posix()})")
        elif isinstance(b, Code):
            out.append("```\n" + b.text + "\n```")
        out.append("")
    return "\n".join(out)


def _inline(s: str) -> str:
    """Escape, then render the inline marks the report uses: **bold**, *italic* and `code`."""
    parts = html.escape(s).split("`")
    for i in range(len(parts)):
        if i % 2:
            parts[i] = f"<code>{parts[i]}</code>"
        else:
            bold = parts[i].split("**")
            bold = [t if j % 2 else "".join(f"<i>{u}</i>" if k % 2 else u for k, u in enumerate(t.split("*")))
                    for j, t in enumerate(bold)]
            parts[i] = "".join(f"<b>{t}</b>" if j % 2 else t for j, t in enumerate(bold))
    return "".join(parts)


_STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
th{background:#f3f3f3}img{max-width:100%}pre{background:#f6f6f6;padding:.6rem;overflow-x:auto}
code{background:#f6f6f6}.reproduced{color:#1a7f37}.same-direction{color:#9a6700}.not-reproduced{color:#cf222e}
.not-run{color:#777}"""


def _cell(s: str) -> str:
    cls = s.replace(" ", "-")
    return f'<td class="{cls}">{_inline(s)}</td>' if s in ("reproduced", "same direction", "not reproduced",
                                                            "not run") else f"<td>{_inline(s)}</td>"


def to_html(blocks: list[Block], title: str) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{html.escape(title)}</title>",
           f"<style>{_STYLE}</style></head><body>"]
    for b in blocks:
        if isinstance(b, Heading):
            anchor = f' id="{html.escape(b.anchor)}"' if b.anchor else ""
            out.append(f"<h{b.level}{anchor}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Text):
            out.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            out.append("<table><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in b.header) + "</tr>")
            out += ["<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in b.rows]
            out.append("</table>")
        elif isinstance(b, Figure):
            data = base64.b64encode(b.path.read_bytes()).decode()
            out.append(f'<p><img alt="{html.escape(b.alt)}" src="data:image/png;base64,{data}"></p>')
        elif isinstance(b, Code):
            out.append(f"<pre><code>{html.escape(b.text)}</code></pre>")
    out.append("</body></html>")
    return "\n".join(out)
