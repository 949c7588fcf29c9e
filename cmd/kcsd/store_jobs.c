/* store_jobs.c: a locksmith's coding and cutting jobs, and what they use:
 * the order a Key Code belongs to, the writer registered to the locksmith,
 * a key position's coding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

/* the key order whose Key Code hashes to hash: its id, account, VIN,
 * position, and when that position was coded */
int
store_keycode_order(struct dbtx *tx, const char *hash, cJSON **out)
{
	return row(tx, out, "SELECT o.id AS order_id, o.account_id, o.vin, o.key_position, k.coded_at,"
	    " o.key_code_spent_at, o.key_code_destroyed_at"
	    " FROM orders o JOIN keys k ON k.order_id = o.id WHERE o.kind = 'key' AND o.key_code_hash = ?",
	    "s", hash);
}

/* A Key Code is spent once its key is coded and its cut code retrieved. */
int
store_keycode_spend(struct dbtx *tx, long long order, long long now)
{
	int rc = run(tx, "UPDATE orders SET key_code_spent_at = ? WHERE id = ? AND key_code_spent_at IS NULL"
	    " AND EXISTS (SELECT 1 FROM keys WHERE order_id = orders.id AND coded_at IS NOT NULL)"
	    " AND EXISTS (SELECT 1 FROM jobs WHERE order_id = orders.id AND kind = 'cut')", "ii", now, order);

	return rc < 0 ? rc : STORE_OK;
}

/* The Key Codes spent before cutoff and not destroyed yet: id and hash. */
int
store_keycodes_due(struct dbtx *tx, long long cutoff, cJSON **out)
{
	return rows(tx, out, "SELECT id, key_code_hash FROM orders WHERE key_code_spent_at < ?"
	    " AND key_code_destroyed_at IS NULL ORDER BY id LIMIT 100", "i", cutoff);
}

/* A Key Code destroyed: its hash replaced by the one-way tombstone. */
int
store_keycode_destroy(struct dbtx *tx, long long order, const char *tombstone, long long now)
{
	return changed(run(tx, "UPDATE orders SET key_code_hash = ?, key_code_destroyed_at = ?"
	    " WHERE id = ? AND key_code_destroyed_at IS NULL", "sii", tombstone, now, order));
}

int
store_keywriter_of(struct dbtx *tx, const char *serial, long long account, cJSON **out)
{
	return row(tx, out, "SELECT serial, public_key FROM keywriters WHERE serial = ? AND account_id = ?",
	    "si", serial, account);
}

/* an order's coding job, if it has one */
int
store_coding_job(struct dbtx *tx, long long order, cJSON **out)
{
	return row(tx, out, "SELECT id, account_id, state FROM jobs WHERE order_id = ? AND kind = 'code'",
	    "i", order);
}

int
store_job_add(struct dbtx *tx, const struct store_job *j, long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO jobs (kind, account_id, order_id, serial, acceptance_id, owner, state,"
	    " nonce, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'started', ?, ?, ?) RETURNING id",
	    "siisibsii", j->kind, j->account_id, j->order_id, j->serial, j->acceptance_id, j->owner, j->owner_len,
	    j->nonce, now, now);
}

/* a cut code retrieved: a job done at once */
int
store_cut_job_add(struct dbtx *tx, const struct store_job *j, long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO jobs (kind, account_id, order_id, acceptance_id, owner, state,"
	    " created_at, updated_at, done_at) VALUES ('cut', ?, ?, ?, ?, 'done', ?, ?, ?) RETURNING id",
	    "iiibiii", j->account_id, j->order_id, j->acceptance_id, j->owner, j->owner_len, now, now, now);
}

/* a coding job not yet done starts again: another writer, owner's record,
 * disclaimer acceptance and nonce; its challenge is void */
int
store_job_restart(struct dbtx *tx, long long id, const struct store_job *j, long long now)
{
	return changed(run(tx, "UPDATE jobs SET serial = ?, acceptance_id = ?, owner = ?, nonce = ?, challenge = NULL,"
	    " expires_at = NULL, state = 'started', updated_at = ? WHERE id = ? AND state <> 'done'", "sibsii",
	    j->serial, j->acceptance_id, j->owner, j->owner_len, j->nonce, now, id));
}

/* a job of this account, with its order's VIN and position and its
 * writer's public key */
int
store_job_get(struct dbtx *tx, long long id, long long account, cJSON **out)
{
	return row(tx, out, "SELECT j.id, j.kind, j.order_id, j.serial, j.state, j.nonce, j.challenge, j.expires_at,"
	    " j.receipt, j.key_id, j.writer_count, j.done_at, o.vin, o.key_position, w.public_key"
	    " FROM jobs j JOIN orders o ON o.id = j.order_id LEFT JOIN keywriters w ON w.serial = j.serial"
	    " WHERE j.id = ? AND j.account_id = ?", "ii", id, account);
}

/* attested with this nonce: the sealed job goes out under challenge */
int
store_job_attested(struct dbtx *tx, long long id, const char *nonce, const char *challenge, long long expires,
    long long now)
{
	return changed(run(tx, "UPDATE jobs SET state = 'attested', challenge = ?, expires_at = ?, updated_at = ?"
	    " WHERE id = ? AND state IN ('started', 'attested') AND nonce = ?", "siiis", challenge, expires, now, id,
	    nonce));
}

/* the writer's receipt for this challenge: the job is done */
int
store_job_done(struct dbtx *tx, long long id, const char *challenge, const char *receipt, const char *key_id,
    long long count, long long now)
{
	return changed(run(tx, "UPDATE jobs SET state = 'done', receipt = ?, key_id = ?, writer_count = ?,"
	    " done_at = ?, updated_at = ? WHERE id = ? AND state = 'attested' AND challenge = ?", "ssiiiis",
	    receipt, key_id, count, now, now, id, challenge));
}

/* a key position coded, once */
int
store_key_coded(struct dbtx *tx, long long order, long long now)
{
	return changed(run(tx, "UPDATE keys SET coded_at = ? WHERE order_id = ? AND coded_at IS NULL", "ii", now,
	    order));
}

/* jobs created in [from, to): of one account, or of all (account 0) */
int
store_jobs_list(struct dbtx *tx, long long account, long long from, long long to, cJSON **out)
{
#define JOB_ROWS "SELECT j.id AS job_id, j.kind, a.sdrm_id, o.id AS order_id, o.vin, o.key_position," \
	" j.serial, j.state, ac.kind AS disclaimer, ac.version AS disclaimer_version, ac.accepted_at," \
	" j.owner, j.receipt, j.key_id, j.writer_count, j.created_at, j.done_at" \
	" FROM jobs j JOIN orders o ON o.id = j.order_id JOIN accounts a ON a.id = j.account_id" \
	" JOIN acceptances ac ON ac.id = j.acceptance_id"

	/* a locksmith's own: through the account's index */
	if (account)
		return rows(tx, out, JOB_ROWS " WHERE j.account_id = ? AND j.created_at >= ? AND j.created_at < ?"
		    " ORDER BY j.id", "iii", account, from, to);
	return rows(tx, out, JOB_ROWS " WHERE j.created_at >= ? AND j.created_at < ? ORDER BY j.id", "ii", from, to);
#undef JOB_ROWS
}
