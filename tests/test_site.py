"""reclab.site: every page's links are rewritten to the site, and the checker finds what is broken."""
from __future__ import annotations

import base64

import nbformat
import pytest

from reclab import site

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")).decode()


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    (root / "benchmarks").mkdir()
    (root / "benchmarks" / "x.csv").write_text("a,b\n1,2\n")
    (root / "README.md").write_text("# Course\n\n- [First](notebooks/00-a.ipynb)\n- [Plan](SYLLABUS.md)\n"
                                    "- [Make](Makefile)\n- [Out](https://example.org/x)\n")
    (root / "SYLLABUS.md").write_text("# Plan\n\n[back](README.md#course)\n")
    (root / "Makefile").write_text("all:\n")
    for name, nxt in (("00-a", "01-b"), ("01-b", None)):
        nb = nbformat.v4.new_notebook()
        nav = "[Contents](../README.md)" + (f" | [next]({nxt}.ipynb)" if nxt else "")
        code = nbformat.v4.new_code_cell("plot()")
        code.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
        body = f"# {name}\n\n[data](../benchmarks/x.csv) and [top](#top-anchor)"
        nb.cells = [nbformat.v4.new_markdown_cell(nav), nbformat.v4.new_markdown_cell(body), code]
        nbformat.write(nb, root / "notebooks" / f"{name}.ipynb")
    return root


def test_the_site_links_pages_to_pages_and_copies_linked_files(repo, tmp_path):
    out = tmp_path / "site"
    pages = site.build_site(repo, out)
    assert sorted(p.relative_to(out).as_posix() for p in pages) == [
        "SYLLABUS.html", "index.html", "notebooks/00-a.html", "notebooks/01-b.html"]
    index = (out / "index.html").read_text()
    assert 'href="notebooks/00-a.html"' in index and 'href="SYLLABUS.html"' in index
    assert 'href="Makefile"' in index and (out / "Makefile").read_text() == "all:\n"
    first = (out / "notebooks" / "00-a.html").read_text()
    assert 'href="../index.html"' in first and 'href="01-b.html"' in first and 'href="../benchmarks/x.csv"' in first
    assert (out / "benchmarks" / "x.csv").is_file() and f"data:image/png;base64,{PNG}" in first
    problems = site.check_site(out)
    assert problems == ["notebooks/00-a.html: #top-anchor has no anchor #top-anchor",
                        "notebooks/01-b.html: #top-anchor has no anchor #top-anchor"]


def test_the_check_finds_a_missing_page_and_a_broken_image(repo, tmp_path):
    out = tmp_path / "site"
    site.build_site(repo, out)
    (out / "notebooks" / "01-b.html").unlink()
    page = out / "notebooks" / "00-a.html"
    page.write_text(page.read_text().replace(PNG, "not*base64", 1))
    problems = site.check_site(out)
    assert "notebooks/00-a.html: 01-b.html does not exist" in problems
    assert "notebooks/00-a.html: an embedded image that is empty or not valid base64" in problems


def test_a_folder_it_did_not_write_is_never_deleted(repo, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not written by reclab.site"):
        site.build_site(repo, mine)
    assert (mine / "keep.txt").read_text() == "x"
    site.build_site(repo, tmp_path / "site")
    site.build_site(repo, tmp_path / "site")  # its own folder is rebuilt
    assert site.main(["--root", str(repo), "--out", str(tmp_path / "site"), "--check-only"]) == 1
