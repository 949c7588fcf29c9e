/* store.c: the SQLite store. All SQL of kcs is here, behind the small
 * interface of kcsd.h, so that another engine can be added beside it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kcsd.h"

extern const char *const kcsd_migrations[];

static void
seterr(struct store *st, const char *what)
{
	snprintf(st->errmsg, sizeof st->errmsg, "%s: %s", what, sqlite3_errmsg(st->db));
	fprintf(stderr, "kcsd: store: %s\n", st->errmsg);
}

/* Binds by a type string: s (const char *, NULL binds NULL), i (long long),
 * n (long long, 0 binds NULL), b (const void *, size_t). */
static sqlite3_stmt *
prep(struct store *st, const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		seterr(st, "prepare");
		return NULL;
	}
	for (int i = 0; types[i]; i++) {
		int rc;

		switch (types[i]) {
		case 's': {
			const char *v = va_arg(ap, const char *);

			rc = v ? sqlite3_bind_text(s, i + 1, v, -1, SQLITE_TRANSIENT)
			       : sqlite3_bind_null(s, i + 1);
			break;
		}
		case 'i':
			rc = sqlite3_bind_int64(s, i + 1, va_arg(ap, long long));
			break;
		case 'n': {
			long long v = va_arg(ap, long long);

			rc = v ? sqlite3_bind_int64(s, i + 1, v) : sqlite3_bind_null(s, i + 1);
			break;
		}
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);

			rc = sqlite3_bind_blob(s, i + 1, p, (int)n, SQLITE_TRANSIENT);
			break;
		}
		default:
			rc = SQLITE_MISUSE;
		}
		if (rc != SQLITE_OK) {
			seterr(st, "bind");
			sqlite3_finalize(s);
			return NULL;
		}
	}
	return s;
}

/* A statement without rows: the number of changed rows, or STORE_*. */
static int
run(struct store *st, const char *sql, const char *types, ...)
{
	va_list ap;
	sqlite3_stmt *s;
	int rc;

	va_start(ap, types);
	s = prep(st, sql, types, ap);
	va_end(ap);
	if (!s)
		return STORE_ERROR;
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return sqlite3_changes(st->db);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		snprintf(st->errmsg, sizeof st->errmsg, "%s", sqlite3_errmsg(st->db));
		return STORE_CONFLICT;
	}
	seterr(st, "step");
	return STORE_ERROR;
}

static cJSON *
row_object(sqlite3_stmt *s)
{
	cJSON *o = cJSON_CreateObject();

	for (int i = 0; o && i < sqlite3_column_count(s); i++) {
		const char *name = sqlite3_column_name(s, i);

		switch (sqlite3_column_type(s, i)) {
		case SQLITE_INTEGER:
			cJSON_AddNumberToObject(o, name, (double)sqlite3_column_int64(s, i));
			break;
		case SQLITE_FLOAT:
			cJSON_AddNumberToObject(o, name, sqlite3_column_double(s, i));
			break;
		case SQLITE_TEXT:
			cJSON_AddStringToObject(o, name, (const char *)sqlite3_column_text(s, i));
			break;
		case SQLITE_BLOB: {
			int n = sqlite3_column_bytes(s, i);
			char *hex = malloc(2 * (size_t)n + 1);

			if (hex) {
				kcs_hex_encode(sqlite3_column_blob(s, i), (size_t)n, hex);
				cJSON_AddStringToObject(o, name, hex);
				free(hex);
			}
			break;
		}
		default:
			cJSON_AddNullToObject(o, name);
		}
	}
	return o;
}

/* Rows as objects: with many, an array in *out; else the first row. */
static int
query(struct store *st, cJSON **out, int many, const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt *s = prep(st, sql, types, ap);
	cJSON *arr = many ? cJSON_CreateArray() : NULL;
	int rc;

	*out = NULL;
	if (!s) {
		cJSON_Delete(arr);
		return STORE_ERROR;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		cJSON *o = row_object(s);

		if (!many) {
			*out = o;
			sqlite3_finalize(s);
			return STORE_OK;
		}
		cJSON_AddItemToArray(arr, o);
	}
	if (rc != SQLITE_DONE) {
		seterr(st, "step");
		sqlite3_finalize(s);
		cJSON_Delete(arr);
		return STORE_ERROR;
	}
	sqlite3_finalize(s);
	*out = arr;
	return many ? STORE_OK : STORE_NOTFOUND;
}

