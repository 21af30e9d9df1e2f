-- Quotes verified through Phala's `POST /attestations/verify` (and read back by `view`, `raw`, `collateral`,
-- `recent`). Public: anyone may verify a quote, so nothing here is secret or tied to a workspace.
--
-- checksum: SHA-256 of the quote bytes, hex (the API's id); quote: the bytes as uploaded; collateral: Intel's
-- collateral the quote was last verified against (QuoteCollateralV3 as JSON); success, tcb_status, advisory_ids,
-- reason: the last verification's result; verified_at: the time it was verified at (the caller's `at`, or the
-- request's time); uploaded_at: the first upload; checked_at: the last verification (`recent` orders by it).
CREATE TABLE attestation_quotes (
  checksum     text PRIMARY KEY CHECK (checksum ~ '^[0-9a-f]{64}$'),
  quote        bytea NOT NULL CHECK (octet_length(quote) BETWEEN 1 AND 65536),
  tee_type     integer NOT NULL,
  collateral   jsonb NOT NULL,
  success      boolean NOT NULL,
  tcb_status   text,
  advisory_ids text[] NOT NULL DEFAULT '{}',
  reason       text,
  verified_at  timestamptz NOT NULL,
  uploaded_at  timestamptz NOT NULL DEFAULT now(),
  checked_at   timestamptz NOT NULL DEFAULT now(),
  seq          bigint GENERATED ALWAYS AS IDENTITY
);

CREATE INDEX attestation_quotes_recent ON attestation_quotes (checked_at DESC, seq DESC);
