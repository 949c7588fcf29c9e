/* download.c: the download area's files are signed by kcsd's
 * download-signing key over their name, version and SHA-256. A client
 * verifies every file it fetches against that key: the one configured
 * (download_key in the client configuration), else the one it pinned the
 * first time (download-key beside the session file); a key that changes is
 * refused, not trusted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kcs.h"

size_t
kcs_download_message(uint8_t *out, size_t cap, const char *name, uint32_t version, const uint8_t sha256[32])
{
	struct kw_put m = { out, 0, cap, 0 };

	kw_put_raw(&m, KCS_DOWNLOAD_CONTEXT, sizeof KCS_DOWNLOAD_CONTEXT);
	kw_put_raw(&m, name, strlen(name) + 1);
	kw_put_u32(&m, version);
	kw_put_raw(&m, sha256, 32);
	return m.bad ? 0 : m.n;
}

int
kcs_download_name(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") != n ||
	    !strchr("abcdefghijklmnopqrstuvwxyz0123456789", name[0]))
		return -1;
	return 0;
}

/* the pinned key's file: download-key beside the session file */
static int
pin_path(char *out, size_t cap)
{
	char session[1024], *slash;

	if (kcs_path_session(session, sizeof session) != KCS_OK)
		return kcs_errcode();
	if ((slash = strrchr(session, '/')))
		*slash = '\0';
	else
		snprintf(session, sizeof session, ".");
	snprintf(out, cap, "%s/download-key", session);
	return KCS_OK;
}

/* kcsd's download key: configured, pinned, or learnt now and pinned */
static int
download_key(struct kcs_client *cl, uint8_t pk[32])
{
	struct kcs_conf conf = { 0 };
	char path[1024], line[80] = "", *slash;
	const char *v = NULL, *served;
	cJSON *res = NULL;
	FILE *f;
	int rc;

	if (kcs_path_config(path, sizeof path) == KCS_OK && kcs_conf_load(&conf, path, 0) == KCS_OK &&
	    (v = kcs_conf_get(&conf, "download_key"))) {
		rc = strlen(v) == 64 && kcs_hex_decode(v, pk, 32) == 0 ? KCS_OK
		    : kcs_fail(KCS_EINVALID, "download_key", "is 64 hexadecimal digits (the configuration %s)", path);
		kcs_conf_free(&conf);
		return rc;
	}
	kcs_conf_free(&conf);
	if ((rc = pin_path(path, sizeof path)) != KCS_OK)
		return rc;
	if ((f = fopen(path, "r"))) {
		if (!fgets(line, sizeof line, f))
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, "\r\n")] = '\0';
		if (strlen(line) != 64 || kcs_hex_decode(line, pk, 32) != 0)
			return kcs_fail(KCS_EINVALID, "download_key", "%s is damaged: remove it to pin kcsd's key again", path);
	}
	/* offline: the pinned key; first use: kcsd tells its key; later, it
	 * must tell the same one */
	if (!cl)
		return line[0] ? KCS_OK : kcs_fail(KCS_EREFUSED, "download_key",
		    "no download-signing key is pinned yet (%s): fetch a file from kcsd first", path);
	if ((rc = kcs_call(cl, KCS_DOWNLOADS, NULL, NULL, &res)) != KCS_OK)
		return rc;
	served = kcs_json_str(res, "public_key");
	if (!served || strlen(served) != 64) {
		cJSON_Delete(res);
		return kcs_fail(KCS_EINTERNAL, "public_key", "kcsd did not tell its download-signing key");
	}
	if (line[0] && strcmp(line, served) != 0) {
		cJSON_Delete(res);
		return kcs_fail(KCS_EREFUSED, "download_key", "kcsd's download-signing key is not the one pinned in %s: "
		    "refusing its files (if the maker changed its key, remove the file)", path);
	}
	if (!line[0]) {
		if (kcs_hex_decode(served, pk, 32) != 0) {
			cJSON_Delete(res);
			return kcs_fail(KCS_EINTERNAL, "public_key", "kcsd's download-signing key is malformed");
		}
		snprintf(line, sizeof line, "%s\n", served);
		if ((slash = strrchr(path, '/'))) {
			*slash = '\0';
			kcs_mkdirs(path, 0700);
			*slash = '/';
		}
		if ((rc = kcs_write_private(path, line, strlen(line))) != KCS_OK) {
			cJSON_Delete(res);
			return rc;
		}
	}
	cJSON_Delete(res);
	return KCS_OK;
}

int
kcs_download_verify(struct kcs_client *cl, const cJSON *meta, const uint8_t *content, size_t n)
{
	const char *name = kcs_json_str(meta, "name"), *sha_hex = kcs_json_str(meta, "sha256"),
	    *sig_hex = kcs_json_str(meta, "signature");
	uint8_t pk[32], sha[32], want[32], sig[64], msg[256];
	long long version = 0;
	size_t m;
	int rc;

	if (!name || kcs_download_name(name) != 0 || kcs_json_int(meta, "version", &version) != 0 || version < 1 ||
	    version > UINT32_MAX || !sha_hex || strlen(sha_hex) != 64 || kcs_hex_decode(sha_hex, want, 32) != 0 ||
	    !sig_hex || strlen(sig_hex) != 128 || kcs_hex_decode(sig_hex, sig, 64) != 0)
		return kcs_fail(KCS_EREFUSED, "signature", "the file's name, version, sha256 or signature is missing");
	crypto_hash_sha256(sha, content, n);
	if (sodium_memcmp(sha, want, 32) != 0)
		return kcs_fail(KCS_EREFUSED, "sha256", "%s version %lld does not match its SHA-256: damaged or altered",
		    name, version);
	if ((rc = download_key(cl, pk)) != KCS_OK)
		return rc;
	m = kcs_download_message(msg, sizeof msg, name, (uint32_t)version, sha);
	if (!m || crypto_sign_verify_detached(sig, msg, m, pk) != 0)
		return kcs_fail(KCS_EREFUSED, "signature", "%s version %lld is not signed by kcsd's download key",
		    name, version);
	return KCS_OK;
}

int
kcs_download_fetch(struct kcs_client *cl, const char *name, cJSON **meta, uint8_t **content, size_t *n)
{
	const char *b64;
	cJSON *res = NULL;
	uint8_t *bin;
	int rc;

	*meta = NULL;
	*content = NULL;
	*n = 0;
	if (kcs_download_name(name) != 0)
		return kcs_fail(KCS_EINVALID, "name", "'%s' is not a download's name", name);
	if ((rc = kcs_call(cl, KCS_DOWNLOAD, name, NULL, &res)) != KCS_OK)
		return rc;
	b64 = kcs_json_str(res, "content");
	if (!b64 || !(bin = malloc(strlen(b64) + 1))) {
		cJSON_Delete(res);
		return kcs_fail(KCS_EINTERNAL, "content", "kcsd's answer has no content");
	}
	if (sodium_base642bin(bin, strlen(b64) + 1, b64, strlen(b64), NULL, n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(bin);
		cJSON_Delete(res);
		return kcs_fail(KCS_EINTERNAL, "content", "kcsd's answer holds no valid base64");
	}
	cJSON_DeleteItemFromObject(res, "content");
	if ((rc = kcs_download_verify(cl, res, bin, *n)) != KCS_OK) {
		free(bin);
		cJSON_Delete(res);
		return rc;
	}
	*meta = res;
	*content = bin;
	return KCS_OK;
}
