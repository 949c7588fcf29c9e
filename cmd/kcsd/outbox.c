/* outbox.c: e-mails and letters. Each is stored sealed (master key) in the
 * same transaction as the change that caused it, and written to the spool
 * directory as a file an operator can read: RFC 5322 for e-mail, plain text
 * for letters. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kcsd.h"

/* The message is stored now; its spool file is written once the change is
 * committed (outbox_spool), so that no file tells of a change that was
 * undone. A crash in between is mended at start (outbox_sweep). */
static int
put(struct req *r, const char *kind, const char *to, const char *subject, const char *text)
{
	size_t mlen = strlen(text), clen = KCS_SEAL_OVERHEAD + mlen;
	uint8_t *sealed = malloc(clen), rnd[6];
	char name[64], stamp[32], hex[13];
	struct tm tm;
	time_t now = (time_t)r->now;
	struct spool *p;
	long long id;
	int rc;

	if (!sealed)
		return fail(r, 500, "internal", NULL, "out of memory");
	if (r->nspool == (int)(sizeof r->spool / sizeof *r->spool)) {
		free(sealed);
		return fail(r, 500, "internal", NULL, "too many messages in one request");
	}
	kcs_seal(K.master, text, mlen, sealed);
	randombytes_buf(rnd, sizeof rnd);
	kcs_hex_encode(rnd, sizeof rnd, hex);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(name, sizeof name, "%s-%s.%s", stamp, hex, strcmp(kind, "email") == 0 ? "eml" : "txt");
	rc = store_outbox_add(r->tx, kind, to, subject, sealed, clen, K.cf.spool, name, r->now, &id);
	free(sealed);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	p = &r->spool[r->nspool];
	if (!(p->name = strdup(name)) || !(p->text = strdup(text))) {
		free(p->name);
		return fail(r, 500, "internal", NULL, "out of memory");
	}
	r->nspool++;
	return 0;
}

static int
spool_file(const char *name, const char *text)
{
	char path[1200];

	snprintf(path, sizeof path, "%s/%s", K.cf.spool, name);
	return kcs_write_private(path, text, strlen(text));
}

/* After the commit: the files of the messages it stored. */
void
outbox_spool(struct req *r)
{
	for (int i = 0; i < r->nspool; i++)
		if (spool_file(r->spool[i].name, r->spool[i].text) != KCS_OK)
			fprintf(stderr, "kcsd: spool: %s (outbox sweep writes it at the next start)\n", kcs_errmsg());
}

void
outbox_discard(struct req *r)
{
	for (int i = 0; i < r->nspool; i++) {
		sodium_memzero(r->spool[i].text, strlen(r->spool[i].text));
		free(r->spool[i].text);
		free(r->spool[i].name);
	}
	r->nspool = 0;
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
outbox_letter(struct req *r, const char *to_name, const char *subject, const char *address_block,
    const char *body)
{
	char *text;
	size_t n = strlen(address_block) + strlen(body) + 64;
	int rc;

	if (!(text = malloc(n)))
		return fail(r, 500, "internal", NULL, "out of memory");
	snprintf(text, n, "%s\n\n%s", address_block, body);
	rc = put(r, "letter", to_name, subject, text);
	sodium_memzero(text, strlen(text));
	free(text);
	return rc;
}

/* A stored message, opened: its row with "message" in place of "sealed". */
static int
open_message(struct dbtx *tx, long long id, cJSON **msg)
{
	cJSON *o;
	const char *hex;
	uint8_t *sealed;
	char *text;
	size_t clen;
	int rc = store_outbox_get(tx, id, &o);

	if (rc != STORE_OK)
		return rc;
	hex = kcs_json_str(o, "sealed");
	clen = hex ? strlen(hex) / 2 : 0;
	sealed = clen >= KCS_SEAL_OVERHEAD ? malloc(clen) : NULL;
	text = sealed ? malloc(clen + 1) : NULL;
	if (!text || kcs_hex_decode(hex, sealed, clen) != 0 || kcs_open(K.master, sealed, clen, text) != 0) {
		free(sealed);
		free(text);
		cJSON_Delete(o);
		return STORE_CONFLICT;
	}
	text[clen - KCS_SEAL_OVERHEAD] = '\0';
	cJSON_DeleteItemFromObject(o, "sealed");
	cJSON_AddStringToObject(o, "message", text);
	sodium_memzero(text, clen);
	free(text);
	free(sealed);
	*msg = o;
	return STORE_OK;
}

int
outbox_open(struct req *r, long long id, cJSON **msg)
{
	int rc = open_message(r->tx, id, msg);

	if (rc == STORE_CONFLICT)
		return fail(r, 500, "internal", NULL, "outbox message %lld is damaged or does not open with this key", id);
	return rc == STORE_OK ? 0 : store_fail(r, rc);
}

/* At start: leftovers of an interrupted write go, and an undelivered
 * message whose file is missing (a crash after its commit) is written. */
int
outbox_sweep(void)
{
	DIR *d = opendir(K.cf.spool);
	struct dbtx *tx;
	struct dirent *e;
	cJSON *rows = NULL, *it;
	int n = 0;

	if (d) {
		while ((e = readdir(d)))
			if (strstr(e->d_name, ".tmp."))
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	if (store_begin(&K.st, DB_READ, &tx) != STORE_OK)
		return -1;
	if (store_outbox_unspooled(tx, K.cf.spool, &rows) != STORE_OK) {
		store_rollback(tx);
		return -1;
	}
	cJSON_ArrayForEach(it, rows) {
		const char *name = kcs_json_str(it, "file");
		long long id = 0;
		char path[1200];
		cJSON *m;

		snprintf(path, sizeof path, "%s/%s", K.cf.spool, name ? name : "");
		if (!name || strchr(name, '/') || access(path, F_OK) == 0 || kcs_json_int(it, "id", &id) != 0 || open_message(tx, id, &m) != STORE_OK)
			continue;
		if (spool_file(name, kcs_json_str(m, "message")) == KCS_OK)
			n++;
		sodium_memzero(cJSON_GetObjectItem(m, "message")->valuestring,
		    strlen(cJSON_GetObjectItem(m, "message")->valuestring));
		cJSON_Delete(m);
	}
	store_rollback(tx);
	cJSON_Delete(rows);
	return n;
}
