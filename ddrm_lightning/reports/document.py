"""A report as a list of blocks, rendered once as Markdown and once as a self-contained HTML page.

Keeping one list of blocks means the two files always say the same thing.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Picture:
    """An image by path relative to the report (a block, or a table cell).

    ``full_size``: shown at its own pixel size in HTML (scrolling sideways when wider than the page),
    for figures with text that shrinking would make unreadable.
    """

    path: str
    alt: str
    width: int | None = None
    full_size: bool = False


def _url(path: str) -> str:
    # Photo names may hold spaces, '#' or '(' which would end or break a Markdown link.
    return quote(path, safe="/")


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list]  # cells: text or Picture


@dataclass(frozen=True)
class Code:
    text: str
    language: str = ""


Block = Heading | Paragraph | Picture | Table | Code


def _md_cell(cell) -> str:
    if isinstance(cell, Picture):
        alt = cell.alt.replace("[", "(").replace("]", ")")
        return f"![{alt}]({_url(cell.path)})"
    return str(cell).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_picture(picture: Picture) -> str:
    width = f" width='{picture.width}'" if picture.width else ""
    image = f"<img src='{html.escape(_url(picture.path))}' alt='{html.escape(picture.alt)}'{width}"
    if picture.full_size:
        return f"<div class='wide'>{image} class='full-size'></div>"
    return image + ">"


def _html_cell(cell) -> str:
    return _html_picture(cell) if isinstance(cell, Picture) else html.escape(str(cell))


def html_table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{_html_cell(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_markdown(blocks: list[Block]) -> str:
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append("#" * block.level + " " + block.text)
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Picture):
            parts.append(_md_cell(block))
        elif isinstance(block, Table):
            parts.append(markdown_table(block.headers, block.rows))
        elif isinstance(block, Code):
            parts.append(f"```{block.language}\n{block.text.rstrip()}\n```")
        else:
            raise ValueError(f"unknown report block {type(block).__name__}")
    return "\n\n".join(parts) + "\n"


_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1200px; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
img { max-width: 100%; image-rendering: pixelated; }
img.full-size { max-width: none; }
div.wide { overflow-x: auto; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
"""


def to_html(title: str, blocks: list[Block]) -> str:
    """One page: inline CSS, images by relative path, nothing fetched from elsewhere."""
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{_STYLE}</style></head><body>"]
    for block in blocks:
        if isinstance(block, Heading):
            level = min(max(block.level, 1), 6)
            parts.append(f"<h{level}>{e(block.text)}</h{level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{e(block.text)}</p>")
        elif isinstance(block, Picture):
            parts.append(_html_picture(block) if block.full_size else f"<p>{_html_picture(block)}</p>")
        elif isinstance(block, Table):
            parts.append(html_table(block.headers, block.rows))
        elif isinstance(block, Code):
            parts.append(f"<pre>{e(block.text)}</pre>")
        else:
            raise ValueError(f"unknown report block {type(block).__name__}")
    parts.append("</body></html>")
    return "\n".join(parts)
