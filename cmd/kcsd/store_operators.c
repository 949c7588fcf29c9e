/* store_operators.c: hotline operators and administrators, and the SDRM directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

/* operators */

/* approved: the token works at once (the first administrators); else
 * once a request to add it is approved */
int
store_operator_add(struct dbtx *tx, const char *name, const char *role,
    const char *token_hash, long long now, int approved, long long *id)
{
	return insert_id(tx, id, "INSERT INTO operators (name, role, token_hash, created_at, approved_at)"
	    " VALUES (?, ?, ?, ?, ?) RETURNING id", "sssin", name, role, token_hash, now, approved ? now : 0LL);
}

int
store_operator_approve(struct dbtx *tx, long long id, long long now)
{
	return changed(run(tx, "UPDATE operators SET approved_at = ? WHERE id = ? AND approved_at IS NULL"
	    " AND removed_at IS NULL", "ii", now, id));
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
	    " WHERE token_hash = ? AND removed_at IS NULL AND approved_at IS NOT NULL", "s", token_hash);
}

int
store_operator_get(struct dbtx *tx, long long id, cJSON **out)
{
	return row(tx, out, "SELECT id, name, role, created_at, approved_at FROM operators"
	    " WHERE id = ? AND removed_at IS NULL", "i", id);
}

int
store_operator_list(struct dbtx *tx, cJSON **out)
{
	return rows(tx, out, "SELECT id, name, role, created_at, approved_at FROM operators"
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
	    " WHERE role = 'admin' AND removed_at IS NULL AND approved_at IS NOT NULL", "");

	if (rc == STORE_OK)
		kcs_json_int(o, "n", n);
	cJSON_Delete(o);
	return rc;
}

/* requests to add or remove a privileged role, and their approval */

int
store_request_add(struct dbtx *tx, const char *action, long long operator_id, long long by, long long now,
    long long expires, long long *id)
{
	return insert_id(tx, id, "INSERT INTO requests (action, operator_id, requested_by, requested_at, expires_at)"
	    " VALUES (?, ?, ?, ?, ?) RETURNING id", "siiii", action, operator_id, by, now, expires);
}

#define REQUEST_COLUMNS "r.id AS request_id, r.action, r.operator_id AS id, o.name, o.role, r.requested_by," \
	" q.name AS requested_by_name, r.requested_at, r.expires_at, r.state"
#define REQUEST_FROM " FROM requests r JOIN operators o ON o.id = r.operator_id" \
	" JOIN operators q ON q.id = r.requested_by"

int
store_requests_pending(struct dbtx *tx, long long now, cJSON **out)
{
	return rows(tx, out, "SELECT " REQUEST_COLUMNS REQUEST_FROM " WHERE r.state = 'pending' AND r.expires_at > ?"
	    " ORDER BY r.id", "i", now);
}

int
store_request_get(struct dbtx *tx, long long id, cJSON **out)
{
	return row(tx, out, "SELECT " REQUEST_COLUMNS REQUEST_FROM " WHERE r.id = ?", "i", id);
}

/* state: approved or refused, once, while the request has not expired */
int
store_request_decide(struct dbtx *tx, long long id, const char *state, long long by, long long now)
{
	return changed(run(tx, "UPDATE requests SET state = ?, decided_by = ?, decided_at = ?"
	    " WHERE id = ? AND state = 'pending' AND expires_at > ?", "siiii", state, by, now, id, now));
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
