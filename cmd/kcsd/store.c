/* store.c: every SQL statement of kcs, on the engine interface (db.h), in
 * the one dialect both engines speak: ? placeholders, integer epoch
 * seconds set by kcsd, RETURNING for new ids, ON CONFLICT. Rows come back
 * as cJSON objects (column name -> value). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kcsd.h"

extern const char *const kcsd_migrations_sqlite[];
extern const char *const kcsd_migrations_pg[];

static uint8_t audit_key[KCS_KEY_LEN];

static void
add_value(cJSON *o, const char *name, const struct db_value *v)
{
	switch (v->type) {
	case DB_INT:
		cJSON_AddNumberToObject(o, name, (double)v->i);
		break;
	case DB_REAL:
		cJSON_AddNumberToObject(o, name, v->d);
		break;
	case DB_TEXT:
		cJSON_AddStringToObject(o, name, v->p);
		break;
	case DB_BLOB: {
		char *hex = malloc(2 * v->n + 1);

		if (hex) {
			kcs_hex_encode((const uint8_t *)v->p, v->n, hex);
			cJSON_AddStringToObject(o, name, hex);
			free(hex);
		}
		break;
	}
	default:
		cJSON_AddNullToObject(o, name);
	}
}

struct collect {
	cJSON *out; /* an array with many, else the first row */
	int many, found;
};

static int
collect_row(void *arg, int n, const char *const *names, const struct db_value *v)
{
	struct collect *c = arg;
	cJSON *o = cJSON_CreateObject();

	for (int i = 0; o && i < n; i++)
		add_value(o, names[i], &v[i]);
	c->found = 1;
	if (!c->many) {
		c->out = o;
		return 1;
	}
	cJSON_AddItemToArray(c->out, o);
	return 0;
}

/* A statement without rows: the number of changed rows, or DB_*. */
#define run db_exec

static int
query(struct dbtx *tx, cJSON **out, int many, const char *sql, const char *types, va_list ap)
{
	struct collect c = { many ? cJSON_CreateArray() : NULL, many, 0 };
	va_list copy;
	int rc;

	va_copy(copy, ap);
	rc = db_vquery(tx, collect_row, &c, sql, types, copy);
	va_end(copy);
	*out = NULL;
	if (rc < 0) {
		cJSON_Delete(c.out);
		return rc;
	}
	*out = c.out;
	return many || c.found ? STORE_OK : STORE_NOTFOUND;
}

static int
row(struct dbtx *tx, cJSON **out, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = query(tx, out, 0, sql, types, ap);
	va_end(ap);
	return rc;
}

static int
rows(struct dbtx *tx, cJSON **out, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = query(tx, out, 1, sql, types, ap);
	va_end(ap);
	return rc;
}

/* An INSERT ... RETURNING id: the new row's id. */
static int
insert_id(struct dbtx *tx, long long *id, const char *sql, const char *types, ...)
{
	cJSON *o;
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = query(tx, &o, 0, sql, types, ap);
	va_end(ap);
	if (rc == STORE_OK) {
		if (id)
			kcs_json_int(o, "id", id);
		cJSON_Delete(o);
	}
	return rc == STORE_NOTFOUND ? STORE_ERROR : rc;
}

static int
changed(int rc)
{
	return rc < 0 ? rc : rc == 0 ? STORE_NOTFOUND : STORE_OK;
}

void
store_audit_key(const uint8_t key[KCS_KEY_LEN])
{
	memcpy(audit_key, key, KCS_KEY_LEN);
}

int
store_open(struct store *st, const char *url, int create, int conns)
{
	const struct db_schema schema = { kcsd_migrations_sqlite, kcsd_migrations_pg };

	st->errmsg[0] = '\0';
	return db_open(&st->db, url, create, conns, &schema, st->errmsg, sizeof st->errmsg) == DB_OK
	    ? STORE_OK : STORE_ERROR;
}

