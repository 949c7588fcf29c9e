/* maintain.c: what cron runs (kcs-admin maintain): sessions past their
 * lifetime end; what must not linger is deleted (ended sessions, used or
 * lapsed codes, tickets and calls that lapsed unused, destroyed Key Codes'
 * hashes, key reads past their retention, the spool copies of delivered
 * messages); the mail is reported; the audit log gets a signed
 * checkpoint. Every task is idempotent. A run is one write transaction, so
 * that runs, on one kcsd or several sharing a PostgreSQL database, take
 * turns: a second run waits for the first and finds its work done. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kcsd.h"

static void
num(cJSON *o, const char *name, int n)
{
	cJSON_AddNumberToObject(o, name, n);
}

static int
expire(struct req *r, cJSON *out)
{
	cJSON *lapsed = NULL;
	int n, rc;

	if ((n = store_sessions_end(r->tx, r->now - K.cf.session_idle, r->now - K.cf.session_max, r->now)) < 0)
		return store_fail(r, n);
	num(out, "sessions_ended", n);
	/* tickets, calls and codes refuse themselves at their time: how many
	 * lapsed unused (purge deletes them purge_after later) */
	if ((rc = store_lapsed(r->tx, r->now, &lapsed)) != STORE_OK)
		return store_fail(r, rc);
	for (cJSON *it = lapsed->child; it; it = it->next)
		cJSON_AddNumberToObject(out, it->string, it->valuedouble);
	cJSON_Delete(lapsed);
	return 0;
}

/* the spool copies of messages that went: a file that holds a temporary
 * password or a Key Code in clear does not outlive its delivery */
static int
unspool(struct req *r, int *count)
{
	cJSON *done = NULL, *it;
	int rc;

	*count = 0;
	if ((rc = store_spooled_done(r->tx, &done)) != STORE_OK)
		return store_fail(r, rc);
	cJSON_ArrayForEach(it, done) {
		char path[2048];
		long long id = 0;

		kcs_json_int(it, "id", &id);
		snprintf(path, sizeof path, "%s/%s", kcs_json_str(it, "spool") ? kcs_json_str(it, "spool") : K.cf.spool,
		    kcs_json_str(it, "file"));
		if (unlink(path) == 0) {
			++*count;
		} else if (errno != ENOENT) {
			/* still there: tried again at the next run */
			fprintf(stderr, "kcsd: maintain: %s: %s\n", path, strerror(errno));
			continue;
		}
		if ((rc = store_unspooled(r->tx, id)) != STORE_OK && rc != STORE_NOTFOUND) {
			cJSON_Delete(done);
			return store_fail(r, rc);
		}
	}
	cJSON_Delete(done);
	return 0;
}

static int
purge(struct req *r, cJSON *out)
{
	long long after = K.cf.purge_after, cutoff;
	int n, rc, files = 0;

	if ((n = store_purge_sessions(r->tx, r->now - after, r->now - K.cf.session_idle - after,
	    r->now - K.cf.session_max - after)) < 0)
		return store_fail(r, n);
	num(out, "sessions", n);
	if ((n = store_purge_codes(r->tx, r->now - after)) < 0)
		return store_fail(r, n);
	num(out, "codes", n);
	if ((n = store_purge_calls(r->tx, r->now - after)) < 0)
		return store_fail(r, n);
	num(out, "calls", n);
	if ((n = store_purge_tickets(r->tx, r->now - after)) < 0)
		return store_fail(r, n);
	num(out, "tickets", n);
	if ((rc = keycodes_destroy(r, &n)))
		return rc;
	num(out, "key_codes_destroyed", n);
	if ((rc = keypool_purge(r, &n, &cutoff)))
		return rc;
	num(out, "key_reads", n);
	if ((rc = unspool(r, &files)))
		return rc;
	num(out, "spool_files", files);
	return 0;
}

/* where the outbox stands; the mailer is asked to deliver what is due now */
static int
mail(struct req *r, cJSON *out)
{
	cJSON *counts = NULL, *letters = NULL, *it, *email, *letter, *late;
	int rc;

	if ((rc = store_outbox_counts(r->tx, &counts)) != STORE_OK || (rc = store_letters_queued(r->tx, &letters)) !=
	    STORE_OK) {
		cJSON_Delete(counts);
		return store_fail(r, rc);
	}
	email = cJSON_AddObjectToObject(out, "email");
	letter = cJSON_AddObjectToObject(out, "letter");
	cJSON_ArrayForEach(it, counts) {
		long long n = 0;

		kcs_json_int(it, "n", &n);
		cJSON_AddNumberToObject(strcmp(kcs_json_str(it, "kind"), "letter") == 0 ? letter : email,
		    kcs_json_str(it, "status"), (double)n);
	}
	late = cJSON_AddArrayToObject(out, "letters_waiting");
	cJSON_ArrayForEach(it, letters) {
		long long at = 0;
		cJSON *l;

		if (kcs_json_int(it, "created_at", &at) != 0 || r->now - at < K.cf.letter_warn)
			continue;
		l = cJSON_Duplicate(it, 1);
		cJSON_AddNumberToObject(l, "waiting_seconds", (double)(r->now - at));
		cJSON_AddItemToArray(late, l);
	}
	cJSON_Delete(counts);
	cJSON_Delete(letters);
	cJSON_AddBoolToObject(out, "smtp", K.cf.smtp_url[0] != '\0');
	if (K.cf.smtp_url[0])
		mailer_kick();
	return 0;
}

static const struct task {
	const char *name;
	int (*fn)(struct req *, cJSON *);
} tasks[] = {
	{ "expire", expire },
	{ "purge", purge },
	{ "mail", mail },
	{ "checkpoint", audit_checkpoint },
};
#define NTASKS (sizeof tasks / sizeof *tasks)

int
h_maintain(struct req *r)
{
	static const char *const ok[] = { "tasks", NULL };
	const cJSON *want = cJSON_GetObjectItemCaseSensitive(r->in, "tasks"), *it;
	int run[NTASKS] = { 0 }, rc;
	cJSON *done, *d;

	if ((rc = only_fields(r, ok)))
		return rc;
	if (want && (!cJSON_IsArray(want) || !cJSON_GetArraySize(want)))
		return fail(r, 400, "invalid", "tasks", "must be a list of tasks: expire, purge, mail, checkpoint");
	cJSON_ArrayForEach(it, want) {
		size_t i;

		for (i = 0; i < NTASKS && !(cJSON_IsString(it) && strcmp(it->valuestring, tasks[i].name) == 0); i++)
			;
		if (i == NTASKS)
			return fail(r, 400, "invalid", "tasks", "%s is not a task: expire, purge, mail or checkpoint",
			    cJSON_IsString(it) ? it->valuestring : "an item");
		run[i] = 1;
	}
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "started_at", (double)r->now);
	done = cJSON_AddObjectToObject(r->out, "tasks");
	for (size_t i = 0; i < NTASKS; i++)
		if ((!want || run[i]) && (rc = tasks[i].fn(r, cJSON_AddObjectToObject(done, tasks[i].name))))
			return rc;
	d = cJSON_Duplicate(done, 1);
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItem(d, "mail"), "letters_waiting");
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItem(d, "checkpoint"), "checkpoint");
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItem(d, "checkpoint"), "key");
	if ((rc = audit_event(r, "maintenance", "kcsd", d)))
		return rc;
	return 200;
}
