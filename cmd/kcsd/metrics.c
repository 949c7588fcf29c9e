/* metrics.c: GET /metrics in the Prometheus text format (version 0.0.4):
 * requests by route and status class, a latency histogram, transactions
 * run again and store failures, counted as requests end; the outbox,
 * lockouts, the audit log and the last backup, read from the store when
 * asked. The maintenance token (or an administrator's) reads it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcsd.h"

#define MAX_ROUTES 128
static const double bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NB (sizeof bounds / sizeof *bounds)

static struct {
	unsigned long long requests[MAX_ROUTES + 1][6]; /* [route, or the last: none][status / 100] */
	unsigned long long buckets[NB + 1], usec, retries, store_errors;
} m;

void
metrics_request(int route, int status, long long usec)
{
	size_t r = route >= 0 && route < MAX_ROUTES ? (size_t)route : MAX_ROUTES, b;
	int c = status / 100;

	__atomic_fetch_add(&m.requests[r][c >= 1 && c <= 5 ? c : 0], 1, __ATOMIC_RELAXED);
	for (b = 0; b < NB && (double)usec / 1e6 > bounds[b]; b++)
		;
	__atomic_fetch_add(&m.buckets[b], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&m.usec, (unsigned long long)(usec > 0 ? usec : 0), __ATOMIC_RELAXED);
	if (status == 500)
		__atomic_fetch_add(&m.store_errors, 1, __ATOMIC_RELAXED);
}

void
metrics_retry(void)
{
	__atomic_fetch_add(&m.retries, 1, __ATOMIC_RELAXED);
}

struct text {
	char *p;
	size_t n, cap;
	int oom;
};

static void
put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = 1;
			return;
		}
		if (t->p && t->n + (size_t)n < t->cap) {
			t->n += (size_t)n;
			return;
		}
		{
			size_t cap = (t->cap + (size_t)n + 1) * 2;
			char *p = realloc(t->p, cap);

			if (!p) {
				t->oom = 1;
				return;
			}
			t->p = p;
			t->cap = cap;
		}
	}
}

static void
family(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* a single number from the store, or -1 */
static long long
one(struct req *r, const char *what)
{
	cJSON *o = NULL;
	long long v = -1;

	if (store_metric(r->tx, what, r->now, &o) == STORE_OK)
		kcs_json_int(o, "v", &v);
	cJSON_Delete(o);
	return v;
}

int
h_metrics(struct req *r)
{
	static const char *const classes[] = { "other", "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct text t = { 0 };
	unsigned long long cum = 0, total = 0;
	cJSON *counts = NULL, *it;
	long long v;

	family(&t, "kcs_requests_total", "counter", "HTTP requests answered, by route and status class.");
	for (size_t i = 0; i <= kcsd_routes() && i <= MAX_ROUTES; i++) {
		const char *method = "", *path = "";
		size_t slot = i < kcsd_routes() ? i : MAX_ROUTES;

		if (i < kcsd_routes())
			kcsd_route(i, &method, &path);
		for (int c = 0; c < 6; c++) {
			unsigned long long n = __atomic_load_n(&m.requests[slot][c], __ATOMIC_RELAXED);

			if (n)
				put(&t, "kcs_requests_total{route=\"%s%s%s\",code=\"%s\"} %llu\n", i < kcsd_routes() ? method
				    : "none", i < kcsd_routes() ? " " : "", path, classes[c], n);
		}
	}
	family(&t, "kcs_request_duration_seconds", "histogram", "Time from a request's arrival to its answer.");
	for (size_t b = 0; b <= NB; b++) {
		cum += __atomic_load_n(&m.buckets[b], __ATOMIC_RELAXED);
		if (b < NB)
			put(&t, "kcs_request_duration_seconds_bucket{le=\"%g\"} %llu\n", bounds[b], cum);
	}
	total = cum;
	put(&t, "kcs_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", total);
	put(&t, "kcs_request_duration_seconds_sum %.6f\n", (double)__atomic_load_n(&m.usec, __ATOMIC_RELAXED) / 1e6);
	put(&t, "kcs_request_duration_seconds_count %llu\n", total);
	family(&t, "kcs_store_retries_total", "counter", "Transactions run again: the engine could not order them "
	    "with others, or a read had to write.");
	put(&t, "kcs_store_retries_total %llu\n", __atomic_load_n(&m.retries, __ATOMIC_RELAXED));
	family(&t, "kcs_store_errors_total", "counter", "Requests that failed on the store (answered 500).");
	put(&t, "kcs_store_errors_total %llu\n", __atomic_load_n(&m.store_errors, __ATOMIC_RELAXED));
	{
		struct db_stats s;

		if (db_stats(K.st.db, &s) == DB_OK) {
			family(&t, "kcs_store_commits_total", "counter", "Commits of the store (group commit: one for "
			    "several write transactions).");
			put(&t, "kcs_store_commits_total %llu\n", s.commits);
			family(&t, "kcs_store_write_transactions_total", "counter", "Write transactions committed.");
			put(&t, "kcs_store_write_transactions_total %llu\n", s.writes);
			family(&t, "kcs_store_writer_busy_seconds_total", "counter", "Time write transactions held "
			    "their turn (writes take turns): its rate near 1, writes queue for it.");
			put(&t, "kcs_store_writer_busy_seconds_total %.6f\n", (double)s.busy_usec / 1e6);
		}
	}
	family(&t, "kcs_outbox_messages", "gauge", "E-mails and letters by kind and status.");
	if (store_outbox_counts(r->tx, &counts) == STORE_OK)
		cJSON_ArrayForEach(it, counts) {
			long long n = 0;

			kcs_json_int(it, "n", &n);
			put(&t, "kcs_outbox_messages{kind=\"%s\",status=\"%s\"} %lld\n", kcs_json_str(it, "kind"),
			    kcs_json_str(it, "status"), n);
		}
	cJSON_Delete(counts);
	family(&t, "kcs_lockouts", "gauge", "Accounts, codes and tickets locked for a cool-down now.");
	put(&t, "kcs_lockouts %lld\n", (v = one(r, "lockouts")) < 0 ? 0 : v);
	family(&t, "kcs_audit_entries", "gauge", "Entries in the audit log.");
	put(&t, "kcs_audit_entries %lld\n", (v = one(r, "audit_entries")) < 0 ? 0 : v);
	family(&t, "kcs_audit_tree_size", "gauge", "Entries the newest signed audit checkpoint seals.");
	put(&t, "kcs_audit_tree_size %lld\n", (v = one(r, "tree_size")) < 0 ? 0 : v);
	family(&t, "kcs_last_backup_timestamp_seconds", "gauge", "When the last backup was written (0: never).");
	put(&t, "kcs_last_backup_timestamp_seconds %lld\n", (v = one(r, "last_backup")) < 0 ? 0 : v);
	family(&t, "kcs_build_info", "gauge", "The version of kcsd.");
	put(&t, "kcs_build_info{version=\"%s\"} 1\n", KCS_VERSION);
	if (t.oom) {
		free(t.p);
		return fail(r, 500, "internal", NULL, "out of memory");
	}
	r->html = t.p;
	r->ctype = "text/plain; version=0.0.4; charset=utf-8";
	return 200;
}
