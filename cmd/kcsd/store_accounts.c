/* store_accounts.c: locksmith accounts, their single-use codes, sessions,
 * failure counts (the lockout) and disclaimer acceptances. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

/* accounts */

#define ACCOUNT_COLUMNS "id, sdrm_id, email, last_name, first_name, company, address, city," \
	" state, zip, phone, comments, time_zone, pwhash, must_change, email_verified," \
	" address_verified, created_at, form_signed_at, closed_at"

int
store_account_add(struct dbtx *tx, const cJSON *f, long long now, long long *id)
{
#define F(n) kcs_json_str(f, n)
	return insert_id(tx, id, "INSERT INTO accounts (sdrm_id, email, last_name, first_name, company,"
	    " address, city, state, zip, phone, comments, time_zone, created_at, form_signed_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id", "ssssssssssssii",
	    F("sdrm_id"), F("email"), F("last_name"), F("first_name"), F("company"), F("address"),
	    F("city"), F("state"), F("zip"), F("phone"), F("comments"), F("time_zone"), now, now);
#undef F

}

int
store_account_get(struct dbtx *tx, long long id, cJSON **out)
{
	return row(tx, out, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE id = ?", "i", id);
}

int
store_account_by_email(struct dbtx *tx, const char *email, cJSON **out)
{
	return row(tx, out, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE email = ? AND closed_at IS NULL", "s", email);
}

int
store_account_by_sdrm(struct dbtx *tx, const char *sdrm_id, cJSON **out)
{
	return row(tx, out, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE sdrm_id = ? AND closed_at IS NULL", "s", sdrm_id);
}

int
store_account_email_verified(struct dbtx *tx, long long id)
{
	return changed(run(tx, "UPDATE accounts SET email_verified = 1 WHERE id = ?", "i", id));
}

int
store_account_address_verified(struct dbtx *tx, long long id)
{
	return changed(run(tx, "UPDATE accounts SET address_verified = 1 WHERE id = ?", "i", id));
}

/* The address a verification link goes to, while it is not yet verified. */
int
store_account_set_email(struct dbtx *tx, long long id, const char *email)
{
	return changed(run(tx, "UPDATE accounts SET email = ? WHERE id = ? AND email_verified = 0"
	    " AND closed_at IS NULL", "si", email, id));
}

int
store_account_close(struct dbtx *tx, long long id, long long now)
{
	return changed(run(tx, "UPDATE accounts SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
	    "ii", now, id));
}

int
store_account_password(struct dbtx *tx, long long id, const char *pwhash, int must_change)
{
	return changed(run(tx, "UPDATE accounts SET pwhash = ?, must_change = ? WHERE id = ?",
	    "sii", pwhash, (long long)must_change, id));
}

/* single-use codes: e-mail links, reset codes, address codes */

int
store_code_add(struct dbtx *tx, long long account, const char *purpose,
    const char *hash, long long now, long long expires)
{
	int rc = expires
	    ? run(tx, "INSERT INTO codes (account_id, purpose, hash, created_at, expires_at)"
		" VALUES (?, ?, ?, ?, ?)", "issii", account, purpose, hash, now, expires)
	    : run(tx, "INSERT INTO codes (account_id, purpose, hash, created_at)"
		" VALUES (?, ?, ?, ?)", "issi", account, purpose, hash, now);

	return rc < 0 ? rc : STORE_OK;
}

int
store_code_find(struct dbtx *tx, const char *purpose, const char *hash, long long now, cJSON **out)
{
	return row(tx, out, "SELECT id, account_id FROM codes WHERE purpose = ? AND hash = ?"
	    " AND used_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", "ssi", purpose, hash, now);
}

int
store_code_live(struct dbtx *tx, long long account, const char *purpose, long long now, cJSON **out)
{
	return row(tx, out, "SELECT id, hash, created_at FROM codes WHERE account_id = ? AND purpose = ?"
	    " AND used_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
	    " ORDER BY id DESC LIMIT 1", "isi", account, purpose, now);
}

int
store_code_use(struct dbtx *tx, long long id, long long now)
{
	return changed(run(tx, "UPDATE codes SET used_at = ? WHERE id = ? AND used_at IS NULL",
	    "ii", now, id));
}

int
store_code_void(struct dbtx *tx, long long account, const char *purpose, long long now)
{
	int rc = run(tx, "UPDATE codes SET used_at = ? WHERE account_id = ? AND purpose = ?"
	    " AND used_at IS NULL", "iis", now, account, purpose);

	return rc < 0 ? rc : STORE_OK;
}

/* sessions */

int
store_session_add(struct dbtx *tx, long long account, const char *hash, const char *stage, long long now)
{
	int rc = run(tx, "INSERT INTO sessions (account_id, token_hash, stage, created_at, last_used_at)"
	    " VALUES (?, ?, ?, ?, ?)", "issii", account, hash, stage, now, now);

	return rc < 0 ? rc : STORE_OK;
}

static int
session_fill(void *arg, int n, const char *const *names, const struct db_value *v)
{
	struct session_row *s = arg;

	(void)n;
	(void)names;
	s->id = v[0].i;
	s->account_id = v[1].i;
	copy_text(s->stage, sizeof s->stage, &v[2]);
	s->created_at = v[3].i;
	s->last_used_at = v[4].i;
	s->revoked_at = v[5].i;
	return 1;
}

int
store_session_get(struct dbtx *tx, const char *hash, struct session_row *out)
{
	return typed_row(tx, session_fill, out, "SELECT id, account_id, stage, created_at, last_used_at, revoked_at"
	    " FROM sessions WHERE token_hash = ?", "s", hash);
}

int
store_session_touch(struct dbtx *tx, long long id, long long now)
{
	return changed(run(tx, "UPDATE sessions SET last_used_at = ? WHERE id = ?", "ii", now, id));
}

int
store_session_stage(struct dbtx *tx, long long id, const char *stage)
{
	return changed(run(tx, "UPDATE sessions SET stage = ? WHERE id = ?", "si", stage, id));
}

int
store_session_revoke(struct dbtx *tx, long long id, long long now)
{
	return changed(run(tx, "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
	    "ii", now, id));
}

int
store_session_revoke_all(struct dbtx *tx, long long account, long long now)
{
	int rc = run(tx, "UPDATE sessions SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
	    "ii", now, account);

	return rc < 0 ? rc : STORE_OK;
}

/* failed attempts, per account key, whatever address they come from */

int
store_failures_get(struct dbtx *tx, const char *key, cJSON **out)
{
	return row(tx, out, "SELECT failures, locked_until FROM login_failures WHERE key_hash = ?",
	    "s", key);
}

/* Counts a failure under key; failures more than window seconds apart start
 * a new count, and rows older than that (unlocked) go, a few at a time, so
 * that attempts at unknown names leave nothing that grows without bound. */
int
store_failure_add(struct dbtx *tx, const char *key, long long limit, long long cooldown,
    long long window, long long now, long long *failures)
{
	cJSON *o;
	int rc = run(tx, "INSERT INTO login_failures (key_hash, failures, last_failed_at) VALUES (?, 1, ?)"
	    " ON CONFLICT (key_hash) DO UPDATE SET last_failed_at = excluded.last_failed_at,"
	    " failures = CASE WHEN login_failures.last_failed_at < ? THEN 1 ELSE login_failures.failures + 1 END",
	    "sii", key, now, now - window);

	if (rc < 0)
		return rc;
	/* the K-th failure starts the cool-down and a new count */
	rc = run(tx, "UPDATE login_failures SET locked_until = ?, failures = 0"
	    " WHERE key_hash = ? AND failures >= ?", "isi", now + cooldown, key, limit);
	if (rc < 0)
		return rc;
	*failures = rc > 0 ? limit : 0;
	if (rc == 0 && store_failures_get(tx, key, &o) == STORE_OK) {
		kcs_json_int(o, "failures", failures);
		cJSON_Delete(o);
	}
	rc = run(tx, "DELETE FROM login_failures WHERE key_hash IN (SELECT key_hash FROM login_failures"
	    " WHERE last_failed_at < ? AND locked_until < ? LIMIT 16)", "ii", now - window, now);
	return rc < 0 ? rc : STORE_OK;
}

int
store_failures_clear(struct dbtx *tx, const char *key)
{
	int rc = run(tx, "DELETE FROM login_failures WHERE key_hash = ?", "s", key);

	return rc < 0 ? rc : STORE_OK;
}

/* disclaimers */

int
store_disclaimer_current(struct dbtx *tx, const char *kind, cJSON **out)
{
	return row(tx, out, "SELECT kind, version, text FROM disclaimers WHERE kind = ?"
	    " ORDER BY version DESC LIMIT 1", "s", kind);
}

int
store_acceptance_add(struct dbtx *tx, long long account, const char *kind, long long version,
    long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO acceptances (account_id, kind, version, accepted_at)"
	    " VALUES (?, ?, ?, ?) RETURNING id", "isii", account, kind, version, now);

}
