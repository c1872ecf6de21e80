"""House rules the code is held to: no product module over 500 lines, no two product classes
with one name. Today's exceptions are listed by name as strict expected failures, so each one
fails the suite the day it is fixed until it is struck off the list (issue 10: 10b and 10c empty
both lists)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from typing import Final

import pytest

from tests.support.paths import REPO

PRODUCT: Final = ("hub", "edge_agent", "provisioning", "cctv_common", "cctv_onvif", "devkit")
MAX_LINES: Final = 500

# Today's exceptions (issue 10 emptied both lists; an entry here must be a strict expected failure).
KNOWN_OVERSIZED: Final[frozenset[str]] = frozenset()
# Class name -> the modules that share it today.
KNOWN_DUPLICATES: Final[frozenset[str]] = frozenset()


def product_modules() -> list[Path]:
    return sorted(path for package in PRODUCT for path in (REPO / package).rglob("*.py"))


def line_counts() -> dict[str, int]:
    return {
        str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines())
        for path in product_modules()
    }


def class_homes() -> dict[str, list[str]]:
    homes: dict[str, list[str]] = defaultdict(list)
    for path in product_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                homes[node.name].append(str(path.relative_to(REPO)))
    return homes


def test_no_product_module_is_over_500_lines_but_the_known_ones() -> None:
    over = {name: lines for name, lines in line_counts().items() if lines > MAX_LINES}
    assert set(over) - KNOWN_OVERSIZED == set(), f"modules over {MAX_LINES} lines: {over}"


@pytest.mark.parametrize(
    "module",
    [pytest.param(name, marks=pytest.mark.xfail(strict=True)) for name in sorted(KNOWN_OVERSIZED)],
)
def test_known_oversized_module(module: str) -> None:
    """Expected to fail until the module is split; then strike it off KNOWN_OVERSIZED."""
    assert line_counts()[module] <= MAX_LINES


def test_no_two_product_classes_share_a_name_but_the_known_ones() -> None:
    shared = {name: homes for name, homes in class_homes().items() if len(homes) > 1}
    assert set(shared) - KNOWN_DUPLICATES == set(), f"class names used twice: {shared}"


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, marks=pytest.mark.xfail(strict=True)) for name in sorted(KNOWN_DUPLICATES)],
)
def test_known_duplicate_class_name(name: str) -> None:
    """Expected to fail until one of the classes is renamed; then strike it off the list."""
    assert len(class_homes()[name]) <= 1
