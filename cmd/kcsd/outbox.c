/* outbox.c: e-mails and letters. Each is stored sealed (master key) in the
 * same transaction as the change that caused it. With smtp_url set, the
 * mailer (mailer.c) delivers e-mails and destroys their bodies; else each
 * e-mail is also written to the spool directory as an RFC 5322 file (7-bit,
 * CRLF) for the operator's own mailer. Letters (plain text) go to the mail
 * room (mailroom.c) alone. */
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
put(struct req *r, const char *kind, const char *to, const char *subject, const char *text, const char *msgid)
{
	size_t mlen = strlen(text), clen = KCS_SEAL_OVERHEAD + mlen;
	uint8_t *sealed = malloc(clen), rnd[6];
	char name[64], stamp[32], hex[13];
	struct tm tm;
	time_t now = (time_t)r->now;
	struct spool *p;
	long long id;
	int rc, mailed, letter;

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
	/* only an e-mail without SMTP has a copy in the spool: the mailer
	 * delivers the others, the mail room prints letters */
	letter = strcmp(kind, "letter") == 0;
	mailed = !letter && K.cf.smtp_url[0];
	rc = store_outbox_add(r->tx, kind, to, subject, sealed, clen, K.cf.spool, mailed || letter ? "" : name, msgid,
	    r->now, &id);
	free(sealed);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	r->mailed |= mailed;
	if (mailed || letter)
		return 0;
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

/* After the commit: the files of the messages it stored; the mailer told
 * of its e-mails. */
void
outbox_spool(struct req *r)
{
	for (int i = 0; i < r->nspool; i++)
		if (spool_file(r->spool[i].name, r->spool[i].text) != KCS_OK)
			fprintf(stderr, "kcsd: spool: %s (outbox sweep writes it at the next start)\n", kcs_errmsg());
	if (r->mailed)
		mailer_kick();
	r->mailed = 0;
}

/* A delivered message's spool file, if it has one, goes. */
void
outbox_unspool(const char *file)
{
	char path[1200];

	if (!file[0] || strchr(file, '/'))
		return;
	snprintf(path, sizeof path, "%s/%s", K.cf.spool, file);
	if (unlink(path) != 0 && errno != ENOENT)
		fprintf(stderr, "kcsd: spool: %s: %s\n", path, strerror(errno));
}

/* Quoted-printable (RFC 2045 6.7) of text, with CRLF line ends: 7-bit
 * lines of at most 76 characters, whatever the text holds. */
static char *
quoted_printable(const char *text)
{
	size_t n = strlen(text), k = 0, col = 0;
	char *out = malloc(n * 4 + 3);
	static const char hex[] = "0123456789ABCDEF";

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		int eol = p[0] == '\n' || (p[0] == '\r' && p[1] == '\n');
		int last = p[1] == '\n' || p[1] == '\0' || (p[1] == '\r' && p[2] == '\n');
		int plain = (*p >= 33 && *p <= 126 && *p != '=') || ((*p == ' ' || *p == '\t') && !last);
		size_t w = plain ? 1 : 3;

		if (eol) {
			if (*p == '\r')
				p++;
			out[k++] = '\r';
			out[k++] = '\n';
			col = 0;
			continue;
		}
		if (col + w > 75 && !(last && col + w <= 76)) {
			memcpy(out + k, "=\r\n", 3);
			k += 3;
			col = 0;
		}
		if (plain) {
			out[k++] = (char)*p;
		} else {
			out[k++] = '=';
			out[k++] = hex[*p >> 4];
			out[k++] = hex[*p & 15];
		}
		col += w;
	}
	out[k] = '\0';
	return out;
}

/* A header's text in 7 bits: as it is if it is printable ASCII, else an
 * RFC 2047 encoded word (UTF-8, base64). */
static char *
header_text(const char *text)
{
	size_t n = strlen(text);
	int ascii = 1;
	char *out;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		ascii &= *p >= 32 && *p <= 126;
	if (ascii)
		return strdup(text);
	if (!(out = malloc(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL) + 16)))
		return NULL;
	memcpy(out, "=?utf-8?B?", 10);
	sodium_bin2base64(out + 10, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL),
	    (const unsigned char *)text, n, sodium_base64_VARIANT_ORIGINAL);
	strcat(out, "?=");
	return out;
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
	char date[64], msgid[64], host[256], hex[25], *text, *qp = quoted_printable(body), *subj = header_text(subject);
	const char *at;
	uint8_t rnd[12];
	time_t now = (time_t)r->now;
	struct tm tm;
	size_t n;
	int rc;

	if (!qp || !subj) {
		free(qp);
		free(subj);
		return fail(r, 500, "internal", NULL, "out of memory");
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	/* the Message-ID, stored with the message: the same on every try */
	randombytes_buf(rnd, sizeof rnd);
	kcs_hex_encode(rnd, sizeof rnd, hex);
	at = strrchr(K.cf.mail_from, '@');
	snprintf(host, sizeof host, "%s", at ? at + 1 : "kcs");
	host[strcspn(host, ">")] = '\0';
	snprintf(msgid, sizeof msgid, "<%s@%.40s>", hex, host);
	n = strlen(to) + strlen(subj) + strlen(qp) + strlen(K.cf.mail_from) + 512;
	if (!(text = malloc(n))) {
		free(qp);
		free(subj);
		return fail(r, 500, "internal", NULL, "out of memory");
	}
	snprintf(text, n,
	    "From: %s\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n%s",
	    K.cf.mail_from, to, subj, date, msgid, qp);
	sodium_memzero(qp, strlen(qp));
	free(qp);
	free(subj);
	rc = put(r, "email", to, subject, text, msgid);
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
	rc = put(r, "letter", to_name, subject, text, NULL);
	sodium_memzero(text, strlen(text));
	free(text);
	return rc;
}

/* A stored message, opened: its row with "message" in place of "sealed"
 * (null once its body is destroyed). */
int
outbox_read(struct dbtx *tx, long long id, cJSON **msg)
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
	if (hex && !*hex) {
		cJSON_DeleteItemFromObject(o, "sealed");
		cJSON_AddNullToObject(o, "message");
		*msg = o;
		return STORE_OK;
	}
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

/* An opened message, its text wiped, freed. */
void
outbox_wipe(cJSON *msg)
{
	cJSON *t = cJSON_GetObjectItem(msg, "message");

	if (cJSON_IsString(t))
		sodium_memzero(t->valuestring, strlen(t->valuestring));
	cJSON_Delete(msg);
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
		if (!name || strchr(name, '/') || access(path, F_OK) == 0 || kcs_json_int(it, "id", &id) != 0 || outbox_read(tx, id, &m) != STORE_OK)
			continue;
		if (kcs_json_str(m, "message") && spool_file(name, kcs_json_str(m, "message")) == KCS_OK)
			n++;
		outbox_wipe(m);
	}
	store_rollback(tx);
	cJSON_Delete(rows);
	return n;
}
