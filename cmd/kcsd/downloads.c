/* downloads.c: the download area (seed 000 §9.4, §10): files an
 * administrator adds and replaces, each version signed with kcsd's
 * download-signing key (derived from the master key), and the rules that
 * name the activation instructions of a vehicle by model and production
 * date. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kcsd.h"

/* the download-signing key pair: one per store, from its master key */
static void
signing_keys(uint8_t pk[32], uint8_t sk[64])
{
	kcsd_sign_keys("download-signing", pk, sk);
}

int
h_downloads(struct req *r)
{
	uint8_t pk[32], sk[64];
	char hex[65];
	cJSON *rows;
	int rc;

	if ((rc = store_download_list(r->tx, &rows)) != STORE_OK)
		return store_fail(r, rc);
	signing_keys(pk, sk);
	sodium_memzero(sk, sizeof sk);
	kcs_hex_encode(pk, 32, hex);
	r->out = cJSON_CreateObject();
	cJSON_AddItemToObject(r->out, "downloads", rows);
	cJSON_AddStringToObject(r->out, "public_key", hex);
	return 200;
}

int
h_download_get(struct req *r)
{
	const char *hex;
	uint8_t *bin;
	char *b64;
	size_t n;
	int rc;

	if (kcs_download_name(r->arg) != 0)
		return fail(r, 400, "invalid", "name", "is not a download's name");
	if ((rc = store_download_get(r->tx, r->arg, 1, &r->out)) == STORE_NOTFOUND)
		return fail(r, 404, "unknown_download", "name", "the download area has no %s", r->arg);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	/* the content goes out in base64 */
	hex = kcs_json_str(r->out, "content");
	n = hex ? strlen(hex) / 2 : 0;
	bin = malloc(n + 1);
	b64 = malloc(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL));
	if (!bin || !b64 || kcs_hex_decode(hex ? hex : "", bin, n) != 0) {
		free(bin);
		free(b64);
		return fail(r, 500, "internal", NULL, "the file cannot be read");
	}
	sodium_bin2base64(b64, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), bin, n,
	    sodium_base64_VARIANT_ORIGINAL);
	cJSON_ReplaceItemInObject(r->out, "content", cJSON_CreateString(b64));
	free(bin);
	free(b64);
	return 200;
}

/* {"name","title","content"} (content in base64): added, or replaced by
 * the next version; signed */
int
h_download_put(struct req *r)
{
	static const char *const ok[] = { "name", "title", "content", NULL };
	const char *name, *title, *b64;
	uint8_t *bin = NULL, sha[32], pk[32], sk[64], msg[256], sig[64];
	char sha_hex[65], sig_hex[129];
	long long version = 1;
	size_t n = 0, m;
	cJSON *old = NULL, *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "name", 1, 64, 1, &name)) ||
	    (rc = want_text(r, "title", 200, 1, &title)) ||
	    (rc = want_str(r, "content", 1, 2 * KCS_DOWNLOAD_MAX, 1, &b64)))
		return rc;
	if (kcs_download_name(name) != 0)
		return fail(r, 400, "invalid", "name",
		    "is 1 to 64 lowercase letters, digits, '.', '_' and '-', starting with a letter or digit");
	if (!(bin = malloc(strlen(b64) + 1)))
		return fail(r, 500, "internal", NULL, "out of memory");
	if (sodium_base642bin(bin, strlen(b64) + 1, b64, strlen(b64), NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || n > KCS_DOWNLOAD_MAX) {
		free(bin);
		return fail(r, 400, "invalid", "content", "must be base64, at most %d bytes", KCS_DOWNLOAD_MAX);
	}
	if ((rc = store_download_get(r->tx, name, 0, &old)) == STORE_OK) {
		kcs_json_int(old, "version", &version);
		version++;
		cJSON_Delete(old);
	} else if (rc != STORE_NOTFOUND) {
		free(bin);
		return store_fail(r, rc);
	}
	crypto_hash_sha256(sha, bin, n);
	kcs_hex_encode(sha, 32, sha_hex);
	m = kcs_download_message(msg, sizeof msg, name, (uint32_t)version, sha);
	signing_keys(pk, sk);
	crypto_sign_detached(sig, NULL, msg, m, sk);
	sodium_memzero(sk, sizeof sk);
	kcs_hex_encode(sig, 64, sig_hex);
	rc = store_download_put(r->tx, name, title, version, bin, n, sha_hex, sig_hex, r->now);
	free(bin);
	if (rc == STORE_NOTFOUND)
		return fail(r, 409, "conflict", "name", "%s was replaced meanwhile: try again", name);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "version", (double)version);
	cJSON_AddStringToObject(d, "sha256", sha_hex);
	cJSON_AddNumberToObject(d, "size", (double)n);
	if ((rc = audit_event(r, version == 1 ? "download.added" : "download.replaced", name, d)))
		return rc;
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "name", name);
	cJSON_AddStringToObject(r->out, "title", title);
	cJSON_AddNumberToObject(r->out, "version", (double)version);
	cJSON_AddNumberToObject(r->out, "size", (double)n);
	cJSON_AddStringToObject(r->out, "sha256", sha_hex);
	cJSON_AddStringToObject(r->out, "signature", sig_hex);
	return version == 1 ? 201 : 200;
}

