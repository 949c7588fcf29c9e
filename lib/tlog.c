/* tlog.c: the audit log as a transparency log. RFC 6962 (and RFC 9162)
 * hashing: leaves SHA-256(0x00 || data), nodes SHA-256(0x01 || left ||
 * right); the tree hash of any size; inclusion and consistency proofs and
 * their checks. Checkpoints are C2SP signed notes (Ed25519): the text
 * "origin\nsize\nbase64(root)\n", a blank line, and "— name
 * base64(key id || signature)". kcsd makes them; kcs-admin checks them
 * with nothing but the public key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kcs.h"

#define DASH "\xe2\x80\x94" /* U+2014, which starts a signature line */

void
kcs_tlog_leaf(const uint8_t *data, size_t n, uint8_t out[32])
{
	crypto_hash_sha256_state s;
	uint8_t zero = 0;

	crypto_hash_sha256_init(&s);
	crypto_hash_sha256_update(&s, &zero, 1);
	crypto_hash_sha256_update(&s, data, n);
	crypto_hash_sha256_final(&s, out);
}

static void
node(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
	crypto_hash_sha256_state s;
	uint8_t one = 1;

	crypto_hash_sha256_init(&s);
	crypto_hash_sha256_update(&s, &one, 1);
	crypto_hash_sha256_update(&s, l, 32);
	crypto_hash_sha256_update(&s, r, 32);
	crypto_hash_sha256_final(&s, out);
}

