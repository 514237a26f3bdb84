"""Griffe extension: Sphinx roles in our docstrings become code, linked when the target is rendered.

The docstrings use Sphinx roles (``:class:`Tick```, ``:meth:`~Store.get```, ``:mod:`.timeconv```)
that mkdocstrings does not interpret, so the site would show them verbatim. Each role becomes
inline code; when the target is an object of this package, the code is wrapped in an *optional*
autoref: a link when the object is rendered on some page of the API reference, plain code
otherwise (an optional reference never fails ``mkdocs build --strict``). A leading ``~`` shows
only the last name, as in Sphinx. Names are looked up from the object outwards (class, module,
package), the way a reader of the source would.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

PACKAGE = "jainam_fsm"
_UNRESOLVABLE = (griffe.AliasResolutionError, griffe.CyclicAliasError)
_ROLE = re.compile(r":(?:py:)?(class|mod|meth|func|attr|data|exc|obj|const):`(~?)([^`]+)`")


def _lookup(obj: griffe.Object, name: str) -> str | None:
    """The full path of ``name`` as seen from ``obj``, if it is an object of this package."""
    collection = obj.modules_collection
    candidates: list[str] = []
    if name.startswith(PACKAGE + ".") or name == PACKAGE:
        candidates.append(name)
    else:
        scope: griffe.Object | None = obj
        while scope is not None:
            sep = "" if name.startswith(".") else "."
            candidates.append(f"{scope.path}{sep}{name}")
            scope = scope.parent
    for path in candidates:
        try:  # an import of another package cannot be resolved: not ours, not linked
            found: Any = collection.get_member(path)
            final = found.final_target.path if found.is_alias else found.path
        except (KeyError, ValueError, AttributeError, *_UNRESOLVABLE):
            continue
        if final == PACKAGE or final.startswith(PACKAGE + "."):
            return str(final)
    return None


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring once the object tree is complete."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.is_alias or obj.docstring is None or ":`" not in obj.docstring.value:
            return

        def replace(match: re.Match[str]) -> str:
            short, target = match.group(2) == "~", match.group(3).strip()
            shown = target.lstrip(".").rsplit(".", 1)[-1] if short else target.lstrip(".")
            code = f"<code>{html.escape(shown)}</code>"
            path = _lookup(obj, target.lstrip("~"))
            if path is None:
                return code
            return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

        obj.docstring.value = _ROLE.sub(replace, obj.docstring.value)
