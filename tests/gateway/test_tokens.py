from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from gateway.auth.secrets import hash_secret, verify_secret
from gateway.auth.tokens import AuthError, TokenIssuer, TokenVerifier, generate_signing_key, load_jwks, public_jwks

ISSUER, AUDIENCE = "urn:govshare:gateway", "urn:govshare:api"


@pytest.fixture(scope="module")
def key() -> ECKey:
    return generate_signing_key()


@pytest.fixture(scope="module")
def issuer(key: ECKey) -> TokenIssuer:
    return TokenIssuer(key, ISSUER, AUDIENCE, 900)


@pytest.fixture(scope="module")
def verifier(key: ECKey) -> TokenVerifier:
    return TokenVerifier(KeySet([key]), ISSUER, AUDIENCE)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "gz-mzj", "agency": "gz-mzj", "duties": ["mz.marriage"], "iat": now, "nbf": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_issued_token_verifies(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    token, lifetime = issuer.issue(client_id="gz-mzj", agency="gz-mzj", duties=["mz.marriage", "mz.assistance"])
    principal = verifier.verify(token)
    assert lifetime == 900
    assert principal.agency == "gz-mzj"
    assert principal.duties == frozenset({"mz.marriage", "mz.assistance"})


def sign(key: Any, payload: dict[str, Any], alg: str = "ES256") -> str:
    return jwt.encode({"alg": alg, "kid": getattr(key, "kid", None) or "k"}, payload, key, algorithms=[alg])


REJECTIONS = [
    ("wrong issuer", {"iss": "urn:someone-else"}, "issuer"),
    ("wrong audience", {"aud": "urn:other-api"}, "aud"),
    ("expired", {"exp": int(time.time()) - 120}, "expired"),
    ("not yet valid", {"nbf": int(time.time()) + 3600}, "not yet valid"),
    ("no agency", {"agency": None}, "agency"),
    ("no subject", {"sub": None}, "sub"),
]


@pytest.mark.parametrize(("case", "overrides", "fragment"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_claims_are_checked(key: ECKey, verifier: TokenVerifier, case: str, overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(AuthError, match=fragment):
        verifier.verify(sign(key, claims(**overrides)))


def test_alg_none_is_refused(verifier: TokenVerifier) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."
    with pytest.raises(AuthError, match="'none' is not accepted"):
        verifier.verify(token)


def test_hmac_with_public_key_is_refused(key: ECKey, verifier: TokenVerifier) -> None:
    secret = OctKey.import_key(json.dumps(key.as_dict(private=False)).encode())
    token = jwt.encode({"alg": "HS256"}, claims(), secret, algorithms=["HS256"])
    with pytest.raises(AuthError, match="HS256"):
        verifier.verify(token)


def test_other_key_is_refused(verifier: TokenVerifier) -> None:
    with pytest.raises(AuthError, match="signature"):
        verifier.verify(sign(generate_signing_key(), claims()))


def test_garbage_is_refused(verifier: TokenVerifier) -> None:
    for token in ("abc", "a.b.c", f"{b64({'alg': 'ES256'})}.!!!.x"):
        with pytest.raises(AuthError):
            verifier.verify(token)


def test_external_issuer_trusted_by_jwks(key: ECKey) -> None:
    external = generate_signing_key()
    verifier = TokenVerifier(KeySet([key]), ISSUER, AUDIENCE)
    token = sign(external, claims(iss="https://idp.example.gov.cn", duties=None, scope="mz.marriage"))
    with pytest.raises(AuthError, match="not trusted"):
        verifier.verify(token)
    verifier.trust("https://idp.example.gov.cn", public_jwks([external]), agencies=["gz-mzj", "gz-rsj"])
    principal = verifier.verify(token)
    assert principal.duties == frozenset({"mz.marriage"})
    # the identity provider's subject is never taken for a client registered with the gateway
    assert principal.agency == "gz-mzj" and principal.client_id == "gz-mzj@https://idp.example.gov.cn"
    with pytest.raises(AuthError, match="signature"):
        verifier.verify(sign(key, claims(iss="https://idp.example.gov.cn")))


def test_an_external_issuer_signs_only_for_the_agencies_it_is_trusted_for(key: ECKey) -> None:
    external = generate_signing_key()
    verifier = TokenVerifier(KeySet([key]), ISSUER, AUDIENCE)
    verifier.trust("https://idp.example.gov.cn", public_jwks([external]), agencies=["gz-mzj"])
    operator = sign(external, claims(iss="https://idp.example.gov.cn", agency="gz-zsj", sub="someone"))
    with pytest.raises(AuthError, match="not trusted to sign for agency 'gz-zsj'"):
        verifier.verify(operator)
    with pytest.raises(ValueError, match="name the agencies"):
        verifier.trust("https://other.example.gov.cn", public_jwks([external]), agencies=[])
    with pytest.raises(ValueError, match="own issuer"):
        verifier.trust(ISSUER, public_jwks([external]), agencies=["gz-mzj"])
    # the gateway's own tokens name the agency of the client they were issued to
    assert verifier.verify(sign(key, claims(agency="gz-zsj", sub="gz-zsj"))).agency == "gz-zsj"


def test_trusted_keys_are_not_fetched_over_plain_http() -> None:
    with pytest.raises(ValueError, match="over https"):
        load_jwks("http://idp.example.gov.cn/jwks.json")


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([{"kty": "EC"}], "is not a valid key set: .*'crv' is required"),
        ([{"kty": "RSA?"}], "is not a valid key set"),
        ([{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}], "is not a valid key set"),
    ],
)
def test_an_unusable_key_set_of_an_external_issuer_is_named(key: ECKey, keys: list[dict[str, str]], message: str) -> None:
    verifier = TokenVerifier(KeySet([key]), ISSUER, AUDIENCE)
    with pytest.raises(ValueError, match=message):
        verifier.trust("https://idp.example.gov.cn", {"keys": keys}, agencies=["gz-mzj"])
    assert "https://idp.example.gov.cn" not in verifier.trusted


def test_a_key_set_file_must_hold_key_objects(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text('{"keys": [{"kty": "EC"}, "EC"]}', encoding="utf-8")
    with pytest.raises(ValueError, match="key 2 of 'keys' is not a JSON object"):
        load_jwks(str(path))


def test_jwks_publishes_only_public_parts(key: ECKey) -> None:
    document = public_jwks([key])
    assert document["keys"][0]["kid"] == key.kid
    assert "d" not in document["keys"][0]


def test_secret_hashes() -> None:
    stored = hash_secret("demo-gz-mzj")
    assert "demo-gz-mzj" not in stored and stored.startswith("scrypt$")
    assert verify_secret("demo-gz-mzj", stored)
    assert not verify_secret("demo-gz-mzJ", stored)
    assert not verify_secret("demo-gz-mzj", "plain")
