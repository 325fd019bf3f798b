from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Protocol, cast

from joserfc import jws
from joserfc.errors import InvalidKeyTypeError, JoseError
from joserfc.jwa import EdDSAAlgorithm, JWSAlgModel
from joserfc.jwk import Key, OKPKey

__all__ = [
    "SEAL_TYPE", "EdDSASealAlgorithm", "SealAlgorithm", "SealKey", "SealKeyring", "SealVerification",
    "UnsupportedSealAlgorithm", "canonical_record", "register_seal_algorithm", "seal", "seal_algorithm",
    "verify_seal",
]

SEAL_TYPE = "govshare-seal+jws"
_HEADER_NAMES = frozenset({"alg", "kid", "typ"})
_PAYLOAD_NAMES = frozenset({"item", "provider", "subject", "fields", "signedAt"})
_AGENCY_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_KID = re.compile(r"(?P<agency>.+)-(?P<serial>[1-9][0-9]*)")


def _canonical_value(value: object) -> object:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # Float text differs between languages and loses exactness; sealed numbers are Decimal.
        raise TypeError("float values cannot be sealed; use Decimal")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"non-finite Decimal {value} cannot be sealed")
        return format(value, "f")
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            return value.isoformat()
        return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        if not all(isinstance(name, str) for name in value):
            raise TypeError("record keys must be strings")
        return {name: _canonical_value(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical_value(item) for item in value]
    raise TypeError(f"values of type {type(value).__name__} cannot be sealed")


def _dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_record(record: Mapping[str, object]) -> bytes:
    if not isinstance(record, Mapping):
        raise TypeError("a sealed record must be a mapping")
    return _dumps(_canonical_value(record)).encode("utf-8")


class SealAlgorithm(Protocol):
    name: str
    jws_model: JWSAlgModel

    def generate_key(self, kid: str) -> Key: ...
    def import_key(self, jwk: Mapping[str, Any]) -> Key: ...


class _PinnedEd25519(EdDSAAlgorithm):
    # joserfc warns that RFC 9864 deprecates "EdDSA" because the name leaves the curve
    # open; seal keys are pinned to Ed25519 when generated or imported, which settles that.
    security_warning = None  # type: ignore[assignment]


class EdDSASealAlgorithm:
    name = "EdDSA"
    jws_model: JWSAlgModel = _PinnedEd25519()

    def generate_key(self, kid: str) -> Key:
        return OKPKey.generate_key("Ed25519", parameters={"kid": kid, "alg": self.name, "use": "sig"})

    def import_key(self, jwk: Mapping[str, Any]) -> Key:
        key = OKPKey.import_key(dict(jwk))
        self.jws_model.check_key(key)
        if key.curve_name != "Ed25519":
            raise InvalidKeyTypeError("EdDSA seals require an Ed25519 key")
        return key


class UnsupportedSealAlgorithm(ValueError):
    pass


_ALGORITHMS: dict[str, SealAlgorithm] = {}


def register_seal_algorithm(algorithm: SealAlgorithm) -> None:
    model = algorithm.jws_model
    if algorithm.name == "none" or model.key_type == "oct" or model.name != algorithm.name:
        raise UnsupportedSealAlgorithm(f"{algorithm.name!r} is not a public-key signature algorithm")
    _ALGORITHMS[algorithm.name] = algorithm


def seal_algorithm(name: str) -> SealAlgorithm:
    if name not in _ALGORITHMS:
        raise UnsupportedSealAlgorithm(f"algorithm {name!r} is not accepted for seals")
    return _ALGORITHMS[name]


register_seal_algorithm(EdDSASealAlgorithm())


def _jws_registry(algorithm: SealAlgorithm) -> jws.JWSRegistry:
    registry = jws.JWSRegistry(algorithms=[algorithm.name])
    # A per-instance table keeps joserfc's global algorithm list (HS256, none, ...) out of reach.
    registry.algorithms = {algorithm.name: algorithm.jws_model}
    return registry


@dataclass(frozen=True)
class SealKey:
    agency: str
    serial: int
    algorithm: str
    jwk: Key = field(repr=False, compare=False)

    @property
    def kid(self) -> str:
        return f"{self.agency}-{self.serial}"


class SealKeyring:
    def __init__(self, *, algorithm: str = "EdDSA", verify_only: bool = False) -> None:
        self._algorithm = seal_algorithm(algorithm).name
        self._verify_only = verify_only
        self._keys: dict[str, SealKey] = {}

    @property
    def can_seal(self) -> bool:
        return not self._verify_only

    def rotate(self, agency: str) -> str:
        if self._verify_only:
            raise ValueError("a verify-only keyring cannot create seal keys")
        if not isinstance(agency, str) or not _AGENCY_CODE.fullmatch(agency):
            raise ValueError(f"invalid agency code {agency!r}")
        serial = max((key.serial for key in self._keys.values() if key.agency == agency), default=0) + 1
        algorithm = seal_algorithm(self._algorithm)
        key = SealKey(agency, serial, algorithm.name, algorithm.generate_key(f"{agency}-{serial}"))
        self._keys[key.kid] = key
        return key.kid

    def active_key(self, agency: str) -> SealKey:
        chain = [key for key in self._keys.values() if key.agency == agency]
        if not chain:
            raise KeyError(f"no seal key for agency {agency!r}")
        return max(chain, key=lambda key: key.serial)

    def key_for(self, kid: str) -> SealKey | None:
        return self._keys.get(kid)

    def _jwks(self, *, private: bool) -> dict[str, Any]:
        ordered = sorted(self._keys.values(), key=lambda key: (key.agency, key.serial))
        keys = [key.jwk.as_dict(private=private, kid=key.kid, alg=key.algorithm, use="sig") for key in ordered]
        return {"keys": keys}

    def public_jwks(self) -> dict[str, Any]:
        return self._jwks(private=False)

    def export_private(self) -> dict[str, Any]:
        if self._verify_only:
            raise ValueError("a verify-only keyring holds no private keys")
        return self._jwks(private=True)

    @classmethod
    def from_private(cls, data: Mapping[str, Any], *, algorithm: str = "EdDSA") -> SealKeyring:
        return cls(algorithm=algorithm)._load(data, private=True)

    @classmethod
    def from_public_jwks(cls, jwks: Mapping[str, Any]) -> SealKeyring:
        return cls(verify_only=True)._load(jwks, private=False)

    def _load(self, data: Mapping[str, Any], *, private: bool) -> SealKeyring:
        entries = data.get("keys") if isinstance(data, Mapping) else None
        if not isinstance(entries, list) or not all(isinstance(entry, Mapping) for entry in entries):
            raise ValueError("expected a JWKS object with a 'keys' list of JWK objects")
        for entry in entries:
            kid, alg = entry.get("kid"), entry.get("alg")
            match = _KID.fullmatch(kid) if isinstance(kid, str) else None
            if kid is None:
                raise ValueError("a key has no 'kid'; seal keys are named <agency>-<n>")
            if match is None or not _AGENCY_CODE.fullmatch(match["agency"]) or kid in self._keys:
                raise ValueError(f"kid {kid!r} is duplicated or not of the form <agency>-<n>")
            algorithm = seal_algorithm(alg if isinstance(alg, str) else repr(alg))
            try:
                jwk = algorithm.import_key(entry)
                jwk = jwk if private else algorithm.import_key(jwk.as_dict(private=False))
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"JWK {kid!r} is not a usable {algorithm.name} seal key: {exc}") from exc
            if private and not jwk.is_private:
                raise ValueError(f"JWK {kid!r} has no private part")
            self._keys[kid] = SealKey(match["agency"], int(match["serial"]), algorithm.name, jwk)
        return self


