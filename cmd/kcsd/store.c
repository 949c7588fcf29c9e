/* store.c: the store over the engine interface (db.h): opening it, its
 * transactions, and the helpers every domain's store_*.c uses. The SQL
 * lives by domain in store_*.c, in the one dialect both engines speak: ?
 * placeholders, integer epoch seconds set by kcsd, RETURNING for new ids,
 * ON CONFLICT. Rows come back as cJSON objects (column name -> value). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_impl.h"

extern const char *const kcsd_migrations_sqlite[];
extern const char *const kcsd_migrations_pg[];

uint8_t audit_key[KCS_KEY_LEN];

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

int
row(struct dbtx *tx, cJSON **out, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = query(tx, out, 0, sql, types, ap);
	va_end(ap);
	return rc;
}

struct typed {
	db_row_fn fill;
	void *out;
	int found;
};

static int
typed_fill(void *arg, int n, const char *const *names, const struct db_value *v)
{
	struct typed *t = arg;

	t->found = 1;
	t->fill(t->out, n, names, v);
	return 1;
}

int
typed_row(struct dbtx *tx, db_row_fn fill, void *out, const char *sql, const char *types, ...)
{
	struct typed t = { fill, out, 0 };
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = db_vquery(tx, typed_fill, &t, sql, types, ap);
	va_end(ap);
	return rc < 0 ? rc : t.found ? STORE_OK : STORE_NOTFOUND;
}

void
copy_text(char *to, size_t n, const struct db_value *v)
{
	snprintf(to, n, "%.*s", v->type == DB_TEXT ? (int)v->n : 0, v->type == DB_TEXT ? v->p : "");
}

int
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
int
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

int
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
store_begin(struct store *st, enum db_mode mode, struct dbtx **tx)
{
	int rc = db_begin(st->db, mode, tx);

	if (rc != DB_OK)
		*tx = NULL;
	return rc;
}

/* A write was tried in a DB_READ transaction: run it again as DB_WRITE. */
int
store_wants_write(const struct dbtx *tx)
{
	return db_wants_write(tx);
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

