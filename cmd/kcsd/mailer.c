/* mailer.c: delivery of the outbox's e-mails over SMTP (libcurl), by a
 * thread of kcsd, when smtp_url is set.
 *
 * One message at a time: it is taken (status sending, committed), sent
 * outside any transaction, and its end recorded. Accepted by the server:
 * sent, and its body destroyed. Refused for good (5xx), or still not
 * accepted after smtp_give_up seconds: failed, body destroyed. Refused for
 * now (4xx) or not reached: queued again after a pause that doubles from
 * smtp_retry to smtp_retry_max. A delivery whose whole message went out but
 * whose answer never came, or that a stopped kcsd left in sending, is
 * unknown: the server may have the message, so it is not sent again (the
 * Message-ID stays the same should an operator send it by hand). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "kcsd.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int running, stop, kick;
	char password[256];
	char from[256]; /* the envelope sender: mail_from's address */
} ml = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, "", "" };

struct body {
	const char *p;
	size_t left;
	int all_sent; /* the whole message is with libcurl: the end of data follows */
};

static size_t
read_body(char *buf, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t k = size * n < b->left ? size * n : b->left;

	memcpy(buf, b->p, k);
	b->p += k;
	b->left -= k;
	if (!k)
		b->all_sent = 1;
	return k;
}

static int
stopping(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	int stop;

	(void)arg, (void)a, (void)b, (void)c, (void)d;
	pthread_mutex_lock(&ml.mu);
	stop = ml.stop;
	pthread_mutex_unlock(&ml.mu);
	return stop;
}

enum outcome { SENT, AGAIN, FAILED, UNKNOWN };

/* One message to one recipient; result: what the server or libcurl said. */
static enum outcome
send_one(const char *to, const char *text, char *result, size_t n)
{
	CURL *c = curl_easy_init();
	struct curl_slist *rcpt = NULL;
	struct body b = { text, strlen(text), 0 };
	char err[CURL_ERROR_SIZE] = "", addr[300];
	long code = 0, t = K.cf.smtp_timeout;
	CURLcode rc;

	if (!c) {
		snprintf(result, n, "out of memory");
		return AGAIN;
	}
	snprintf(addr, sizeof addr, "<%s>", to);
	rcpt = curl_slist_append(NULL, addr);
	curl_easy_setopt(c, CURLOPT_URL, K.cf.smtp_url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	/* STARTTLS is required, except on loopback where it is used if offered */
	curl_easy_setopt(c, CURLOPT_USE_SSL, (long)(kcs_url_loopback(K.cf.smtp_url) ? CURLUSESSL_TRY : CURLUSESSL_ALL));
	if (K.cf.smtp_ca_file[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, K.cf.smtp_ca_file);
	if (K.cf.smtp_user[0]) {
		curl_easy_setopt(c, CURLOPT_USERNAME, K.cf.smtp_user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, ml.password);
	}
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, ml.from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
	curl_easy_setopt(c, CURLOPT_READDATA, &b);
	curl_easy_setopt(c, CURLOPT_INFILESIZE, (long)b.left);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, t);
	curl_easy_setopt(c, CURLOPT_SERVER_RESPONSE_TIMEOUT, t);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 3 * t);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, stopping);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(c);
	if (rc == CURLE_OK) {
		snprintf(result, n, "%ld accepted", code);
		return SENT;
	}
	snprintf(result, n, "%ld %s", code, err[0] ? err : curl_easy_strerror(rc));
	/* our side's fault (the login, TLS required): the message may go later */
	if (rc == CURLE_LOGIN_DENIED || code == 530 || code == 534 || code == 535 || code == 538)
		return AGAIN;
	if (code >= 500)
		return FAILED;
	if (code >= 400)
		return AGAIN;
	/* no answer after the end of the message: it may have been taken */
	return b.all_sent ? UNKNOWN : AGAIN;
}

/* Runs fn in a write transaction, again while the store asks for it. */
static int
in_tx(int (*fn)(struct dbtx *tx, void *arg), void *arg)
{
	for (int attempt = 0; attempt < 12; attempt++) {
		struct dbtx *tx;
		int rc = store_begin(&K.st, DB_WRITE, &tx);

		if (rc == STORE_OK) {
			rc = fn(tx, arg);
			if (rc == STORE_OK)
				rc = store_commit(tx);
			else
				store_rollback(tx);
		}
		if (rc != STORE_RETRY)
			return rc;
		usleep((useconds_t)(1000 << (attempt < 7 ? attempt : 7)));
	}
	return STORE_RETRY;
}

