/* http.c: kcsd's HTTP side on libmicrohttpd: body collection with a size
 * cap, routing, authentication, one JSON error shape, one log line per
 * request. Each request runs in one store transaction. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <sodium.h>

#include "kcsd.h"

/* A_BARE: no authentication and no store transaction (health checks) */
/* A_CAS: a hotline operator's or an administrator's token, or a locksmith's
 * full session. A_MAINTAIN: the maintenance token (cron's) or an
 * administrator's. The KeyPool's: A_READER a key reader's token, A_FLEET a
 * fleet system's, A_KEYPOOL either, A_FLEET_ADMIN a fleet system's or an
 * administrator's. */
enum auth { A_BARE, A_NONE, A_ADMIN, A_OPERATOR, A_MAILROOM, A_MAINTAIN, A_READER, A_FLEET, A_KEYPOOL, A_FLEET_ADMIN,
	A_ANY_SESSION, A_SDRM_STEP, A_FULL, A_CAS };

struct route {
	const char *method, *path; /* a path ending in a wildcard segment takes one more */
	enum auth auth;
	int (*fn)(struct req *);
	int kind;
};

/* R_READ: runs in a read transaction, beside writers and other readers (if
 * it writes after all, a session's last use say, it runs again in a write
 * transaction). R_SLOW: hashes a password, or writes a backup (maintain):
 * runs in the password pool, not a network thread. */
enum { R_WRITE, R_READ, R_SLOW };

