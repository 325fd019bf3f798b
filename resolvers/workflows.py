"""The regulation's workflows on the control database: objections (R-22), access requests
(R-19a/R-19b) and complaints (R-33). Every state change appends a step to workflow_steps."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import asyncpg

from gateway.workdays import OBJECTION_CHECK_WORKING_DAYS, OUT_OF_CATALOG_SUPPLY_WORKING_DAYS, Deadline, add_working_days, working_days_between

__all__ = [
    "TRANSITIONS", "AccessRequest", "Complaint", "Objection", "OpenRequestExists", "ScopeGrant", "Step", "Workflows", "check_deadline",
    "is_overdue", "next_actions", "next_status", "overdue_steps", "overdue_supplies", "scope_grants", "supply_deadline",
]

# (workflow, status, action) -> the status the action leads to; nothing else is a step.
TRANSITIONS: dict[tuple[str, str, str], str] = {
    ("objection", "filed", "confirmed"): "closed",  # operator: the shared value stands
    ("objection", "filed", "corrected_technical"): "closed",  # operator: transmission/format fixed
    ("objection", "filed", "forwarded"): "forwarded",  # operator: not technical, the provider checks
    ("objection", "forwarded", "value_correct"): "closed",  # provider: its record is right
    ("objection", "forwarded", "record_corrected"): "closed",  # provider: corrected its own store
    ("access_request", "awaiting_decision", "approved"): "awaiting_supply",
    ("access_request", "awaiting_decision", "rejected"): "rejected",
    ("access_request", "awaiting_supply", "supplied"): "supplied",
    ("complaint", "filed", "answered"): "answered",
}


def next_status(workflow: str, status: str, action: str) -> str | None:
    return TRANSITIONS.get((workflow, status, action))


def next_actions(workflow: str, status: str) -> list[str]:
    return [a for (w, s, a) in TRANSITIONS if w == workflow and s == status]


def check_deadline(started_on: dt.date) -> Deadline:
    """The operator's review, and the provider's check, each take 3 working days (R-22)."""
    return add_working_days(started_on, OBJECTION_CHECK_WORKING_DAYS)


def supply_deadline(decided_on: dt.date) -> Deadline:
    """After an approved out-of-catalog request the provider supplies within 5 working days (R-19b)."""
    return add_working_days(decided_on, OUT_OF_CATALOG_SUPPLY_WORKING_DAYS)


def is_overdue(due: dt.date | None, today: dt.date) -> bool:
    return due is not None and today > due  # the due date itself is still in time


@dataclass(frozen=True)
class Step:
    action: str
    actor: str
    at: dt.datetime
    note: str | None


@dataclass(frozen=True)
class Objection:
    id: int
    item: str
    provider: str
    subject: str
    field: str
    claimed_value: str
    reason: str
    filed_by: str
    duty: str
    status: str
    outcome: str | None
    step_started_on: dt.date | None
    due: dt.date | None
    due_estimated: bool | None
    filed_at: dt.datetime
    closed_at: dt.datetime | None
    steps: tuple[Step, ...] = ()

    @property
    def awaiting(self) -> str | None:
        """Who holds the open step: "operator" (review), the provider's code (check), or None when closed."""
        return {"filed": "operator", "forwarded": self.provider}.get(self.status)

    def concerns(self, agency: str) -> bool:
        """The filer, and the provider once the operator forwarded the objection to it."""
        forwarded = self.status == "forwarded" or self.outcome in ("value_correct", "record_corrected")
        return agency == self.filed_by or (agency == self.provider and forwarded)

    def overdue(self, today: dt.date) -> bool:
        return is_overdue(self.due, today)


@dataclass(frozen=True)
class AccessRequest:
    id: int
    item: str
    provider: str
    duty: str
    requester: str
    justification: str
    status: str
    decision_reference: str | None
    decided_on: dt.date | None
    supply_due: dt.date | None
    supply_due_estimated: bool | None
    supplied_on: dt.date | None
    supplied_late: bool | None
    requested_at: dt.datetime
    steps: tuple[Step, ...] = ()

    def concerns(self, agency: str) -> bool:
        return agency in (self.requester, self.provider)

    def overdue(self, today: dt.date) -> bool:
        return self.status == "awaiting_supply" and is_overdue(self.supply_due, today)

    def working_days_late(self, today: dt.date) -> int:
        """Working days past the supply deadline, until supplied (R-19b)."""
        return working_days_between(self.supply_due, self.supplied_on or today) if self.supply_due else 0


@dataclass(frozen=True)
class Complaint:
    id: int
    filed_by: str
    against: str
    article: str | None
    description: str
    filed_at: dt.datetime
    answer: str | None
    answered_by: str | None
    answered_at: dt.datetime | None
    steps: tuple[Step, ...] = ()

    def concerns(self, agency: str) -> bool:
        return agency in (self.filed_by, self.against)


