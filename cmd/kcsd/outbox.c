/* outbox.c: e-mails and letters. Each is stored sealed (master key) in the
 * same transaction as the change that caused it, and written to the spool
 * directory as a file an operator can read: RFC 5322 for e-mail, plain text
 * for letters. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kcsd.h"

static int
put(struct req *r, const char *kind, const char *to, const char *subject, const char *text)
{
	size_t mlen = strlen(text), clen = KCS_SEAL_OVERHEAD + mlen;
	uint8_t *sealed = malloc(clen), rnd[6];
	char name[64], path[1200], stamp[32], hex[13];
	struct tm tm;
	time_t now = (time_t)r->now;
	long long id;
	int rc;

	if (!sealed)
		return fail(r, 500, "internal", NULL, "out of memory");
	if (r->nspooled == (int)(sizeof r->spooled / sizeof *r->spooled)) {
		free(sealed);
		return fail(r, 500, "internal", NULL, "too many messages in one request");
	}
	kcs_seal(K.master, text, mlen, sealed);
	randombytes_buf(rnd, sizeof rnd);
	kcs_hex_encode(rnd, sizeof rnd, hex);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(name, sizeof name, "%s-%s.%s", stamp, hex, strcmp(kind, "email") == 0 ? "eml" : "txt");
	rc = store_outbox_add(&K.st, kind, to, subject, sealed, clen, name, r->now, &id);
	free(sealed);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	snprintf(path, sizeof path, "%s/%s", K.cf.spool, name);
	if (kcs_write_private(path, text, mlen) != KCS_OK)
		return fail(r, 500, "internal", NULL, "spool: %s", kcs_errmsg());
	r->spooled[r->nspooled++] = strdup(path);
	return 0;
}

/* After a rollback, the files of messages that were never stored go. */
void
outbox_unspool(struct req *r)
{
	for (int i = 0; i < r->nspooled; i++) {
		if (r->spooled[i])
			unlink(r->spooled[i]);
		free(r->spooled[i]);
	}
	r->nspooled = 0;
}

int
outbox_email(struct req *r, const char *to, const char *subject, const char *body)
{
	char date[64], msgid[40], *text;
	uint8_t rnd[12];
	time_t now = (time_t)r->now;
	struct tm tm;
	size_t n;
	int rc;

	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	randombytes_buf(rnd, sizeof rnd);
	kcs_hex_encode(rnd, sizeof rnd, msgid);
	n = strlen(to) + strlen(subject) + strlen(body) + strlen(K.cf.mail_from) + 512;
	if (!(text = malloc(n)))
		return fail(r, 500, "internal", NULL, "out of memory");
	snprintf(text, n,
	    "From: %s\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@kcs>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n%s",
	    K.cf.mail_from, to, subject, date, msgid, body);
	rc = put(r, "email", to, subject, text);
	sodium_memzero(text, strlen(text));
	free(text);
	return rc;
}

int
outbox_letter(struct req *r, const char *to_name, const char *address_block, const char *body)
{
	char *text;
	size_t n = strlen(address_block) + strlen(body) + 64;
	int rc;

	if (!(text = malloc(n)))
		return fail(r, 500, "internal", NULL, "out of memory");
	snprintf(text, n, "%s\n\n%s", address_block, body);
	rc = put(r, "letter", to_name, "Delivery address verification code", text);
	sodium_memzero(text, strlen(text));
	free(text);
	return rc;
}

int
outbox_open(struct req *r, long long id, cJSON **msg)
{
	cJSON *o;
	const char *hex;
	uint8_t *sealed;
	char *text;
	size_t clen;
	int rc = store_outbox_get(&K.st, id, &o);

	if (rc != STORE_OK)
		return store_fail(r, rc);
	hex = kcs_json_str(o, "sealed");
	clen = hex ? strlen(hex) / 2 : 0;
	if (clen < KCS_SEAL_OVERHEAD) {
		cJSON_Delete(o);
		return fail(r, 500, "internal", NULL, "outbox message %lld is damaged", id);
	}
	sealed = malloc(clen);
	text = malloc(clen + 1);
	if (!sealed || !text) {
		free(sealed);
		free(text);
		cJSON_Delete(o);
		return fail(r, 500, "internal", NULL, "out of memory");
	}
	if (kcs_hex_decode(hex, sealed, clen) != 0 || kcs_open(K.master, sealed, clen, text) != 0) {
		free(sealed);
		free(text);
		cJSON_Delete(o);
		return fail(r, 500, "internal", NULL, "outbox message %lld does not open with this key", id);
	}
	text[clen - KCS_SEAL_OVERHEAD] = '\0';
	cJSON_DeleteItemFromObject(o, "sealed");
	cJSON_AddStringToObject(o, "message", text);
	sodium_memzero(text, clen);
	free(text);
	free(sealed);
	*msg = o;
	return 0;
}
