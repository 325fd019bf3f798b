from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import ConfigError, Settings


def test_environment_mapping_builds_settings() -> None:
    settings = Settings.from_environ(
        {
            "GOVSHARE_DATABASE_URL": "postgresql://x@db/postgres",
            "GOVSHARE_PROVIDER_TIMEOUT": "2.5",
            "GOVSHARE_CORS_ORIGINS": "https://a.gov.cn, https://b.gov.cn",
            "GOVSHARE_LEDGER": "false",
            "GOVSHARE_LEDGER_KEY": "00" * 32,
        }
    )
    assert settings.database_url == "postgresql://x@db/postgres"
    assert settings.provider_timeout == 2.5
    assert settings.cors_origins == ("https://a.gov.cn", "https://b.gov.cn")
    assert settings.ledger is False and settings.ledger_key == bytes(32)
    assert settings.demo is False
    for url in ("postgres://db", "postgresql:///govshare?host=/run/postgresql", "postgresql://[::1]:5432/x", "postgresql://a:5432,b/x"):
        assert Settings.from_environ({"GOVSHARE_DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GOVSHARE_PROVIDER_TIMEOUT": "soon"}, "GOVSHARE_PROVIDER_TIMEOUT='soon' is not a number"),
        ({"GOVSHARE_LEDGER": "perhaps"}, "GOVSHARE_LEDGER='perhaps' is not a boolean"),
        ({"GOVSHARE_LEDGER_KEY": "abcd"}, "at least 16 bytes"),
        ({"GOVSHARE_DATABASE_URL": "mysql://db/x"}, "database_url: must start with postgresql://"),
        ({"GOVSHARE_DATABASE_URL": "postgresql://u:pw@db:5432,db2:70000/x"}, "database_url: the port '70000' is not a number"),
    ],
)
def test_bad_environment_values_are_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_environ(environ)


def test_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "database_url: postgresql://gw@control/govshare\ncatalog_dir: catalog\nstore_urls:\n  gz-gab: postgresql://ro@gab/pop\n"
        "cors_origins: [https://dash.gov.cn]\n",
        encoding="utf-8",
    )
    settings = Settings.from_file(path, {})
    assert settings.catalog_dir == (tmp_path / "catalog").resolve()
    assert settings.store_urls == {"gz-gab": "postgresql://ro@gab/pop"}
    assert settings.cors_origins == ("https://dash.gov.cn",)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("demo: true\n", "demo mode cannot be enabled"),
        ("databse_url: x\n", "unknown setting"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: [\n", "not valid YAML"),
        ("database_url: 5\n", "database_url must be text, not a number"),
        ("store_pool_size: many\n", "store_pool_size must be a whole number, not text"),
        ("ledger: 'yes'\n", "ledger must be true or false, not text"),
        ("cors_origins: https://a.gov.cn\n", "cors_origins must be a list of texts"),
        ("store_urls: [a]\n", "store_urls must be a mapping"),
        ("ledger_key: zz\n", "ledger_key must be hex"),
        ("ledger_key: 'abcd'\n", "at least 16 bytes"),
        ("store_urls:\n  gz-gab: postgresql://ro@gab:five/pop\n", "store_urls.gz-gab: the port 'five' is not a number"),
    ],
)
def test_bad_configuration_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        Settings.from_file(path, {})


def test_configuration_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_bytes(b"database_url: \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        Settings.from_file(path, {})


def test_ledger_key_in_a_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("ledger_key: " + "ab" * 16 + "\n", encoding="utf-8")
    assert Settings.from_file(path, {}).ledger_key == bytes.fromhex("ab" * 16)


def test_null_in_a_configuration_file_keeps_the_default(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("ledger: null\nstore_pool_size: null\nmetrics_token: null\n", encoding="utf-8")
    settings = Settings.from_file(path, {"GOVSHARE_METRICS_TOKEN": "t0ken"})
    assert settings.ledger is True and settings.store_pool_size == 5 and settings.metrics_token == "t0ken"
