"""The course as a static website: the README as its index, every notebook with its outputs.

::

    python -m reclab.site                  # build _site/ from this repository, then check it
    python -m reclab.site --out public     # somewhere else
    python -m reclab.site --check-only     # check an existing build

Notebooks are rendered by nbconvert's HTML exporter (its JupyterLab template, plots embedded), the
README and the other course documents by mistune, the Markdown renderer nbconvert itself uses. Links
are rewritten to the site's files (``X.ipynb`` to ``X.html``, ``README.md`` to ``index.html``,
``SYLLABUS.md`` to ``SYLLABUS.html``); any other file of the repository a page links to (a benchmark
CSV, the Makefile) is copied in as it is. The navigation is the course's own: each notebook's
generated ``< previous | Contents | next >`` cells, and the README's table of contents.

`check_site` reads every page back and lists each internal link or image that does not resolve
(a missing file, a missing ``#anchor``, an empty or undecodable embedded image).
"""
from __future__ import annotations

import argparse
import base64
import binascii
import html
import os
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .course import course_notebooks

# Markdown documents of the repository that become pages, besides the notebooks
DOCUMENTS = ("README.md", "SYLLABUS.md", "CHANGELOG.md", "LICENSE-TEXT.md", "grading/README.md")
_MARKDOWN_LINK = re.compile(r"(\]\()([^)\s]+)(\))")
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{max-width:60rem;margin:2rem auto;padding:0 1rem;font-family:system-ui,sans-serif;line-height:1.5}}
pre{{background:#f6f8fa;padding:.75rem;overflow-x:auto}} code{{background:#f6f8fa}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:.25rem .5rem}}</style>
</head><body>
{body}
</body></html>
"""


def _page_name(rel: str) -> str:
    """The site path of a repository file: notebooks and documents become .html pages."""
    if rel == "README.md":
        return "index.html"
    if rel.endswith("/README.md"):
        return rel[: -len("README.md")] + "index.html"
    if rel.endswith((".md", ".ipynb")):
        return rel.rsplit(".", 1)[0] + ".html"
    return rel


def _rewrite(target: str, here: str, root: Path, pages: set[str], copies: set[str]) -> str:
    """A link of the repository file ``here`` (relative path) rewritten for the site."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith(("#", "mailto:", "data:")):
        return target
    path = os.path.normpath(os.path.join(os.path.dirname(here), unquote(parts.path))) if parts.path else here
    if path.startswith(".."):
        return target  # outside the repository: left as it is, and the check reports it
    if path in pages:
        new = _page_name(path)
    else:
        new = path
        if (root / path).is_file():
            copies.add(path)
    rel = os.path.relpath(new, os.path.dirname(_page_name(here)) or ".")
    return rel + (f"#{parts.fragment}" if parts.fragment else "")


def _rewrite_markdown(text: str, here: str, root: Path, pages: set[str], copies: set[str]) -> str:
    return _MARKDOWN_LINK.sub(lambda m: m.group(1) + _rewrite(m.group(2), here, root, pages, copies) + m.group(3), text)


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub writes it: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _title(markdown: str, default: str) -> str:
    for line in markdown.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return default


def build_site(root: str | os.PathLike = ".", out: str | os.PathLike = "_site") -> list[Path]:
    """Render the course in repository ``root`` into the folder ``out``; returns the pages written.

    ``out`` is emptied first only if this function made it (it holds the marker file
    ``.reclab-site``); any other existing folder is refused, so nothing of yours is deleted.
    """
    import mistune
    import nbformat
    from mistune.toc import add_toc_hook
    from nbconvert import HTMLExporter

    root, out = Path(root).resolve(), Path(out)
    notebooks = course_notebooks(root / "notebooks")
    if not notebooks:
        raise FileNotFoundError(f"root={str(root)!r} has no notebooks/NN-slug.ipynb; pass the course repository.")
    marker = out / ".reclab-site"
    if out.exists():
        if not marker.is_file():
            raise FileExistsError(f"out={str(out)!r} exists and was not written by reclab.site; pick another "
                                  "folder or move it away (nothing in it is deleted).")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    marker.write_text("written by python -m reclab.site; the whole folder is rebuilt on every run\n")

    documents = [d for d in DOCUMENTS if (root / d).is_file()]
    pages = set(documents) | {f"notebooks/{p.name}" for p in notebooks}
    copies: set[str] = set()
    written = []
    render = mistune.create_markdown(plugins=["table", "strikethrough", "url"], escape=False)
    add_toc_hook(render, min_level=1, max_level=6, heading_id=lambda token, index: _slug(token.get("text", "")))
    for doc in documents:
        text = (root / doc).read_text(encoding="utf-8")
        body = render(_rewrite_markdown(text, doc, root, pages, copies))
        target = out / _page_name(doc)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_PAGE.format(title=html.escape(_title(text, doc)), body=body), encoding="utf-8")
        written.append(target)
    exporter = HTMLExporter(template_name="lab")
    for path in notebooks:
        here = f"notebooks/{path.name}"
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = _rewrite_markdown(cell.source, here, root, pages, copies)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": _title(
            next((c.source for c in nb.cells if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), ""),
            path.stem)}})
        target = out / _page_name(here)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
        written.append(target)
    for rel in sorted(copies):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, out / rel)
    return written


