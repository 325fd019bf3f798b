"""The tamper-evident disclosure ledger (R-30, R-31, R-34): events, hash chain, group commit
writer, audit sinks, signed checkpoints, verification and queries."""

from __future__ import annotations

from gateway.ledger.chain import GENESIS_HASH, LedgerRecord, canonical_json, chain_hash
from gateway.ledger.checkpoints import (
    Checkpoint, CheckpointSigner, SignatureVerifier, checkpoint_payload, jws_signer, jws_verifier,
)
from gateway.ledger.events import (
    DeniedField, DisclosureEvent, ItemDisclosure, Outcome, Source, operation_hash, subject_hash,
)
from gateway.ledger.queries import Disclosure, EventPage, disclosures, events
from gateway.ledger.sinks import ENTRY_POINT_GROUP, AuditSink, JsonLinesSink, SinkStats, entry_point_sinks
from gateway.ledger.verify import VerifyReport, verify_ledger
from gateway.ledger.writer import LedgerUnavailable, LedgerWriter, WriterStats

__all__ = [
    "ENTRY_POINT_GROUP", "GENESIS_HASH", "AuditSink", "Checkpoint", "CheckpointSigner", "DeniedField", "Disclosure",
    "DisclosureEvent", "EventPage", "ItemDisclosure", "JsonLinesSink", "LedgerRecord", "LedgerUnavailable",
    "LedgerWriter", "Outcome", "SignatureVerifier", "SinkStats", "Source", "VerifyReport", "WriterStats",
    "canonical_json", "chain_hash", "checkpoint_payload", "disclosures", "entry_point_sinks", "events",
    "jws_signer", "jws_verifier", "operation_hash", "subject_hash", "verify_ledger",
]
