-- Appending must stay cheap (R-30 audits every request): of the ledger's inverted indexes only
-- the subjects' one is kept, for "who obtained this person's data"; queries by provider or
-- item narrow by time and agency first.
DROP INDEX IF EXISTS disclosure_events_providers;
DROP INDEX IF EXISTS disclosure_events_items;