void
store_close(struct store *st)
{
	db_close(st->db);
	st->db = NULL;
}

int
store_begin(struct store *st, struct dbtx **tx)
{
	int rc = db_begin(st->db, tx);

	if (rc != DB_OK)
		*tx = NULL;
	return rc;
}

int
store_commit(struct dbtx *tx)
{
	return db_commit(tx);
}

void
store_rollback(struct dbtx *tx)
{
	db_rollback(tx);
}

/* A mark inside the transaction: store_undo takes back what came after it
 * and keeps what came before (a session's last use, say). */
int
store_mark(struct dbtx *tx)
{
	return db_mark(tx);
}

int
store_undo(struct dbtx *tx)
{
	return db_undo(tx);
}

/* operators */

int
store_operator_add(struct dbtx *tx, const char *name, const char *role,
    const char *token_hash, long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO operators (name, role, token_hash, created_at)"
	    " VALUES (?, ?, ?, ?) RETURNING id", "sssi", name, role, token_hash, now);
}

int
store_operator_by_token(struct dbtx *tx, const char *token_hash, cJSON **out)
{
	return row(tx, out, "SELECT id, name, role FROM operators"
	    " WHERE token_hash = ? AND removed_at IS NULL", "s", token_hash);
}

int
store_operator_get(struct dbtx *tx, long long id, cJSON **out)
{
	return row(tx, out, "SELECT id, name, role, created_at FROM operators"
	    " WHERE id = ? AND removed_at IS NULL", "i", id);
}

int
store_operator_list(struct dbtx *tx, cJSON **out)
{
	return rows(tx, out, "SELECT id, name, role, created_at FROM operators"
	    " WHERE removed_at IS NULL ORDER BY id", "");
}

int
store_operator_remove(struct dbtx *tx, long long id, long long now)
{
	return changed(run(tx, "UPDATE operators SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
	    "ii", now, id));
}

int
store_admin_count(struct dbtx *tx, long long *n)
{
	cJSON *o;
	int rc = row(tx, &o, "SELECT count(*) AS n FROM operators"
	    " WHERE role = 'admin' AND removed_at IS NULL", "");

	if (rc == STORE_OK)
		kcs_json_int(o, "n", n);
	cJSON_Delete(o);
	return rc;
}

/* the SDRM directory */

int
store_sdrm_add(struct dbtx *tx, const char *sdrm_id, const char *pwhash, long long now)
{
	int rc = run(tx, "INSERT INTO sdrm (sdrm_id, pwhash, created_at) VALUES (?, ?, ?)",
	    "ssi", sdrm_id, pwhash, now);

	return rc < 0 ? rc : STORE_OK;
}

int
store_sdrm_get(struct dbtx *tx, const char *sdrm_id, cJSON **out)
{
	return row(tx, out, "SELECT sdrm_id, pwhash FROM sdrm WHERE sdrm_id = ?", "s", sdrm_id);
}

int
store_sdrm_remove(struct dbtx *tx, const char *sdrm_id)
{
	return changed(run(tx, "DELETE FROM sdrm WHERE sdrm_id = ?", "s", sdrm_id));
}

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

