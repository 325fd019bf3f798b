"""A catalog directory that is missing or empty is an error, never an empty catalog: published,
an empty catalog would withdraw every item without approval (R-9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.catalog_files import CatalogError, catalog_files, load_bundle
from gateway.cli import main
from gateway.settings import DEMO_CATALOG_DIR


def test_a_missing_catalog_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist or is not a directory"):
        catalog_files(tmp_path / "catalgo")


def test_a_catalog_without_agencies_or_items_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="declares no agencies"):
        load_bundle(catalog_files(tmp_path))
    agencies = tmp_path / "agencies.yaml"
    agencies.write_text((DEMO_CATALOG_DIR / "agencies.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(CatalogError, match="agencies.yaml: catalog: declares no catalog items"):
        load_bundle([agencies])
    assert load_bundle(catalog_files(DEMO_CATALOG_DIR)).catalog.items


def test_catalog_validate_fails_on_an_empty_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["catalog", "validate", str(tmp_path)])
    assert result.exit_code == 1 and "declares no agencies" in result.output and "ok:" not in result.output