static int
row(struct store *st, cJSON **out, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = query(st, out, 0, sql, types, ap);
	va_end(ap);
	return rc;
}

static int
rows(struct store *st, cJSON **out, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = query(st, out, 1, sql, types, ap);
	va_end(ap);
	return rc;
}

static int
changed(int rc)
{
	return rc < 0 ? rc : rc == 0 ? STORE_NOTFOUND : STORE_OK;
}

static int
count_rows(void *arg, int n, char **v, char **names)
{
	(void)n;
	(void)v;
	(void)names;
	(*(int *)arg)++;
	return 0;
}

static int
migrate(struct store *st)
{
	sqlite3_stmt *s;
	int version = 0, known;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK) {
		seterr(st, "user_version");
		return STORE_ERROR;
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	for (known = 0; kcsd_migrations[known]; known++)
		;
	if (version < 0 || version > known) {
		snprintf(st->errmsg, sizeof st->errmsg,
		    "the store has schema version %d; this program knows up to %d: use a newer kcs", version, known);
		return STORE_ERROR;
	}
	/* a migration may rebuild a table that others refer to: foreign keys
	 * are off meanwhile, and checked before each migration commits */
	for (int v = version; kcsd_migrations[v]; v++) {
		char sql[64];
		int bad = 0;

		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
		if (sqlite3_exec(st->db, "PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(st->db, kcsd_migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(st->db, "PRAGMA foreign_key_check", count_rows, &bad, NULL) != SQLITE_OK || bad ||
		    sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			if (bad)
				snprintf(st->errmsg, sizeof st->errmsg, "migration %d: %d foreign key violations", v + 1, bad);
			else
				seterr(st, "migration");
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			return STORE_ERROR;
		}
	}
	return sqlite3_exec(st->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) == SQLITE_OK ? STORE_OK : STORE_ERROR;
}

int
store_open(struct store *st, const char *path, int create)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (create ? SQLITE_OPEN_CREATE : 0);

	memset(st->errmsg, 0, sizeof st->errmsg);
	if (!create && access(path, F_OK) != 0) {
		snprintf(st->errmsg, sizeof st->errmsg, "%s: %s (create it with kcs-admin init)",
		    path, strerror(errno));
		return STORE_ERROR;
	}
	if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
		snprintf(st->errmsg, sizeof st->errmsg, "%s: %s", path,
		    st->db ? sqlite3_errmsg(st->db) : "cannot open");
		sqlite3_close(st->db);
		st->db = NULL;
		return STORE_ERROR;
	}
	pthread_mutex_init(&st->mu, NULL);
	sqlite3_busy_timeout(st->db, 5000);
	if (sqlite3_exec(st->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	    " PRAGMA secure_delete = ON;", NULL, NULL, NULL) != SQLITE_OK ||
	    migrate(st) != STORE_OK) {
		if (!st->errmsg[0])
			seterr(st, "open");
		store_close(st);
		return STORE_ERROR;
	}
	return STORE_OK;
}

void
store_close(struct store *st)
{
	if (st->db) {
		sqlite3_close(st->db);
		pthread_mutex_destroy(&st->mu);
	}
	st->db = NULL;
}

int
store_begin(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		seterr(st, "begin");
		pthread_mutex_unlock(&st->mu);
		return STORE_ERROR;
	}
	return STORE_OK;
}

int
store_commit(struct store *st)
{
	int rc = STORE_OK;

	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		seterr(st, "commit");
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		rc = STORE_ERROR;
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

void
store_rollback(struct store *st)
{
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&st->mu);
}

/* A mark inside the transaction: store_undo takes back what came after it
 * and keeps what came before (a session's last use, say). */
int
store_mark(struct store *st)
{
	if (sqlite3_exec(st->db, "SAVEPOINT handler", NULL, NULL, NULL) != SQLITE_OK) {
		seterr(st, "savepoint");
		return STORE_ERROR;
	}
	return STORE_OK;
}