static int
audit(struct dbtx *tx, const char *event, long long id, const char *result)
{
	char subject[32];
	cJSON *d = cJSON_CreateObject();
	int rc;

	snprintf(subject, sizeof subject, "outbox:%lld", id);
	cJSON_AddStringToObject(d, "result", result);
	rc = store_audit(tx, "kcsd:mailer", event, subject, d, (long long)time(NULL));
	cJSON_Delete(d);
	return rc;
}

struct job {
	long long id, attempts, created_at;
	char to[320], file[128];
	char *text;
};

/* Takes the next due message and opens it. */
static int
take(struct dbtx *tx, void *arg)
{
	struct job *j = arg;
	cJSON *m;
	int rc = store_outbox_claim(tx, (long long)time(NULL), &j->id);

	if (rc != STORE_OK)
		return rc;
	if ((rc = outbox_read(tx, j->id, &m)) == STORE_CONFLICT) {
		/* it will never open: it fails, rather than block the queue */
		fprintf(stderr, "kcsd: mailer: outbox message %lld does not open with this key\n", j->id);
		return store_outbox_result(tx, j->id, "failed", "the message does not open with this key", 0,
		    (long long)time(NULL));
	}
	if (rc != STORE_OK)
		return rc;
	snprintf(j->to, sizeof j->to, "%s", kcs_json_str(m, "recipient") ? kcs_json_str(m, "recipient") : "");
	snprintf(j->file, sizeof j->file, "%s", kcs_json_str(m, "file") ? kcs_json_str(m, "file") : "");
	kcs_json_int(m, "attempts", &j->attempts);
	kcs_json_int(m, "created_at", &j->created_at);
	j->text = kcs_json_str(m, "message") ? strdup(kcs_json_str(m, "message")) : NULL;
	outbox_wipe(m);
	return j->text ? STORE_OK : STORE_ERROR;
}

struct end {
	struct job *j;
	enum outcome o;
	const char *result;
};

static int
record(struct dbtx *tx, void *arg)
{
	struct end *e = arg;
	long long now = (long long)time(NULL), next = 0, pause = K.cf.smtp_retry;
	static const char *const status[] = { "sent", "queued", "failed", "unknown" };
	static const char *const event[] = { "outbox.sent", NULL, "outbox.failed", "outbox.unknown" };
	enum outcome o = e->o;
	int rc;

	if (o == AGAIN) {
		for (long long i = 1; i < e->j->attempts && pause < K.cf.smtp_retry_max; i++)
			pause *= 2;
		if (pause > K.cf.smtp_retry_max)
			pause = K.cf.smtp_retry_max;
		next = now + pause;
		if (next - e->j->created_at > K.cf.smtp_give_up)
			o = FAILED;
	}
	if ((rc = store_outbox_result(tx, e->j->id, status[o], e->result, o == AGAIN ? next : 0, now)) != STORE_OK)
		return rc;
	return event[o] ? audit(tx, event[o], e->j->id, e->result) : STORE_OK;
}

static int
unstick(struct dbtx *tx, void *arg)
{
	cJSON *rows = NULL, *it;
	long long now = (long long)time(NULL);
	int rc = store_outbox_stale(tx, now - 4 * K.cf.smtp_timeout, now, &rows);

	(void)arg;
	cJSON_ArrayForEach(it, rows) {
		long long id = 0;

		kcs_json_int(it, "id", &id);
		if (rc == STORE_OK)
			rc = audit(tx, "outbox.unknown", id, "the delivery was interrupted");
	}
	cJSON_Delete(rows);
	return rc;
}

