/* admin.c: health, disclaimers, and the administrator's routes: hotline
 * operators, the SDRM directory, the outbox and the audit log. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kcsd.h"

int
h_health(struct req *r)
{
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "status", "ok");
	cJSON_AddStringToObject(r->out, "version", KCS_VERSION);
	/* a weaker mode, said where monitoring sees it */
	cJSON_AddStringToObject(r->out, "role_changes", K.cf.self_approval
	    ? "one administrator (admin_self_approval)" : "two administrators");
	return 200;
}

int
h_disclaimer(struct req *r)
{
	int rc = store_disclaimer_current(r->tx, r->arg, &r->out);

	if (rc == STORE_NOTFOUND)
		return fail(r, 404, "not_found", "kind", "no disclaimer of that kind");
	return rc == STORE_OK ? 200 : store_fail(r, rc);
}

static int
parse_id(struct req *r, const char *field, long long *id)
{
	if (kcs_id_parse(r->arg, field, id) != KCS_OK)
		return fail(r, 400, "invalid", field, "%s", kcs_errmsg());
	return 0;
}

/* Adding or removing an administrator, an operator or a mail room is a
 * request by one administrator that another approves (or the same one,
 * with admin_self_approval = yes); a request expires after
 * request_lifetime seconds. */
static int
request(struct req *r, const char *action, long long operator_id, const char *name, const char *role,
    cJSON *out)
{
	char event[40];
	long long id, expires = r->now + K.cf.request_lifetime;
	cJSON *d;
	int rc;

	if ((rc = store_request_add(r->tx, action, operator_id, r->op_id, r->now, expires, &id)) == STORE_CONFLICT)
		return fail(r, 409, "pending", "id", "a request for operator %lld waits for approval already",
		    operator_id);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "request_id", (double)id);
	cJSON_AddNumberToObject(d, "id", (double)operator_id);
	cJSON_AddStringToObject(d, "role", role);
	snprintf(event, sizeof event, "operator.%s.requested", action);
	if ((rc = audit_event(r, event, name, d)))
		return rc;
	cJSON_AddNumberToObject(out, "request_id", (double)id);
	cJSON_AddStringToObject(out, "action", action);
	cJSON_AddNumberToObject(out, "id", (double)operator_id);
	cJSON_AddStringToObject(out, "name", name);
	cJSON_AddStringToObject(out, "role", role);
	cJSON_AddStringToObject(out, "status", "pending");
	cJSON_AddNumberToObject(out, "expires_at", (double)expires);
	return 0;
}

int
h_operator_add(struct req *r)
{
	static const char *const ok[] = { "name", "role", NULL };
	const char *name, *role;
	char token[80], hash[KCS_HASH_HEX];
	long long id;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_text(r, "name", 64, 1, &name)) ||
	    (rc = want_str(r, "role", 1, 16, 0, &role)))
		return rc;
	if (!role)
		role = "operator";
	if (strcmp(role, "operator") != 0 && strcmp(role, "admin") != 0 && strcmp(role, "mailroom") != 0 &&
	    strcmp(role, "maintenance") != 0)
		return fail(r, 400, "invalid", "role", "must be 'operator', 'mailroom', 'maintenance' or 'admin'");
	kcs_token_new(token, sizeof token);
	kcs_keyed_hash(K.pepper, token, hash);
	/* the token is the requester's to hand over; it works once approved */
	if ((rc = store_operator_add(r->tx, name, role, hash, r->now, 0, &id)) != STORE_OK) {
		sodium_memzero(token, sizeof token);
		return store_fail(r, rc);
	}
	r->out = cJSON_CreateObject();
	if ((rc = request(r, "add", id, name, role, r->out))) {
		sodium_memzero(token, sizeof token);
		return rc;
	}
	cJSON_AddStringToObject(r->out, "token", token);
	sodium_memzero(token, sizeof token);
	return 202;
}

int
h_operator_list(struct req *r)
{
	cJSON *rows;
	int rc = store_operator_list(r->tx, &rows);

	if (rc != STORE_OK)
		return store_fail(r, rc);
	r->out = cJSON_CreateObject();
	cJSON_AddItemToObject(r->out, "operators", rows);
	return 200;
}

int
h_operator_remove(struct req *r)
{
	long long id, approved = 0;
	cJSON *o;
	int rc;

	if ((rc = parse_id(r, "id", &id)))
		return rc;
	if ((rc = store_operator_get(r->tx, id, &o)) == STORE_NOTFOUND)
		return fail(r, 404, "not_found", "id", "no operator %lld", id);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	if (kcs_json_int(o, "approved_at", &approved) != 0 || !approved) {
		cJSON_Delete(o);
		return fail(r, 409, "pending", "id", "operator %lld waits for approval: refuse that request instead", id);
	}
	r->out = cJSON_CreateObject();
	rc = request(r, "remove", id, kcs_json_str(o, "name"), kcs_json_str(o, "role"), r->out);
	cJSON_Delete(o);
	return rc ? rc : 202;
}