static const struct route routes[] = {
	{ "GET", "/v1/health", A_BARE, h_health, R_READ },
	{ "GET", "/metrics", A_MAINTAIN, h_metrics, R_READ },
	{ "GET", "/v1/disclaimers/*", A_NONE, h_disclaimer, R_READ },
	{ "POST", "/v1/admin/operators", A_ADMIN, h_operator_add, R_WRITE },
	{ "GET", "/v1/admin/operators", A_ADMIN, h_operator_list, R_READ },
	{ "DELETE", "/v1/admin/operators/*", A_ADMIN, h_operator_remove, R_WRITE },
	{ "GET", "/v1/admin/requests", A_ADMIN, h_requests, R_READ },
	{ "POST", "/v1/admin/requests/approve", A_ADMIN, h_request_approve, R_WRITE },
	{ "POST", "/v1/admin/requests/refuse", A_ADMIN, h_request_refuse, R_WRITE },
	{ "POST", "/v1/admin/sdrm", A_ADMIN, h_sdrm_add, R_SLOW },
	{ "DELETE", "/v1/admin/sdrm/*", A_ADMIN, h_sdrm_remove, R_WRITE },
	{ "GET", "/v1/admin/outbox", A_ADMIN, h_outbox_list, R_READ },
	{ "GET", "/v1/admin/outbox/*", A_ADMIN, h_outbox_get, R_READ },
	{ "GET", "/v1/admin/audit/verify", A_ADMIN, h_audit_verify, R_READ },
	{ "POST", "/v1/admin/audit/checkpoint", A_MAINTAIN, h_audit_checkpoint, R_WRITE },
	{ "GET", "/v1/admin/audit/checkpoint", A_ADMIN, h_audit_checkpoint_get, R_READ },
	{ "GET", "/v1/admin/audit/export", A_ADMIN, h_audit_export, R_READ },
	{ "GET", "/v1/mailroom/letters", A_MAILROOM, h_letters, R_READ },
	{ "GET", "/v1/mailroom/letters/*", A_MAILROOM, h_letter_get, R_WRITE },
	{ "POST", "/v1/mailroom/sent", A_MAILROOM, h_letter_sent, R_WRITE },
	{ "POST", "/v1/hotline/locksmiths", A_OPERATOR, h_register, R_WRITE },
	{ "POST", "/v1/hotline/locksmiths/resend-link", A_OPERATOR, h_resend_link, R_WRITE },
	{ "POST", "/v1/hotline/locksmiths/email", A_OPERATOR, h_correct_email, R_WRITE },
	{ "DELETE", "/v1/admin/accounts/*", A_ADMIN, h_account_close, R_WRITE },
	{ "GET", "/v1/hotline/vehicles/*", A_OPERATOR, h_vehicle_check, R_READ },
	{ "GET", "/verify-email", A_NONE, h_verify_email, R_SLOW },
	{ "POST", "/v1/login", A_NONE, h_login, R_SLOW },
	{ "POST", "/v1/login/sdrm", A_SDRM_STEP, h_login_sdrm, R_SLOW },
	{ "POST", "/v1/password", A_ANY_SESSION, h_password, R_SLOW },
	{ "POST", "/v1/logout", A_ANY_SESSION, h_logout, R_WRITE },
	{ "GET", "/v1/me", A_FULL, h_status, R_READ },
	{ "POST", "/v1/me/verify-address", A_FULL, h_verify_address, R_WRITE },
	{ "POST", "/v1/password-reset", A_NONE, h_reset_request, R_WRITE },
	{ "POST", "/v1/password-reset/confirm", A_NONE, h_reset_confirm, R_SLOW },
	{ "POST", "/v1/admin/vehicles", A_ADMIN, h_vehicle_add, R_WRITE },
	{ "GET", "/v1/admin/vehicles/*", A_ADMIN, h_vehicle_get, R_READ },
	{ "POST", "/v1/tickets", A_FULL, h_ticket_issue, R_WRITE },
	{ "GET", "/v1/tickets/current", A_FULL, h_ticket_status, R_READ },
	{ "GET", "/v1/me/orders", A_FULL, h_my_orders, R_READ },
	{ "GET", "/v1/me/keywriters", A_FULL, h_my_keywriters, R_READ },
	{ "POST", "/v1/coding", A_FULL, h_coding_start, R_WRITE },
	{ "POST", "/v1/coding/attest", A_FULL, h_coding_attest, R_WRITE },
	{ "POST", "/v1/coding/receipt", A_FULL, h_coding_receipt, R_WRITE },
	{ "POST", "/v1/cut", A_FULL, h_cut, R_WRITE },
	{ "GET", "/v1/me/jobs", A_FULL, h_my_jobs, R_WRITE },
	{ "GET", "/v1/admin/jobs", A_ADMIN, h_jobs_export, R_WRITE },
	{ "GET", "/v1/downloads", A_FULL, h_downloads, R_READ },
	{ "GET", "/v1/downloads/*", A_FULL, h_download_get, R_READ },
	{ "GET", "/v1/activation/*", A_FULL, h_activation_for, R_READ },
	{ "GET", "/v1/cas/*", A_CAS, h_cas_show, R_READ },
	{ "POST", "/v1/cas/lock", A_CAS, h_cas_lock, R_WRITE },
	{ "POST", "/v1/cas/release", A_CAS, h_cas_release, R_WRITE },
	{ "POST", "/v1/cas/lost-key", A_CAS, h_cas_lost_key, R_WRITE },
	{ "POST", "/v1/cas/activate", A_CAS, h_cas_activate, R_WRITE },
	{ "POST", "/v1/cas/personalize", A_CAS, h_cas_personalize, R_WRITE },
	{ "POST", "/v1/cas/memory", A_CAS, h_cas_memory, R_WRITE },
	{ "POST", "/v1/cas/reconcile", A_CAS, h_cas_reconcile, R_READ },
	{ "POST", "/v1/admin/models", A_ADMIN, h_model_set, R_WRITE },
	{ "POST", "/v1/admin/downloads", A_ADMIN, h_download_put, R_WRITE },
	{ "POST", "/v1/admin/activation", A_ADMIN, h_activation_add, R_WRITE },
	{ "GET", "/v1/admin/activation", A_ADMIN, h_activation_list, R_READ },
	{ "POST", "/v1/admin/maintain", A_MAINTAIN, h_maintain, R_SLOW },
	{ "POST", "/v1/admin/dealers", A_ADMIN, h_dealer_add, R_WRITE },
	{ "GET", "/v1/admin/dealers", A_ADMIN, h_dealers, R_READ },
	{ "POST", "/v1/admin/locations", A_ADMIN, h_location_add, R_WRITE },
	{ "POST", "/v1/admin/keypool-clients", A_ADMIN, h_client_add, R_WRITE },
	{ "DELETE", "/v1/admin/keypool-clients/*", A_ADMIN, h_client_revoke, R_WRITE },
	{ "POST", "/v1/admin/keypool/purge", A_ADMIN, h_reads_purge, R_WRITE },
	{ "POST", "/v1/keypool/reads", A_KEYPOOL, h_read_push, R_WRITE },
	{ "POST", "/v1/keypool/import", A_READER, h_read_import, R_WRITE },
	{ "GET", "/v1/keypool/latest", A_FLEET, h_read_latest, R_READ },
	{ "GET", "/v1/keypool/resolve", A_FLEET, h_resolve, R_READ },
	{ "GET", "/v1/keypool/settings", A_FLEET_ADMIN, h_settings, R_READ },
	{ "POST", "/v1/keypool/settings", A_FLEET_ADMIN, h_setting_set, R_WRITE },
	{ "POST", "/v1/keypool/units", A_FLEET, h_unit_event, R_WRITE },
	{ "GET", "/v1/keypool/units/*", A_FLEET, h_unit_get, R_READ },
	{ "POST", "/v1/hotline/redeem", A_OPERATOR, h_redeem, R_WRITE },
	{ "POST", "/v1/hotline/orders/key", A_OPERATOR, h_order_key, R_WRITE },
	{ "POST", "/v1/hotline/orders/keywriter", A_OPERATOR, h_order_keywriter, R_WRITE },
	{ "POST", "/v1/hotline/ship", A_OPERATOR, h_ship, R_WRITE },
	{ "POST", "/v1/hotline/orders/cancel", A_OPERATOR, h_order_cancel, R_WRITE },
	{ "GET", "/v1/hotline/orders", A_OPERATOR, h_orders, R_READ },
};

