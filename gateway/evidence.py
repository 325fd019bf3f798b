"""Electronic seals of providers and the gateway's signature over data snapshots (R-23, R-24a)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from gateway.seals import SealKeyring, canonical_record, seal, verify_seal
from resolvers.evidence import SnapshotRecord

__all__ = ["Evidence", "load_seal_keyring", "rotate_seal_key", "stored_seal_keyring"]

SNAPSHOT_TYPE = "govshare-snapshot+jws"


async def load_seal_keyring(pool: asyncpg.Pool, providers: Iterable[str]) -> SealKeyring:
    """The providers' seal keys; a provider without one gets a new key, stored before use."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE seal_keyrings IN EXCLUSIVE MODE")
        stored = await conn.fetchval("SELECT document FROM seal_keyrings WHERE name = 'providers'")
        keyring = SealKeyring.from_private(json.loads(stored)) if stored else SealKeyring()
        missing = [p for p in sorted(set(providers)) if not _has_key(keyring, p)]
        for provider in missing:
            keyring.rotate(provider)
        if missing:
            await _store(conn, keyring)
    return keyring


async def rotate_seal_key(pool: asyncpg.Pool, agency: str) -> str:
    """A new active key for `agency` (KeyError when it has none: it does not seal); older keys
    stay, so seals they made keep verifying. The stored keyring is read and written under its
    lock, so that two rotations, or a rotation and a starting gateway, never lose a key."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE seal_keyrings IN EXCLUSIVE MODE")
        stored = await conn.fetchval("SELECT document FROM seal_keyrings WHERE name = 'providers'")
        keyring = SealKeyring.from_private(json.loads(stored)) if stored else SealKeyring()
        keyring.active_key(agency)
        kid = keyring.rotate(agency)
        await _store(conn, keyring)
        await conn.execute("SELECT pg_notify('govshare_seal_keys', $1)", kid)
    return kid


async def stored_seal_keyring(pool: asyncpg.Pool) -> SealKeyring:
    stored = await pool.fetchval("SELECT document FROM seal_keyrings WHERE name = 'providers'")
    return SealKeyring.from_private(json.loads(stored)) if stored else SealKeyring()


async def _store(conn: asyncpg.Connection, keyring: SealKeyring) -> None:
    await conn.execute(
        "INSERT INTO seal_keyrings (name, document) VALUES ('providers', $1::jsonb)"
        " ON CONFLICT (name) DO UPDATE SET document = EXCLUDED.document, updated_at = now()",
        json.dumps(keyring.export_private()),
    )


def _has_key(keyring: SealKeyring, agency: str) -> bool:
    try:
        keyring.active_key(agency)
    except KeyError:
        return False
    return True


class Evidence:
    """Seals records for providers, signs snapshots for the gateway, and verifies both."""

    def __init__(self, seals: SealKeyring, gateway_keys: list[ECKey]) -> None:
        self.seals = seals
        self.gateway_keys = gateway_keys

    def seal(self, item: str, provider: str, subject: str, fields: Mapping[str, object], at: dt.datetime) -> str:
        return seal(self.seals, item=item, provider=provider, subject=subject, fields=fields, signed_at=at)

    def verify_seal(self, token: str) -> Any:
        return verify_seal(self.seals, token)

    @staticmethod
    def snapshot_payload(record: SnapshotRecord) -> dict[str, Any]:
        return {
            "id": record.id,
            "agency": record.agency,
            "client": record.client,
            "duty": record.duty,
            "caseId": record.case_id,
            "requestId": record.request_id,
            "createdAt": record.created_at,
            "records": record.records,
        }

    def sign_snapshot(self, record: SnapshotRecord) -> str:
        key = self.gateway_keys[0]
        header = {"alg": "ES256", "kid": key.kid, "typ": SNAPSHOT_TYPE}
        return jws.serialize_compact(header, canonical_record(self.snapshot_payload(record)), key, algorithms=["ES256"])

    def verify_snapshot(self, record: SnapshotRecord) -> str | None:
        """None when the snapshot and every provider seal in it verify; else the first reason."""
        try:
            obj = jws.extract_compact(record.signature.encode())
            kid = obj.headers().get("kid")
        except (JoseError, ValueError):
            return "the gateway signature is malformed"
        key = next((k for k in self.gateway_keys if k.kid == kid), None)
        if key is None:
            return f"the gateway key {kid!r} is unknown"
        try:
            valid = jws.validate_compact(obj, key, algorithms=["ES256"])
        except JoseError:
            valid = False
        if not valid:
            return "the gateway signature does not verify"
        if obj.payload != canonical_record(self.snapshot_payload(record)):
            return "the stored snapshot differs from what the gateway signed"
        for entry in record.records:
            token = entry.get("seal")
            if token:
                result = verify_seal(self.seals, token, expected_fields=entry.get("fields") or {})
                if not result.valid:
                    return f"seal of {entry.get('item')} for {entry.get('subject')}: {result.reason}"
        return None
