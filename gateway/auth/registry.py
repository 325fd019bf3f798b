"""The registry of OAuth2 clients in the control database: register, rotate, disable, enable.

Running gateways hear of every change (NOTIFY govshare_clients) and apply it at once.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from gateway.auth.secrets import hash_secret, verify_secret

__all__ = ["demo_secret", "disable_client", "enable_client", "register_client", "rotate_client_secret", "still_on_demo_secrets"]


def demo_secret(client_id: str) -> str:
    """The secret `govshare demo` registers each demo client with: public, so never for production."""
    return f"demo-{client_id}"


async def register_client(conn: asyncpg.Connection, client_id: str, agency: str, secret: str, duties: list[str]) -> bool:
    status = await conn.execute(
        "INSERT INTO clients (client_id, agency, secret_hash, duties) VALUES ($1, $2, $3, $4) ON CONFLICT (client_id) DO NOTHING",
        client_id,
        agency,
        hash_secret(secret),
        duties,
    )
    return await _changed(conn, status, client_id)


async def rotate_client_secret(conn: asyncpg.Connection, client_id: str, secret: str) -> bool:
    """Replaces the secret of an enabled client; False when there is none by that id."""
    status = await conn.execute(
        "UPDATE clients SET secret_hash = $2 WHERE client_id = $1 AND disabled_at IS NULL", client_id, hash_secret(secret)
    )
    return await _changed(conn, status, client_id)


async def disable_client(conn: asyncpg.Connection, client_id: str) -> bool:
    """Disables an enabled client (it gets no more tokens); False when there is none by that id."""
    status = await conn.execute("UPDATE clients SET disabled_at = now() WHERE client_id = $1 AND disabled_at IS NULL", client_id)
    return await _changed(conn, status, client_id)


async def enable_client(conn: asyncpg.Connection, client_id: str, secret: str) -> bool:
    """Enables a disabled client with a new secret (the one it had stays refused); False when there is none by that id."""
    status = await conn.execute(
        "UPDATE clients SET disabled_at = NULL, secret_hash = $2 WHERE client_id = $1 AND disabled_at IS NOT NULL", client_id, hash_secret(secret)
    )
    return await _changed(conn, status, client_id)


def still_on_demo_secrets(clients: Iterable[tuple[str, str]]) -> list[str]:
    """The ids among (client_id, secret_hash) whose secret is still the demo's (scrypt: ~40 ms each)."""
    return sorted(client_id for client_id, stored in clients if verify_secret(demo_secret(client_id), stored))


async def _changed(conn: asyncpg.Connection, status: str, client_id: str) -> bool:
    changed = status.endswith(" 1")
    if changed:
        await conn.execute("SELECT pg_notify('govshare_clients', $1)", client_id)
    return changed