struct conn {
	char *body;
	size_t len, cap;
	int started, too_large;
	char nul_field[64]; /* the path or query part that holds %00, if any */
	int nul;
	struct timespec start;
	struct req r;
	struct MHD_Connection *c;
	int status, done;   /* done: the password pool has answered it */
	struct conn *qnext; /* in the password pool's queue */
};

/* Requests that hash a password (Argon2id, slow on purpose), and
 * maintain, which may write a backup, run in a small pool of hash_slots
 * threads: their connection is suspended meanwhile, so
 * that the network threads, and every other connection they serve, never
 * wait for a hash. The queue is bounded: beyond it the answer is 503. */
#define POOL_QUEUE 64

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t *threads;
	int nthreads, n, stop;
	struct conn *head, *tail;
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0, NULL, NULL };

/* Every open connection, for the reaper: a request must arrive whole within
 * request_timeout seconds of the connection's start or of the previous
 * answer on it (a quarter of that when three quarters of connection_limit
 * are in use), or the connection is shut down. The idle timeout alone
 * would let a client that sends a byte every few seconds hold a
 * connection for ever. */
struct track {
	struct track *prev, *next;
	int fd, busy, reaped;
	struct timespec since;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	struct track list;
	long n;
	int stop;
} reap = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, { &reap.list, &reap.list, -1, 0, 0, { 0, 0 } }, 0, 0 };

static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct track *t = *socket_context;

	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (!ci || !(t = calloc(1, sizeof *t)))
			return;
		t->fd = ci->connect_fd;
		clock_gettime(CLOCK_MONOTONIC, &t->since);
		pthread_mutex_lock(&reap.mu);
		t->next = &reap.list;
		t->prev = reap.list.prev;
		reap.list.prev->next = t;
		reap.list.prev = t;
		reap.n++;
		pthread_mutex_unlock(&reap.mu);
		*socket_context = t;
	} else if (t) {
		/* before libmicrohttpd closes the descriptor: the reaper, which
		 * holds the lock while it shuts one down, never sees it reused */
		pthread_mutex_lock(&reap.mu);
		t->prev->next = t->next;
		t->next->prev = t->prev;
		reap.n--;
		pthread_mutex_unlock(&reap.mu);
		free(t);
		*socket_context = NULL;
	}
}

/* A request has arrived whole (busy), or has been answered. */
static void
track_busy(struct MHD_Connection *c, int busy)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct track *t = ci ? ci->socket_context : NULL;

	if (!t)
		return;
	pthread_mutex_lock(&reap.mu);
	t->busy = busy;
	if (!busy)
		clock_gettime(CLOCK_MONOTONIC, &t->since);
	pthread_mutex_unlock(&reap.mu);
}

static void *
reaper(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&reap.mu);
	while (!reap.stop) {
		struct timespec now, wake;
		long deadline = K.cf.request_timeout;

		if (reap.n * 4 >= K.cf.connection_limit * 3)
			deadline = deadline / 4 > 1 ? deadline / 4 : 1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (struct track *t = reap.list.next; t != &reap.list; t = t->next)
			if (!t->busy && !t->reaped && now.tv_sec - t->since.tv_sec >= deadline) {
				shutdown(t->fd, SHUT_RDWR);
				t->reaped = 1;
			}
		clock_gettime(CLOCK_REALTIME, &wake);
		wake.tv_nsec += 250 * 1000000L;
		if (wake.tv_nsec >= 1000000000L) {
			wake.tv_sec++;
			wake.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&reap.cv, &reap.mu, &wake);
		/* request log lines a busy moment left behind, if no one is
		 * writing (which may block: the reaper must not) */
		pthread_mutex_unlock(&reap.mu);
		kcsd_log_flush(0);
		pthread_mutex_lock(&reap.mu);
	}
	pthread_mutex_unlock(&reap.mu);
	return NULL;
}

