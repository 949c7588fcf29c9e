/* store_maintain.c: what maintenance ends and deletes. Each statement is
 * idempotent: run again, it finds nothing left to do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

/* sessions past their idle or maximum lifetime end */
int
store_sessions_end(struct dbtx *tx, long long idle_before, long long created_before, long long now)
{
	return run(tx, "UPDATE sessions SET revoked_at = ? WHERE revoked_at IS NULL AND (last_used_at <= ?"
	    " OR created_at <= ?)", "iii", now, idle_before, created_before);
}

/* how many tickets, calls and codes lapsed unused and are still kept */
int
store_lapsed(struct dbtx *tx, long long now, cJSON **out)
{
	return row(tx, out, "SELECT"
	    " (SELECT count(*) FROM tickets WHERE expires_at <= ? AND redeemed_at IS NULL AND cancelled_at IS NULL)"
	    "  AS tickets_lapsed,"
	    " (SELECT count(*) FROM calls WHERE expires_at <= ? AND used_at IS NULL) AS calls_lapsed,"
	    " (SELECT count(*) FROM codes WHERE expires_at <= ? AND used_at IS NULL) AS codes_lapsed",
	    "iii", now, now, now);
}

/* Deleted: sessions that ended, codes used or lapsed, tickets never
 * redeemed and calls never used that lapsed, all before `before`. A
 * ticket with a call, a call with an order stay: they are the order's
 * record. */
int
store_purge_sessions(struct dbtx *tx, long long revoked_before, long long idle_before, long long created_before)
{
	return run(tx, "DELETE FROM sessions WHERE revoked_at <= ? OR last_used_at <= ? OR created_at <= ?", "iii",
	    revoked_before, idle_before, created_before);
}

int
store_purge_codes(struct dbtx *tx, long long before)
{
	return run(tx, "DELETE FROM codes WHERE used_at <= ? OR expires_at <= ?", "ii", before, before);
}

int
store_purge_calls(struct dbtx *tx, long long before)
{
	return run(tx, "DELETE FROM calls WHERE used_at IS NULL AND expires_at <= ?"
	    " AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.call_id = calls.id)", "i", before);
}

int
store_purge_tickets(struct dbtx *tx, long long before)
{
	return run(tx, "DELETE FROM tickets WHERE redeemed_at IS NULL AND expires_at <= ?"
	    " AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.ticket_id = tickets.id)", "i", before);
}

/* delivered (or given up) messages that still name a spool file */
int
store_spooled_done(struct dbtx *tx, cJSON **out)
{
	return rows(tx, out, "SELECT id, spool, file FROM outbox WHERE file <> '' AND status IN ('sent', 'failed',"
	    " 'unknown') ORDER BY id", "");
}

int
store_unspooled(struct dbtx *tx, long long id)
{
	return changed(run(tx, "UPDATE outbox SET file = '' WHERE id = ?", "i", id));
}

int
store_outbox_counts(struct dbtx *tx, cJSON **out)
{
	return rows(tx, out, "SELECT kind, status, count(*) AS n FROM outbox GROUP BY kind, status ORDER BY kind, status",
	    "");
}

/* a figure of GET /metrics, as {"v": n} */
int
store_metric(struct dbtx *tx, const char *what, long long now, cJSON **out)
{
	if (strcmp(what, "lockouts") == 0)
		return row(tx, out, "SELECT count(*) AS v FROM login_failures WHERE locked_until > ?", "i", now);
	if (strcmp(what, "audit_entries") == 0)
		return row(tx, out, "SELECT count(*) AS v FROM audit", "");
	if (strcmp(what, "tree_size") == 0)
		return row(tx, out, "SELECT COALESCE(max(size), 0) AS v FROM audit_checkpoints", "");
	if (strcmp(what, "last_backup") == 0)
		return row(tx, out, "SELECT COALESCE(max(created_at), 0) AS v FROM backups WHERE status = 'done'", "");
	return STORE_ERROR;
}

/* The mail since a time: e-mails delivered, waiting to be tried again
 * after a failed attempt, given up (failed, or interrupted with an
 * unknown end); letters posted. */
int
store_mail_since(struct dbtx *tx, long long since, cJSON **out)
{
	return row(tx, out, "SELECT"
	    " (SELECT count(*) FROM outbox WHERE kind = 'email' AND status = 'sent' AND delivered_at >= ?) AS delivered,"
	    " (SELECT count(*) FROM outbox WHERE kind = 'email' AND status = 'queued' AND settled_at >= ?) AS retried,"
	    " (SELECT count(*) FROM outbox WHERE kind = 'email' AND status IN ('failed', 'unknown') AND settled_at >= ?)"
	    "  AS failed,"
	    " (SELECT count(*) FROM outbox WHERE kind = 'letter' AND status = 'sent' AND delivered_at >= ?) AS posted",
	    "iiii", since, since, since, since);
}

/* When task last ran (0: never); now it runs. */
int
store_last_run(struct dbtx *tx, const char *task, long long now, long long *last)
{
	cJSON *o = NULL;
	int rc = row(tx, &o, "SELECT last_at FROM maintenance_runs WHERE task = ?", "s", task);

	*last = 0;
	if (rc == STORE_OK)
		kcs_json_int(o, "last_at", last);
	cJSON_Delete(o);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	return run(tx, "INSERT INTO maintenance_runs (task, last_at) VALUES (?, ?)"
	    " ON CONFLICT (task) DO UPDATE SET last_at = excluded.last_at", "si", task, now) < 0 ? STORE_ERROR : STORE_OK;
}

/* A backup is due when none was written, or begun, within every seconds:
 * claimed (a row 'running'), its *id; STORE_NOTFOUND when not due. *last:
 * when the last backup was written (0: never). A claim older than every
 * (its kcsd stopped) is marked failed. */
int
store_backup_claim(struct dbtx *tx, long long now, long long every, long long *id, long long *last)
{
	cJSON *o = NULL;
	int rc = row(tx, &o, "SELECT COALESCE(max(created_at), 0) AS last FROM backups WHERE status = 'done'", "");

	if (rc == STORE_OK)
		kcs_json_int(o, "last", last);
	cJSON_Delete(o);
	o = NULL;
	if (rc == STORE_OK && run(tx, "UPDATE backups SET status = 'failed', error = 'interrupted'"
	    " WHERE status = 'running' AND created_at <= ?", "i", now - every) < 0)
		rc = STORE_ERROR;
	if (rc == STORE_OK && (rc = row(tx, &o, "INSERT INTO backups (created_at, bytes, status)"
	    " SELECT ?, 0, 'running' WHERE NOT EXISTS (SELECT 1 FROM backups WHERE status IN ('running', 'done')"
	    " AND created_at > ?) RETURNING id", "ii", now, now - every)) == STORE_OK)
		kcs_json_int(o, "id", id);
	cJSON_Delete(o);
	return rc;
}

/* A backup written: the claimed one (id), or one made by hand (id 0). */
int
store_backup_done(struct dbtx *tx, long long id, const char *file, long long bytes, long long now)
{
	if (id)
		return changed(run(tx, "UPDATE backups SET status = 'done', created_at = ?, bytes = ?, file = ?"
		    " WHERE id = ?", "iisi", now, bytes, file, id));
	return run(tx, "INSERT INTO backups (created_at, bytes, file) VALUES (?, ?, ?)", "iis", now, bytes, file) < 0
	    ? STORE_ERROR : STORE_OK;
}

int
store_backup_failed(struct dbtx *tx, long long id, const char *error)
{
	return changed(run(tx, "UPDATE backups SET status = 'failed', error = ? WHERE id = ?", "si", error, id));
}