/* Delivers what is due; the seconds until more is (at most a minute). */
static long
deliver_due(void)
{
	struct dbtx *tx;
	long long when = 0;
	int none = 1;

	in_tx(unstick, NULL);
	for (;;) {
		struct job j = { 0 };
		char result[CURL_ERROR_SIZE + 32];
		struct end e = { &j, AGAIN, result };
		int rc;

		if (stopping(NULL, 0, 0, 0, 0))
			return 0;
		if ((rc = in_tx(take, &j)) == STORE_NOTFOUND)
			break;
		if (rc == STORE_OK && !j.text)
			continue; /* failed: it does not open */
		if (rc != STORE_OK) {
			fprintf(stderr, "kcsd: mailer: outbox message %lld cannot be taken or opened\n", j.id);
			if (j.text) {
				sodium_memzero(j.text, strlen(j.text));
				free(j.text);
			}
			return 60;
		}
		e.o = send_one(j.to, j.text, result, sizeof result);
		sodium_memzero(j.text, strlen(j.text));
		free(j.text);
		if (in_tx(record, &e) != STORE_OK)
			fprintf(stderr, "kcsd: mailer: the delivery of outbox message %lld could not be recorded\n", j.id);
		if (e.o != AGAIN && j.file[0])
			outbox_unspool(j.file);
	}
	if (store_begin(&K.st, DB_READ, &tx) != STORE_OK)
		return 60;
	if (store_outbox_next_due(tx, &when, &none) != STORE_OK)
		none = 1;
	store_rollback(tx);
	if (none)
		return 60;
	/* a delivery in progress is looked at again when it would be stale */
	when -= (long long)time(NULL);
	if (when < 0)
		when += 4 * K.cf.smtp_timeout + 1;
	return when < 1 ? 1 : when > 60 ? 60 : (long)when;
}

static void *
mailer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&ml.mu);
	while (!ml.stop) {
		struct timespec wake;
		long wait;

		ml.kick = 0;
		pthread_mutex_unlock(&ml.mu);
		wait = deliver_due();
		pthread_mutex_lock(&ml.mu);
		clock_gettime(CLOCK_REALTIME, &wake);
		wake.tv_sec += wait;
		while (!ml.stop && !ml.kick && pthread_cond_timedwait(&ml.cv, &ml.mu, &wake) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&ml.mu);
	return NULL;
}

void
mailer_kick(void)
{
	pthread_mutex_lock(&ml.mu);
	ml.kick = 1;
	pthread_cond_signal(&ml.cv);
	pthread_mutex_unlock(&ml.mu);
}

/* Checks the settings and starts the thread; nothing without smtp_url. */
int
mailer_start(void)
{
	const char *lt, *gt;

	if (!K.cf.smtp_url[0])
		return KCS_OK;
	if (strncmp(K.cf.smtp_url, "smtp://", 7) != 0 && strncmp(K.cf.smtp_url, "smtps://", 8) != 0)
		return kcs_fail(KCS_EINVALID, "smtp_url", "%s: must begin with smtp:// or smtps://", K.cf.smtp_url);
	if (K.cf.smtp_password_file[0]) {
		FILE *f = fopen(K.cf.smtp_password_file, "re");

		if (!f)
			return kcs_fail(KCS_EINVALID, "smtp_password_file", "%s: %s", K.cf.smtp_password_file,
			    strerror(errno));
		if (!fgets(ml.password, sizeof ml.password, f))
			ml.password[0] = '\0';
		fclose(f);
		ml.password[strcspn(ml.password, "\r\n")] = '\0';
	}
	if (K.cf.smtp_user[0] && !ml.password[0])
		return kcs_fail(KCS_EINVALID, "smtp_password_file", "smtp_user is set: give its password in a file");
	/* "Name <address>" or a bare address */
	lt = strchr(K.cf.mail_from, '<');
	gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt)
		snprintf(ml.from, sizeof ml.from, "%.*s", (int)(gt - lt + 1), lt);
	else
		snprintf(ml.from, sizeof ml.from, "<%s>", K.cf.mail_from);
	ml.stop = 0;
	if (pthread_create(&ml.thread, NULL, mailer, NULL) != 0)
		return kcs_fail(KCS_EINTERNAL, NULL, "cannot start the mailer thread");
	ml.running = 1;
	return KCS_OK;
}

void
mailer_stop(void)
{
	if (!ml.running)
		return;
	pthread_mutex_lock(&ml.mu);
	ml.stop = 1;
	pthread_cond_signal(&ml.cv);
	pthread_mutex_unlock(&ml.mu);
	pthread_join(ml.thread, NULL);
	ml.running = 0;
	sodium_memzero(ml.password, sizeof ml.password);
}