int
h_requests(struct req *r)
{
	cJSON *rows;
	int rc = store_requests_pending(r->tx, r->now, &rows);

	if (rc != STORE_OK)
		return store_fail(r, rc);
	r->out = cJSON_CreateObject();
	cJSON_AddItemToObject(r->out, "requests", rows);
	return 200;
}

static int
decide(struct req *r, int approve)
{
	static const char *const ok[] = { "id", NULL };
	long long id, by = 0, target = 0, expires = 0, admins = 0;
	const char *action, *state, *role;
	char event[40];
	cJSON *q, *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_int(r, "id", 1, KCS_ID_MAX, 1, &id)))
		return rc;
	if ((rc = store_request_get(r->tx, id, &q)) == STORE_NOTFOUND)
		return fail(r, 404, "not_found", "id", "no request %lld", id);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	action = kcs_json_str(q, "action");
	state = kcs_json_str(q, "state");
	role = kcs_json_str(q, "role");
	kcs_json_int(q, "requested_by", &by);
	kcs_json_int(q, "id", &target);
	kcs_json_int(q, "expires_at", &expires);
	if (strcmp(state, "pending") != 0)
		rc = fail(r, 409, "decided", "id", "request %lld is %s already", id, state);
	else if (expires <= r->now)
		rc = fail(r, 409, "expired", "id", "request %lld has expired: make it again", id);
	else if (approve && by == r->op_id && !K.cf.self_approval)
		rc = fail(r, 403, "second_admin_required", "id",
		    "another administrator must approve request %lld (you made it)", id);
	else if (approve && strcmp(action, "remove") == 0 && strcmp(role, "admin") == 0 &&
	    (store_admin_count(r->tx, &admins) != STORE_OK || admins <= 1))
		rc = fail(r, 409, "last_admin", "id", "the last administrator cannot be removed");
	else if ((rc = store_request_decide(r->tx, id, approve ? "approved" : "refused", r->op_id, r->now)) != STORE_OK)
		rc = store_fail(r, rc);
	else if (approve && (rc = strcmp(action, "add") == 0 ? store_operator_approve(r->tx, target, r->now)
	    : store_operator_remove(r->tx, target, r->now)) != STORE_OK)
		rc = store_fail(r, rc);
	if (rc) {
		cJSON_Delete(q);
		return rc;
	}
	cJSON_DeleteItemFromObject(q, "state");
	cJSON_AddStringToObject(q, "status", approve ? "approved" : "refused");
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "request_id", (double)id);
	cJSON_AddNumberToObject(d, "id", (double)target);
	cJSON_AddStringToObject(d, "role", role);
	cJSON_AddNumberToObject(d, "requested_by", (double)by);
	snprintf(event, sizeof event, "operator.%s.%s", action, approve ? "approved" : "refused");
	r->out = q;
	return audit_event(r, event, kcs_json_str(q, "name"), d) ?: 200;
}

int
h_request_approve(struct req *r)
{
	return decide(r, 1);
}

int
h_request_refuse(struct req *r)
{
	return decide(r, 0);
}

/* One SDRM entry {sdrm_id, password}, checked; field names are prefixed
 * with where the entry stands in an import. */
static int
sdrm_entry(struct req *r, const cJSON *e, const char *where, const char **id, const char **pw)
{
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(e, "sdrm_id");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "password");
	char field[64];
	cJSON *old;
	int rc;

	for (const cJSON *it = e->child; it; it = it->next)
		if (strcmp(it->string, "sdrm_id") && strcmp(it->string, "password")) {
			snprintf(field, sizeof field, "%s%s", where, it->string);
			return fail(r, 400, "invalid", field, "unknown field");
		}
	snprintf(field, sizeof field, "%ssdrm_id", where);
	if (!cJSON_IsString(i))
		return fail(r, 400, "invalid", field, "is required (a string)");
	if ((rc = valid_sdrm_id(r, field, i->valuestring)))
		return rc;
	if ((rc = store_sdrm_get(r->tx, i->valuestring, &old)) == STORE_OK) {
		cJSON_Delete(old);
		return fail(r, 409, "conflict", field, "SDRM ID %s is in the directory already", i->valuestring);
	}
	if (rc != STORE_NOTFOUND)
		return store_fail(r, rc);
	snprintf(field, sizeof field, "%spassword", where);
	if (!cJSON_IsString(p) || !p->valuestring[0])
		return fail(r, 400, "invalid", field, "is required (a non-empty string)");
	if (strlen(p->valuestring) > KCS_SECRET_MAX)
		return fail(r, 400, "invalid", field, "must have at most %d bytes", KCS_SECRET_MAX);
	*id = i->valuestring;
	*pw = p->valuestring;
	return 0;
}

/* {sdrm_id, password} adds one; {entries: [...]} imports many, all or none.
 * Every entry is checked, then every password hashed with the store
 * released, then all are added: a conflict meanwhile undoes the lot. */
