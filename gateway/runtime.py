"""The running gateway's state: catalog version, stores, consents, keys and clients."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
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
from gateway import catalog_versions
from gateway.audit import ledger_key
from gateway.auth.registry import still_on_demo_secrets
from gateway.catalog_files import CatalogBundle, CatalogError, bundle_from_documents, catalog_files, check_store_columns, load_bundle
from gateway.catalog_versions import current_bundle
from gateway.evidence import Evidence, load_seal_keyring, stored_seal_keyring
from gateway.ledger import JsonLinesSink, LedgerWriter, entry_point_sinks, jws_signer
from gateway.ledger import queries as ledger_queries
from gateway.migrate import migrate
from gateway.settings import Settings
from resolvers.control import ConsentStore
from resolvers.evidence import SnapshotStore
from resolvers.stores import AgencyStores, keep_session

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
    catalog_listeners: list[Callable[[CatalogBundle], None]] = field(default_factory=list)
    ledger: LedgerWriter | None = None
    _listener: asyncpg.Connection | None = None
    _key_refresh: asyncio.Task[None] | None = None

    def install(self, bundle: CatalogBundle) -> None:
        """Switch to another catalog version; requests already running finish on the one they started with."""
        current = self.bundle.catalog
        self.bundle = dataclasses.replace(bundle, catalog=bundle.catalog.with_consents(current.consents, current.consent_revision))
        for listener in self.catalog_listeners:
            listener(self.bundle)

    async def propose_change(self, **kwargs: Any) -> Any:
        return await catalog_versions.propose_change(self, **kwargs)

    async def approve_change(self, change_id: int, **kwargs: Any) -> Any:
        return await catalog_versions.approve_change(self, change_id, **kwargs)

    async def reject_change(self, change_id: int, **kwargs: Any) -> Any:
        return await catalog_versions.reject_change(self, change_id, **kwargs)

    async def catalog_changes(self, status: str | None = None) -> Any:
        return await catalog_versions.list_changes(self.control, status)

    async def catalog_versions(self) -> Any:
        return await catalog_versions.versions(self.control)

    async def compliance(self) -> Any:
        from gateway.compliance import CHINA, findings

        return await findings(self.bundle, self.stores, self.control, dt.datetime.now(CHINA))

    async def audit_events(self, **filters: Any) -> Any:
        return await ledger_queries.events(self.control, **filters)

    async def disclosures(self, subject_hash: str, provider: str | None = None) -> Any:
        return await ledger_queries.disclosures(self.control, subject_hash, provider=provider)

    async def _load_version(self, version: int) -> None:
        if version <= self.bundle.catalog.version:
            return
        document = await self.control.fetchval("SELECT document FROM catalog_versions WHERE version = $1", version)
        # notifications are handled concurrently: a newer version may have been installed meanwhile
        if document is not None and version > self.bundle.catalog.version:
            self.install(bundle_from_documents(json.loads(document)).with_version(version))

    def decide(self, ctx: RequestContext, paths: tuple[str, ...]) -> dict[str, Decision]:
        return self.decisions.decide(self.bundle.catalog, ctx, paths)

    async def refresh_consents(self) -> None:
        consents, revision = await self.consents.active()
        self.bundle = dataclasses.replace(self.bundle, catalog=self.bundle.catalog.with_consents(consents, revision))

    @classmethod
    async def start(cls, settings: Settings, control_dsn: str, store_dsns: Mapping[str, str]) -> Runtime:
        # one more for the ledger writer, which keeps its connection while events keep coming
        control = await asyncpg.create_pool(control_dsn, min_size=1, max_size=settings.store_pool_size + int(settings.ledger), reset=keep_session)
        stores: AgencyStores | None = None
        runtime: Runtime | None = None
        try:
            async with control.acquire() as conn:
                applied = await migrate(conn)
                if applied:
                    log.info("control database migrated", extra={"applied": applied})
            bundle = load_bundle(catalog_files(settings.catalog_dir))
            stores = AgencyStores(store_dsns, timeout=settings.provider_timeout, max_size=settings.store_pool_size)
            introspected = {}
            for agency in bundle.mappings:
                try:
                    introspected[agency] = await stores.columns(agency)
                except Exception:  # noqa: BLE001 - an unreachable store is reported, not fatal
                    log.warning("store of %s could not be inspected at start-up", agency)
            problems = [p for p in check_store_columns(bundle, introspected) if "could not be inspected" not in p.message]
            if problems:
                raise CatalogError(problems)
            async with control.acquire() as conn:
                bundle = await current_bundle(conn, bundle)
            keys = await _signing_keys(control)
            issuer = TokenIssuer(keys[0], settings.issuer, settings.audience, settings.token_lifetime)
            verifier = TokenVerifier(KeySet(list(keys)), settings.issuer, settings.audience)
            if settings.trusted_jwks:
                if not settings.trusted_issuer:
                    raise ValueError("trusted_jwks needs trusted_issuer: the issuer whose tokens those keys sign")
                if not settings.trusted_agencies:
                    raise ValueError("trusted_jwks needs trusted_agencies: the agencies whose tokens that issuer may sign")
                unknown = sorted(set(settings.trusted_agencies) - set(bundle.catalog.agencies))
                if unknown:
                    raise ValueError(f"trusted_agencies names {', '.join(unknown)}, not agencies of the catalog")
                verifier.trust(settings.trusted_issuer, load_jwks(settings.trusted_jwks), settings.trusted_agencies)
            clients = await _clients(control)
            if not settings.demo:
                # the demo's secrets are printed in its README: a production gateway never accepts them
                agency_clients = [(c.client_id, c.secret_hash) for c in clients.values() if c.client_id in bundle.catalog.agencies]
                stale = await asyncio.to_thread(still_on_demo_secrets, agency_clients)
                if stale:
                    raise ValueError(
                        f"client(s) {', '.join(stale)} still have the public demo secret (demo-<client id>); give each a new one with "
                        "`govshare clients rotate <client id> --config FILE`, or disable it with `govshare clients disable`, before serving"
                    )
            consents = ConsentStore(control)
            sealing = [i.provider for i in bundle.catalog.items.values() if i.kind in (ItemKind.LICENSE, ItemKind.DOCUMENT)]
            evidence = Evidence(await load_seal_keyring(control, sealing), keys)
            runtime = cls(settings, control, stores, consents, issuer, verifier, keys, clients, bundle, evidence, SnapshotStore(control))
            await runtime.refresh_consents()
            await runtime._listen(control_dsn)
            if settings.trusted_jwks and settings.trusted_issuer and settings.trusted_jwks_refresh > 0:
                runtime._key_refresh = asyncio.create_task(
                    runtime._refresh_trusted_keys(settings.trusted_jwks, settings.trusted_issuer, settings.trusted_agencies, settings.trusted_jwks_refresh),
                    name="govshare-trusted-keys",
                )
            if settings.ledger:
                sinks = [*([JsonLinesSink(settings.audit_jsonl)] if settings.audit_jsonl else []), *entry_point_sinks()]
                runtime.ledger = LedgerWriter(
                    control, hmac_key=await ledger_key(control, settings.ledger_key), sinks=sinks, checkpoint_signer=jws_signer(keys[0])
                )
                await runtime.ledger.start()
            return runtime
        except BaseException:
            # a start that fails half-way leaves nothing open behind it
            if runtime is not None and runtime._key_refresh is not None:
                runtime._key_refresh.cancel()
            if runtime is not None and runtime._listener is not None:
                await runtime._listener.close()
            if stores is not None:
                await stores.close()
            await control.close()
            raise

    async def _listen(self, dsn: str) -> None:
        # consents changed by another gateway process apply on their next request
        self._listener = await asyncpg.connect(dsn)

        def consents_changed(*_: Any) -> None:
            asyncio.get_running_loop().create_task(self.refresh_consents())

        def catalog_changed(connection: Any, pid: int, channel: str, payload: str) -> None:
            asyncio.get_running_loop().create_task(self._load_version(int(payload)))

        def clients_changed(*_: Any) -> None:
            asyncio.get_running_loop().create_task(self._reload_clients())

        def seal_keys_changed(*_: Any) -> None:
            asyncio.get_running_loop().create_task(self._reload_seal_keys())

        await self._listener.add_listener("govshare_seal_keys", seal_keys_changed)
        await self._listener.add_listener("govshare_clients", clients_changed)
        await self._listener.add_listener("govshare_consents", consents_changed)
        await self._listener.add_listener("govshare_catalog", catalog_changed)

    async def _reload_seal_keys(self) -> None:
        self.evidence.seals = await stored_seal_keyring(self.control)

    async def _reload_clients(self) -> None:
        fresh = await _clients(self.control)
        # in place and never empty in between: the token endpoint reads this registry from its threads
        self.clients.update(fresh)
        for client_id in set(self.clients) - set(fresh):
            del self.clients[client_id]

    async def _refresh_trusted_keys(self, source: str, issuer: str, agencies: tuple[str, ...], every: float) -> None:
        """Reads the identity provider's key set again every `every` seconds, so that keys it
        rotates in are accepted without a restart; while it cannot be read, the keys held stay."""
        while True:
            await asyncio.sleep(every)
            try:
                jwks = await asyncio.to_thread(load_jwks, source)
                self.verifier.trust(issuer, jwks, agencies)
            except Exception as exc:  # noqa: BLE001 - any failure keeps the keys already trusted
                log.warning("trusted key set %s could not be refreshed: %s: %s", source, type(exc).__name__, exc)

    async def close(self) -> None:
        if self._key_refresh is not None:
            self._key_refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._key_refresh
        if self.ledger is not None:
            await self.ledger.close()
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
