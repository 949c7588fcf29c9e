/* store_audit.c: the hash-chained audit log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include "store_impl.h"

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

/* The leaf hashes of entries 1 to n (every entry if n is 0): *count of
 * them; STORE_CONFLICT if an entry is missing from the sequence (*count
 * then names it). */
struct leaves {
	uint8_t (*leaf)[32];
	size_t n, cap;
	int gap;
};

static int
leaf_row(void *arg, int n, const char *const *names, const struct db_value *v)
{
	struct leaves *l = arg;
	const char *f[4];
	size_t len[4];

	(void)names;
	if (n != 6 || v[0].type != DB_INT || v[0].i != (long long)l->n + 1) {
		l->gap = 1;
		return 1;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		uint8_t (*p)[32] = realloc(l->leaf, cap * 32);

		if (!p)
			return DB_ERROR;
		l->leaf = p;
		l->cap = cap;
	}
	for (int i = 0; i < 4; i++) {
		f[i] = v[2 + i].type == DB_TEXT ? v[2 + i].p : "";
		len[i] = v[2 + i].type == DB_TEXT ? v[2 + i].n : 0;
	}
	kcs_audit_leaf(v[0].i, v[1].i, f, len, l->leaf[l->n++]);
	return 0;
}

int
store_audit_leaves(struct dbtx *tx, long long upto, uint8_t (**leaf)[32], size_t *count)
{
	struct leaves l = { 0 };
	int rc = db_query(tx, leaf_row, &l, "SELECT id, at, actor, event, subject, detail FROM audit"
	    " WHERE ? = 0 OR id <= ? ORDER BY id", "ii", upto, upto);

	*leaf = l.leaf;
	*count = l.n;
	if (l.gap) {
		*count = l.n + 1; /* the first missing entry */
		return STORE_CONFLICT;
	}
	return rc < 0 ? rc : STORE_OK;
}

int
store_audit_entries(struct dbtx *tx, long long from, long long to, cJSON **out)
{
	return rows(tx, out, "SELECT id, at, actor, event, subject, detail FROM audit WHERE id BETWEEN ? AND ?"
	    " ORDER BY id", "ii", from, to);
}

int
store_checkpoint_add(struct dbtx *tx, long long size, const char *root, const char *note, long long now)
{
	return run(tx, "INSERT INTO audit_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?)", "issi", size,
	    root, note, now) < 0 ? STORE_ERROR : STORE_OK;
}

/* the newest checkpoint (size 0), or the one of that size */
int
store_checkpoint_get(struct dbtx *tx, long long size, cJSON **out)
{
	return row(tx, out, "SELECT size, root, note, created_at FROM audit_checkpoints WHERE ? = 0 OR size = ?"
	    " ORDER BY size DESC LIMIT 1", "ii", size, size);
}
