from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

__all__ = ["ConfigError", "DEMO_CATALOG_DIR", "Settings", "url_problem"]

DEMO_CATALOG_DIR = Path(__file__).parent / "demo"


class ConfigError(Exception):
    """A setting is missing or has a value the gateway cannot use."""


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean; use true or false")


def _float(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a number") from None


def _whole(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a whole number") from None


def _ledger_key(name: str, value: str) -> bytes:
    # the key is a secret: messages never repeat it
    try:
        key = bytes.fromhex(value)
    except ValueError:
        raise ConfigError(f"{name} must be hex (an even number of the digits 0-9, a-f)") from None
    if len(key) < 16:
        raise ConfigError(f"{name} must be at least 16 bytes written as hex")
    return key


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
MAX_TOKEN_LIFETIME = 86400


@dataclass(frozen=True)
class Settings:
    """Everything the gateway is configured with; built once from a mapping."""

    database_url: str | None = None
    data_dir: Path = Path(".govshare")
    catalog_dir: Path = DEMO_CATALOG_DIR
    demo: bool = False
    issuer: str = "urn:govshare:gateway"
    audience: str = "urn:govshare:api"
    token_lifetime: int = 900
    provider_timeout: float = 5.0
    # per gateway process and store: more concurrent statements than a few per core of the
    # store's server only queue there, and on a shared machine take CPU from the gateway
    store_pool_size: int = 5
    cors_origins: tuple[str, ...] = ()
    trusted_jwks: str | None = None
    trusted_issuer: str | None = None
    trusted_agencies: tuple[str, ...] = ()
    trusted_jwks_refresh: float = 600.0
    store_urls: Mapping[str, str] = field(default_factory=dict)
    control_database: str = "govshare"
    store_database_prefix: str = "govshare_"
    log_level: str = "info"
    ledger: bool = True
    audit_jsonl: str | None = None
    ledger_key: bytes | None = None
    metrics_token: str | None = None

    def __post_init__(self) -> None:
        urls = {"database_url": self.database_url, **{f"store_urls.{agency}": url for agency, url in self.store_urls.items()}}
        for name, url in urls.items():
            problem = url_problem(url) if url else None
            if problem:
                raise ConfigError(f"{name}: {problem}")
        if not 1 <= self.token_lifetime <= MAX_TOKEN_LIFETIME:
            raise ConfigError(f"token_lifetime (GOVSHARE_TOKEN_LIFETIME) must be from 1 to {MAX_TOKEN_LIFETIME} seconds, not {self.token_lifetime}")
        if self.store_pool_size < 1:
            raise ConfigError(f"store_pool_size (GOVSHARE_STORE_POOL_SIZE) must be at least 1, not {self.store_pool_size}")
        for name, seconds in (("provider_timeout", self.provider_timeout), ("trusted_jwks_refresh", self.trusted_jwks_refresh)):
            if not (math.isfinite(seconds) and seconds > 0):
                raise ConfigError(f"{name} (GOVSHARE_{name.upper()}) must be a number of seconds above 0, not {seconds}")
        if self.log_level.lower() not in LOG_LEVELS:
            raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        if url := environ.get("GOVSHARE_DATABASE_URL"):
            values["database_url"] = url
        if data_dir := environ.get("GOVSHARE_DATA_DIR"):
            values["data_dir"] = Path(data_dir)
        if catalog := environ.get("GOVSHARE_CATALOG_DIR"):
            values["catalog_dir"] = Path(catalog)
        if issuer := environ.get("GOVSHARE_ISSUER"):
            values["issuer"] = issuer
        if audience := environ.get("GOVSHARE_AUDIENCE"):
            values["audience"] = audience
        if lifetime := environ.get("GOVSHARE_TOKEN_LIFETIME"):
            values["token_lifetime"] = _whole("GOVSHARE_TOKEN_LIFETIME", lifetime)
        if timeout := environ.get("GOVSHARE_PROVIDER_TIMEOUT"):
            values["provider_timeout"] = _float("GOVSHARE_PROVIDER_TIMEOUT", timeout)
        if cors := environ.get("GOVSHARE_CORS_ORIGINS"):
            values["cors_origins"] = tuple(o.strip() for o in cors.split(",") if o.strip())
        if jwks := environ.get("GOVSHARE_TRUSTED_JWKS"):
            values["trusted_jwks"] = jwks
        if trusted_issuer := environ.get("GOVSHARE_TRUSTED_ISSUER"):
            values["trusted_issuer"] = trusted_issuer
        if refresh := environ.get("GOVSHARE_TRUSTED_JWKS_REFRESH"):
            values["trusted_jwks_refresh"] = _float("GOVSHARE_TRUSTED_JWKS_REFRESH", refresh)
        if trusted_agencies := environ.get("GOVSHARE_TRUSTED_AGENCIES"):
            values["trusted_agencies"] = tuple(a.strip() for a in trusted_agencies.split(",") if a.strip())
        if pool := environ.get("GOVSHARE_STORE_POOL_SIZE"):
            values["store_pool_size"] = _whole("GOVSHARE_STORE_POOL_SIZE", pool)
        if control := environ.get("GOVSHARE_CONTROL_DATABASE"):
            values["control_database"] = control
        if prefix := environ.get("GOVSHARE_STORE_DATABASE_PREFIX"):
            values["store_database_prefix"] = prefix
        if audit := environ.get("GOVSHARE_AUDIT_JSONL"):
            values["audit_jsonl"] = audit
        if key := environ.get("GOVSHARE_LEDGER_KEY"):
            values["ledger_key"] = _ledger_key("GOVSHARE_LEDGER_KEY", key)
        if metrics_token := environ.get("GOVSHARE_METRICS_TOKEN"):
            values["metrics_token"] = metrics_token
        if ledger := environ.get("GOVSHARE_LEDGER"):
            values["ledger"] = _bool("GOVSHARE_LEDGER", ledger)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def from_file(cls, path: Path, environ: Mapping[str, str]) -> Settings:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(document, dict):
            raise ConfigError(f"{path}: expected a mapping of settings at the top level")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(str(k) for k in set(document) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        for key, value in document.items():
            problem = _kind_problem(key, value)
            if problem is not None:
                raise ConfigError(f"{path}: {key} must be {problem}, not {_yaml_kind(value)}")
        base = path.parent
        converted: dict[str, Any] = {k: v for k, v in document.items() if v is not None}  # null: the default (or the environment's)
        if "ledger_key" in converted:
            converted["ledger_key"] = _ledger_key(f"{path}: ledger_key", converted["ledger_key"])
        for key in ("data_dir", "catalog_dir"):
            if key in converted and converted[key] is not None:
                converted[key] = (base / str(converted[key])).resolve()
        for key in ("cors_origins", "trusted_agencies"):
            if key in converted:
                converted[key] = tuple(converted[key] or ())
        if converted.get("demo"):
            raise ConfigError(f"{path}: demo mode cannot be enabled from a production configuration; use `govshare demo`")
        settings = cls.from_environ(environ)
        return replace(settings, **converted)


_TEXT = {"database_url", "data_dir", "catalog_dir", "issuer", "audience", "trusted_jwks", "trusted_issuer", "control_database",
         "store_database_prefix", "log_level", "audit_jsonl", "ledger_key", "metrics_token"}
_WHOLE = {"token_lifetime", "store_pool_size"}
_NUMBER = {"provider_timeout", "trusted_jwks_refresh"}
_SWITCH = {"demo", "ledger"}
_TEXTS = {"cors_origins", "trusted_agencies"}


def url_problem(url: str) -> str | None:
    """Why `url` cannot name a PostgreSQL server (None: it can), before any connection is tried.

    Hosts may be listed (`host1:5432,host2:5433`), as libpq and asyncpg allow; the message
    never repeats the URL, which may hold a password.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [ of an IPv6 address
        return "is not a URL (postgresql://user@host:5432/database)"
    if parts.scheme not in ("postgresql", "postgres"):
        return "must start with postgresql:// (postgresql://user@host:5432/database)"
    for host in parts.netloc.rpartition("@")[2].split(","):
        port = host.rpartition("]")[2] if host.startswith("[") else host
        _, colon, port = port.rpartition(":")
        if colon and port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            return f"the port {port!r} is not a number from 1 to 65535"
    return None


def _kind_problem(key: str, value: Any) -> str | None:
    """What a setting in a YAML file must be, if `value` is not that (None: it is)."""
    if value is None:
        return None  # the default
    if key in _TEXT and not isinstance(value, str):
        return "text"
    if key in _WHOLE and (isinstance(value, bool) or not isinstance(value, int)):
        return "a whole number"
    if key in _NUMBER and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return "a number"
    if key in _SWITCH and not isinstance(value, bool):
        return "true or false"
    if key in _TEXTS and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return "a list of texts"
    if key == "store_urls" and not (isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
        return "a mapping of agency codes to database URLs"
    return None


def _yaml_kind(value: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)