class _Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (tag, url)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "a" and attrs.get("href"):
            self.links.append(("a", attrs["href"]))
        if tag == "img" and attrs.get("src") is not None:
            self.links.append(("img", attrs["src"]))


def check_site(out: str | os.PathLike = "_site") -> list[str]:
    """Every broken internal link or image of the site in ``out``, as 'page: what is wrong'; [] when none."""
    out = Path(out)
    parsed: dict[Path, _Links] = {}
    for page in sorted(out.rglob("*.html")):
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        parsed[page.resolve()] = parser
    if not parsed:
        return [f"{out}: no HTML page; build the site first (python -m reclab.site)"]
    problems = []
    for page, parser in parsed.items():
        name = page.relative_to(out.resolve())
        for tag, url in parser.links:
            if url.startswith("data:"):
                if tag == "img":
                    header, _, payload = url.partition(",")
                    try:
                        ok = bool(payload) and (";base64" not in header or base64.b64decode(payload, validate=True))
                    except (binascii.Error, ValueError):
                        ok = False
                    if not ok:
                        problems.append(f"{name}: an embedded image that is empty or not valid base64")
                continue
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or url.startswith(("mailto:", "javascript:")):
                continue  # external: not checked (the site is built offline)
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.is_relative_to(out.resolve()):
                problems.append(f"{name}: {url} points outside the site")
            elif not target.exists():
                problems.append(f"{name}: {url} does not exist")
            elif (parts.fragment and target in parsed
                  and not {parts.fragment, unquote(parts.fragment)} & parsed[target].ids):  # raw or decoded
                problems.append(f"{name}: {url} has no anchor #{parts.fragment}")
            elif tag == "img" and target.is_file() and target.stat().st_size == 0:
                problems.append(f"{name}: image {url} is empty")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m reclab.site [--root .] [--out _site] [--check-only]``."""
    parser = argparse.ArgumentParser(prog="python -m reclab.site", description="Render the course as a static site.")
    parser.add_argument("--root", default=".", help="the course repository (default: .)")
    parser.add_argument("--out", default="_site", help="the site's folder (default: _site)")
    parser.add_argument("--check-only", action="store_true", help="only check an existing build")
    args = parser.parse_args(argv)
    try:
        if not args.check_only:
            pages = build_site(args.root, args.out)
            print(f"wrote {len(pages)} pages into {args.out}")
    except (FileNotFoundError, FileExistsError) as error:
        print(error, file=sys.stderr)
        return 2
    problems = check_site(args.out)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(problems)} broken links or images" if problems else "every internal link and image resolves")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
