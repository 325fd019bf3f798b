"""The running gateway's state: catalog version, stores, consents, keys and clients."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from joserfc.jwk import ECKey, KeySet

from authz.cache import DecisionCache
from authz.context import RequestContext
from authz.model import ItemKind
from authz.policy import Decision
from gateway.auth.oauth import RegisteredClient
from gateway.auth.tokens import TokenIssuer, TokenVerifier, generate_signing_key, load_jwks
from gateway.catalog_files import CatalogBundle, CatalogError, catalog_files, check_store_columns, load_bundle
from gateway.migrate import migrate
from gateway.settings import Settings
from gateway.evidence import Evidence, load_seal_keyring
from resolvers.control import ConsentStore
from resolvers.evidence import SnapshotStore
from resolvers.stores import AgencyStores

__all__ = ["Runtime", "store_database_name"]

log = logging.getLogger("govshare.runtime")


def store_database_name(settings: Settings, agency: str) -> str:
    return settings.store_database_prefix + agency.replace("-", "_")


@dataclass
class Runtime:
    settings: Settings
    control: asyncpg.Pool
    stores: AgencyStores
    consents: ConsentStore
    issuer: TokenIssuer
    verifier: TokenVerifier
    signing_keys: list[ECKey]
    clients: dict[str, RegisteredClient]
    bundle: CatalogBundle
    evidence: Evidence
    snapshots: SnapshotStore
    decisions: DecisionCache = field(default_factory=DecisionCache)
    _listener: asyncpg.Connection | None = None

    def decide(self, ctx: RequestContext, paths: tuple[str, ...]) -> dict[str, Decision]:
        return self.decisions.decide(self.bundle.catalog, ctx, paths)

    async def refresh_consents(self) -> None:
        consents, revision = await self.consents.active()
        self.bundle = _replace_catalog(self.bundle, self.bundle.catalog.with_consents(consents, revision))

    @classmethod
    async def start(cls, settings: Settings, control_dsn: str, store_dsns: Mapping[str, str]) -> Runtime:
        control = await asyncpg.create_pool(control_dsn, min_size=1, max_size=10)
        try:
            async with control.acquire() as conn:
                applied = await migrate(conn)
                if applied:
                    log.info("control database migrated", extra={"applied": applied})
            bundle = load_bundle(catalog_files(settings.catalog_dir))
            stores = AgencyStores(store_dsns, timeout=settings.provider_timeout)
            introspected = {}
            for agency in bundle.mappings:
                try:
                    introspected[agency] = await stores.columns(agency)
                except Exception:  # noqa: BLE001 - an unreachable store is reported, not fatal
                    log.warning("store of %s could not be inspected at start-up", agency)
            problems = [p for p in check_store_columns(bundle, introspected) if "could not be inspected" not in p.message]
            if problems:
                raise CatalogError(problems)
            version = await _publish(control, bundle)
            bundle = bundle.with_version(version)
            keys = await _signing_keys(control)
            issuer = TokenIssuer(keys[0], settings.issuer, settings.audience, settings.token_lifetime)
            verifier = TokenVerifier(KeySet(list(keys)), settings.issuer, settings.audience)
            if settings.trusted_jwks:
                if not settings.trusted_issuer:
                    raise ValueError("trusted_jwks needs trusted_issuer: the issuer whose tokens those keys sign")
                verifier.trust(settings.trusted_issuer, load_jwks(settings.trusted_jwks))
            clients = await _clients(control)
            consents = ConsentStore(control)
            sealing = [i.provider for i in bundle.catalog.items.values() if i.kind in (ItemKind.LICENSE, ItemKind.DOCUMENT)]
            evidence = Evidence(await load_seal_keyring(control, sealing), keys)
            runtime = cls(settings, control, stores, consents, issuer, verifier, keys, clients, bundle, evidence, SnapshotStore(control))
            await runtime.refresh_consents()
            await runtime._listen(control_dsn)
            return runtime
        except BaseException:
            await control.close()
            raise

    async def _listen(self, dsn: str) -> None:
        # consents changed by another gateway process apply on their next request
        self._listener = await asyncpg.connect(dsn)

        def changed(*_: Any) -> None:
            asyncio.get_running_loop().create_task(self.refresh_consents())

        await self._listener.add_listener("govshare_consents", changed)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
        await self.stores.close()
        await self.control.close()

    async def reachable(self) -> dict[str, bool]:
        status = {}
        try:
            await self.control.fetchval("SELECT 1")
            status["control"] = True
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            status["control"] = False
        pings = await asyncio.gather(*(self.stores.ping(a) for a in self.bundle.mappings))
        status.update(dict(zip(self.bundle.mappings, pings, strict=True)))
        return status


def _replace_catalog(bundle: CatalogBundle, catalog: Any) -> CatalogBundle:
    return CatalogBundle(catalog, bundle.schema, bundle.mappings, bundle.operators, bundle.document, bundle.digest)


async def _publish(control: asyncpg.Pool, bundle: CatalogBundle) -> int:
    async with control.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE catalog_versions IN EXCLUSIVE MODE")
        latest = await conn.fetchrow("SELECT version, digest FROM catalog_versions ORDER BY version DESC LIMIT 1")
        if latest is not None and latest["digest"] == bundle.digest:
            return int(latest["version"])
        version = (latest["version"] + 1) if latest else 1
        await conn.execute(
            "INSERT INTO catalog_versions (version, digest, document, author, reason) VALUES ($1, $2, $3::jsonb, $4, $5)",
            version,
            bundle.digest,
            json.dumps(bundle.document, ensure_ascii=False, default=str),
            "gateway start-up",
            "catalog files loaded" if latest is None else "catalog files changed",
        )
        return version


async def _signing_keys(control: asyncpg.Pool) -> list[ECKey]:
    async with control.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE signing_keys IN EXCLUSIVE MODE")
        rows = await conn.fetch("SELECT private_jwk FROM signing_keys WHERE purpose = 'token' AND retired_at IS NULL ORDER BY created_at DESC")
        if not rows:
            key = generate_signing_key()
            await conn.execute(
                "INSERT INTO signing_keys (kid, purpose, private_jwk) VALUES ($1, 'token', $2::jsonb)",
                key.kid,
                json.dumps(key.as_dict(private=True)),
            )
            return [key]
        return [ECKey.import_key(json.loads(r["private_jwk"])) for r in rows]


async def _clients(control: asyncpg.Pool) -> dict[str, RegisteredClient]:
    rows = await control.fetch("SELECT client_id, agency, secret_hash, duties FROM clients WHERE disabled_at IS NULL")
    return {r["client_id"]: RegisteredClient(r["client_id"], r["agency"], r["secret_hash"], tuple(r["duties"])) for r in rows}
