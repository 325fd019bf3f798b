"""Signed checkpoints of the chain head, and a default ES256 (joserfc) signer and verifier.

A checkpoint's payload is the canonical JSON `{"head": <hash>, "seq": <n>, "signedAt": <time>}`;
its signature is a compact JWS over that payload, so the signature alone carries what it
vouches for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import asyncpg
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from gateway.ledger.chain import canonical_json
from gateway.ledger.events import format_time

__all__ = [
    "CHECKPOINT_TYPE", "Checkpoint", "CheckpointSigner", "SignatureVerifier", "checkpoint_payload", "jws_signer",
    "jws_verifier", "read_checkpoint_claims", "write_checkpoint",
]

CHECKPOINT_TYPE = "govshare-ledger-checkpoint+jws"

SignatureVerifier = Callable[[str], "bytes | None"]
"""Returns the signed payload when the compact JWS is valid for a trusted key, else None."""


@dataclass(frozen=True)
class CheckpointSigner:
    """`sign(payload) -> compact JWS` by the key named `kid` (the gateway's signing key)."""

    sign: Callable[[bytes], str]
    kid: str


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head: str
    signed_at: datetime
    signature: str
    kid: str


def checkpoint_payload(seq: int, head: str, signed_at: datetime) -> bytes:
    return canonical_json({"seq": seq, "head": head, "signedAt": format_time(signed_at)}).encode("utf-8")


def read_checkpoint_claims(payload: bytes) -> dict[str, Any] | None:
    """The payload's claims, or None when it is not a checkpoint payload."""
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict) or set(claims) != {"seq", "head", "signedAt"}:
        return None
    return claims


async def write_checkpoint(conn: asyncpg.Connection, signer: CheckpointSigner, now: datetime) -> Checkpoint | None:
    """Signs the committed head; None when the ledger is empty or the head has a checkpoint already."""
    # Any committed head is a valid point of the one chain, so no ledger lock is needed here.
    head = await conn.fetchrow("SELECT seq, hash FROM disclosure_events ORDER BY seq DESC LIMIT 1")
    if head is None:
        return None
    signed_at = now.astimezone(timezone.utc)
    signature = signer.sign(checkpoint_payload(head["seq"], head["hash"], signed_at))
    inserted = await conn.fetchval(
        "INSERT INTO ledger_checkpoints (seq, head, signed_at, signature, kid) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (seq) DO NOTHING RETURNING seq",
        head["seq"], head["hash"], signed_at, signature, signer.kid,
    )
    if inserted is None:
        return None
    return Checkpoint(head["seq"], head["hash"], signed_at, signature, signer.kid)


def jws_signer(key: ECKey) -> CheckpointSigner:
    """ES256 compact JWS by `key` (e.g. one of the gateway's token signing keys)."""
    kid = key.kid
    if not kid:
        raise ValueError("the checkpoint signing key needs a kid")

    def sign(payload: bytes) -> str:
        header = {"alg": "ES256", "kid": kid, "typ": CHECKPOINT_TYPE}
        return jws.serialize_compact(header, payload, key, algorithms=["ES256"])

    return CheckpointSigner(sign=sign, kid=kid)


def jws_verifier(keys: ECKey | Sequence[ECKey] | KeySet) -> SignatureVerifier:
    """Accepts only ES256 checkpoints signed by one of `keys` (public keys suffice)."""
    key_set = keys if isinstance(keys, KeySet) else KeySet([keys] if isinstance(keys, ECKey) else list(keys))

    def verify(signature: str) -> bytes | None:
        try:
            signed = jws.deserialize_compact(signature, key_set, algorithms=["ES256"])
        except (JoseError, ValueError):
            return None
        if signed.headers().get("typ") != CHECKPOINT_TYPE:
            return None
        return signed.payload

    return verify
