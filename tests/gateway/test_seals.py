from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwa import JWSAlgModel
from joserfc.jws import JWSRegistry

from gateway.seals import (
    SEAL_TYPE,
    SealKeyring,
    UnsupportedSealAlgorithm,
    canonical_record,
    register_seal_algorithm,
    seal,
    seal_algorithm,
    verify_seal,
)

CST = timezone(timedelta(hours=8))
SIGNED_AT = datetime(2026, 3, 9, 10, 30, tzinfo=CST)
LICENSE = {
    "licenseNo": "91440101MA59XXXX1A",
    "holder": "广州市某某餐饮有限公司",
    "validUntil": date(2028, 6, 30),
    "registeredCapital": Decimal("500000.00"),
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def forge(header: Mapping[str, object], payload: bytes, sign: Callable[[bytes], bytes] | None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    signature = sign(signing_input.encode("ascii")) if sign else b""
    return f"{signing_input}.{b64(signature)}"


def signing_key(ring: SealKeyring, agency: str) -> Ed25519PrivateKey:
    key = ring.active_key(agency).jwk.private_key
    assert isinstance(key, Ed25519PrivateKey)
    return key


@pytest.fixture
def keyring() -> SealKeyring:
    ring = SealKeyring()
    assert ring.rotate("gz-amr") == "gz-amr-1"
    assert ring.rotate("gz-hrss") == "gz-hrss-1"
    return ring


def seal_license(ring: SealKeyring, provider: str = "gz-amr") -> str:
    return seal(ring, item="business-license", provider=provider, subject="91440101MA59XXXX1A",
                fields=LICENSE, signed_at=SIGNED_AT)


# canonical form

def test_canonical_record_rules() -> None:
    record = {
        "b": 1,
        "a": "广州",
        "d": date(2026, 3, 9),
        "n": Decimal("12.50"),
        "e": Decimal("1E+3"),
        "t": datetime(2026, 3, 9, 8, 0, tzinfo=CST),
        "local": datetime(2026, 3, 9, 8, 0, 0, 250000),
        "list": (True, None, [2]),
        "nested": {"z": 0, "y": "x"},
    }
    expected = (
        '{"a":"广州","b":1,"d":"2026-03-09","e":"1000","list":[true,null,[2]],'
        '"local":"2026-03-09T08:00:00.250000","n":"12.50","nested":{"y":"x","z":0},'
        '"t":"2026-03-09T00:00:00Z"}'
    ).encode("utf-8")
    assert canonical_record(record) == expected


def test_canonical_form_ignores_key_order_and_offsets() -> None:
    one = {"a": 1, "b": {"c": [1, 2], "d": "x"}, "at": datetime(2026, 1, 1, 8, tzinfo=CST)}
    two = {"b": {"d": "x", "c": [1, 2]}, "at": datetime(2026, 1, 1, 0, tzinfo=timezone.utc), "a": 1}
    assert list(one) != list(two)
    assert canonical_record(one) == canonical_record(two)


@pytest.mark.parametrize(
    "record",
    [{"x": 1.5}, {"x": Decimal("NaN")}, {"x": {1, 2}}, {1: "x"}, {"x": b"raw"}, {"x": "\ud800"}],
)
def test_canonical_form_refuses_ambiguous_values(record: dict[object, object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_record(record)  # type: ignore[arg-type]


# sealing and verification

def test_seal_roundtrip(keyring: SealKeyring) -> None:
    token = seal_license(keyring)
    header_segment, payload_segment, _ = token.split(".")
    assert json.loads(unb64(header_segment)) == {"alg": "EdDSA", "kid": "gz-amr-1", "typ": SEAL_TYPE}
    payload = unb64(payload_segment).decode("utf-8")
    assert '"signedAt":"2026-03-09T02:30:00Z"' in payload
    assert '"registeredCapital":"500000.00"' in payload

    result = verify_seal(keyring, token, expected_fields=LICENSE)
    assert result.valid, result.reason
    assert result.reason is None
    assert (result.item, result.provider, result.subject) == ("business-license", "gz-amr", "91440101MA59XXXX1A")
    assert result.signed_at == SIGNED_AT
    assert result.fields == {
        "licenseNo": "91440101MA59XXXX1A",
        "holder": "广州市某某餐饮有限公司",
        "validUntil": "2028-06-30",
        "registeredCapital": "500000.00",
    }


def test_tampered_payload_segment_is_bad_signature(keyring: SealKeyring) -> None:
    header, payload, signature = seal_license(keyring).split(".")
    middle = len(payload) // 2
    swapped = "A" if payload[middle] != "A" else "B"
    tampered = f"{header}.{payload[:middle]}{swapped}{payload[middle + 1:]}.{signature}"
    result = verify_seal(keyring, tampered)
    assert not result.valid
    assert result.reason == "bad signature"
    assert result.fields is None


def test_tampered_record_names_first_differing_field(keyring: SealKeyring) -> None:
    token = seal_license(keyring)
    altered = {**LICENSE, "holder": "广州市某某餐饮有限公圣", "licenseNo": "91440101MA59XXXX1B"}
    result = verify_seal(keyring, token, expected_fields=altered)
    assert not result.valid
    assert result.reason is not None and "'holder'" in result.reason
    assert result.fields is not None and result.fields["holder"] == LICENSE["holder"]

    missing = {k: v for k, v in LICENSE.items() if k != "validUntil"}
    reason = verify_seal(keyring, token, expected_fields=missing).reason
    assert reason is not None and "'validUntil'" in reason
    reason = verify_seal(keyring, token, expected_fields={**LICENSE, "extra": 1}).reason
    assert reason is not None and "'extra'" in reason
    reason = verify_seal(keyring, token, expected_fields={**LICENSE, "validUntil": date(2028, 7, 1)}).reason
    assert reason is not None and "'validUntil'" in reason
    for unsealable in ({**LICENSE, "holder": 1.5}, {1: "x"}):
        result = verify_seal(keyring, token, expected_fields=unsealable)  # type: ignore[arg-type]
        assert not result.valid and "cannot be canonicalised" in (result.reason or "")
    reason = verify_seal(keyring, token, expected_fields={**LICENSE, "holder": "\ud800"}).reason
    assert reason == "field 'holder' differs from the sealed record"


def test_key_rotation_keeps_old_seals_verifiable(keyring: SealKeyring) -> None:
    old = seal_license(keyring)
    assert keyring.rotate("gz-amr") == "gz-amr-2"
    new = seal_license(keyring)
    assert json.loads(unb64(new.split(".")[0]))["kid"] == "gz-amr-2"
    assert json.loads(unb64(old.split(".")[0]))["kid"] == "gz-amr-1"
    assert verify_seal(keyring, old, expected_fields=LICENSE).valid
    assert verify_seal(keyring, new, expected_fields=LICENSE).valid
    assert keyring.active_key("gz-amr").kid == "gz-amr-2"
    assert keyring.active_key("gz-hrss").kid == "gz-hrss-1"


def test_alg_none_and_hs256_are_refused(keyring: SealKeyring) -> None:
    payload = unb64(seal_license(keyring).split(".")[1])
    unsigned = forge({"alg": "none", "kid": "gz-amr-1", "typ": SEAL_TYPE}, payload, None)
    result = verify_seal(keyring, unsigned)
    assert not result.valid and result.reason is not None and "'none'" in result.reason

    # Classic confusion attack: HMAC keyed with the published public key.
    public_x = unb64(str(keyring.public_jwks()["keys"][0]["x"]))
    mac = forge({"alg": "HS256", "kid": "gz-amr-1", "typ": SEAL_TYPE}, payload,
                lambda data: hmac.new(public_x, data, hashlib.sha256).digest())
    result = verify_seal(keyring, mac)
    assert not result.valid and result.reason is not None and "'HS256'" in result.reason


def test_unknown_kid(keyring: SealKeyring) -> None:
    other = SealKeyring()
    other.rotate("gz-amr")
    other.rotate("gz-amr")
    result = verify_seal(keyring, seal_license(other))
    assert not result.valid
    assert result.reason == "unknown kid 'gz-amr-2'"
    # Same kid name, different key material: the signature does not match.
    stranger = SealKeyring()
    stranger.rotate("gz-amr")
    assert verify_seal(keyring, seal_license(stranger)).reason == "bad signature"


def test_kid_of_another_agency_cannot_seal_for_provider(keyring: SealKeyring) -> None:
    record = {"item": "social-insurance", "provider": "gz-hrss", "subject": "x",
              "fields": {}, "signedAt": "2026-03-09T02:30:00Z"}
    amr_key = signing_key(keyring, "gz-amr")
    token = forge({"alg": "EdDSA", "kid": "gz-amr-1", "typ": SEAL_TYPE}, canonical_record(record), amr_key.sign)
    result = verify_seal(keyring, token)
    assert not result.valid
    assert result.reason is not None and "'gz-amr'" in result.reason and "'gz-hrss'" in result.reason


def test_unexpected_headers_and_type_are_refused(keyring: SealKeyring) -> None:
    key = signing_key(keyring, "gz-amr")
    payload = unb64(seal_license(keyring).split(".")[1])
    wrong_typ = forge({"alg": "EdDSA", "kid": "gz-amr-1", "typ": "JWT"}, payload, key.sign)
    assert "'JWT'" in (verify_seal(keyring, wrong_typ).reason or "")
    jku = {"alg": "EdDSA", "kid": "gz-amr-1", "typ": SEAL_TYPE, "jku": "https://attacker.example/jwks"}
    assert "'jku'" in (verify_seal(keyring, forge(jku, payload, key.sign)).reason or "")
    good = forge({"alg": "EdDSA", "kid": "gz-amr-1", "typ": SEAL_TYPE}, payload, key.sign)
    assert verify_seal(keyring, good).valid


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "..", "e30.e30.", "W10.e30.AA", None, 42])
def test_malformed_tokens_never_raise(keyring: SealKeyring, token: object) -> None:
    result = verify_seal(keyring, token)  # type: ignore[arg-type]
    assert not result.valid
    assert result.reason


@settings(database=None, deadline=None, max_examples=200)
@given(token=st.text(max_size=300))
def test_arbitrary_text_never_raises(token: str) -> None:
    ring = SealKeyring()
    ring.rotate("gz-amr")
    assert verify_seal(ring, token).valid is False


# keyrings

def test_verify_only_keyring_from_public_jwks(keyring: SealKeyring) -> None:
    old = seal_license(keyring)
    keyring.rotate("gz-amr")
    new = seal_license(keyring)
    jwks = json.loads(json.dumps(keyring.public_jwks()))  # as read back from a JWKS file
    assert {key["kid"] for key in jwks["keys"]} == {"gz-amr-1", "gz-amr-2", "gz-hrss-1"}
    for key in jwks["keys"]:
        assert (key["alg"], key["use"], key["kty"], key["crv"]) == ("EdDSA", "sig", "OKP", "Ed25519")
        assert "d" not in key

    offline = SealKeyring.from_public_jwks(jwks)
    assert not offline.can_seal
    assert verify_seal(offline, old, expected_fields=LICENSE).valid
    assert verify_seal(offline, new, expected_fields=LICENSE).valid
    with pytest.raises(ValueError):
        seal_license(offline)
    with pytest.raises(ValueError):
        offline.rotate("gz-amr")


def test_public_jwks_loader_drops_private_parts(keyring: SealKeyring) -> None:
    offline = SealKeyring.from_public_jwks(keyring.export_private())
    assert not offline.can_seal
    assert all("d" not in key for key in offline.public_jwks()["keys"])
    assert offline.active_key("gz-amr").jwk.is_private is False


def test_private_export_roundtrip(keyring: SealKeyring) -> None:
    old = seal_license(keyring)
    keyring.rotate("gz-amr")
    exported = json.loads(json.dumps(keyring.export_private()))
    assert all("d" in key for key in exported["keys"])
    restored = SealKeyring.from_private(exported)
    assert restored.can_seal
    assert verify_seal(restored, old).valid
    assert restored.active_key("gz-amr").kid == "gz-amr-2"
    assert verify_seal(keyring, seal_license(restored)).valid
    assert restored.rotate("gz-amr") == "gz-amr-3"


@pytest.mark.parametrize(
    "jwks",
    [
        {},
        {"keys": "nope"},
        {"keys": [{"kid": "gz-amr", "alg": "EdDSA", "kty": "OKP"}]},
        {"keys": [{"kid": "gz-amr-1", "alg": "HS256", "kty": "oct", "k": "c2VjcmV0"}]},
        {"keys": [{"kid": "gz-amr-1", "alg": "EdDSA", "kty": "OKP", "crv": "Ed25519", "x": "!!"}]},
    ],
)
def test_bad_jwks_are_refused(jwks: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SealKeyring.from_public_jwks(jwks)


def test_public_keys_cannot_be_loaded_as_private(keyring: SealKeyring) -> None:
    with pytest.raises(ValueError):
        SealKeyring.from_private(keyring.public_jwks())
    duplicated = {"keys": keyring.public_jwks()["keys"] * 2}
    with pytest.raises(ValueError):
        SealKeyring.from_public_jwks(duplicated)


def test_sealing_requires_aware_time_and_a_key(keyring: SealKeyring) -> None:
    with pytest.raises(ValueError):
        seal(keyring, item="i", provider="gz-amr", subject="s", fields={}, signed_at=datetime(2026, 3, 9))
    with pytest.raises(KeyError):
        seal_license(keyring, provider="gz-unknown")
    with pytest.raises(ValueError):
        keyring.rotate("bad agency")


# algorithm registry

@dataclass(frozen=True)
class _Borrowed:
    name: str
    jws_model: JWSAlgModel

    def generate_key(self, kid: str) -> object:
        raise NotImplementedError

    def import_key(self, jwk: object) -> object:
        raise NotImplementedError


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_registry_refuses_unsigned_and_symmetric_algorithms(alg: str) -> None:
    with pytest.raises(UnsupportedSealAlgorithm):
        register_seal_algorithm(_Borrowed(alg, JWSRegistry.algorithms[alg]))  # type: ignore[arg-type]
    with pytest.raises(UnsupportedSealAlgorithm):
        seal_algorithm(alg)


def test_unknown_keyring_algorithm_is_refused() -> None:
    with pytest.raises(UnsupportedSealAlgorithm):
        SealKeyring(algorithm="SM2")
    assert seal_algorithm("EdDSA").name == "EdDSA"