/* Called with the request's raw URI, before it is decoded: %00 would decode
 * to a NUL that cuts the value short, so that the value acted on is not the
 * one sent. It is refused, naming the path or the query argument. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct conn *x = calloc(1, sizeof *x);
	const char *at = uri ? strstr(uri, "%00") : NULL, *q, *p;

	(void)cls;
	(void)c;
	if (!x || !at)
		return x;
	x->nul = 1;
	q = strchr(uri, '?');
	if (!q || at < q) {
		snprintf(x->nul_field, sizeof x->nul_field, "path");
		return x;
	}
	for (p = at; p > q && p[-1] != '&' && p[-1] != '?'; p--)
		;
	snprintf(x->nul_field, sizeof x->nul_field, "%.*s", (int)strcspn(p, "=&"), p);
	return x;
}

int
fail(struct req *r, int status, const char *code, const char *field, const char *fmt, ...)
{
	va_list ap;

	snprintf(r->ecode, sizeof r->ecode, "%s", code);
	snprintf(r->efield, sizeof r->efield, "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(r->emsg, sizeof r->emsg, fmt, ap);
	va_end(ap);
	return status;
}

int
store_fail(struct req *r, int rc)
{
	switch (rc) {
	case STORE_NOTFOUND:
		return fail(r, 404, "not_found", NULL, "not found");
	case STORE_CONFLICT:
		return fail(r, 409, "conflict", NULL, "conflicts with the stored data");
	case STORE_RETRY:
		/* the dispatcher runs the request again from the start */
		r->retry = 1;
		return fail(r, 503, "busy", NULL, "the store is busy; try again");
	default:
		return fail(r, 500, "internal", NULL, "the store failed; see the server log");
	}
}

int
audit_event(struct req *r, const char *event, const char *subject, cJSON *detail)
{
	int rc = store_audit(r->tx, r->actor[0] ? r->actor : "anonymous", event, subject, detail, r->now);

	cJSON_Delete(detail);
	if (rc == STORE_RETRY)
		return store_fail(r, rc);
	return rc == STORE_OK ? 0 : fail(r, 500, "internal", NULL, "the audit log could not be written");
}

const char *
query_arg(struct req *r, const char *name)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);

	return v && *v ? v : NULL;
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	default: return "";
	}
}

static int
match(const char *pattern, const char *path, const char **arg)
{
	size_t n = strlen(pattern);

	if (n >= 2 && strcmp(pattern + n - 2, "/*") == 0) {
		if (strncmp(pattern, path, n - 1) != 0 || !path[n - 1] || strchr(path + n - 1, '/'))
			return 0;
		*arg = path + n - 1;
		return 1;
	}
	return strcmp(pattern, path) == 0;
}

/* the request is an operator's (or an administrator's, the mail room's) */
static void
as_operator(struct req *r, const struct operator_row *op)
{
	r->op_id = op->id;
	snprintf(r->role, sizeof r->role, "%s", op->role);
	snprintf(r->actor, sizeof r->actor, "%s:%s", op->role, op->name);
}

/* A key reader or fleet system acts for its dealer only; an administrator
 * where the route allows one. */
static int
keypool_client(struct req *r, const char *hash, enum auth need)
{
	struct operator_row op;
	struct client_row cl;
	int rc;

	if (need == A_FLEET_ADMIN && (rc = store_operator_by_token(r->tx, hash, &op)) != STORE_NOTFOUND) {
		if (rc != STORE_OK)
			return store_fail(r, rc);
		if (strcmp(op.role, "admin") != 0)
			return fail(r, 403, "forbidden", NULL, "this needs a fleet system's or an administrator's token");
		as_operator(r, &op);
		return 0;
	}
	if ((rc = store_client_by_token(r->tx, hash, &cl)) == STORE_NOTFOUND)
		return fail(r, 401, "unauthorized", NULL, "the token is not valid");
	if (rc != STORE_OK)
		return store_fail(r, rc);
	r->client_id = cl.id;
	r->dealer_id = cl.dealer_id;
	snprintf(r->role, sizeof r->role, "%s", cl.role);
	snprintf(r->actor, sizeof r->actor, "%s:%s", cl.role, cl.name);
	if (need == A_READER && strcmp(cl.role, "reader") != 0)
		return fail(r, 403, "forbidden", NULL, "this needs a key reader's token");
	if ((need == A_FLEET || need == A_FLEET_ADMIN) && strcmp(cl.role, "fleet") != 0)
		return fail(r, 403, "forbidden", NULL, need == A_FLEET ? "this needs a fleet system's token"
		    : "this needs a fleet system's or an administrator's token");
	return 0;
}

