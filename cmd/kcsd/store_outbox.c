/* store_outbox.c: the outbox of e-mails and letters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

/* outbox */

int
store_outbox_add(struct dbtx *tx, const char *kind, const char *to, const char *subject,
    const uint8_t *sealed, size_t len, const char *spool, const char *file, const char *message_id,
    long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO outbox (kind, recipient, subject, sealed, spool, file, message_id,"
	    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id", "sssbsssi",
	    kind, to, subject, sealed, len, spool, file, message_id, now);
}

/* The queued messages with a spool file in spool (or from before spools
 * were recorded): those a node may have to write again at start. */
int
store_outbox_unspooled(struct dbtx *tx, const char *spool, cJSON **out)
{
	return rows(tx, out, "SELECT id, file FROM outbox WHERE status = 'queued' AND file <> ''"
	    " AND (spool IS NULL OR spool = ?) ORDER BY id", "s", spool);
}

int
store_outbox_list(struct dbtx *tx, cJSON **out)
{
	return rows(tx, out, "SELECT id, kind, recipient, subject, file, message_id, status, attempts, result,"
	    " created_at, next_attempt_at, delivered_at FROM outbox ORDER BY id", "");
}

/* The next e-mail due for delivery, taken for it (status sending, one
 * more attempt): its id, or STORE_NOTFOUND. */
int
store_outbox_claim(struct dbtx *tx, long long now, long long *id)
{
	cJSON *o;
	int rc = row(tx, &o, "UPDATE outbox SET status = 'sending', claimed_at = ?, attempts = attempts + 1"
	    " WHERE id = (SELECT id FROM outbox WHERE kind = 'email' AND status = 'queued'"
	    " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT 1) RETURNING id",
	    "ii", now, now);

	if (rc == STORE_OK) {
		kcs_json_int(o, "id", id);
		cJSON_Delete(o);
	}
	return rc;
}

/* A delivery's end: sent, failed or unknown (the body is destroyed), or
 * queued again for next (the body stays). */
int
store_outbox_result(struct dbtx *tx, long long id, const char *status, const char *result, long long next,
    long long now)
{
	int rc = changed(run(tx, "UPDATE outbox SET status = ?, result = ?, next_attempt_at = ?, settled_at = ?,"
	    " delivered_at = CASE WHEN ? = 'sent' THEN ? ELSE delivered_at END WHERE id = ? AND status = 'sending'",
	    "ssnisii", status, result, next, now, status, now, id));

	if (rc == STORE_OK && strcmp(status, "queued") != 0)
		rc = changed(run(tx, "UPDATE outbox SET sealed = ? WHERE id = ?", "bi", "", (size_t)0, id));
	return rc;
}

/* Deliveries that began before since and never ended (their kcsd
 * stopped): the server may have the message, so it is not sent again. */
int
store_outbox_stale(struct dbtx *tx, long long since, long long now, cJSON **out)
{
	int rc = rows(tx, out, "UPDATE outbox SET status = 'unknown', result = 'the delivery was interrupted:"
	    " the server may or may not have the message', settled_at = ? WHERE status = 'sending' AND claimed_at < ?"
	    " RETURNING id, recipient", "ii", now, since);

	if (rc == STORE_OK)
		rc = run(tx, "UPDATE outbox SET sealed = ? WHERE status = 'unknown' AND length(sealed) > 0",
		    "b", "", (size_t)0) < 0 ? STORE_ERROR : STORE_OK;
	return rc;
}

/* When the mailer has work next: the next queued e-mail's due time, or
 * the start of the oldest delivery in progress (which may be one a
 * stopped kcsd left); *none when there is neither. */
int
store_outbox_next_due(struct dbtx *tx, long long *when, int *none)
{
	cJSON *o;
	int rc = row(tx, &o, "SELECT count(*) AS n, min(CASE WHEN status = 'queued' THEN coalesce(next_attempt_at, 0)"
	    " ELSE claimed_at END) AS due FROM outbox WHERE kind = 'email' AND status IN ('queued', 'sending')", "");
	long long n = 0;

	if (rc != STORE_OK)
		return rc;
	kcs_json_int(o, "n", &n);
	*when = 0;
	kcs_json_int(o, "due", when);
	*none = n == 0;
	cJSON_Delete(o);
	return STORE_OK;
}

int
store_outbox_get(struct dbtx *tx, long long id, cJSON **out)
{
	return row(tx, out, "SELECT id, kind, recipient, subject, file, message_id, status, attempts, result,"
	    " created_at, next_attempt_at, delivered_at, sealed FROM outbox WHERE id = ?", "i", id);
}

/* the mail room: letters waiting to be printed and posted */
int
store_letters_queued(struct dbtx *tx, cJSON **out)
{
	return rows(tx, out, "SELECT id, recipient, subject, created_at FROM outbox"
	    " WHERE kind = 'letter' AND status = 'queued' ORDER BY id", "");
}

/* A letter posted: sent, its body destroyed. */
int
store_letter_sent(struct dbtx *tx, long long id, long long now)
{
	return changed(run(tx, "UPDATE outbox SET status = 'sent', delivered_at = ?, sealed = ?"
	    " WHERE id = ? AND kind = 'letter' AND status = 'queued'", "ibi", now, "", (size_t)0, id));
}
