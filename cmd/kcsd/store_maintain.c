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
		return row(tx, out, "SELECT COALESCE(max(created_at), 0) AS v FROM backups", "");
	return STORE_ERROR;
}

int
store_backup_done(struct dbtx *tx, long long bytes, long long now)
{
	return run(tx, "INSERT INTO backups (created_at, bytes) VALUES (?, ?)", "ii", now, bytes) < 0 ? STORE_ERROR
	    : STORE_OK;
}