static int
authenticate(struct req *r, struct MHD_Connection *c, enum auth need)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	char hash[KCS_HASH_HEX];
	struct operator_row op;
	struct session_row s;
	int rc;

	if (need == A_NONE || need == A_BARE)
		return 0;
	if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7] || strlen(h + 7) > 200)
		return fail(r, 401, "unauthorized", NULL, need >= A_ANY_SESSION ? "not logged in"
		    : need >= A_READER ? "a key reader's or fleet system's token is required"
		    : "an administrator, operator or mail room token is required");
	kcs_keyed_hash(K.pepper, h + 7, hash);
	if (need >= A_READER && need <= A_FLEET_ADMIN)
		return keypool_client(r, hash, need);
	if (need == A_CAS) {
		/* the hotline's or an administrator's token; else a full session */
		if ((rc = store_operator_by_token(r->tx, hash, &op)) == STORE_OK) {
			if (strcmp(op.role, "operator") != 0 && strcmp(op.role, "admin") != 0)
				return fail(r, 403, "forbidden", NULL, "this needs a locksmith's session, or a hotline or "
				    "administrator token");
			as_operator(r, &op);
			return 0;
		}
		if (rc != STORE_NOTFOUND)
			return store_fail(r, rc);
		need = A_FULL;
	}
	if (need == A_ADMIN || need == A_OPERATOR || need == A_MAILROOM || need == A_MAINTAIN) {
		if ((rc = store_operator_by_token(r->tx, hash, &op)) == STORE_NOTFOUND)
			return fail(r, 401, "unauthorized", NULL, "the token is not valid");
		if (rc != STORE_OK)
			return store_fail(r, rc);
		as_operator(r, &op);
		if (need == A_ADMIN && strcmp(r->role, "admin") != 0)
			return fail(r, 403, "forbidden", NULL, "this needs an administrator token");
		if (need == A_OPERATOR && strcmp(r->role, "operator") != 0)
			return fail(r, 403, "forbidden", NULL, "this needs a hotline operator token");
		if (need == A_MAILROOM && strcmp(r->role, "mailroom") != 0)
			return fail(r, 403, "forbidden", NULL, "this needs a mail room token");
		if (need == A_MAINTAIN && strcmp(r->role, "maintenance") != 0 && strcmp(r->role, "admin") != 0)
			return fail(r, 403, "forbidden", NULL, "this needs the maintenance token or an administrator's");
		return 0;
	}
	if ((rc = store_session_get(r->tx, hash, &s)) == STORE_NOTFOUND)
		return fail(r, 401, "unauthorized", NULL, "not logged in (unknown session)");
	if (rc != STORE_OK)
		return store_fail(r, rc);
	r->session_id = s.id;
	r->account_id = s.account_id;
	snprintf(r->stage, sizeof r->stage, "%s", s.stage);
	snprintf(r->actor, sizeof r->actor, "account:%lld", r->account_id);
	if (s.revoked_at)
		return fail(r, 401, "session_revoked", NULL, "the session has ended: log in again");
	if (r->now - s.last_used_at >= K.cf.session_idle || r->now - s.created_at >= K.cf.session_max)
		return fail(r, 401, "session_expired", NULL, "the session has expired: log in again");
	/* a read does not write: the last use is recorded when it is
	 * session_touch seconds old, not on every request */
	if (r->now - s.last_used_at >= K.cf.session_touch &&
	    (rc = store_session_touch(r->tx, r->session_id, r->now)) != STORE_OK)
		return store_fail(r, rc);
	if (need == A_SDRM_STEP && strcmp(r->stage, "sdrm") != 0)
		return fail(r, 403, "wrong_stage", NULL, strcmp(r->stage, "password") == 0
		    ? "change the temporary password first" : "the SDRM step is already done");
	if (need == A_FULL && strcmp(r->stage, "full") != 0)
		return fail(r, 403, "login_incomplete", NULL, strcmp(r->stage, "password") == 0
		    ? "change the temporary password first"
		    : "finish logging in with the SDRM ID and SDRM password first");
	return 0;
}

#define RETRIES 12

/* One run of a route in one transaction. What authentication wrote (a
 * session's last use) stands whatever the handler answers; what the
 * handler wrote stands if it succeeds, or if it asks to keep a failure on
 * record. A read transaction has nothing to keep, and ends when it
 * tried to write: the caller runs it again in a write transaction. */
