/* checkpoint.c: signed checkpoints of the audit log. The entries are the
 * leaves of an RFC 6962 tree (lib/tlog.c); a checkpoint, a C2SP signed
 * note over the log's name, its size and its root, is signed with kcsd's
 * audit key (derived from the master key) and kept. kcsd never signs a
 * tree that is not an extension of the last one it signed: entries changed
 * or removed after a checkpoint are found here, and anyone holding an
 * earlier checkpoint finds them offline (kcs-admin audit verify-export). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kcsd.h"

#define EXPORT_PAGE 5000

static void
audit_keys(uint8_t pk[32], uint8_t sk[64])
{
	kcsd_sign_keys("audit-signing", pk, sk);
}

static void
add_vkey(cJSON *o)
{
	uint8_t pk[32], sk[64];
	char vkey[256];

	audit_keys(pk, sk);
	sodium_memzero(sk, sizeof sk);
	if (kcs_note_vkey(K.cf.audit_origin, pk, vkey, sizeof vkey) == KCS_OK)
		cJSON_AddStringToObject(o, "key", vkey);
}

static int
leaves(struct req *r, long long upto, uint8_t (**leaf)[32], size_t *n)
{
	int rc = store_audit_leaves(r->tx, upto, leaf, n);

	if (rc == STORE_CONFLICT)
		return fail(r, 409, "audit_damaged", NULL, "the audit log is damaged: entry %zu is missing", *n);
	return rc == STORE_OK ? 0 : store_fail(r, rc);
}

static void
root_of(const uint8_t (*leaf)[32], size_t n, uint8_t root[32], char hex[65])
{
	kcs_tlog_root(leaf, n, root);
	kcs_hex_encode(root, 32, hex);
}

/* A new checkpoint of every entry, unless the last one has them all;
 * refused if the log is not an extension of the last checkpoint's. */
