/* maintain.c: what cron runs (kcs-admin maintain): sessions past their
 * lifetime end; what must not linger is deleted (ended sessions, used or
 * lapsed codes, tickets and calls that lapsed unused, destroyed Key Codes'
 * hashes, key reads past their retention, the spool copies of delivered
 * messages); the mail since the last run is reported; the audit log gets a
 * signed checkpoint; the store is backed up when a backup is due. Every
 * task is idempotent. A run is one write transaction, so that runs, on one
 * kcsd or several sharing a PostgreSQL database, take turns: a second run
 * waits for the first and finds its work done. Only the backup is written
 * outside it, once claimed in it, so that requests go on meanwhile. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* The mail since the last run (delivered, retried, failed; letters
 * posted) and where the outbox stands; the mailer is asked to deliver what
 * is due now. */
static int
mail(struct req *r, cJSON *out)
{
	cJSON *since = NULL, *counts = NULL, *letters = NULL, *it, *email, *letter, *late;
	long long last = 0;
	int rc;

	if ((rc = store_last_run(r->tx, "mail", r->now, &last)) != STORE_OK ||
	    (rc = store_mail_since(r->tx, last, &since)) != STORE_OK ||
	    (rc = store_outbox_counts(r->tx, &counts)) != STORE_OK || (rc = store_letters_queued(r->tx, &letters)) !=
	    STORE_OK) {
		cJSON_Delete(since);
		cJSON_Delete(counts);
		return store_fail(r, rc);
	}
	if (last)
		cJSON_AddNumberToObject(out, "since_at", (double)last);
	else
		cJSON_AddNullToObject(out, "since_at");
	for (cJSON *n = since->child; n; n = n->next)
		cJSON_AddNumberToObject(out, n->string, n->valuedouble);
	cJSON_Delete(since);
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

/* The backups that maintain wrote in backup_dir, beyond the newest
 * backup_keep, are deleted (their names, kcs-TIME-ID.kcsb, sort by time). */
static int
prune(cJSON *out)
{
	struct dirent **names = NULL;
	int n = scandir(K.cf.backup_dir, &names, NULL, alphasort), kept = 0, gone = 0;

	if (n < 0)
		fprintf(stderr, "kcsd: maintain: %s: %s\n", K.cf.backup_dir, strerror(errno));
	for (int i = n - 1; i >= 0; i--) {
		const char *f = names[i]->d_name;
		size_t len = strlen(f);

		if (strncmp(f, "kcs-", 4) == 0 && len > 9 && strcmp(f + len - 5, ".kcsb") == 0 &&
		    ++kept > K.cf.backup_keep) {
			char path[2100];

			snprintf(path, sizeof path, "%s/%s", K.cf.backup_dir, f);
			if (unlink(path) == 0)
				gone++;
			else
				fprintf(stderr, "kcsd: maintain: %s: %s\n", path, strerror(errno));
		}
		free(names[i]);
	}
	free(names);
	cJSON_AddNumberToObject(out, "removed", gone);
	return 0;
}

/* A backup into backup_dir when none was written for backup_every: claimed
 * in the run's transaction (a second run finds it claimed), written with
 * the store released, recorded in a new transaction. */
static int
backup(struct req *r, cJSON *out)
{
	long long id = 0, last = 0, bytes = 0, entries = 0;
	char file[1100], stamp[32], err[512] = "";
	struct tm tm;
	time_t now = (time_t)r->now;
	int rc, sealed;

	if (!K.cf.backup_dir[0]) {
		cJSON_AddStringToObject(out, "skipped", "backup_dir is not set (kcs.conf(5))");
		return 0;
	}
	if (strncmp(K.cf.db, "postgres", 8) == 0) {
		cJSON_AddStringToObject(out, "skipped", "a PostgreSQL store is backed up with PostgreSQL's tools (kcsd(8))");
		return 0;
	}
	if ((rc = store_backup_claim(r->tx, r->now, K.cf.backup_every, &id, &last)) != STORE_OK &&
	    rc != STORE_NOTFOUND)
		return store_fail(r, rc);
	cJSON_AddBoolToObject(out, "due", rc == STORE_OK);
	if (last)
		cJSON_AddNumberToObject(out, "last_at", (double)last);
	if (rc == STORE_NOTFOUND) {
		cJSON_AddNumberToObject(out, "next_at", (double)(last + K.cf.backup_every));
		return 0;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(file, sizeof file, "%s/kcs-%s-%06lld.kcsb", K.cf.backup_dir, stamp, id);
	if ((rc = req_release(r)))
		return rc;
	if (mkdir(K.cf.backup_dir, 0700) != 0 && errno != EEXIST)
		snprintf(err, sizeof err, "backup_dir: %s: %s", K.cf.backup_dir, strerror(errno));
	else if (backup_seal(&K.st, file, &bytes, &entries) != KCS_OK)
		snprintf(err, sizeof err, "%s%s%s", kcs_errfield(), kcs_errfield()[0] ? ": " : "", kcs_errmsg());
	sealed = !err[0];
	if ((rc = req_retake(r)))
		return rc;
	if (!sealed) {
		fprintf(stderr, "kcsd: maintain: backup: %s\n", err);
		cJSON_AddStringToObject(out, "error", err);
		cJSON_AddItemToArray(cJSON_GetObjectItem(r->out, "failed_tasks"), cJSON_CreateString("backup"));
		return (rc = store_backup_failed(r->tx, id, err)) != STORE_OK ? store_fail(r, rc) : 0;
	}
	if ((rc = store_backup_done(r->tx, id, file, bytes, (long long)time(NULL))) != STORE_OK)
		return store_fail(r, rc);
	cJSON_AddStringToObject(out, "file", file);
	cJSON_AddNumberToObject(out, "bytes", (double)bytes);
	cJSON_AddNumberToObject(out, "audit_entries", (double)entries);
	return prune(out);
}

/* the backup last: it ends the run's first transaction */
static const struct task {
	const char *name;
	int (*fn)(struct req *, cJSON *);
} tasks[] = {
	{ "expire", expire },
	{ "purge", purge },
	{ "mail", mail },
	{ "checkpoint", audit_checkpoint },
	{ "backup", backup },
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
		return fail(r, 400, "invalid", "tasks", "must be a list of tasks: expire, purge, mail, checkpoint, backup");
	cJSON_ArrayForEach(it, want) {
		size_t i;

		for (i = 0; i < NTASKS && !(cJSON_IsString(it) && strcmp(it->valuestring, tasks[i].name) == 0); i++)
			;
		if (i == NTASKS)
			return fail(r, 400, "invalid", "tasks", "%s is not a task: expire, purge, mail, checkpoint or backup",
			    cJSON_IsString(it) ? it->valuestring : "an item");
		run[i] = 1;
	}
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "started_at", (double)r->now);
	cJSON_AddArrayToObject(r->out, "failed_tasks");
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
