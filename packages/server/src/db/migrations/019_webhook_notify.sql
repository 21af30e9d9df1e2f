-- New webhook deliveries (an event's fan-out, a test event, a resend) NOTIFY `webhook_delivery` when their
-- transaction commits, so that the deliverer of every server on the database looks for due deliveries at
-- once instead of at its next poll. One notification per statement; PostgreSQL folds the repeats of a
-- transaction (same channel, same empty payload) into one. The payload is empty: the deliverer claims
-- whatever is due, whoever queued it. Its poll stays, for retries coming due and as a safety net.
CREATE FUNCTION webhook_delivery_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('webhook_delivery', '');
  RETURN NULL;
END $$;

CREATE TRIGGER webhook_deliveries_queued AFTER INSERT ON webhook_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION webhook_delivery_notify();
