"""A deployment's own identity provider: its tokens are accepted for the agencies it is trusted for, and no others."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt

from gateway.app import create_app
from gateway.auth.tokens import AuthError, generate_signing_key, public_jwks
from gateway.runtime import Runtime

IDP = "https://idp.example.gov.cn"


def _token(key: Any, agency: str, duties: list[str], audience: str) -> str:
    now = int(time.time())
    claims = {"iss": IDP, "aud": audience, "sub": "staff-0042", "agency": agency, "duties": duties, "iat": now, "nbf": now, "exp": now + 300}
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])


async def test_an_identity_provider_speaks_only_for_its_agencies(demo_settings: Any, demo_databases: Any, tmp_path: Path) -> None:
    key = generate_signing_key()
    jwks = tmp_path / "idp.jwks"
    jwks.write_text(json.dumps(public_jwks([key])), encoding="utf-8")
    settings = dataclasses.replace(demo_settings, trusted_jwks=str(jwks), trusted_issuer=IDP, trusted_agencies=("gz-mzj",))
    app = create_app(lambda: Runtime.start(settings, demo_databases.control_dsn, demo_databases.store_dsns))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            query = {"query": '{ person(idNumber: "440106199001011235") { maritalStatus } }'}
            own = _token(key, "gz-mzj", ["mz.assistance"], settings.audience)
            served = await http.post("/graphql", json=query, headers={"Authorization": f"Bearer {own}", "X-Duty": "mz.assistance"})
            assert served.status_code == 200 and served.json()["data"]["person"]["maritalStatus"]
            operator = _token(key, "gz-zsj", ["zsj.oversight"], settings.audience)
            refused = await http.post("/graphql", json={"query": "{ compliance { findings { article } } }"}, headers={"Authorization": f"Bearer {operator}"})
            assert refused.status_code == 401
            assert "not trusted to sign for agency 'gz-zsj'" in refused.json()["errors"][0]["message"]


async def test_an_identity_provider_must_be_given_its_agencies(demo_settings: Any, demo_databases: Any, tmp_path: Path) -> None:
    jwks = tmp_path / "idp.jwks"
    jwks.write_text(json.dumps(public_jwks([generate_signing_key()])), encoding="utf-8")
    for agencies, message in (((), "needs trusted_agencies"), (("gz-nowhere",), "gz-nowhere, not agencies of the catalog")):
        settings = dataclasses.replace(demo_settings, trusted_jwks=str(jwks), trusted_issuer=IDP, trusted_agencies=agencies)
        with pytest.raises(ValueError, match=message):
            await Runtime.start(settings, demo_databases.control_dsn, demo_databases.store_dsns)


async def test_keys_the_identity_provider_rotates_in_are_accepted_without_a_restart(demo_settings: Any, demo_databases: Any, tmp_path: Path) -> None:
    old, new = generate_signing_key(), generate_signing_key()
    jwks = tmp_path / "idp.jwks"
    jwks.write_text(json.dumps(public_jwks([old])), encoding="utf-8")
    settings = dataclasses.replace(
        demo_settings, trusted_jwks=str(jwks), trusted_issuer=IDP, trusted_agencies=("gz-mzj",), trusted_jwks_refresh=0.1
    )
    runtime = await Runtime.start(settings, demo_databases.control_dsn, demo_databases.store_dsns)
    try:
        token = _token(new, "gz-mzj", ["mz.assistance"], settings.audience)
        with pytest.raises(AuthError, match="signature"):
            runtime.verifier.verify(token)
        jwks.write_text(json.dumps(public_jwks([old, new])), encoding="utf-8")
        await asyncio.sleep(0.5)
        assert runtime.verifier.verify(token).agency == "gz-mzj"
        jwks.write_text("not a key set", encoding="utf-8")  # a failed refresh keeps the keys held
        await asyncio.sleep(0.5)
        assert runtime.verifier.verify(_token(new, "gz-mzj", ["mz.assistance"], settings.audience)).agency == "gz-mzj"
    finally:
        await runtime.close()
