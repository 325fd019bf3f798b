-- Appending a batch is one statement (one round trip, its own durable transaction): lock the
-- chain, read the head with a fresh snapshot, hash each event onto it, insert, commit.
-- hash(n) = sha256_hex(prev_hash || canonical JSON of event n with "seq": n); the caller sends
-- each event's canonical JSON split around the seq value (`befores`, `afters`).
CREATE FUNCTION ledger_append(events jsonb, befores text[], afters text[])
RETURNS TABLE (seq bigint, prev_hash text, hash text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    e jsonb;
    n int := coalesce(array_length(befores, 1), 0);
BEGIN
    PERFORM pg_advisory_xact_lock(724102);
    IF current_setting('synchronous_commit') = 'off' THEN
        PERFORM set_config('synchronous_commit', 'on', true);
    END IF;
    SELECT d.seq, d.hash INTO head_seq, head_hash FROM disclosure_events d ORDER BY d.seq DESC LIMIT 1;
    head_seq := coalesce(head_seq, 0);
    head_hash := coalesce(head_hash, repeat('0', 64));
    FOR i IN 1 .. n LOOP
        e := events -> (i - 1);
        seq := head_seq + i;
        prev_hash := head_hash;
        hash := encode(sha256(convert_to(head_hash || befores[i] || seq::text || afters[i], 'UTF8')), 'hex');
        INSERT INTO disclosure_events (
            seq, time, request_id, receipt_id, agency, client, duty, case_id, on_behalf_of, operation_name,
            operation_hash, items, subjects, providers, row_count, latency_ms, outcome, source, prev_hash, hash
        ) VALUES (
            seq, (e ->> 'time')::timestamptz, e ->> 'request_id', e ->> 'receipt_id', e ->> 'agency', e ->> 'client',
            e ->> 'duty', e ->> 'case_id', ARRAY(SELECT jsonb_array_elements_text(e -> 'on_behalf_of')),
            e ->> 'operation_name', e ->> 'operation_hash', e -> 'items',
            ARRAY(SELECT jsonb_array_elements_text(e -> 'subjects')), ARRAY(SELECT jsonb_array_elements_text(e -> 'providers')),
            (e ->> 'row_count')::bigint, (e ->> 'latency_ms')::double precision, e ->> 'outcome', e ->> 'source',
            prev_hash, hash
        );
        head_hash := hash;
        RETURN NEXT;
    END LOOP;
END;
$$;