int
store_undo(struct store *st)
{
	if (sqlite3_exec(st->db, "ROLLBACK TO handler", NULL, NULL, NULL) != SQLITE_OK) {
		seterr(st, "rollback to");
		return STORE_ERROR;
	}
	return STORE_OK;
}

/* Commits what the transaction holds and lets other requests in, for slow
 * work that needs no store (password hashing); store_resume starts a new
 * transaction with a new mark. */
int
store_suspend(struct store *st)
{
	return store_commit(st);
}

int
store_resume(struct store *st)
{
	if (store_begin(st) != STORE_OK)
		return STORE_ERROR;
	return store_mark(st);
}

/* operators */

int
store_operator_add(struct store *st, const char *name, const char *role,
    const char *token_hash, long long now, long long *id)
{
	int rc = run(st, "INSERT INTO operators (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
	    "sssi", name, role, token_hash, now);

	if (rc < 0)
		return rc;
	*id = sqlite3_last_insert_rowid(st->db);
	return STORE_OK;
}

int
store_operator_by_token(struct store *st, const char *token_hash, cJSON **out)
{
	return row(st, out, "SELECT id, name, role FROM operators"
	    " WHERE token_hash = ? AND removed_at IS NULL", "s", token_hash);
}

int
store_operator_get(struct store *st, long long id, cJSON **out)
{
	return row(st, out, "SELECT id, name, role, created_at FROM operators"
	    " WHERE id = ? AND removed_at IS NULL", "i", id);
}

int
store_operator_list(struct store *st, cJSON **out)
{
	return rows(st, out, "SELECT id, name, role, created_at FROM operators"
	    " WHERE removed_at IS NULL ORDER BY id", "");
}

int
store_operator_remove(struct store *st, long long id, long long now)
{
	return changed(run(st, "UPDATE operators SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
	    "ii", now, id));
}

int
store_admin_count(struct store *st, long long *n)
{
	cJSON *o;
	int rc = row(st, &o, "SELECT count(*) AS n FROM operators"
	    " WHERE role = 'admin' AND removed_at IS NULL", "");

	if (rc == STORE_OK)
		kcs_json_int(o, "n", n);
	cJSON_Delete(o);
	return rc;
}

/* the SDRM directory */

int
store_sdrm_add(struct store *st, const char *sdrm_id, const char *pwhash, long long now)
{
	int rc = run(st, "INSERT INTO sdrm (sdrm_id, pwhash, created_at) VALUES (?, ?, ?)",
	    "ssi", sdrm_id, pwhash, now);

	return rc < 0 ? rc : STORE_OK;
}

int
store_sdrm_get(struct store *st, const char *sdrm_id, cJSON **out)
{
	return row(st, out, "SELECT sdrm_id, pwhash FROM sdrm WHERE sdrm_id = ?", "s", sdrm_id);
}

int
store_sdrm_remove(struct store *st, const char *sdrm_id)
{
	return changed(run(st, "DELETE FROM sdrm WHERE sdrm_id = ?", "s", sdrm_id));
}

/* accounts */

#define ACCOUNT_COLUMNS "id, sdrm_id, email, last_name, first_name, company, address, city," \
	" state, zip, phone, comments, time_zone, pwhash, must_change, email_verified," \
	" address_verified, created_at, form_signed_at, closed_at"

int
store_account_add(struct store *st, const cJSON *f, long long now, long long *id)
{
#define F(n) kcs_json_str(f, n)
	int rc = run(st, "INSERT INTO accounts (sdrm_id, email, last_name, first_name, company,"
	    " address, city, state, zip, phone, comments, time_zone, created_at, form_signed_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "ssssssssssssii",
	    F("sdrm_id"), F("email"), F("last_name"), F("first_name"), F("company"), F("address"),
	    F("city"), F("state"), F("zip"), F("phone"), F("comments"), F("time_zone"), now, now);
#undef F

	if (rc < 0)
		return rc;
	*id = sqlite3_last_insert_rowid(st->db);
	return STORE_OK;
}

