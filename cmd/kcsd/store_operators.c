/* store_operators.c: hotline operators and administrators, and the SDRM directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

/* operators */

int
store_operator_add(struct dbtx *tx, const char *name, const char *role,
    const char *token_hash, long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO operators (name, role, token_hash, created_at)"
	    " VALUES (?, ?, ?, ?) RETURNING id", "sssi", name, role, token_hash, now);
}

static int
operator_fill(void *arg, int n, const char *const *names, const struct db_value *v)
{
	struct operator_row *o = arg;

	(void)n;
	(void)names;
	o->id = v[0].i;
	copy_text(o->name, sizeof o->name, &v[1]);
	copy_text(o->role, sizeof o->role, &v[2]);
	return 1;
}

int
store_operator_by_token(struct dbtx *tx, const char *token_hash, struct operator_row *out)
{
	return typed_row(tx, operator_fill, out, "SELECT id, name, role FROM operators"
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