static int
run_route(struct req *r, struct MHD_Connection *c, const struct route *rt, enum db_mode mode)
{
	int status, rc;

	if ((rc = store_begin(&K.st, mode, &r->tx)) != STORE_OK)
		return store_fail(r, rc == STORE_RETRY ? rc : STORE_RETRY);
	status = authenticate(r, c, rt->auth);
	if (status == 0) {
		if (mode == DB_WRITE && store_mark(r->tx) != STORE_OK)
			status = store_fail(r, STORE_ERROR);
		else if ((status = rt->fn(r)) >= 400 && mode == DB_WRITE && !r->keep && r->tx &&
		    store_undo(r->tx) != STORE_OK)
			status = store_fail(r, STORE_ERROR);
	}
	if (r->tx && store_wants_write(r->tx)) {
		r->retry = r->upgrade = 1;
		store_rollback(r->tx);
	} else if (!r->tx) {
		/* lost while a password was hashed: the failure says so */
	} else if (mode == DB_READ || (status >= 500 && !r->keep) || r->head || r->retry) {
		store_rollback(r->tx);
	} else if ((rc = store_commit(r->tx)) != STORE_OK) {
		cJSON_Delete(r->out);
		r->out = NULL;
		status = rc == STORE_RETRY ? store_fail(r, rc)
		    : fail(r, 500, "internal", NULL, "the change could not be stored (is the store's disk full?): "
		    "nothing was changed");
	} else if (status < 400) {
		/* the messages of a failed change are not sent */
		outbox_spool(r);
	}
	r->tx = NULL;
	outbox_discard(r);
	return status;
}

/* Before a run again: the request as it came. */
static void
forget(struct req *r)
{
	cJSON_Delete(r->out);
	cJSON_Delete(r->edetail);
	free(r->html);
	r->out = r->edetail = NULL;
	r->html = NULL;
	r->ecode[0] = r->efield[0] = r->emsg[0] = '\0';
	r->role[0] = r->stage[0] = r->actor[0] = '\0';
	r->op_id = r->account_id = r->session_id = r->dealer_id = r->client_id = 0;
	r->keep = r->retry = 0; /* r->upgrade stays */
}

size_t
kcsd_routes(void)
{
	return sizeof routes / sizeof *routes;
}

void
kcsd_route(size_t i, const char **method, const char **path)
{
	*method = routes[i].method;
	*path = routes[i].path;
}

static const struct route *
route_of(struct req *r, int *path_known)
{
	/* HEAD is answered as GET without a body, and changes nothing */
	const char *method = r->head ? "GET" : r->method;

	*path_known = 0;
	for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
		const char *arg = NULL;

		if (match(routes[i].path, r->path, &arg)) {
			*path_known = 1;
			if (strcmp(routes[i].method, method) == 0) {
				r->arg = arg;
				r->route = (int)i;
				return &routes[i];
			}
		}
	}
	return NULL;
}

static int
dispatch(struct req *r, struct MHD_Connection *c, struct conn *x)
{
	const struct route *rt;
	int path_known, status;

	if (x->nul)
		return fail(r, 400, "invalid", x->nul_field, "must not contain a NUL character (%%00)");
	if (!(rt = route_of(r, &path_known)))
		return path_known ? fail(r, 405, "method_not_allowed", NULL, "%s is not allowed here", r->method)
				  : fail(r, 404, "no_route", NULL, "no such resource: %s", r->path);
	if (x->too_large)
		return fail(r, 413, "too_large", NULL, "the request body is larger than %ld bytes", K.cf.max_body);
	if (x->len) {
		const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");

		if (ct && strncasecmp(ct, "application/json", 16) != 0)
			return fail(r, 415, "unsupported_media_type", NULL, "send application/json");
		if (!(r->in = kcs_json_parse(x->body, x->len)))
			return fail(r, 400, "malformed_json", kcs_errfield()[0] ? kcs_errfield() : NULL,
			    "%s", kcs_errmsg());
	} else if (strcmp(r->method, "POST") == 0) {
		r->in = cJSON_CreateObject();
	}
	r->conn = c;
	if (rt->auth == A_BARE)
		return rt->fn(r);
	/* a transaction the engine could not serialize with others (several
	 * kcsd on one database) runs again, up to RETRIES times, after a
	 * random pause that grows (to 128 ms), so that the contenders part;
	 * a read that had to write runs again at once, as a write */
	for (int attempt = 1;; attempt++) {
		int upgrade = r->upgrade;

		status = run_route(r, c, rt, rt->kind == R_READ && !r->upgrade ? DB_READ : DB_WRITE);
		if (!r->retry || attempt == RETRIES)
			break;
		forget(r);
		metrics_retry();
		if (r->upgrade == upgrade) {
			long ms = 1L << (attempt < 7 ? attempt : 7);
			struct timespec pause = { 0, (long)randombytes_uniform((uint32_t)ms * 1000000u) };

			nanosleep(&pause, NULL);
		}
	}
	return status;
}

/* Stored times are seconds; answers give them as ISO 8601 (UTC). */
static void
iso_times(cJSON *o)
{
	for (cJSON *it = o->child, *next; it; it = next) {
		size_t n = it->string ? strlen(it->string) : 0;

		next = it->next;
		if (cJSON_IsNumber(it) && n > 3 && strcmp(it->string + n - 3, "_at") == 0) {
			char when[21];

			kcs_time_iso((time_t)it->valuedouble, when);
			cJSON_ReplaceItemInObjectCaseSensitive(o, it->string, cJSON_CreateString(when));
		} else if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
			iso_times(it);
		}
	}
}

