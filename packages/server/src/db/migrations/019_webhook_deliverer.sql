-- What the webhook deliverers of the servers sharing a database need beyond 017_webhooks.sql.
--
-- 1. A wake-up: new deliveries (an event's fan-out, a test event, a resend) NOTIFY `webhook_delivery` when their
--    transaction commits, so every server's deliverer looks for due deliveries at once instead of at its next
--    poll. Only a statement that inserted rows notifies (the fan-out runs for every event of a workspace, most of
--    which have no webhook); PostgreSQL folds a transaction's repeats (same channel, same empty payload) into
--    one. The payload is empty: a deliverer claims whatever is due, whoever queued it. The poll stays, for
--    retries coming due and as a safety net.
-- 2. The deliveries in flight (leased to a deliverer's owner id), indexed: each deliverer looks every second
--    for those whose deliverer is gone (its owner lock free) to send them again at once.
CREATE FUNCTION webhook_delivery_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM queued) THEN
    PERFORM pg_notify('webhook_delivery', '');
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER webhook_deliveries_queued AFTER INSERT ON webhook_deliveries
  REFERENCING NEW TABLE AS queued
  FOR EACH STATEMENT EXECUTE FUNCTION webhook_delivery_notify();

CREATE INDEX webhook_deliveries_in_flight ON webhook_deliveries (lease_owner) WHERE lease_owner IS NOT NULL;