/* the largest power of two below n (n >= 2) */
static size_t
split(size_t n)
{
	size_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

void
kcs_tlog_root(const uint8_t (*leaf)[32], size_t n, uint8_t out[32])
{
	uint8_t l[32], r[32];
	size_t k;

	if (n == 0) {
		crypto_hash_sha256(out, (const uint8_t *)"", 0);
		return;
	}
	if (n == 1) {
		memcpy(out, leaf[0], 32);
		return;
	}
	k = split(n);
	kcs_tlog_root(leaf, k, l);
	kcs_tlog_root(leaf + k, n - k, r);
	node(l, r, out);
}

/* RFC 6962 PATH(m, D[n]): from the leaf up */
static size_t
path(const uint8_t (*leaf)[32], size_t n, size_t m, uint8_t (*proof)[32])
{
	size_t k, np;

	if (n <= 1)
		return 0;
	k = split(n);
	if (m < k) {
		np = path(leaf, k, m, proof);
		kcs_tlog_root(leaf + k, n - k, proof[np]);
	} else {
		np = path(leaf + k, n - k, m - k, proof);
		kcs_tlog_root(leaf, k, proof[np]);
	}
	return np + 1;
}

size_t
kcs_tlog_prove_inclusion(const uint8_t (*leaf)[32], size_t n, size_t i, uint8_t (*proof)[32])
{
	return i < n ? path(leaf, n, i, proof) : 0;
}

/* RFC 6962 SUBPROOF(m, D[n], b) */
static size_t
subproof(const uint8_t (*leaf)[32], size_t n, size_t m, int whole, uint8_t (*proof)[32])
{
	size_t k, np;

	if (m == n) {
		if (whole)
			return 0;
		kcs_tlog_root(leaf, n, proof[0]);
		return 1;
	}
	k = split(n);
	if (m <= k) {
		np = subproof(leaf, k, m, whole, proof);
		kcs_tlog_root(leaf + k, n - k, proof[np]);
	} else {
		np = subproof(leaf + k, n - k, m - k, 0, proof);
		kcs_tlog_root(leaf, k, proof[np]);
	}
	return np + 1;
}

size_t
kcs_tlog_prove_consistency(const uint8_t (*leaf)[32], size_t m, size_t n, uint8_t (*proof)[32])
{
	return m >= 1 && m <= n ? subproof(leaf, n, m, 1, proof) : 0;
}

/* RFC 9162 2.1.3.2 */
int
kcs_tlog_check_inclusion(const uint8_t leaf[32], size_t i, size_t n, const uint8_t (*proof)[32], size_t np,
    const uint8_t root[32])
{
	size_t fn = i, sn = n - 1;
	uint8_t r[32];

	if (i >= n)
		return 0;
	memcpy(r, leaf, 32);
	for (size_t j = 0; j < np; j++) {
		if (sn == 0)
			return 0;
		if ((fn & 1) || fn == sn) {
			node(proof[j], r, r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			node(r, proof[j], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && sodium_memcmp(r, root, 32) == 0;
}

/* RFC 9162 2.1.4.2 */
int
kcs_tlog_check_consistency(size_t m, size_t n, const uint8_t old[32], const uint8_t now[32],
    const uint8_t (*proof)[32], size_t np)
{
	uint8_t path_[KCS_TLOG_MAX_PROOF + 1][32], fr[32], sr[32];
	size_t fn, sn, k = 0;

	if (m < 1 || m > n || np > KCS_TLOG_MAX_PROOF)
		return 0;
	if (m == n)
		return np == 0 && sodium_memcmp(old, now, 32) == 0;
	if (np == 0)
		return 0;
	if ((m & (m - 1)) == 0)
		memcpy(path_[k++], old, 32);
	memcpy(path_[k], proof, np * 32);
	k += np;
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, path_[0], 32);
	memcpy(sr, path_[0], 32);
	for (size_t j = 1; j < k; j++) {
		if (sn == 0)
			return 0;
		if ((fn & 1) || fn == sn) {
			node(path_[j], fr, fr);
			node(path_[j], sr, sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			node(sr, path_[j], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && sodium_memcmp(fr, old, 32) == 0 && sodium_memcmp(sr, now, 32) == 0;
}

/* The leaf of an audit entry: its number, time and four texts, each text
 * with its length, so that no two entries share a leaf. */
void
kcs_audit_leaf(long long id, long long at, const char *const f[4], const size_t len[4], uint8_t out[32])
{
	crypto_hash_sha256_state s;
	char head[64];
	uint8_t zero = 0;
	int n = snprintf(head, sizeof head, "kcs-audit/1\n%lld %lld\n", id, at);

	crypto_hash_sha256_init(&s);
	crypto_hash_sha256_update(&s, &zero, 1);
	crypto_hash_sha256_update(&s, (const uint8_t *)head, (size_t)n);
	for (int i = 0; i < 4; i++) {
		uint8_t b[8];

		for (int j = 0; j < 8; j++)
			b[j] = (uint8_t)((uint64_t)len[i] >> (56 - 8 * j));
		crypto_hash_sha256_update(&s, b, 8);
		crypto_hash_sha256_update(&s, (const uint8_t *)f[i], len[i]);
	}
	crypto_hash_sha256_final(&s, out);
}

static uint32_t
key_id(const char *name, const uint8_t pk[32])
{
	crypto_hash_sha256_state s;
	uint8_t h[32], t[2] = { '\n', 1 };

	crypto_hash_sha256_init(&s);
	crypto_hash_sha256_update(&s, (const uint8_t *)name, strlen(name));
	crypto_hash_sha256_update(&s, t, 2);
	crypto_hash_sha256_update(&s, pk, 32);
	crypto_hash_sha256_final(&s, h);
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* A key name: printable ASCII without spaces and '+' (C2SP signed-note). */
static int
good_name(const char *name)
{
	if (!*name)
		return 0;
	for (const char *p = name; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '+')
			return 0;
	return 1;
}

int
kcs_note_vkey(const char *name, const uint8_t pk[32], char *out, size_t n)
{
	uint8_t k[33];
	char b64[64];

	if (!good_name(name))
		return kcs_fail(KCS_EINVALID, "name", "'%s' is not a key name", name);
	k[0] = 1;
	memcpy(k + 1, pk, 32);
	sodium_bin2base64(b64, sizeof b64, k, sizeof k, sodium_base64_VARIANT_ORIGINAL);
	if ((size_t)snprintf(out, n, "%s+%08x+%s", name, (unsigned)key_id(name, pk), b64) >= n)
		return kcs_fail(KCS_EINVALID, "name", "the key name is too long");
	return KCS_OK;
}

int
kcs_note_vkey_parse(const char *vkey, char name[KCS_NOTE_NAME], uint8_t pk[32])
{
	const char *a = strchr(vkey, '+'), *b = a ? strchr(a + 1, '+') : NULL;
	uint8_t k[34];
	size_t len = 0;
	char id[9];

	if (!a || !b || (size_t)(a - vkey) >= KCS_NOTE_NAME || b - a != 9)
		return kcs_fail(KCS_EINVALID, "key", "not a verifier key (NAME+ID+KEY)");
	memcpy(name, vkey, (size_t)(a - vkey));
	name[a - vkey] = '\0';
	memcpy(id, a + 1, 8);
	id[8] = '\0';
	if (!good_name(name) || sodium_base642bin(k, sizeof k, b + 1, strlen(b + 1), NULL, &len, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || len != 33 || k[0] != 1)
		return kcs_fail(KCS_EINVALID, "key", "not an Ed25519 verifier key (NAME+ID+KEY)");
	memcpy(pk, k + 1, 32);
	if (strtoul(id, NULL, 16) != key_id(name, pk) || strspn(id, "0123456789abcdef") != 8)
		return kcs_fail(KCS_EINVALID, "key", "the verifier key's ID does not match its key");
	return KCS_OK;
}

char *
kcs_note_sign(const char *text, const char *name, const uint8_t sk[64])
{
	uint8_t sig[4 + 64];
	uint32_t id = key_id(name, sk + 32);
	char b64[128], *out;
	size_t n = strlen(text);

	if (!n || text[n - 1] != '\n' || strstr(text, "\n\n"))
		return NULL;
	sig[0] = (uint8_t)(id >> 24);
	sig[1] = (uint8_t)(id >> 16);
	sig[2] = (uint8_t)(id >> 8);
	sig[3] = (uint8_t)id;
	crypto_sign_detached(sig + 4, NULL, (const uint8_t *)text, n, sk);
	sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
	if (!(out = malloc(n + strlen(name) + strlen(b64) + 16)))
		return NULL;
	sprintf(out, "%s\n" DASH " %s %s\n", text, name, b64);
	return out;
}

/* The note's text (a copy in *text), if a signature line of the key named
 * name verifies it; other signatures are left alone. */
int
kcs_note_open(const char *note, const char *name, const uint8_t pk[32], char **text)
{
	const char *end = strstr(note, "\n\n"), *line;
	size_t n;
	int ok = 0;

	*text = NULL;
	if (!end)
		return kcs_fail(KCS_EINVALID, "checkpoint", "not a signed note: no blank line before the signatures");
	n = (size_t)(end - note) + 1;
	for (line = end + 2; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
		size_t len = strcspn(line, "\n"), nl = strlen(name);
		uint8_t sig[4 + 64];
		size_t got = 0;

		if (len == 0 && strspn(line, "\n") == strlen(line))
			break; /* newlines after the last signature (a file's end) */
		if (len < 4 || strncmp(line, DASH " ", 4) != 0)
			return kcs_fail(KCS_EINVALID, "checkpoint", "not a signed note: a line after the text is not a "
			    "signature");
		if (len > 4 + nl + 1 && strncmp(line + 4, name, nl) == 0 && line[4 + nl] == ' ' &&
		    sodium_base642bin(sig, sizeof sig, line + 5 + nl, len - 5 - nl, NULL, &got, NULL,
		    sodium_base64_VARIANT_ORIGINAL) == 0 && got == sizeof sig &&
		    ((uint32_t)sig[0] << 24 | (uint32_t)sig[1] << 16 | (uint32_t)sig[2] << 8 | sig[3]) == key_id(name, pk) &&
		    crypto_sign_verify_detached(sig + 4, (const uint8_t *)note, n, pk) == 0)
			ok = 1;
		if (!line[len])
			break;
	}
	if (!ok)
		return kcs_fail(KCS_EREFUSED, "checkpoint", "no signature of %s verifies the checkpoint", name);
	if (!(*text = malloc(n + 1)))
		return kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
	memcpy(*text, note, n);
	(*text)[n] = '\0';
	return KCS_OK;
}

int
kcs_checkpoint_parse(const char *text, char origin[KCS_NOTE_NAME], unsigned long long *size, uint8_t root[32])
{
	const char *a = strchr(text, '\n'), *b = a ? strchr(a + 1, '\n') : NULL, *c = b ? strchr(b + 1, '\n') : NULL;
	char num[24];
	size_t len = 0;

	if (!c || (size_t)(a - text) >= KCS_NOTE_NAME || a == text || b - a - 1 < 1 || b - a - 1 > 20)
		return kcs_fail(KCS_EINVALID, "checkpoint", "not a checkpoint: origin, size and root lines");
	memcpy(origin, text, (size_t)(a - text));
	origin[a - text] = '\0';
	memcpy(num, a + 1, (size_t)(b - a - 1));
	num[b - a - 1] = '\0';
	if (strspn(num, "0123456789") != strlen(num) || (num[0] == '0' && num[1]))
		return kcs_fail(KCS_EINVALID, "checkpoint", "the checkpoint's size is not a number");
	*size = strtoull(num, NULL, 10);
	if (sodium_base642bin(root, 32, b + 1, (size_t)(c - b - 1), NULL, &len, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || len != 32)
		return kcs_fail(KCS_EINVALID, "checkpoint", "the checkpoint's root is not a base64 SHA-256 hash");
	return KCS_OK;
}

static int
proof_parse(const cJSON *arr, uint8_t (*out)[32], size_t *n)
{
	const cJSON *h;

	*n = 0;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > KCS_TLOG_MAX_PROOF)
		return -1;
	cJSON_ArrayForEach(h, arr) {
		size_t len = 0;

		if (!cJSON_IsString(h) || sodium_base642bin(out[*n], 32, h->valuestring, strlen(h->valuestring), NULL, &len,
		    NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || len != 32)
			return -1;
		++*n;
	}
	return 0;
}

/* A signed checkpoint, opened with the key: its size and root. */
static int
open_checkpoint(const char *note, const char *name, const uint8_t pk[32], unsigned long long *size,
    uint8_t root[32], const char *what)
{
	char origin[KCS_NOTE_NAME], *text = NULL;
	int rc;

	if ((rc = kcs_note_open(note, name, pk, &text)) != KCS_OK)
		return kcs_fail(rc, what, "%s", kcs_errmsg());
	rc = kcs_checkpoint_parse(text, origin, size, root);
	free(text);
	if (rc != KCS_OK)
		return kcs_fail(rc, what, "%s", kcs_errmsg());
	if (strcmp(origin, name) != 0)
		return kcs_fail(KCS_EREFUSED, what, "the checkpoint is of the log %s, not %s", origin, name);
	if (*size == 0)
		return kcs_fail(KCS_EREFUSED, what, "the checkpoint seals no entries");
	return KCS_OK;
}

/* Checks an audit export (kcs-admin audit export: a header line, entry
 * lines, perhaps a consistency line) against the key alone: the
 * checkpoint's signature, each entry's proof, no entry missing, moved or
 * cut off; and, given an earlier checkpoint, that this one extends it. */
int
kcs_audit_verify_export(const char *export, const char *vkey, const char *previous, int partial, cJSON **report)
{
	char name[KCS_NOTE_NAME], *copy = NULL, *line, *next;
	uint8_t pk[32], root[32], old[32], (*leaf)[32] = NULL, (*proof)[32] = NULL;
	unsigned long long size = 0, m = 0;
	long long from = 0, to = 0, expect = 0, count = 0;
	cJSON *o = NULL, *cons = NULL;
	int rc = KCS_OK, lineno = 0;

	*report = NULL;
	if ((rc = kcs_note_vkey_parse(vkey, name, pk)) != KCS_OK)
		return rc;
	if (!(copy = strdup(export)) || !(proof = malloc(KCS_TLOG_MAX_PROOF * 32))) {
		rc = kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
		goto out;
	}
	for (line = copy; line && *line; line = next) {
		size_t np = 0;

		if ((next = strchr(line, '\n')))
			*next++ = '\0';
		lineno++;
		if (!*line)
			continue;
		cJSON_Delete(o);
		if (!(o = kcs_json_parse(line, strlen(line)))) {
			rc = kcs_fail(KCS_EINVALID, "export", "line %d: %s", lineno, kcs_errmsg());
			goto out;
		}
		if (lineno == 1) {
			if (!kcs_json_str(o, "checkpoint") || kcs_json_int(o, "from", &from) || kcs_json_int(o, "to", &to)) {
				rc = kcs_fail(KCS_EINVALID, "export", "line 1 is not an export's header");
				goto out;
			}
			if ((rc = open_checkpoint(kcs_json_str(o, "checkpoint"), name, pk, &size, root, "checkpoint")) !=
			    KCS_OK)
				goto out;
			if (from < 1 || to < from || (unsigned long long)to > size) {
				rc = kcs_fail(KCS_EREFUSED, "export", "entries %lld to %lld are not within the %llu the "
				    "checkpoint seals", from, to, size);
				goto out;
			}
			if (!(leaf = calloc((size_t)(to - from + 1), 32))) {
				rc = kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
				goto out;
			}
			expect = from;
			continue;
		}
		if (cJSON_GetObjectItem(o, "consistency")) {
			cons = cJSON_DetachItemFromObject(o, "consistency");
			continue;
		}
		{
			const char *f[4] = { kcs_json_str(o, "actor"), kcs_json_str(o, "event"), kcs_json_str(o, "subject"),
				kcs_json_str(o, "detail") };
			size_t len[4];
			long long id = 0, at = 0;

			if (kcs_json_int(o, "id", &id) || kcs_json_int(o, "at", &at) || !f[0] || !f[1] || !f[2] || !f[3] ||
			    proof_parse(cJSON_GetObjectItem(o, "proof"), proof, &np) != 0) {
				rc = kcs_fail(KCS_EINVALID, "export", "line %d is not an audit entry with its proof", lineno);
				goto out;
			}
			if (id != expect) {
				rc = kcs_fail(KCS_EREFUSED, "export", id > expect ? "entry %lld is missing (line %d holds "
				    "entry %lld)" : "entry %lld is out of place (line %d holds entry %lld)", expect, lineno, id);
				goto out;
			}
			if (id > to) {
				rc = kcs_fail(KCS_EREFUSED, "export", "entry %lld is beyond the export's last, %lld", id, to);
				goto out;
			}
			for (int i = 0; i < 4; i++)
				len[i] = strlen(f[i]);
			kcs_audit_leaf(id, at, f, len, leaf[id - from]);
			if (!kcs_tlog_check_inclusion(leaf[id - from], (size_t)id - 1, (size_t)size,
			    (const uint8_t (*)[32])proof, np, root)) {
				rc = kcs_fail(KCS_EREFUSED, "export", "entry %lld does not match the checkpoint: it was changed",
				    id);
				goto out;
			}
			expect++;
			count++;
		}
	}
	if (lineno == 0 || !leaf) {
		rc = kcs_fail(KCS_EINVALID, "export", "the export is empty");
		goto out;
	}
	if (expect != to + 1) {
		rc = kcs_fail(KCS_EREFUSED, "export", "the export ends at entry %lld, not at %lld: it was cut short",
		    expect - 1, to);
		goto out;
	}
	if (!partial && (from != 1 || (unsigned long long)to != size)) {
		rc = kcs_fail(KCS_EREFUSED, "export", "the export holds entries %lld to %lld of the %llu the checkpoint "
		    "seals (--partial checks a part)", from, to, size);
		goto out;
	}
	if (previous) {
		uint8_t prf[KCS_TLOG_MAX_PROOF][32], mine[32];
		size_t np = 0;
		long long cf = 0;

		if ((rc = open_checkpoint(previous, name, pk, &m, old, "previous")) != KCS_OK)
			goto out;
		if (m > size) {
			rc = kcs_fail(KCS_EREFUSED, "previous", "the earlier checkpoint seals %llu entries, more than this "
			    "one's %llu: the log was cut short", m, size);
			goto out;
		}
		if (cons && kcs_json_int(cons, "from", &cf) == 0 && (unsigned long long)cf == m) {
			if (proof_parse(cJSON_GetObjectItem(cons, "proof"), prf, &np) != 0 ||
			    !kcs_tlog_check_consistency((size_t)m, (size_t)size, old, root, (const uint8_t (*)[32])prf, np))
				rc = kcs_fail(KCS_EREFUSED, "previous", "this checkpoint is not an extension of the earlier one "
				    "of %llu entries: the log was rewritten", m);
		} else if (from == 1 && (unsigned long long)to >= m) {
			kcs_tlog_root((const uint8_t (*)[32])leaf, (size_t)m, mine);
			if (sodium_memcmp(mine, old, 32) != 0)
				rc = kcs_fail(KCS_EREFUSED, "previous", "entries 1 to %llu are not those the earlier checkpoint "
				    "sealed: the log was rewritten", m);
		} else {
			rc = kcs_fail(KCS_EINVALID, "previous", "the export has no consistency proof from %llu entries "
			    "(kcs-admin audit export --since %llu)", m, m);
		}
		if (rc != KCS_OK)
			goto out;
	}
	*report = cJSON_CreateObject();
	cJSON_AddBoolToObject(*report, "valid", 1);
	cJSON_AddStringToObject(*report, "log", name);
	cJSON_AddNumberToObject(*report, "size", (double)size);
	cJSON_AddNumberToObject(*report, "from", (double)from);
	cJSON_AddNumberToObject(*report, "to", (double)to);
	cJSON_AddNumberToObject(*report, "entries", (double)count);
	cJSON_AddBoolToObject(*report, "complete", from == 1 && (unsigned long long)to == size);
	if (previous)
		cJSON_AddNumberToObject(*report, "extends", (double)m);
out:
	cJSON_Delete(o);
	cJSON_Delete(cons);
	free(copy);
	free(leaf);
	free(proof);
	return rc;
}