int
audit_checkpoint(struct req *r, cJSON *out)
{
	uint8_t (*leaf)[32] = NULL, root[32], pk[32], sk[64];
	char hex[65], b64[64], *text = NULL, *note = NULL;
	cJSON *last = NULL;
	size_t n = 0;
	long long m = 0;
	int rc;

	if ((rc = leaves(r, 0, &leaf, &n)))
		goto out;
	if ((rc = store_checkpoint_get(r->tx, 0, &last)) != STORE_OK && rc != STORE_NOTFOUND) {
		rc = store_fail(r, rc);
		goto out;
	}
	rc = 0;
	if (last) {
		kcs_json_int(last, "size", &m);
		if ((size_t)m > n) {
			rc = fail(r, 409, "audit_truncated", NULL, "the audit log holds %zu entries, fewer than the %lld "
			    "that the checkpoint of %s sealed: entries were removed", n, m, kcs_json_str(last, "root"));
			goto out;
		}
		root_of((const uint8_t (*)[32])leaf, (size_t)m, root, hex);
		if (strcmp(hex, kcs_json_str(last, "root")) != 0) {
			rc = fail(r, 409, "audit_changed", NULL, "entries 1 to %lld of the audit log are not those the last "
			    "checkpoint sealed: the log was changed", m);
			goto out;
		}
	}
	if (last && (size_t)m == n) {
		cJSON_AddBoolToObject(out, "new", 0);
		cJSON_AddNumberToObject(out, "size", (double)m);
		cJSON_AddStringToObject(out, "checkpoint", kcs_json_str(last, "note"));
		add_vkey(out);
		goto out;
	}
	root_of((const uint8_t (*)[32])leaf, n, root, hex);
	sodium_bin2base64(b64, sizeof b64, root, 32, sodium_base64_VARIANT_ORIGINAL);
	if (asprintf(&text, "%s\n%zu\n%s\n", K.cf.audit_origin, n, b64) < 0) {
		text = NULL;
		rc = fail(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	audit_keys(pk, sk);
	note = kcs_note_sign(text, K.cf.audit_origin, sk);
	sodium_memzero(sk, sizeof sk);
	if (!note) {
		rc = fail(r, 500, "internal", NULL, "the checkpoint could not be signed");
		goto out;
	}
	if ((rc = store_checkpoint_add(r->tx, (long long)n, hex, note, r->now)) != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	cJSON_AddBoolToObject(out, "new", 1);
	cJSON_AddNumberToObject(out, "size", (double)n);
	cJSON_AddStringToObject(out, "checkpoint", note);
	add_vkey(out);
out:
	free(leaf);
	free(text);
	free(note);
	cJSON_Delete(last);
	return rc;
}

int
h_audit_checkpoint(struct req *r)
{
	static const char *const ok[] = { NULL };
	int rc;

	if ((rc = only_fields(r, ok)))
		return rc;
	r->out = cJSON_CreateObject();
	return (rc = audit_checkpoint(r, r->out)) ? rc : 200;
}

int
h_audit_checkpoint_get(struct req *r)
{
	cJSON *last = NULL;
	int rc = store_checkpoint_get(r->tx, 0, &last);

	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return store_fail(r, rc);
	r->out = cJSON_CreateObject();
	add_vkey(r->out);
	if (last) {
		cJSON_AddItemToObject(r->out, "size", cJSON_Duplicate(cJSON_GetObjectItem(last, "size"), 1));
		cJSON_AddStringToObject(r->out, "checkpoint", kcs_json_str(last, "note"));
		cJSON_AddItemToObject(r->out, "created_at", cJSON_Duplicate(cJSON_GetObjectItem(last, "created_at"), 1));
	}
	cJSON_Delete(last);
	return 200;
}

static cJSON *
proof_json(const uint8_t (*proof)[32], size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < n; i++) {
		char b64[64];

		sodium_bin2base64(b64, sizeof b64, proof[i], 32, sodium_base64_VARIANT_ORIGINAL);
		cJSON_AddItemToArray(a, cJSON_CreateString(b64));
	}
	return a;
}

static int
query_num(struct req *r, const char *name, long long def, long long *out)
{
	const char *v = query_arg(r, name);

	*out = def;
	if (v && kcs_id_parse(v, name, out) != KCS_OK)
		return fail(r, 400, "invalid", name, "%s", kcs_errmsg());
	return 0;
}

/* Entries from..to of the checkpoint of `size` (the newest by default),
 * each with its inclusion proof; with since, the proof that the
 * checkpoint of that size is a prefix of this one. */
int
h_audit_export(struct req *r)
{
	uint8_t (*leaf)[32] = NULL, (*proof)[32] = NULL;
	long long size, from, to, since;
	cJSON *cp = NULL, *entries = NULL, *it, *old = NULL;
	size_t n = 0;
	int rc;

	if ((rc = query_num(r, "size", 0, &size)) || (rc = query_num(r, "from", 1, &from)) ||
	    (rc = query_num(r, "to", 0, &to)) || (rc = query_num(r, "since", 0, &since)))
		return rc;
	if ((rc = store_checkpoint_get(r->tx, size, &cp)) == STORE_NOTFOUND)
		return size ? fail(r, 404, "not_found", "size", "there is no checkpoint of size %lld", size)
			    : fail(r, 404, "not_found", NULL, "there is no checkpoint yet: kcs-admin audit checkpoint "
				"makes one");
	if (rc != STORE_OK)
		return store_fail(r, rc);
	kcs_json_int(cp, "size", &size);
	if (!to)
		to = from + EXPORT_PAGE - 1 < size ? from + EXPORT_PAGE - 1 : size;
	if (from > to || to > size || to - from >= EXPORT_PAGE) {
		cJSON_Delete(cp);
		return fail(r, 400, "invalid", "to", "entries from %lld to %lld: within 1 to %lld, at most %d at once", from,
		    to, size, EXPORT_PAGE);
	}
	if (since && (since > size || (rc = store_checkpoint_get(r->tx, since, &old)) != STORE_OK)) {
		cJSON_Delete(cp);
		return rc == STORE_OK || rc == STORE_NOTFOUND
		    ? fail(r, 404, "not_found", "since", "there is no checkpoint of size %lld before this one", since)
		    : store_fail(r, rc);
	}
	cJSON_Delete(old);
	if (!(rc = leaves(r, size, &leaf, &n)) && (size_t)size != n)
		rc = fail(r, 409, "audit_truncated", NULL, "the audit log holds %zu entries, fewer than its checkpoint "
		    "of %lld", n, size);
	if (!rc && !(proof = malloc(KCS_TLOG_MAX_PROOF * 32)))
		rc = fail(r, 500, "internal", NULL, "out of memory");
	if (!rc && (rc = store_audit_entries(r->tx, from, to, &entries)) != STORE_OK)
		rc = store_fail(r, rc);
	if (rc) {
		free(leaf);
		free(proof);
		cJSON_Delete(cp);
		return rc;
	}
	cJSON_ArrayForEach(it, entries) {
		long long id = 0;
		size_t np;

		kcs_json_int(it, "id", &id);
		np = kcs_tlog_prove_inclusion((const uint8_t (*)[32])leaf, n, (size_t)id - 1, proof);
		cJSON_AddItemToObject(it, "proof", proof_json((const uint8_t (*)[32])proof, np));
	}
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "checkpoint", kcs_json_str(cp, "note"));
	add_vkey(r->out);
	cJSON_AddNumberToObject(r->out, "size", (double)size);
	cJSON_AddNumberToObject(r->out, "from", (double)from);
	cJSON_AddNumberToObject(r->out, "to", (double)to);
	cJSON_AddItemToObject(r->out, "entries", entries);
	if (since) {
		cJSON *c = cJSON_AddObjectToObject(r->out, "consistency");
		size_t np = kcs_tlog_prove_consistency((const uint8_t (*)[32])leaf, (size_t)since, n, proof);

		cJSON_AddNumberToObject(c, "from", (double)since);
		cJSON_AddItemToObject(c, "proof", proof_json((const uint8_t (*)[32])proof, np));
	}
	free(leaf);
	free(proof);
	cJSON_Delete(cp);
	return 200;
}