static enum MHD_Result
respond(struct MHD_Connection *c, struct req *r, int status)
{
	struct MHD_Response *resp;
	char *text;
	const char *type = "application/json";
	enum MHD_Result ret;
	int html = r->html != NULL;

	if (html) {
		text = r->html;
		r->html = NULL;
		type = r->ctype ? r->ctype : "text/html; charset=utf-8";
	} else if (status >= 400) {
		cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");

		cJSON_AddStringToObject(e, "code", r->ecode[0] ? r->ecode : "error");
		cJSON_AddStringToObject(e, "message", r->emsg[0] ? r->emsg : reason(status));
		if (r->efield[0])
			cJSON_AddStringToObject(e, "field", r->efield);
		if (cJSON_IsObject(r->edetail)) {
			/* more about the error: its members join the error's */
			for (cJSON *it = r->edetail->child; it; it = it->next)
				cJSON_AddItemToObject(e, it->string, cJSON_Duplicate(it, 1));
		} else if (r->edetail) {
			cJSON_AddItemToObject(e, "invalid", r->edetail);
			r->edetail = NULL;
		}
		text = kcs_json_dump(o);
		cJSON_Delete(o);
	} else {
		if (!r->out)
			r->out = cJSON_CreateObject();
		iso_times(r->out);
		text = kcs_json_dump(r->out);
	}
	if (!text)
		return MHD_NO;
	if (strcmp(type, "application/json") == 0) {
		size_t n = strlen(text);
		char *t = realloc(text, n + 2);

		if (t) {
			text = t;
			memcpy(text + n, "\n", 2);
		}
	}
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (html && !r->ctype)
		MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'none'");
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void
loggable(const char *in, char *out, size_t n)
{
	size_t i;

	for (i = 0; i < n - 1 && in[i]; i++)
		out[i] = (unsigned char)in[i] <= ' ' || (unsigned char)in[i] >= 0x7f ? '?' : in[i];
	out[i] = '\0';
}

static void
log_request(struct req *r, struct conn *x, int status)
{
	struct timespec end;
	char when[21], path[201], method[33];
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (end.tv_sec - x->start.tv_sec) * 1000 + (end.tv_nsec - x->start.tv_nsec) / 1000000;
	metrics_request(r->route, status, (long long)(end.tv_sec - x->start.tv_sec) * 1000000 +
	    (end.tv_nsec - x->start.tv_nsec) / 1000);
	kcs_time_iso((time_t)r->now, when);
	/* the path only (a query string may carry a token): the method and
	 * the decoded path, with control characters and spaces (which would
	 * forge or split log lines) shown as '?' */
	loggable(r->method, method, sizeof method);
	loggable(r->path, path, sizeof path);
	kcsd_log("%s %s %s %s %d %ldms%s%s\n", when, r->ip, method, path, status, ms,
	    r->ecode[0] ? " " : "", r->ecode);
}

static void *
pool_worker(void *arg)
{
	(void)arg;
	/* below the network threads: a storm of logins takes what they leave */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
	pthread_mutex_lock(&pool.mu);
	for (;;) {
		struct conn *x;

		while (!pool.head && !pool.stop)
			pthread_cond_wait(&pool.cv, &pool.mu);
		if (!pool.head)
			break;
		x = pool.head;
		if (!(pool.head = x->qnext))
			pool.tail = NULL;
		pool.n--;
		pthread_mutex_unlock(&pool.mu);
		x->status = dispatch(&x->r, x->c, x);
		x->done = 1;
		MHD_resume_connection(x->c);
		pthread_mutex_lock(&pool.mu);
	}
	pthread_mutex_unlock(&pool.mu);
	return NULL;
}

/* Queues x for the password pool; 0 if the queue is full. */
static int
pool_add(struct conn *x)
{
	int ok;

	pthread_mutex_lock(&pool.mu);
	if ((ok = pool.n < POOL_QUEUE && !pool.stop)) {
		x->qnext = NULL;
		if (pool.tail)
			pool.tail->qnext = x;
		else
			pool.head = x;
		pool.tail = x;
		pool.n++;
		pthread_cond_signal(&pool.cv);
	}
	pthread_mutex_unlock(&pool.mu);
	return ok;
}

static enum MHD_Result
answer(struct MHD_Connection *c, struct conn *x, int status)
{
	struct req *r = &x->r;
	enum MHD_Result ret = respond(c, r, status);

	log_request(r, x, status);
	if (r->in) {
		/* request bodies carry passwords: wipe them */
		if (x->body)
			sodium_memzero(x->body, x->len);
		cJSON_Delete(r->in);
	}
	cJSON_Delete(r->out);
	cJSON_Delete(r->edetail);
	free(r->html);
	memset(r, 0, sizeof *r);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct conn *x = *con_cls;
	struct req *r;
	const union MHD_ConnectionInfo *ci;
	const struct route *rt;
	int known;

	(void)cls;
	(void)version;
	if (!x)
		return MHD_NO;
	if (x->done)
		return answer(c, x, x->status);
	if (!x->started) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");

		x->started = 1;
		clock_gettime(CLOCK_MONOTONIC, &x->start);
		if (cl && strtoull(cl, NULL, 10) > (unsigned long long)K.cf.max_body)
			x->too_large = 1;
		*con_cls = x;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;

		if (!x->too_large && x->len + n > (size_t)K.cf.max_body) {
			x->too_large = 1;
			free(x->body);
			x->body = NULL;
			x->len = x->cap = 0;
		}
		if (!x->too_large) {
			if (x->len + n + 1 > x->cap) {
				size_t cap = (x->len + n + 1) * 2;
				char *b = realloc(x->body, cap);

				if (!b)
					return MHD_NO;
				x->body = b;
				x->cap = cap;
			}
			memcpy(x->body + x->len, upload, n);
			x->len += n;
			x->body[x->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	r = &x->r;
	memset(r, 0, sizeof *r);
	r->route = -1;
	r->method = method;
	r->head = strcmp(method, "HEAD") == 0;
	r->path = url;
	r->now = (long long)time(NULL);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->ip, sizeof r->ip);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, r->ip, sizeof r->ip);
	}
	if (!r->ip[0])
		snprintf(r->ip, sizeof r->ip, "-");
	track_busy(c, 1);
	if ((rt = route_of(r, &known)) && rt->kind == R_SLOW && !x->nul) {
		x->c = c;
		MHD_suspend_connection(c);
		if (pool_add(x))
			return MHD_YES;
		MHD_resume_connection(c);
		return answer(c, x, fail(r, 503, "busy", NULL, "too many passwords are being checked; try again"));
	}
	return answer(c, x, dispatch(r, c, x));
}

