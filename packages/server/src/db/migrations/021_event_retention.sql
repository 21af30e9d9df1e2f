-- Events older than OPENCVM_EVENT_RETENTION_DAYS are deleted in batches (store/events.ts `pruneEvents`), their
-- webhook deliveries and attempts with them (ON DELETE CASCADE). The indexes those deletes need: a delivery by its
-- event (the cascade, and the check that none of an event's deliveries is still pending), a delivery by the one
-- it resends (ON DELETE SET NULL), and events by time.
CREATE INDEX webhook_deliveries_event_seq ON webhook_deliveries (event_seq);
CREATE INDEX webhook_deliveries_resend_of ON webhook_deliveries (resend_of) WHERE resend_of IS NOT NULL;
CREATE INDEX events_created ON events (created_at);