@dataclass(frozen=True)
class ScopeGrant:
    """A government-approved scope widening: the catalog adds `duty` to `item` (R-19b, R-9)."""

    id: int
    item: str
    duty: str
    request_id: int
    decision_reference: str
    approved_by: str
    approved_at: dt.datetime


class OpenRequestExists(Exception):
    def __init__(self, request_id: int) -> None:
        super().__init__(f"access request {request_id} for this item and duty is still open")
        self.request_id = request_id


_KINDS: dict[str, tuple[str, Any]] = {"objection": ("objections", Objection), "access_request": ("access_requests", AccessRequest), "complaint": ("complaints", Complaint)}


class Workflows:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def _load(self, conn: Any, workflow: str, rows: list[asyncpg.Record]) -> list[Any]:
        steps: dict[int, list[Step]] = {r["id"]: [] for r in rows}
        sql = "SELECT * FROM workflow_steps WHERE workflow = $1 AND case_id = ANY($2::bigint[]) ORDER BY id"
        for s in await conn.fetch(sql, workflow, list(steps)):
            steps[s["case_id"]].append(Step(s["action"], s["actor"], s["at"], s["note"]))
        return [_KINDS[workflow][1](**dict(r), steps=tuple(steps[r["id"]])) for r in rows]

    async def _select(self, workflow: str, where: str, *args: Any) -> list[Any]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT * FROM {_KINDS[workflow][0]} WHERE {where} ORDER BY id", *args)  # noqa: S608 - fixed SQL text
            return await self._load(conn, workflow, rows)

    async def get(self, workflow: str, case_id: int) -> Any:
        found = await self._select(workflow, "id = $1", case_id)
        return found[0] if found else None

    async def _change(self, workflow: str, sql: str, args: tuple[Any, ...], steps: list[tuple[str, str, str | None]], then: str = "", *more: Any) -> Any:
        """One transaction: `sql` RETURNING id (no row: not in the expected state), `then` ($1 = id, *more), the steps."""
        async with self.pool.acquire() as conn, conn.transaction():
            case_id = await conn.fetchval(sql, *args)
            if case_id is None:
                return None
            if then:
                await conn.execute(then, case_id, *more)
            await conn.executemany(
                "INSERT INTO workflow_steps (workflow, case_id, action, actor, note) VALUES ($1, $2, $3, $4, $5)",
                [(workflow, case_id, action, actor, note) for action, actor, note in steps],
            )
            row = await conn.fetchrow(f"SELECT * FROM {_KINDS[workflow][0]} WHERE id = $1", case_id)  # noqa: S608 - fixed SQL text
            return (await self._load(conn, workflow, [row]))[0]

    async def file_objection(
        self, *, item: str, provider: str, subject: str, field: str, claimed_value: str, reason: str, filed_by: str, duty: str, today: dt.date
    ) -> Objection:
        due = check_deadline(today)
        sql = (
            "INSERT INTO objections (item, provider, subject, field, claimed_value, reason, filed_by, duty, status, step_started_on, due,"
            " due_estimated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'filed', $9, $10, $11) RETURNING id"
        )
        args = (item, provider, subject, field, claimed_value, reason, filed_by, duty, today, due.due, due.estimated)
        return await self._change("objection", sql, args, [("filed", filed_by, reason)])  # type: ignore[no-any-return]

    async def advance_objection(self, case_id: int, status: str, action: str, actor: str, note: str | None, today: dt.date) -> Objection | None:
        """Take `action` on an objection still in `status`; None when it no longer is."""
        target = next_status("objection", status, action)
        if target is None:
            raise ValueError(f"{action} is not a step from status {status}")
        due = check_deadline(today) if target != "closed" else None
        sql = (
            "UPDATE objections SET status = $3, outcome = $4, step_started_on = $5, due = $6, due_estimated = $7,"
            " closed_at = CASE WHEN $3 = 'closed' THEN now() END WHERE id = $1 AND status = $2 RETURNING id"
        )
        outcome = action if target == "closed" else None
        args = (case_id, status, target, outcome, due and today, due and due.due, due and due.estimated)
        return await self._change("objection", sql, args, [(action, actor, note)])  # type: ignore[no-any-return]

    async def objections(self, agency: str | None, status: str | None, overdue: bool | None, today: dt.date) -> list[Objection]:
        """Every objection when `agency` is None (the operator), else those it filed or that were forwarded to it."""
        where = (
            "($1::text IS NULL OR filed_by = $1 OR (provider = $1 AND (status = 'forwarded' OR outcome IN ('value_correct', 'record_corrected'))))"
            " AND ($2::text IS NULL OR status = $2) AND ($3::boolean IS NULL OR coalesce(status <> 'closed' AND due < $4, false) = $3)"
        )
        return await self._select("objection", where, agency, status, overdue, today)

    async def request_access(self, *, item: str, provider: str, duty: str, requester: str, justification: str, granted_because: str | None) -> AccessRequest:
        """Granted at once with `granted_because` (R-19a); otherwise it awaits a government decision."""
        sql = "INSERT INTO access_requests (item, provider, duty, requester, justification, status) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
        args = (item, provider, duty, requester, justification, "granted" if granted_because else "awaiting_decision")
        steps = [("requested", requester, justification)] + ([("granted", "platform", granted_because)] if granted_because else [])
        try:
            return await self._change("access_request", sql, args, steps)  # type: ignore[no-any-return]
        except asyncpg.UniqueViolationError:
            open_id = await self.pool.fetchval(
                "SELECT id FROM access_requests WHERE requester = $1 AND item = $2 AND duty = $3 AND status IN ('awaiting_decision', 'awaiting_supply')",
                requester, item, duty)
            raise OpenRequestExists(int(open_id or 0)) from None

    async def decide_access_request(self, case_id: int, approved: bool, reference: str, actor: str, note: str | None, today: dt.date) -> AccessRequest | None:
        """Record the government decision; an approval grants the scope and starts the supply deadline (R-19b)."""
        due = supply_deadline(today) if approved else None
        sql = (
            "UPDATE access_requests SET status = $2, decision_reference = $3, decided_on = $4, supply_due = $5, supply_due_estimated = $6"
            " WHERE id = $1 AND status = 'awaiting_decision' RETURNING id"
        )
        args = (case_id, "awaiting_supply" if approved else "rejected", reference, today, due and due.due, due and due.estimated)
        grant = "INSERT INTO catalog_scope_grants (item, duty, request_id, decision_reference, approved_by) SELECT item, duty, id, $2, $3 FROM access_requests WHERE id = $1"
        step = ("approved" if approved else "rejected", actor, f"government decision {reference}" + (f": {note}" if note else ""))
        return await self._change("access_request", sql, args, [step], grant if approved else "", reference, actor)  # type: ignore[no-any-return]

    async def confirm_supply(self, case_id: int, actor: str, note: str | None, today: dt.date) -> AccessRequest | None:
        """The provider has supplied; a supply after the deadline is recorded as late (R-19b, R-32)."""
        due = await self.pool.fetchval("SELECT supply_due FROM access_requests WHERE id = $1", case_id)
        late = f"supplied {working_days_between(due, today)} working day(s) after the deadline {due} (R-19b)" if due and today > due else None
        sql = (
            "UPDATE access_requests SET status = 'supplied', supplied_on = $2, supplied_late = $2 > supply_due"
            " WHERE id = $1 AND status = 'awaiting_supply' RETURNING id"
        )
        step = ("supplied", actor, "; ".join(t for t in (late, note) if t) or None)
        return await self._change("access_request", sql, (case_id, today), [step])  # type: ignore[no-any-return]

    async def access_requests(self, agency: str | None, status: str | None) -> list[AccessRequest]:
        where = "($1::text IS NULL OR requester = $1 OR provider = $1) AND ($2::text IS NULL OR status = $2)"
        return await self._select("access_request", where, agency, status)

    async def file_complaint(self, *, filed_by: str, against: str, article: str | None, description: str) -> Complaint:
        sql = "INSERT INTO complaints (filed_by, against, article, description) VALUES ($1, $2, $3, $4) RETURNING id"
        return await self._change("complaint", sql, (filed_by, against, article, description), [("filed", filed_by, None)])  # type: ignore[no-any-return]

    async def answer_complaint(self, case_id: int, answer: str, actor: str) -> Complaint | None:
        sql = "UPDATE complaints SET answer = $2, answered_by = $3, answered_at = now() WHERE id = $1 AND answer IS NULL RETURNING id"
        return await self._change("complaint", sql, (case_id, answer, actor), [("answered", actor, None)])  # type: ignore[no-any-return]

    async def complaints(self, agency: str | None) -> list[Complaint]:
        return await self._select("complaint", "$1::text IS NULL OR filed_by = $1 OR against = $1", agency)


async def overdue_steps(pool: asyncpg.Pool, today: dt.date) -> list[Objection]:
    """Objections whose open step (see `awaiting`) is past its due date, for the compliance monitor (R-22)."""
    return await Workflows(pool)._select("objection", "status <> 'closed' AND due < $1", today)


async def overdue_supplies(pool: asyncpg.Pool, today: dt.date) -> list[AccessRequest]:
    """Approved requests not supplied by the deadline, and those supplied late (R-19b, R-32)."""
    return await Workflows(pool)._select("access_request", "(status = 'awaiting_supply' AND supply_due < $1) OR supplied_late", today)


async def scope_grants(pool: asyncpg.Pool, after_id: int = 0) -> list[ScopeGrant]:
    """Approved scope widenings in the order granted; NOTIFY govshare_scope_grants announces new ones."""
    rows = await pool.fetch("SELECT * FROM catalog_scope_grants WHERE id > $1 ORDER BY id", after_id)
    return [ScopeGrant(**dict(r)) for r in rows]
