"""MkDocs hook: links from docs/ to repository files outside docs/ go to the repository host.

In the repository a page links to ``../benchmarks/results/x.json`` so that the link opens the
file of the same commit. The site holds only docs/, so there such a link is rewritten to the
file on the repository host (``repo_url``, branch ``main``). A link to a file that does not
exist is a warning, which fails ``mkdocs build --strict``. See docs/contributing.md.

The rendered diagrams (``diagrams/*.svg``) are added to the site under ``diagrams/``, so the home
page shows the same picture as the README without a copy in docs/.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.repo_links")

# ](target) or ](target#anchor), for links and images; absolute URLs and anchors are left alone.
_LINK = re.compile(r"\]\((?![a-z][a-z0-9+.-]*:|/|#)([^)\s#]+)(#[^)\s]*)?\)")


def on_files(files: Any, config: Any) -> Any:
    """Add the committed SVG diagrams to the site, at ``diagrams/<name>.svg``."""
    from mkdocs.structure.files import File

    root = Path(config["config_file_path"]).resolve().parent
    for svg in sorted((root / "diagrams").glob("*.svg")):
        files.append(File.generated(config, f"diagrams/{svg.name}", abs_src_path=str(svg)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Rewrite the page's links that leave docs/ into links to the repository host."""
    root = Path(config["config_file_path"]).resolve().parent
    docs = Path(config["docs_dir"]).resolve()
    base = str(config["repo_url"]).rstrip("/") + "/blob/main/"
    here = (docs / page.file.src_path).parent

    def rewrite(match: re.Match[str]) -> str:
        target = (here / match.group(1)).resolve()
        if target.is_relative_to(docs):
            return match.group(0)  # a page or file of the site: mkdocs checks it
        if not target.is_relative_to(root) or not target.exists():
            log.warning(
                "%s links to %s, which is not in the repository", page.file.src_path, match.group(1)
            )
            return match.group(0)
        return f"]({base}{target.relative_to(root).as_posix()}{match.group(2) or ''})"

    return _LINK.sub(rewrite, markdown)