int
store_account_get(struct store *st, long long id, cJSON **out)
{
	return row(st, out, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE id = ?", "i", id);
}

int
store_account_by_email(struct store *st, const char *email, cJSON **out)
{
	return row(st, out, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE email = ? AND closed_at IS NULL", "s", email);
}

int
store_account_by_sdrm(struct store *st, const char *sdrm_id, cJSON **out)
{
	return row(st, out, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE sdrm_id = ? AND closed_at IS NULL", "s", sdrm_id);
}

int
store_account_email_verified(struct store *st, long long id)
{
	return changed(run(st, "UPDATE accounts SET email_verified = 1 WHERE id = ?", "i", id));
}

int
store_account_address_verified(struct store *st, long long id)
{
	return changed(run(st, "UPDATE accounts SET address_verified = 1 WHERE id = ?", "i", id));
}

/* The address a verification link goes to, while it is not yet verified. */
int
store_account_set_email(struct store *st, long long id, const char *email)
{
	return changed(run(st, "UPDATE accounts SET email = ? WHERE id = ? AND email_verified = 0"
	    " AND closed_at IS NULL", "si", email, id));
}

int
store_account_close(struct store *st, long long id, long long now)
{
	return changed(run(st, "UPDATE accounts SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
	    "ii", now, id));
}

int
store_account_password(struct store *st, long long id, const char *pwhash, int must_change)
{
	return changed(run(st, "UPDATE accounts SET pwhash = ?, must_change = ? WHERE id = ?",
	    "sii", pwhash, (long long)must_change, id));
}

/* single-use codes: e-mail links, reset codes, address codes */

int
store_code_add(struct store *st, long long account, const char *purpose,
    const char *hash, long long now, long long expires)
{
	int rc = expires
	    ? run(st, "INSERT INTO codes (account_id, purpose, hash, created_at, expires_at)"
		" VALUES (?, ?, ?, ?, ?)", "issii", account, purpose, hash, now, expires)
	    : run(st, "INSERT INTO codes (account_id, purpose, hash, created_at)"
		" VALUES (?, ?, ?, ?)", "issi", account, purpose, hash, now);

	return rc < 0 ? rc : STORE_OK;
}

int
store_code_find(struct store *st, const char *purpose, const char *hash, long long now, cJSON **out)
{
	return row(st, out, "SELECT id, account_id FROM codes WHERE purpose = ? AND hash = ?"
	    " AND used_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", "ssi", purpose, hash, now);
}

int
store_code_live(struct store *st, long long account, const char *purpose, long long now, cJSON **out)
{
	return row(st, out, "SELECT id, hash, created_at FROM codes WHERE account_id = ? AND purpose = ?"
	    " AND used_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
	    " ORDER BY id DESC LIMIT 1", "isi", account, purpose, now);
}

int
store_code_use(struct store *st, long long id, long long now)
{
	return changed(run(st, "UPDATE codes SET used_at = ? WHERE id = ? AND used_at IS NULL",
	    "ii", now, id));
}

int
store_code_void(struct store *st, long long account, const char *purpose, long long now)
{
	int rc = run(st, "UPDATE codes SET used_at = ? WHERE account_id = ? AND purpose = ?"
	    " AND used_at IS NULL", "iis", now, account, purpose);

	return rc < 0 ? rc : STORE_OK;
}

/* sessions */

int
store_session_add(struct store *st, long long account, const char *hash, const char *stage, long long now)
{
	int rc = run(st, "INSERT INTO sessions (account_id, token_hash, stage, created_at, last_used_at)"
	    " VALUES (?, ?, ?, ?, ?)", "issii", account, hash, stage, now, now);

	return rc < 0 ? rc : STORE_OK;
}

int
store_session_get(struct store *st, const char *hash, cJSON **out)
{
	return row(st, out, "SELECT id, account_id, stage, created_at, last_used_at, revoked_at"
	    " FROM sessions WHERE token_hash = ?", "s", hash);
}

int
store_session_touch(struct store *st, long long id, long long now)
{
	return changed(run(st, "UPDATE sessions SET last_used_at = ? WHERE id = ?", "ii", now, id));
}

int
store_session_stage(struct store *st, long long id, const char *stage)
{
	return changed(run(st, "UPDATE sessions SET stage = ? WHERE id = ?", "si", stage, id));
}

int
store_session_revoke(struct store *st, long long id, long long now)
{
	return changed(run(st, "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
	    "ii", now, id));
}

int
store_session_revoke_all(struct store *st, long long account, long long now)
{
	int rc = run(st, "UPDATE sessions SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
	    "ii", now, account);

	return rc < 0 ? rc : STORE_OK;
}

/* failed attempts, per account key, whatever address they come from */

int
store_failures_get(struct store *st, const char *key, cJSON **out)
{
	return row(st, out, "SELECT failures, locked_until FROM login_failures WHERE key_hash = ?",
	    "s", key);
}

/* Counts a failure under key; failures more than window seconds apart start
 * a new count, and rows older than that (unlocked) go, a few at a time, so
 * that attempts at unknown names leave nothing that grows without bound. */
int
store_failure_add(struct store *st, const char *key, long long limit, long long cooldown,
    long long window, long long now, long long *failures)
{
	cJSON *o;
	int rc = run(st, "INSERT INTO login_failures (key_hash, failures, last_failed_at) VALUES (?, 1, ?)"
	    " ON CONFLICT (key_hash) DO UPDATE SET last_failed_at = excluded.last_failed_at,"
	    " failures = CASE WHEN login_failures.last_failed_at < ? THEN 1 ELSE failures + 1 END",
	    "sii", key, now, now - window);

	if (rc < 0)
		return rc;
	/* the K-th failure starts the cool-down and a new count */
	rc = run(st, "UPDATE login_failures SET locked_until = ?, failures = 0"
	    " WHERE key_hash = ? AND failures >= ?", "isi", now + cooldown, key, limit);
	if (rc < 0)
		return rc;
	*failures = rc > 0 ? limit : 0;
	if (rc == 0 && store_failures_get(st, key, &o) == STORE_OK) {
		kcs_json_int(o, "failures", failures);
		cJSON_Delete(o);
	}
	rc = run(st, "DELETE FROM login_failures WHERE key_hash IN (SELECT key_hash FROM login_failures"
	    " WHERE last_failed_at < ? AND locked_until < ? LIMIT 16)", "ii", now - window, now);
	return rc < 0 ? rc : STORE_OK;
}

int
store_failures_clear(struct store *st, const char *key)
{
	int rc = run(st, "DELETE FROM login_failures WHERE key_hash = ?", "s", key);

	return rc < 0 ? rc : STORE_OK;
}

/* disclaimers */

int
store_disclaimer_current(struct store *st, const char *kind, cJSON **out)
{
	return row(st, out, "SELECT kind, version, text FROM disclaimers WHERE kind = ?"
	    " ORDER BY version DESC LIMIT 1", "s", kind);
}

int
store_acceptance_add(struct store *st, long long account, const char *kind, long long version,
    long long now, long long *id)
{
	int rc = run(st, "INSERT INTO acceptances (account_id, kind, version, accepted_at)"
	    " VALUES (?, ?, ?, ?)", "isii", account, kind, version, now);

	if (rc < 0)
		return rc;
	if (id)
		*id = sqlite3_last_insert_rowid(st->db);
	return STORE_OK;
}

/* outbox */

int
store_outbox_add(struct store *st, const char *kind, const char *to, const char *subject,
    const uint8_t *sealed, size_t len, const char *file, long long now, long long *id)
{
	int rc = run(st, "INSERT INTO outbox (kind, recipient, subject, sealed, file, created_at)"
	    " VALUES (?, ?, ?, ?, ?, ?)", "sssbsi", kind, to, subject, sealed, len, file, now);

	if (rc < 0)
		return rc;
	*id = sqlite3_last_insert_rowid(st->db);
	return STORE_OK;
}

int
store_outbox_list(struct store *st, cJSON **out)
{
	return rows(st, out, "SELECT id, kind, recipient, subject, file, created_at, delivered_at"
	    " FROM outbox ORDER BY id", "");
}

int
store_outbox_get(struct store *st, long long id, cJSON **out)
{
	return row(st, out, "SELECT id, kind, recipient, subject, file, created_at, delivered_at, sealed"
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
audit_hash(struct store *st, const struct audit_row *e, const char *prev, size_t prevlen,
    char out[KCS_HASH_HEX])
{
	crypto_generichash_state h;
	uint8_t d[32];
	char num[64];

	crypto_generichash_init(&h, st->audit_key, KCS_KEY_LEN, sizeof d);
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

int
store_audit(struct store *st, const char *actor, const char *event, const char *subject,
    const cJSON *detail, long long now)
{
	cJSON *last;
	char prev[KCS_HASH_HEX] = "", hash[KCS_HASH_HEX], *d;
	struct audit_row e = { .id = 1, .at = now, .format = 2 };
	int rc = row(st, &last, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", "");

	if (rc == STORE_ERROR)
		return rc;
	if (rc == STORE_OK) {
		kcs_json_int(last, "id", &e.id);
		e.id++;
		snprintf(prev, sizeof prev, "%s", kcs_json_str(last, "hash"));
		cJSON_Delete(last);
	}
	if (!(d = detail ? kcs_json_dump(detail) : strdup("{}")))
		return STORE_ERROR;
	e.f[0] = actor;
	e.f[1] = event;
	e.f[2] = subject ? subject : "";
	e.f[3] = d;
	for (int i = 0; i < 4; i++)
		e.n[i] = strlen(e.f[i]);
	audit_hash(st, &e, prev, strlen(prev), hash);
	rc = run(st, "INSERT INTO audit (id, at, actor, event, subject, detail, prev, hash, format)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 2)", "iissssss", e.id, now, actor, event, e.f[2], d, prev, hash);
	free(d);
	return rc < 0 ? STORE_ERROR : STORE_OK;
}

/* Checks every entry: its types, its place in the sequence, its link to the
 * entry before and its hash. The chain must start with the store's creation.
 * A bad entry is reported and the check goes on from its stored hash, so
 * each damaged entry is named once. */
int
store_audit_verify(struct store *st, long long *entries, cJSON *bad)
{
	sqlite3_stmt *s;
	char prev[KCS_HASH_HEX] = "", hash[KCS_HASH_HEX];
	size_t prevlen = 0;
	long long expect = 1, last_format = 1;
	int rc;

	*entries = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT id, at, format, actor, event, subject, detail, prev, hash"
	    " FROM audit ORDER BY id", -1, &s, NULL) != SQLITE_OK) {
		seterr(st, "prepare");
		return STORE_ERROR;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct audit_row e = { 0 };
		int ok = sqlite3_column_type(s, 1) == SQLITE_INTEGER && sqlite3_column_type(s, 2) == SQLITE_INTEGER;

		e.id = sqlite3_column_int64(s, 0);
		e.at = sqlite3_column_int64(s, 1);
		e.format = sqlite3_column_int64(s, 2);
		for (int i = 0; i < 6; i++) {
			ok &= sqlite3_column_type(s, 3 + i) == SQLITE_TEXT;
			e.f[i] = (const char *)sqlite3_column_text(s, 3 + i);
			e.n[i] = (size_t)sqlite3_column_bytes(s, 3 + i);
			ok &= e.f[i] != NULL;
			/* format 1 hashed up to a NUL: it must hold none */
			ok &= !(e.f[i] && e.format == 1 && strlen(e.f[i]) != e.n[i]);
		}
		ok &= e.format == 2 || (e.format == 1 && last_format == 1);
		ok &= e.id == expect && (e.id != 1 || (e.f[1] && strcmp(e.f[1], "store.initialised") == 0));
		if (ok) {
			audit_hash(st, &e, prev, prevlen, hash);
			ok = e.n[4] == prevlen && memcmp(e.f[4], prev, prevlen) == 0 &&
			    e.n[5] == KCS_HASH_HEX - 1 && sodium_memcmp(hash, e.f[5], KCS_HASH_HEX - 1) == 0;
		}
		if (!ok && cJSON_GetArraySize(bad) < 100)
			cJSON_AddItemToArray(bad, cJSON_CreateNumber((double)e.id));
		if (!ok && cJSON_GetArraySize(bad) == 100)
			cJSON_AddItemToArray(bad, cJSON_CreateString("..."));
		snprintf(prev, sizeof prev, "%s", e.f[5] && e.n[5] < sizeof prev ? e.f[5] : "");
		prevlen = strlen(prev);
		expect = e.id + 1;
		last_format = e.format;
		(*entries)++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		seterr(st, "step");
		return STORE_ERROR;
	}
	return STORE_OK;
}

/* vehicles and their key positions */

int
store_vehicle_add(struct store *st, const char *vin, const char *model, const char *date,
    const uint8_t *secret, size_t slen, const uint8_t *cut, size_t clen, long long now)
{
	int rc = run(st, "INSERT INTO vehicles (vin, model, production_date, secret, cut_code, created_at)"
	    " VALUES (?, ?, ?, ?, ?, ?)", "sssbbi", vin, model, date, secret, slen, cut, clen, now);

	/* the two keys delivered with the car */
	if (rc >= 0)
		rc = run(st, "INSERT INTO keys (vin, position, state, created_at)"
		    " VALUES (?, 1, 'delivered', ?), (?, 2, 'delivered', ?)", "sisi", vin, now, vin, now);
	return rc < 0 ? rc : STORE_OK;
}

int
store_vehicle_get(struct store *st, const char *vin, cJSON **out)
{
	return row(st, out, "SELECT vin, model, production_date, created_at FROM vehicles WHERE vin = ?",
	    "s", vin);
}

int
store_vehicle_keys(struct store *st, const char *vin, cJSON **out)
{
	return rows(st, out, "SELECT position, state, order_id, created_at FROM keys WHERE vin = ?"
	    " ORDER BY position", "s", vin);
}

int
store_key_next_free(struct store *st, const char *vin, long long *position)
{
	cJSON *o;
	int rc = row(st, &o, "WITH RECURSIVE p(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM p WHERE n < 10)"
	    " SELECT min(n) AS n FROM p WHERE n NOT IN (SELECT position FROM keys WHERE vin = ?)", "s", vin);

	if (rc != STORE_OK)
		return rc;
	rc = kcs_json_int(o, "n", position) == 0 ? STORE_OK : STORE_NOTFOUND;
	cJSON_Delete(o);
	return rc;
}

int
store_key_add(struct store *st, const char *vin, long long position, long long order_id, long long now)
{
	int rc = run(st, "INSERT INTO keys (vin, position, state, order_id, created_at)"
	    " VALUES (?, ?, 'ordered', ?, ?)", "siii", vin, position, order_id, now);

	return rc < 0 ? rc : STORE_OK;
}

/* security tickets (TAN) */

int
store_ticket_cancel_live(struct store *st, long long account, long long now, long long *n)
{
	int rc = run(st, "UPDATE tickets SET cancelled_at = ? WHERE account_id = ?"
	    " AND redeemed_at IS NULL AND cancelled_at IS NULL AND expires_at > ?", "iii", now, account, now);

	if (n && rc >= 0)
		*n = rc;
	return rc < 0 ? rc : STORE_OK;
}

/* The calls on an account's tickets that could still place an order. */
int
store_call_cancel_open(struct store *st, long long account, long long now, long long *n)
{
	int rc = run(st, "UPDATE calls SET cancelled_at = ? WHERE used_at IS NULL AND cancelled_at IS NULL"
	    " AND expires_at > ? AND ticket_id IN (SELECT id FROM tickets WHERE account_id = ?)",
	    "iii", now, now, account);

	if (n && rc >= 0)
		*n = rc;
	return rc < 0 ? rc : STORE_OK;
}

/* A ticket by its hash, whatever its state. */
int
store_ticket_by_hash(struct store *st, const char *hash, cJSON **out)
{
	return row(st, out, "SELECT id, account_id, redeemed_at, cancelled_at, expires_at FROM tickets"
	    " WHERE hash = ?", "s", hash);
}

int
store_ticket_add(struct store *st, long long account, const char *hash, long long acceptance,
    long long now, long long expires, long long *id)
{
	int rc = run(st, "INSERT INTO tickets (account_id, hash, acceptance_id, created_at, expires_at)"
	    " VALUES (?, ?, ?, ?, ?)", "isiii", account, hash, acceptance, now, expires);

	if (rc < 0)
		return rc;
	*id = sqlite3_last_insert_rowid(st->db);
	return STORE_OK;
}

int
store_ticket_current(struct store *st, long long account, long long now, cJSON **out)
{
	return row(st, out, "SELECT id, created_at, expires_at FROM tickets WHERE account_id = ?"
	    " AND redeemed_at IS NULL AND cancelled_at IS NULL AND expires_at > ?"
	    " ORDER BY id DESC LIMIT 1", "ii", account, now);
}

int
store_ticket_find(struct store *st, const char *hash, long long now, cJSON **out)
{
	return row(st, out, "SELECT id, account_id, acceptance_id FROM tickets WHERE hash = ?"
	    " AND redeemed_at IS NULL AND cancelled_at IS NULL AND expires_at > ?", "si", hash, now);
}

int
store_ticket_redeem(struct store *st, long long id, long long now)
{
	return changed(run(st, "UPDATE tickets SET redeemed_at = ? WHERE id = ? AND redeemed_at IS NULL"
	    " AND cancelled_at IS NULL", "ii", now, id));
}

/* hotline calls: one redeemed ticket allows one order */

int
store_call_add(struct store *st, const char *id, long long ticket, long long op, long long now,
    long long expires)
{
	int rc = run(st, "INSERT INTO calls (id, ticket_id, operator_id, created_at, expires_at)"
	    " VALUES (?, ?, ?, ?, ?)", "siiii", id, ticket, op, now, expires);

	return rc < 0 ? rc : STORE_OK;
}

int
store_call_get(struct store *st, const char *id, cJSON **out)
{
	return row(st, out, "SELECT c.id, c.ticket_id, c.operator_id, c.created_at, c.expires_at,"
	    " c.used_at, c.cancelled_at, t.account_id, t.acceptance_id FROM calls c JOIN tickets t ON t.id = c.ticket_id"
	    " WHERE c.id = ?", "s", id);
}

int
store_call_use(struct store *st, const char *id, long long now)
{
	return changed(run(st, "UPDATE calls SET used_at = ? WHERE id = ? AND used_at IS NULL"
	    " AND cancelled_at IS NULL", "is", now, id));
}

/* orders */

int
store_order_add(struct store *st, const struct store_order *o, long long now, long long *id)
{
	int rc = run(st, "INSERT INTO orders (kind, account_id, call_id, operator_id, vin, key_position,"
	    " key_code_hash, payment_ref, ship_to, expected_from, expected_to, created_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "sisisnsssssi", o->kind, o->account_id,
	    o->call_id, o->operator_id, o->vin, o->key_position, o->key_code_hash, o->payment_ref,
	    o->ship_to, o->expected_from, o->expected_to, now);

	if (rc < 0)
		return rc;
	*id = sqlite3_last_insert_rowid(st->db);
	return STORE_OK;
}

#define ORDER_COLUMNS "o.id AS order_id, o.kind, a.sdrm_id, o.vin, o.key_position, o.payment_ref," \
	" o.ship_to, o.expected_from, o.expected_to, o.state, o.tracking, o.created_at, o.shipped_at," \
	" o.call_id, (SELECT serial FROM keywriters k WHERE k.order_id = o.id) AS keywriter_serial"

int
store_order_get(struct store *st, long long id, cJSON **out)
{
	return row(st, out, "SELECT " ORDER_COLUMNS ", o.account_id FROM orders o"
	    " JOIN accounts a ON a.id = o.account_id WHERE o.id = ?", "i", id);
}

int
store_order_list(struct store *st, long long account, const char *sdrm_id, const char *vin,
    const char *state, cJSON **out)
{
	return rows(st, out, "SELECT " ORDER_COLUMNS " FROM orders o JOIN accounts a ON a.id = o.account_id"
	    " WHERE (? = 0 OR o.account_id = ?) AND (? IS NULL OR a.sdrm_id = ?)"
	    " AND (? IS NULL OR o.vin = ?) AND (? IS NULL OR o.state = ?) ORDER BY o.id",
	    "iissssss", account, account, sdrm_id, sdrm_id, vin, vin, state, state);
}

int
store_order_ship(struct store *st, long long id, const char *tracking, long long now)
{
	return changed(run(st, "UPDATE orders SET state = 'shipped', tracking = ?, shipped_at = ?"
	    " WHERE id = ? AND state = 'placed'", "sii", tracking, now, id));
}

int
store_keywriter_add(struct store *st, const char *serial, long long account, long long order,
    const char *public_key, long long now)
{
	int rc = run(st, "INSERT INTO keywriters (serial, account_id, order_id, public_key, registered_at)"
	    " VALUES (?, ?, ?, ?, ?)", "siisi", serial, account, order, public_key, now);

	return rc < 0 ? rc : STORE_OK;
}
