-- An event's subjects are keyed hashes: random hex, which no compressor shrinks. PostgreSQL
-- still tried to compress every array that made a row wider than 2 kB (an operation on
-- 30 subjects or more), failed, and stored it uncompressed in the TOAST table: on an append
-- of 100-subject events that attempt was a third of the statement's time. The column is
-- now stored without compression, and rows of up to a page stay in the table itself.
ALTER TABLE disclosure_events ALTER COLUMN subjects SET STORAGE EXTERNAL;
ALTER TABLE disclosure_events SET (toast_tuple_target = 8160);
