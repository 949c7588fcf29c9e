/* The audit log's tree and checkpoints against vectors made by an
 * independent implementation, the Go reference (tests/vectors/tlog.go,
 * golang.org/x/mod/sumdb/tlog and note): tree hashes, every inclusion and
 * consistency proof of trees up to 21 leaves, and a signed checkpoint; and
 * every proof or note with one byte changed refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "kcs.h"

static cJSON *v;
static uint8_t leaf[64][32];
static size_t nleaf;

static void
b64(const char *s, uint8_t out[32])
{
	size_t len = 0;

	assert_int_equal(sodium_base642bin(out, 32, s, strlen(s), NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(len, 32);
}

static size_t
proof_of(const cJSON *p, uint8_t (*out)[32])
{
	const cJSON *h;
	size_t n = 0;

	cJSON_ArrayForEach(h, cJSON_GetObjectItem(p, "proof"))
		b64(h->valuestring, out[n++]);
	return n;
}

static int
setup(void **state)
{
	FILE *f = fopen("tests/vectors/tlog.json", "r");
	char *buf = NULL;
	size_t len;
	const cJSON *it;

	(void)state;
	if (!f || kcs_read_all(f, &buf, &len, 1 << 22) != KCS_OK)
		return -1;
	fclose(f);
	v = kcs_json_parse(buf, len);
	free(buf);
	if (!v || sodium_init() < 0)
		return -1;
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(v, "leaves"))
		kcs_tlog_leaf((const uint8_t *)it->valuestring, strlen(it->valuestring), leaf[nleaf++]);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	cJSON_Delete(v);
	return 0;
}

static void
roots(void **state)
{
	(void)state;
	assert_int_equal(nleaf, 21);
	for (size_t n = 1; n <= nleaf; n++) {
		char key[8];
		uint8_t want[32], got[32];

		snprintf(key, sizeof key, "%zu", n);
		b64(kcs_json_str(cJSON_GetObjectItem(v, "roots"), key), want);
		kcs_tlog_root((const uint8_t (*)[32])leaf, n, got);
		assert_memory_equal(got, want, 32);
	}
}

static void
inclusion(void **state)
{
	const cJSON *p;
	int count = 0;

	(void)state;
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(v, "inclusion")) {
		uint8_t want[KCS_TLOG_MAX_PROOF][32], got[KCS_TLOG_MAX_PROOF][32], root[32];
		long long n = 0, i = 0;
		size_t nw = proof_of(p, want), ng;

		kcs_json_int(p, "size", &n);
		kcs_json_int(p, "index", &i);
		ng = kcs_tlog_prove_inclusion((const uint8_t (*)[32])leaf, (size_t)n, (size_t)i, got);
		assert_int_equal(ng, nw);
		if (nw)
			assert_memory_equal(got, want, nw * 32);
		kcs_tlog_root((const uint8_t (*)[32])leaf, (size_t)n, root);
		assert_true(kcs_tlog_check_inclusion(leaf[i], (size_t)i, (size_t)n, (const uint8_t (*)[32])want, nw, root));
		/* another leaf, another place, a changed hash: refused */
		assert_false(kcs_tlog_check_inclusion(leaf[(i + 1) % n == i ? 0 : (i + 1) % n], (size_t)i, (size_t)n,
		    (const uint8_t (*)[32])want, nw, root) && n > 1);
		if (n > 1)
			assert_false(kcs_tlog_check_inclusion(leaf[i], (size_t)((i + 1) % n), (size_t)n,
			    (const uint8_t (*)[32])want, nw, root));
		for (size_t k = 0; k < nw; k++) {
			want[k][k % 32] ^= 1;
			assert_false(kcs_tlog_check_inclusion(leaf[i], (size_t)i, (size_t)n, (const uint8_t (*)[32])want, nw,
			    root));
			want[k][k % 32] ^= 1;
		}
		/* a proof cut short */
		if (nw)
			assert_false(kcs_tlog_check_inclusion(leaf[i], (size_t)i, (size_t)n, (const uint8_t (*)[32])want,
			    nw - 1, root));
		count++;
	}
	assert_int_equal(count, 231);
}