int
store_session_get(struct dbtx *tx, const char *hash, cJSON **out)
{
	return row(tx, out, "SELECT id, account_id, stage, created_at, last_used_at, revoked_at"
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

/* outbox */

int
store_outbox_add(struct dbtx *tx, const char *kind, const char *to, const char *subject,
    const uint8_t *sealed, size_t len, const char *file, long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO outbox (kind, recipient, subject, sealed, file, created_at)"
	    " VALUES (?, ?, ?, ?, ?, ?) RETURNING id", "sssbsi", kind, to, subject, sealed, len, file, now);

}

int
store_outbox_list(struct dbtx *tx, cJSON **out)
{
	return rows(tx, out, "SELECT id, kind, recipient, subject, file, created_at, delivered_at"
	    " FROM outbox ORDER BY id", "");
}

int
store_outbox_get(struct dbtx *tx, long long id, cJSON **out)
{
	return row(tx, out, "SELECT id, kind, recipient, subject, file, created_at, delivered_at, sealed"
	    " FROM outbox WHERE id = ?", "i", id);
}

/* The audit log: each entry's hash is a keyed hash over the previous
 * entry's hash and this entry's fields, so an edit or a removal breaks the
 * chain. Format 2 hashes each field with its length (a NUL inside a field
 * is covered); format 1, the first, hashed the text up to a NUL. */

struct audit_row {
	long long id, at, format;
	const char *f[6]; /* actor, event, subject, detail, prev, hash */
	size_t n[6];
};

static void
audit_hash(const struct audit_row *e, const char *prev, size_t prevlen, char out[KCS_HASH_HEX])
{
	crypto_generichash_state h;
	uint8_t d[32];
	char num[64];

	crypto_generichash_init(&h, audit_key, KCS_KEY_LEN, sizeof d);
	if (e->format == 1) {
		snprintf(num, sizeof num, "%lld\n%lld\n", e->id, e->at);
		crypto_generichash_update(&h, (const uint8_t *)num, strlen(num));
		crypto_generichash_update(&h, (const uint8_t *)prev, strlen(prev) + 1);
		for (int i = 0; i < 4; i++)
			crypto_generichash_update(&h, (const uint8_t *)e->f[i], strlen(e->f[i]) + 1);
	} else {
		const char *parts[6] = { "kcs-audit/2", prev, e->f[0], e->f[1], e->f[2], e->f[3] };
		size_t lens[6] = { 11, prevlen, e->n[0], e->n[1], e->n[2], e->n[3] };

		snprintf(num, sizeof num, "%lld %lld", e->id, e->at);
		crypto_generichash_update(&h, (const uint8_t *)num, strlen(num) + 1);
		for (int i = 0; i < 6; i++) {
			uint8_t len[8];

			for (int b = 0; b < 8; b++)
				len[b] = (uint8_t)((uint64_t)lens[i] >> (56 - 8 * b));
			crypto_generichash_update(&h, len, sizeof len);
			crypto_generichash_update(&h, (const uint8_t *)parts[i], lens[i]);
		}
	}
	crypto_generichash_final(&h, d, sizeof d);
	kcs_hex_encode(d, sizeof d, out);
}

/* Appends an entry. The chain's head (the last sequence number and hash)
 * is one row, taken by an UPDATE that holds it until the commit: appenders
 * in several kcsd processes line up there, and the chain stays one. */
int
store_audit(struct dbtx *tx, const char *actor, const char *event, const char *subject,
    const cJSON *detail, long long now)
{
	cJSON *head;
	char prev[KCS_HASH_HEX] = "", hash[KCS_HASH_HEX], *d;
	struct audit_row e = { .at = now, .format = 2 };
	int rc = row(tx, &head, "UPDATE audit_head SET seq = seq + 1 WHERE one = 1 RETURNING seq, hash", "");

	if (rc != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_ERROR : rc;
	kcs_json_int(head, "seq", &e.id);
	snprintf(prev, sizeof prev, "%s", kcs_json_str(head, "hash") ? kcs_json_str(head, "hash") : "");
	cJSON_Delete(head);
	if (!(d = detail ? kcs_json_dump(detail) : strdup("{}")))
		return STORE_ERROR;
	e.f[0] = actor;
	e.f[1] = event;
	e.f[2] = subject ? subject : "";
	e.f[3] = d;
	for (int i = 0; i < 4; i++)
		e.n[i] = strlen(e.f[i]);
	audit_hash(&e, prev, strlen(prev), hash);
	rc = run(tx, "INSERT INTO audit (id, at, actor, event, subject, detail, prev, hash, format)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 2)", "iissssss", e.id, now, actor, event, e.f[2], d, prev, hash);
	free(d);
	if (rc >= 0)
		rc = run(tx, "UPDATE audit_head SET hash = ? WHERE one = 1", "s", hash);
	return rc < 0 ? rc : STORE_OK;
}

struct verify {
	char prev[KCS_HASH_HEX];
	size_t prevlen;
	long long expect, last_format, entries;
	cJSON *bad;
};

/* One entry: its types, its place in the sequence, its link to the entry
 * before and its hash. */
static int
verify_row(void *arg, int n, const char *const *names, const struct db_value *v)
{
	struct verify *c = arg;
	struct audit_row e = { 0 };
	char hash[KCS_HASH_HEX];
	int ok = n == 9 && v[0].type == DB_INT && v[1].type == DB_INT && v[2].type == DB_INT;

	(void)names;
	e.id = v[0].i;
	e.at = v[1].i;
	e.format = v[2].i;
	for (int i = 0; ok && i < 6; i++) {
		ok &= v[3 + i].type == DB_TEXT;
		e.f[i] = v[3 + i].p;
		e.n[i] = v[3 + i].n;
		/* format 1 hashed up to a NUL: it must hold none */
		ok &= !(e.format == 1 && strlen(e.f[i]) != e.n[i]);
	}
	ok &= e.format == 2 || (e.format == 1 && c->last_format == 1);
	ok &= e.id == c->expect && (e.id != 1 || (e.f[1] && strcmp(e.f[1], "store.initialised") == 0));
	if (ok) {
		audit_hash(&e, c->prev, c->prevlen, hash);
		ok = e.n[4] == c->prevlen && memcmp(e.f[4], c->prev, c->prevlen) == 0 &&
		    e.n[5] == KCS_HASH_HEX - 1 && sodium_memcmp(hash, e.f[5], KCS_HASH_HEX - 1) == 0;
	}
	if (!ok && cJSON_GetArraySize(c->bad) < 100)
		cJSON_AddItemToArray(c->bad, cJSON_CreateNumber((double)e.id));
	if (!ok && cJSON_GetArraySize(c->bad) == 100)
		cJSON_AddItemToArray(c->bad, cJSON_CreateString("..."));
	snprintf(c->prev, sizeof c->prev, "%s",
	    n == 9 && v[8].type == DB_TEXT && v[8].n < sizeof c->prev ? v[8].p : "");
	c->prevlen = strlen(c->prev);
	c->expect = e.id + 1;
	c->last_format = e.format;
	c->entries++;
	return 0;
}

/* Checks every entry; the chain must start with the store's creation. A
 * bad entry is reported and the check goes on from its stored hash, so
 * each damaged entry is named once. */
int
store_audit_verify(struct dbtx *tx, long long *entries, cJSON *bad)
{
	struct verify c = { .expect = 1, .last_format = 1, .bad = bad };
	int rc = db_query(tx, verify_row, &c, "SELECT id, at, format, actor, event, subject, detail, prev, hash"
	    " FROM audit ORDER BY id", "");

	*entries = c.entries;
	return rc < 0 ? rc : STORE_OK;
}

/* vehicles and their key positions */

int
store_vehicle_add(struct dbtx *tx, const char *vin, const char *model, const char *date,
    const uint8_t *secret, size_t slen, const uint8_t *cut, size_t clen, long long now)
{
	int rc = run(tx, "INSERT INTO vehicles (vin, model, production_date, secret, cut_code, created_at)"
	    " VALUES (?, ?, ?, ?, ?, ?)", "sssbbi", vin, model, date, secret, slen, cut, clen, now);

	/* the two keys delivered with the car */
	if (rc >= 0)
		rc = run(tx, "INSERT INTO keys (vin, position, state, created_at)"
		    " VALUES (?, 1, 'delivered', ?), (?, 2, 'delivered', ?)", "sisi", vin, now, vin, now);
	return rc < 0 ? rc : STORE_OK;
}

int
store_vehicle_get(struct dbtx *tx, const char *vin, cJSON **out)
{
	return row(tx, out, "SELECT vin, model, production_date, created_at FROM vehicles WHERE vin = ?",
	    "s", vin);
}

int
store_vehicle_keys(struct dbtx *tx, const char *vin, cJSON **out)
{
	return rows(tx, out, "SELECT position, state, order_id, created_at FROM keys WHERE vin = ?"
	    " ORDER BY position", "s", vin);
}

int
store_key_next_free(struct dbtx *tx, const char *vin, long long *position)
{
	cJSON *o;
	int rc = row(tx, &o, "WITH RECURSIVE p(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM p WHERE n < 10)"
	    " SELECT min(n) AS n FROM p WHERE n NOT IN (SELECT position FROM keys WHERE vin = ?)", "s", vin);

	if (rc != STORE_OK)
		return rc;
	rc = kcs_json_int(o, "n", position) == 0 ? STORE_OK : STORE_NOTFOUND;
	cJSON_Delete(o);
	return rc;
}

int
store_key_add(struct dbtx *tx, const char *vin, long long position, long long order_id, long long now)
{
	int rc = run(tx, "INSERT INTO keys (vin, position, state, order_id, created_at)"
	    " VALUES (?, ?, 'ordered', ?, ?)", "siii", vin, position, order_id, now);

	return rc < 0 ? rc : STORE_OK;
}

/* security tickets (TAN) */

int
store_ticket_cancel_live(struct dbtx *tx, long long account, long long now, long long *n)
{
	int rc = run(tx, "UPDATE tickets SET cancelled_at = ? WHERE account_id = ?"
	    " AND redeemed_at IS NULL AND cancelled_at IS NULL AND expires_at > ?", "iii", now, account, now);

	if (n && rc >= 0)
		*n = rc;
	return rc < 0 ? rc : STORE_OK;
}

/* The calls on an account's tickets that could still place an order. */
int
store_call_cancel_open(struct dbtx *tx, long long account, long long now, long long *n)
{
	int rc = run(tx, "UPDATE calls SET cancelled_at = ? WHERE used_at IS NULL AND cancelled_at IS NULL"
	    " AND expires_at > ? AND ticket_id IN (SELECT id FROM tickets WHERE account_id = ?)",
	    "iii", now, now, account);

	if (n && rc >= 0)
		*n = rc;
	return rc < 0 ? rc : STORE_OK;
}

/* A ticket by its hash, whatever its state. */
int
store_ticket_by_hash(struct dbtx *tx, const char *hash, cJSON **out)
{
	return row(tx, out, "SELECT id, account_id, redeemed_at, cancelled_at, expires_at FROM tickets"
	    " WHERE hash = ?", "s", hash);
}

int
store_ticket_add(struct dbtx *tx, long long account, const char *hash, long long acceptance,
    long long now, long long expires, long long *id)
{
	return insert_id(tx, id, "INSERT INTO tickets (account_id, hash, acceptance_id, created_at, expires_at)"
	    " VALUES (?, ?, ?, ?, ?) RETURNING id", "isiii", account, hash, acceptance, now, expires);

}

int
store_ticket_current(struct dbtx *tx, long long account, long long now, cJSON **out)
{
	return row(tx, out, "SELECT id, created_at, expires_at FROM tickets WHERE account_id = ?"
	    " AND redeemed_at IS NULL AND cancelled_at IS NULL AND expires_at > ?"
	    " ORDER BY id DESC LIMIT 1", "ii", account, now);
}

int
store_ticket_find(struct dbtx *tx, const char *hash, long long now, cJSON **out)
{
	return row(tx, out, "SELECT id, account_id, acceptance_id FROM tickets WHERE hash = ?"
	    " AND redeemed_at IS NULL AND cancelled_at IS NULL AND expires_at > ?", "si", hash, now);
}

int
store_ticket_redeem(struct dbtx *tx, long long id, long long now)
{
	return changed(run(tx, "UPDATE tickets SET redeemed_at = ? WHERE id = ? AND redeemed_at IS NULL"
	    " AND cancelled_at IS NULL", "ii", now, id));
}

/* hotline calls: one redeemed ticket allows one order */

int
store_call_add(struct dbtx *tx, const char *id, long long ticket, long long op, long long now,
    long long expires)
{
	int rc = run(tx, "INSERT INTO calls (id, ticket_id, operator_id, created_at, expires_at)"
	    " VALUES (?, ?, ?, ?, ?)", "siiii", id, ticket, op, now, expires);

	return rc < 0 ? rc : STORE_OK;
}

int
store_call_get(struct dbtx *tx, const char *id, cJSON **out)
{
	return row(tx, out, "SELECT c.id, c.ticket_id, c.operator_id, c.created_at, c.expires_at,"
	    " c.used_at, c.cancelled_at, t.account_id, t.acceptance_id FROM calls c JOIN tickets t ON t.id = c.ticket_id"
	    " WHERE c.id = ?", "s", id);
}

int
store_call_use(struct dbtx *tx, const char *id, long long now)
{
	return changed(run(tx, "UPDATE calls SET used_at = ? WHERE id = ? AND used_at IS NULL"
	    " AND cancelled_at IS NULL", "is", now, id));
}

/* orders */

int
store_order_add(struct dbtx *tx, const struct store_order *o, long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO orders (kind, account_id, call_id, operator_id, vin, key_position,"
	    " key_code_hash, payment_ref, ship_to, expected_from, expected_to, created_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id", "sisisnsssssi", o->kind, o->account_id,
	    o->call_id, o->operator_id, o->vin, o->key_position, o->key_code_hash, o->payment_ref,
	    o->ship_to, o->expected_from, o->expected_to, now);

}

#define ORDER_COLUMNS "o.id AS order_id, o.kind, a.sdrm_id, o.vin, o.key_position, o.payment_ref," \
	" o.ship_to, o.expected_from, o.expected_to, o.state, o.tracking, o.created_at, o.shipped_at," \
	" o.call_id, (SELECT serial FROM keywriters k WHERE k.order_id = o.id) AS keywriter_serial"

int
store_order_get(struct dbtx *tx, long long id, cJSON **out)
{
	return row(tx, out, "SELECT " ORDER_COLUMNS ", o.account_id FROM orders o"
	    " JOIN accounts a ON a.id = o.account_id WHERE o.id = ?", "i", id);
}

int
store_order_list(struct dbtx *tx, long long account, const char *sdrm_id, const char *vin,
    const char *state, cJSON **out)
{
	return rows(tx, out, "SELECT " ORDER_COLUMNS " FROM orders o JOIN accounts a ON a.id = o.account_id"
	    " WHERE (? = 0 OR o.account_id = ?) AND (? IS NULL OR a.sdrm_id = ?)"
	    " AND (? IS NULL OR o.vin = ?) AND (? IS NULL OR o.state = ?) ORDER BY o.id",
	    "iissssss", account, account, sdrm_id, sdrm_id, vin, vin, state, state);
}

int
store_order_ship(struct dbtx *tx, long long id, const char *tracking, long long now)
{
	return changed(run(tx, "UPDATE orders SET state = 'shipped', tracking = ?, shipped_at = ?"
	    " WHERE id = ? AND state = 'placed'", "sii", tracking, now, id));
}

int
store_keywriter_add(struct dbtx *tx, const char *serial, long long account, long long order,
    const char *public_key, long long now)
{
	int rc = run(tx, "INSERT INTO keywriters (serial, account_id, order_id, public_key, registered_at)"
	    " VALUES (?, ?, ?, ?, ?)", "siisi", serial, account, order, public_key, now);

	return rc < 0 ? rc : STORE_OK;
}