def seal(
    keyring: SealKeyring, *, item: str, provider: str, subject: str, fields: Mapping[str, object], signed_at: datetime
) -> str:
    if not keyring.can_seal:
        raise ValueError("a verify-only keyring cannot seal")
    if signed_at.utcoffset() is None:
        raise ValueError("signed_at must be timezone-aware")
    key = keyring.active_key(provider)
    algorithm = seal_algorithm(key.algorithm)
    record = {"item": item, "provider": provider, "subject": subject, "fields": fields, "signedAt": signed_at}
    header = {"alg": algorithm.name, "kid": key.kid, "typ": SEAL_TYPE}
    return jws.serialize_compact(header, canonical_record(record), key.jwk, registry=_jws_registry(algorithm))


@dataclass(frozen=True)
class SealVerification:
    valid: bool
    item: str | None = None
    provider: str | None = None
    subject: str | None = None
    signed_at: datetime | None = None
    fields: dict[str, Any] | None = field(default=None, hash=False)
    reason: str | None = None


def _refuse(reason: str) -> SealVerification:
    return SealVerification(False, reason=reason)


def verify_seal(
    keyring: SealKeyring, token: str, *, expected_fields: Mapping[str, object] | None = None
) -> SealVerification:
    try:
        obj = jws.extract_compact(token.encode("utf-8"))
        header = dict(obj.headers())
    except Exception:  # joserfc raises assorted error types on garbage; all mean "malformed"
        return _refuse("malformed token")
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg not in _ALGORITHMS:
        return _refuse(f"algorithm {alg!r} is not accepted for seals")
    if header.get("typ") != SEAL_TYPE:
        return _refuse(f"token type {header.get('typ')!r} is not {SEAL_TYPE!r}")
    if set(header) - _HEADER_NAMES:
        return _refuse(f"unexpected header {sorted(set(header) - _HEADER_NAMES)[0]!r}")
    key = keyring.key_for(kid) if isinstance(kid, str) else None
    if key is None:
        return _refuse(f"unknown kid {kid!r}")
    if key.algorithm != alg:
        return _refuse(f"kid {kid!r} is a {key.algorithm} key but the token claims {alg}")
    try:
        authentic = jws.validate_compact(obj, key.jwk, registry=_jws_registry(seal_algorithm(alg)))
    except JoseError:
        authentic = False
    if not authentic:
        return _refuse("bad signature")
    sealed = _parse_payload(obj.payload)
    if sealed is None:
        return _refuse("signed payload is not a seal record")
    if sealed.provider != key.agency:
        return _refuse(f"kid {kid!r} belongs to agency {key.agency!r}, not to provider {sealed.provider!r}")
    if expected_fields is not None:
        mismatch = _first_mismatch(sealed.fields or {}, expected_fields)
        if mismatch is not None:
            # The seal itself is authentic, so its contents are returned for display.
            return replace(sealed, valid=False, reason=mismatch)
    return sealed


def _parse_payload(payload: bytes) -> SealVerification | None:
    try:
        record = json.loads(payload)
        item, provider, subject, fields = (record[name] for name in ("item", "provider", "subject", "fields"))
        signed_at = datetime.fromisoformat(record["signedAt"])
    except (ValueError, TypeError, KeyError):
        return None
    if set(record) != _PAYLOAD_NAMES or signed_at.utcoffset() is None or not isinstance(fields, dict):
        return None
    if not all(isinstance(text, str) for text in (item, provider, subject)):
        return None
    return SealVerification(True, item, provider, subject, signed_at, fields)


def _first_mismatch(sealed: Mapping[str, Any], expected: Mapping[str, object]) -> str | None:
    try:
        canonical = cast(dict[str, object], _canonical_value(dict(expected)))
        given = {name: _dumps(value) for name, value in canonical.items()}
    except (TypeError, ValueError) as exc:
        return f"the given record cannot be canonicalised: {exc}"
    for name in sorted(set(sealed) | set(given)):
        if name not in sealed:
            return f"field {name!r} is not in the sealed record"
        if name not in given:
            return f"sealed field {name!r} is missing from the given record"
        if _dumps(sealed[name]) != given[name]:
            return f"field {name!r} differs from the sealed record"
    return None