static void
on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct conn *x = *con_cls;

	(void)cls;
	(void)toe;
	track_busy(c, 0);
	if (x) {
		if (x->body) {
			sodium_memzero(x->body, x->cap);
			free(x->body);
		}
		free(x);
	}
	*con_cls = NULL;
}

void
kcsd_http_stop(struct MHD_Daemon *d)
{
	/* the pool answers what it holds, then the network threads stop */
	pthread_mutex_lock(&pool.mu);
	pool.stop = 1;
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	for (int i = 0; i < pool.nthreads; i++)
		pthread_join(pool.threads[i], NULL);
	free(pool.threads);
	MHD_stop_daemon(d);
	pthread_mutex_lock(&reap.mu);
	reap.stop = 1;
	pthread_cond_signal(&reap.cv);
	pthread_mutex_unlock(&reap.mu);
	pthread_join(reap.thread, NULL);
	kcsd_log_flush(1);
}

struct MHD_Daemon *
kcsd_http_start(int fd, const char *cert, const char *key)
{
	struct MHD_Daemon *d;

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO |
	    MHD_ALLOW_SUSPEND_RESUME;

	if (cert)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_LISTEN_SOCKET, fd, NULL },
		{ MHD_OPTION_THREAD_POOL_SIZE, K.cf.threads, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, K.cf.connection_timeout, NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, K.cf.connection_limit, NULL },
		{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, K.cf.per_ip_limit, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 * 1024, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_done, NULL },
		{ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, NULL },
		{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, NULL },
		{ cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)cert },
		{ cert ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)key },
		/* TLS 1.2 and 1.3 only */
		{ cert ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, 0,
		  (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" },
		{ MHD_OPTION_END, 0, NULL },
	};

	pool.nthreads = 0;
	if (!(pool.threads = calloc((size_t)K.cf.hash_slots, sizeof *pool.threads)))
		return NULL;
	for (long i = 0; i < K.cf.hash_slots; i++)
		if (pthread_create(&pool.threads[pool.nthreads], NULL, pool_worker, NULL) == 0)
			pool.nthreads++;
	if (!pool.nthreads)
		return NULL;
	if (!(d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_ARRAY, opts, MHD_OPTION_END)))
		return NULL;
	if (pthread_create(&reap.thread, NULL, reaper, NULL) != 0) {
		MHD_stop_daemon(d);
		return NULL;
	}
	return d;
}