int
h_sdrm_add(struct req *r)
{
	const cJSON *entries = cJSON_GetObjectItemCaseSensitive(r->in, "entries"), *e;
	const char **ids = NULL, **pws = NULL;
	char (*hashes)[128] = NULL, where[32];
	int rc = 0, n = entries ? cJSON_GetArraySize(entries) : 1;

	if (entries && (!cJSON_IsArray(entries) || cJSON_GetArraySize(r->in) != 1))
		return fail(r, 400, "invalid", "entries", "must be the only field, an array of {sdrm_id, password}");
	if (n == 0)
		return fail(r, 400, "invalid", "entries", "is empty");
	if (n > 10000)
		return fail(r, 400, "invalid", "entries", "has more than 10000 entries: import them in parts");
	ids = calloc((size_t)n, sizeof *ids);
	pws = calloc((size_t)n, sizeof *pws);
	hashes = calloc((size_t)n, sizeof *hashes);
	if (!ids || !pws || !hashes) {
		rc = fail(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	if (!entries) {
		rc = sdrm_entry(r, r->in, "", &ids[0], &pws[0]);
	} else {
		int i = 0;

		cJSON_ArrayForEach(e, entries) {
			snprintf(where, sizeof where, "entries[%d].", i);
			if (!cJSON_IsObject(e))
				rc = fail(r, 400, "invalid", "entries", "entry %d is not an object", i);
			else
				rc = sdrm_entry(r, e, where, &ids[i], &pws[i]);
			if (rc)
				break;
			for (int j = 0; j < i; j++)
				if (strcmp(ids[j], ids[i]) == 0) {
					snprintf(where, sizeof where, "entries[%d].sdrm_id", i);
					rc = fail(r, 409, "conflict", where, "SDRM ID %s appears twice", ids[i]);
				}
			if (rc)
				break;
			i++;
		}
	}
	if (rc || (rc = hash_passwords(r, n, pws, hashes)))
		goto out;
	for (int i = 0; i < n && !rc; i++) {
		int s = store_sdrm_add(r->tx, ids[i], hashes[i], r->now);

		snprintf(where, sizeof where, entries ? "entries[%d].sdrm_id" : "sdrm_id", i);
		if (s == STORE_CONFLICT)
			rc = fail(r, 409, "conflict", where, "SDRM ID %s is in the directory already", ids[i]);
		else if (s != STORE_OK)
			rc = store_fail(r, s);
		else
			rc = audit_event(r, "sdrm.added", ids[i], NULL);
	}
	if (rc)
		goto out;
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "added", n);
	if (!entries)
		cJSON_AddStringToObject(r->out, "sdrm_id", ids[0]);
	rc = 201;
out:
	if (hashes)
		sodium_memzero(hashes, (size_t)n * sizeof *hashes);
	free(hashes);
	free(ids);
	free(pws);
	return rc;
}

int
h_sdrm_remove(struct req *r)
{
	cJSON *acct;
	int rc;

	if ((rc = valid_sdrm_id(r, "sdrm_id", r->arg)))
		return rc;
	if (store_account_by_sdrm(r->tx, r->arg, &acct) == STORE_OK) {
		cJSON_Delete(acct);
		return fail(r, 409, "in_use", "sdrm_id", "a locksmith account uses SDRM ID %s", r->arg);
	}
	if ((rc = store_sdrm_remove(r->tx, r->arg)) == STORE_NOTFOUND)
		return fail(r, 404, "not_found", "sdrm_id", "SDRM ID %s is not in the directory", r->arg);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	if ((rc = audit_event(r, "sdrm.removed", r->arg, NULL)))
		return rc;
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "sdrm_id", r->arg);
	cJSON_AddBoolToObject(r->out, "removed", 1);
	return 200;
}

int
h_outbox_list(struct req *r)
{
	cJSON *rows;
	int rc = store_outbox_list(r->tx, &rows);

	if (rc != STORE_OK)
		return store_fail(r, rc);
	r->out = cJSON_CreateObject();
	cJSON_AddItemToObject(r->out, "messages", rows);
	return 200;
}

int
h_outbox_get(struct req *r)
{
	long long id;
	int rc;

	if ((rc = parse_id(r, "id", &id)))
		return rc;
	if ((rc = store_outbox_get(r->tx, id, &r->out)) == STORE_NOTFOUND)
		return fail(r, 404, "not_found", "id", "no message %lld", id);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	/* what it is and where it stands; never its body, which may carry a
	 * link, a password, a code or a Key Code meant for someone else */
	cJSON_DeleteItemFromObject(r->out, "sealed");
	return 200;
}

int
h_audit_verify(struct req *r)
{
	cJSON *bad = cJSON_CreateArray();
	long long n;

	if (store_audit_verify(r->tx, &n, bad) != STORE_OK) {
		cJSON_Delete(bad);
		return store_fail(r, STORE_ERROR);
	}
	r->out = cJSON_CreateObject();
	/* an empty log is not intact: the store's creation is always in it */
	cJSON_AddBoolToObject(r->out, "intact", n > 0 && cJSON_GetArraySize(bad) == 0);
	cJSON_AddNumberToObject(r->out, "entries", (double)n);
	if (cJSON_GetArraySize(bad))
		cJSON_AddItemToObject(r->out, "first_bad_entry", cJSON_Duplicate(cJSON_GetArrayItem(bad, 0), 0));
	cJSON_AddItemToObject(r->out, "bad_entries", bad);
	return 200;
}