static void
consistency(void **state)
{
	const cJSON *p;
	int count = 0;

	(void)state;
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(v, "consistency")) {
		uint8_t want[KCS_TLOG_MAX_PROOF][32], got[KCS_TLOG_MAX_PROOF][32], r1[32], r2[32];
		long long n = 0, m = 0;
		size_t nw = proof_of(p, want), ng;

		kcs_json_int(p, "size", &n);
		kcs_json_int(p, "from", &m);
		ng = kcs_tlog_prove_consistency((const uint8_t (*)[32])leaf, (size_t)m, (size_t)n, got);
		assert_int_equal(ng, nw);
		assert_memory_equal(got, want, nw * 32);
		kcs_tlog_root((const uint8_t (*)[32])leaf, (size_t)m, r1);
		kcs_tlog_root((const uint8_t (*)[32])leaf, (size_t)n, r2);
		assert_true(kcs_tlog_check_consistency((size_t)m, (size_t)n, r1, r2, (const uint8_t (*)[32])want, nw));
		/* an old root of another tree: the log was rewritten */
		kcs_tlog_root((const uint8_t (*)[32])leaf + 1, (size_t)m, r1);
		assert_false(kcs_tlog_check_consistency((size_t)m, (size_t)n, r1, r2, (const uint8_t (*)[32])want, nw));
		kcs_tlog_root((const uint8_t (*)[32])leaf, (size_t)m, r1);
		for (size_t k = 0; k < nw; k++) {
			want[k][0] ^= 0x80;
			assert_false(kcs_tlog_check_consistency((size_t)m, (size_t)n, r1, r2, (const uint8_t (*)[32])want, nw));
			want[k][0] ^= 0x80;
		}
		count++;
	}
	assert_int_equal(count, 210);
}

static void
note(void **state)
{
	const cJSON *o;
	uint8_t seed[32], pk[32], sk[64], pk2[32], root[32], want[32];
	char vkey[256], name[KCS_NOTE_NAME], origin[KCS_NOTE_NAME], *signed_, *text = NULL, *bad;
	unsigned long long size = 0;

	(void)state;
	o = cJSON_GetObjectItem(v, "note");
	assert_int_equal(sodium_hex2bin(seed, 32, kcs_json_str(o, "seed"), 64, NULL, NULL, NULL), 0);
	crypto_sign_seed_keypair(pk, sk, seed);
	/* the same key, the same note, byte for byte (Ed25519 is deterministic) */
	assert_int_equal(kcs_note_vkey(kcs_json_str(o, "name"), pk, vkey, sizeof vkey), KCS_OK);
	assert_string_equal(vkey, kcs_json_str(o, "vkey"));
	signed_ = kcs_note_sign(kcs_json_str(o, "text"), kcs_json_str(o, "name"), sk);
	assert_non_null(signed_);
	assert_string_equal(signed_, kcs_json_str(o, "signed"));
	free(signed_);
	/* Go's note opens here, and its checkpoint is the tree of the 21 leaves */
	assert_int_equal(kcs_note_vkey_parse(kcs_json_str(o, "vkey"), name, pk2), KCS_OK);
	assert_memory_equal(pk, pk2, 32);
	assert_int_equal(kcs_note_open(kcs_json_str(o, "signed"), name, pk2, &text), KCS_OK);
	assert_string_equal(text, kcs_json_str(o, "text"));
	assert_int_equal(kcs_checkpoint_parse(text, origin, &size, root), KCS_OK);
	free(text);
	assert_string_equal(origin, "kcs.example/audit");
	assert_int_equal(size, 21);
	kcs_tlog_root((const uint8_t (*)[32])leaf, 21, want);
	assert_memory_equal(root, want, 32);
	/* one byte changed anywhere in the text or the signature: refused */
	bad = strdup(kcs_json_str(o, "signed"));
	for (size_t i = 0; i < strlen(bad); i++) {
		char c = bad[i];

		if (c == '\n' || (unsigned char)c >= 0x80 || c == ' ')
			continue;
		bad[i] = c == 'A' ? 'B' : 'A';
		assert_int_not_equal(kcs_note_open(bad, name, pk2, &text), KCS_OK);
		assert_null(text);
		bad[i] = c;
	}
	free(bad);
	/* another key's name or key */
	assert_int_not_equal(kcs_note_open(kcs_json_str(o, "signed"), "other.example/audit", pk2, &text), KCS_OK);
	pk2[0] ^= 1;
	assert_int_not_equal(kcs_note_open(kcs_json_str(o, "signed"), name, pk2, &text), KCS_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roots),
		cmocka_unit_test(inclusion),
		cmocka_unit_test(consistency),
		cmocka_unit_test(note),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
