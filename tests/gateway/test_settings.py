from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
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
        ({"GOVSHARE_LEDGER_KEY": "zz" * 20}, "GOVSHARE_LEDGER_KEY must be hex"),
        ({"GOVSHARE_LEDGER_KEY": "a" * 33}, "GOVSHARE_LEDGER_KEY must be hex"),  # an odd number of digits
        # whole numbers are read as such: no int(float("nan")) on the way
        ({"GOVSHARE_TOKEN_LIFETIME": "nan"}, "GOVSHARE_TOKEN_LIFETIME='nan' is not a whole number"),
        ({"GOVSHARE_TOKEN_LIFETIME": "inf"}, "GOVSHARE_TOKEN_LIFETIME='inf' is not a whole number"),
        ({"GOVSHARE_TOKEN_LIFETIME": "900.5"}, "GOVSHARE_TOKEN_LIFETIME='900.5' is not a whole number"),
        ({"GOVSHARE_STORE_POOL_SIZE": "nan"}, "GOVSHARE_STORE_POOL_SIZE='nan' is not a whole number"),
        # ranges: a value the gateway would accept and then fail every request with
        ({"GOVSHARE_TOKEN_LIFETIME": "0"}, r"token_lifetime \(GOVSHARE_TOKEN_LIFETIME\) must be from 1 to 86400 seconds, not 0"),
        ({"GOVSHARE_TOKEN_LIFETIME": "-60"}, "token_lifetime .* not -60"),
        ({"GOVSHARE_TOKEN_LIFETIME": "31536000"}, "token_lifetime .* not 31536000"),
        ({"GOVSHARE_STORE_POOL_SIZE": "0"}, r"store_pool_size \(GOVSHARE_STORE_POOL_SIZE\) must be at least 1, not 0"),
        ({"GOVSHARE_PROVIDER_TIMEOUT": "0"}, r"provider_timeout \(GOVSHARE_PROVIDER_TIMEOUT\) must be a number of seconds above 0, not 0.0"),
        ({"GOVSHARE_PROVIDER_TIMEOUT": "nan"}, "provider_timeout .* not nan"),
        ({"GOVSHARE_PROVIDER_TIMEOUT": "inf"}, "provider_timeout .* not inf"),
        ({"GOVSHARE_TRUSTED_JWKS_REFRESH": "-1"}, r"trusted_jwks_refresh \(GOVSHARE_TRUSTED_JWKS_REFRESH\) must be a number of seconds above 0"),
        ({"GOVSHARE_DATABASE_URL": "postgresql://gw@[::1/x"}, r"database_url: is not a URL"),
        ({"GOVSHARE_DATABASE_URL": "mysql://db/x"}, "database_url: must start with postgresql://"),
        ({"GOVSHARE_DATABASE_URL": "postgresql://u:pw@db:5432,db2:70000/x"}, "database_url: the port '70000' is not a number"),
    ],
)
def test_bad_environment_values_are_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        Settings.from_environ(environ)
    if "GOVSHARE_LEDGER_KEY" in environ:
        assert environ["GOVSHARE_LEDGER_KEY"] not in str(caught.value), "the key is a secret"


def test_the_control_database_comes_from_the_environment() -> None:
    assert Settings.from_environ({"GOVSHARE_CONTROL_DATABASE": "share_control"}).control_database == "share_control"
    assert Settings.from_environ({}).control_database == "govshare"


def test_bad_settings_end_a_command_in_one_line(tmp_path: Path) -> None:
    key = "zz" + "00" * 20
    for environ, message in [
        ({"GOVSHARE_LEDGER_KEY": key}, "GOVSHARE_LEDGER_KEY must be hex"),
        ({"GOVSHARE_TOKEN_LIFETIME": "nan"}, "GOVSHARE_TOKEN_LIFETIME='nan' is not a whole number"),
        ({"GOVSHARE_STORE_POOL_SIZE": "0"}, "store_pool_size (GOVSHARE_STORE_POOL_SIZE) must be at least 1"),
    ]:
        result = CliRunner(env=environ).invoke(main, ["audit", "verify", "--data-dir", str(tmp_path)])
        assert result.exit_code == 1 and message in result.output, result.output
        assert isinstance(result.exception, SystemExit) and key not in result.output
    config = tmp_path / "gateway.yaml"
    config.write_text("database_url: postgresql://gw@127.0.0.1:1/govshare\nlog_level: verbose\n", encoding="utf-8")
    served = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert served.exit_code == 2 and "log_level must be one of debug, info, warning, error, critical, not 'verbose'" in served.output


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
        ("ledger_key: " + "a" * 33 + "\n", "ledger_key must be hex"),
        ("log_level: verbose\n", "log_level must be one of debug, info, warning, error, critical, not 'verbose'"),
        ("store_pool_size: 0\n", "store_pool_size .* must be at least 1, not 0"),
        ("token_lifetime: -5\n", "token_lifetime .* must be from 1 to 86400 seconds, not -5"),
        ("token_lifetime: 0\n", "token_lifetime .* not 0"),
        ("token_lifetime: 4.5\n", "token_lifetime must be a whole number, not a number"),
        ("provider_timeout: .nan\n", "provider_timeout .* must be a number of seconds above 0, not nan"),
        ("provider_timeout: -1\n", "provider_timeout .* not -1"),
        ("trusted_jwks_refresh: 0\n", "trusted_jwks_refresh .* must be a number of seconds above 0, not 0"),
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


def test_log_levels_in_any_case(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("log_level: WARNING\ntoken_lifetime: 86400\nprovider_timeout: 0.25\n", encoding="utf-8")
    settings = Settings.from_file(path, {})
    assert (settings.log_level, settings.token_lifetime, settings.provider_timeout) == ("WARNING", 86400, 0.25)