/* {"model","from","to","download"}: a vehicle of that model ('*': any)
 * built in those days is activated by that download's instructions */
int
h_activation_add(struct req *r)
{
	static const char *const ok[] = { "model", "from", "to", "download", NULL };
	const char *model, *from, *to, *dl;
	long long id = 0;
	cJSON *x, *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_text(r, "model", 64, 1, &model)) ||
	    (rc = want_str(r, "from", 10, 10, 1, &from)) || (rc = want_str(r, "to", 10, 10, 1, &to)) ||
	    (rc = want_str(r, "download", 1, 64, 1, &dl)))
		return rc;
	if (kcs_date_parse(from, "from") != KCS_OK)
		return fail(r, 400, "invalid", "from", "%s", kcs_errmsg());
	if (kcs_date_parse(to, "to") != KCS_OK)
		return fail(r, 400, "invalid", "to", "%s", kcs_errmsg());
	if (strcmp(from, to) > 0)
		return fail(r, 400, "invalid", "to", "is before from");
	if (kcs_download_name(dl) != 0 || (rc = store_download_get(r->tx, dl, 0, &x)) == STORE_NOTFOUND)
		return fail(r, 404, "unknown_download", "download", "the download area has no %s", dl);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	cJSON_Delete(x);
	if ((rc = store_activation_add(r->tx, model, from, to, dl, r->now, &id)) != STORE_OK)
		return store_fail(r, rc);
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "model", model);
	cJSON_AddStringToObject(d, "from", from);
	cJSON_AddStringToObject(d, "to", to);
	cJSON_AddStringToObject(d, "download", dl);
	if ((rc = audit_event(r, "activation.rule_added", dl, d)))
		return rc;
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "id", (double)id);
	cJSON_AddStringToObject(r->out, "model", model);
	cJSON_AddStringToObject(r->out, "from", from);
	cJSON_AddStringToObject(r->out, "to", to);
	cJSON_AddStringToObject(r->out, "download", dl);
	return 201;
}

int
h_activation_list(struct req *r)
{
	cJSON *rows;
	int rc = store_activation_list(r->tx, &rows);

	if (rc != STORE_OK)
		return store_fail(r, rc);
	r->out = cJSON_CreateObject();
	cJSON_AddItemToObject(r->out, "rules", rows);
	return 200;
}

/* the activation instructions for a registered vehicle */
int
h_activation_for(struct req *r)
{
	char vin[18];
	cJSON *v, *a;
	int rc;

	if (kcs_vin_parse(r->arg, vin) != KCS_OK)
		return fail(r, 400, "invalid", "vin", "%s", kcs_errmsg());
	if ((rc = store_vehicle_get(r->tx, vin, &v)) == STORE_NOTFOUND)
		return fail(r, 404, "unknown_vin", "vin", "%s is not a registered vehicle", vin);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	rc = store_activation_for(r->tx, kcs_json_str(v, "model"), kcs_json_str(v, "production_date"), &a);
	if (rc == STORE_NOTFOUND) {
		rc = fail(r, 404, "no_instructions", "vin", "no activation instructions are set for a %s built on %s: "
		    "ask the hotline", kcs_json_str(v, "model"), kcs_json_str(v, "production_date"));
		cJSON_Delete(v);
		return rc;
	}
	if (rc != STORE_OK) {
		cJSON_Delete(v);
		return store_fail(r, rc);
	}
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "vin", vin);
	cJSON_AddStringToObject(r->out, "model", kcs_json_str(v, "model"));
	cJSON_AddStringToObject(r->out, "production_date", kcs_json_str(v, "production_date"));
	cJSON_AddItemToObject(r->out, "instructions", a);
	cJSON_Delete(v);
	return 200;
}
