-- The subjects index (GIN) takes new entries into a pending list and moves them into the
-- index in bulk when the list passes gin_pending_list_limit. The default limit (4 MB) is
-- reached every few thousand events of 100 subjects, and the append that reaches it does the
-- move itself: ~150 ms under the ledger lock, with every request of every gateway waiting.
-- The ledger writer moves the list in the background instead (gin_clean_pending_list every
-- 20,000 subjects, a few MB); the limit is raised so that an append does it only when that
-- upkeep does not run. Lookups by subject scan the pending list, which stays small.
ALTER INDEX disclosure_events_subjects SET (gin_pending_list_limit = 32768);
