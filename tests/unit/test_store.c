/* The store's conformance test: every store call's success, not-found and
 * conflict results, on the engine KCS_STORE_URL names (a PostgreSQL URL
 * under make check DB=pg), else on a SQLite file made for it. Each test
 * runs in a transaction that it rolls back. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kcsd/kcsd.h" /* before cmocka.h, whose fail() is a macro */

#include <cmocka.h>

struct kcsd K; /* the daemon's globals, which the store does not use */

static struct store st;
static struct dbtx *tx;
static char path[64];
static const long long now = 1764000000;

/* a 64-character hash standing for label */
static const char *
H(const char *label)
{
	static char buf[4][65];
	static int i;
	char *b = buf[i++ % 4];

	snprintf(b, 65, "%-64s", label);
	for (char *p = b; *p; p++)
		if (*p == ' ')
			*p = '0';
	return b;
}

static int
open_store(void **state)
{
	const char *url = getenv("KCS_STORE_URL");
	uint8_t key[KCS_KEY_LEN] = { 1 };

	(void)state;
	if (!url || !*url) {
		snprintf(path, sizeof path, "/tmp/kcs-store-test.%ld.db", (long)getpid());
		url = path;
	}
	store_audit_key(key);
	if (store_open(&st, url, 1, 2) != STORE_OK) {
		fprintf(stderr, "store_open %s: %s\n", url, st.errmsg);
		return -1;
	}
	return 0;
}

static int
close_store(void **state)
{
	(void)state;
	store_close(&st);
	if (path[0]) {
		char more[80];

		unlink(path);
		snprintf(more, sizeof more, "%s-wal", path);
		unlink(more);
		snprintf(more, sizeof more, "%s-shm", path);
		unlink(more);
	}
	return 0;
}

static int
begin(void **state)
{
	(void)state;
	return store_begin(&st, DB_WRITE, &tx) == STORE_OK ? 0 : -1;
}

static int
rollback(void **state)
{
	(void)state;
	store_rollback(tx);
	return 0;
}

static long long
account(const char *sdrm, const char *email)
{
	cJSON *f = cJSON_CreateObject();
	const char *fields[][2] = {
		{ "sdrm_id", sdrm }, { "email", email }, { "last_name", "Wellniak" }, { "first_name", "Joern" },
		{ "company", "" }, { "address", "100 Main Street" }, { "city", "Sacramento" }, { "state", "CA" },
		{ "zip", "95814" }, { "phone", "+1 916 555 0100" }, { "comments", "" },
		{ "time_zone", "America/Los_Angeles" },
	};
	long long id = 0;
	int rc;

	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
		cJSON_AddStringToObject(f, fields[i][0], fields[i][1]);
	rc = store_account_add(tx, f, now, &id);
	cJSON_Delete(f);
	return rc == STORE_OK ? id : -rc;
}

static void
operators(void **state)
{
	long long id = 0, id2 = 0, n = 0;
	struct operator_row op;
	cJSON *o;

	(void)state;
	assert_int_equal(store_operator_add(tx, "alice", "operator", H("alice"), now, 1, &id), STORE_OK);
	assert_true(id > 0);
	assert_int_equal(store_operator_add(tx, "bob", "operator", H("alice"), now, 1, &id2), STORE_CONFLICT);
	assert_int_equal(store_operator_add(tx, "eve", "root", H("eve"), now, 1, &id2), STORE_CONFLICT);
	assert_int_equal(store_operator_add(tx, "mary", "mailroom", H("mary"), now, 1, &id2), STORE_OK);
	assert_int_equal(store_operator_by_token(tx, H("alice"), &op), STORE_OK);
	assert_string_equal(op.name, "alice");
	assert_string_equal(op.role, "operator");
	assert_true(op.id == id);
	assert_int_equal(store_operator_by_token(tx, H("nobody"), &op), STORE_NOTFOUND);
	assert_int_equal(store_admin_count(tx, &n), STORE_OK);
	assert_int_equal(store_operator_remove(tx, id, now), STORE_OK);
	assert_int_equal(store_operator_remove(tx, id, now), STORE_NOTFOUND);
	assert_int_equal(store_operator_get(tx, id, &o), STORE_NOTFOUND);
	assert_int_equal(store_operator_list(tx, &o), STORE_OK);
	assert_true(cJSON_IsArray(o));
	cJSON_Delete(o);
	/* a requested operator's token works once the request is approved */
	{
		long long req = 0, pending = 0, admin = 0;

		assert_int_equal(store_operator_add(tx, "root", "admin", H("root"), now, 1, &admin), STORE_OK);
		assert_int_equal(store_operator_add(tx, "newbie", "operator", H("newbie"), now, 0, &pending), STORE_OK);
		assert_int_equal(store_operator_by_token(tx, H("newbie"), &op), STORE_NOTFOUND);
		assert_int_equal(store_request_add(tx, "add", pending, admin, now, now + 60, &req), STORE_OK);
		assert_int_equal(store_request_add(tx, "remove", pending, admin, now, now + 60, &n), STORE_CONFLICT);
		assert_int_equal(store_request_add(tx, "grant", pending, admin, now, now + 60, &n), STORE_CONFLICT);
		assert_int_equal(store_requests_pending(tx, now, &o), STORE_OK);
		assert_int_equal(cJSON_GetArraySize(o), 1);
		assert_string_equal(kcs_json_str(cJSON_GetArrayItem(o, 0), "name"), "newbie");
		assert_string_equal(kcs_json_str(cJSON_GetArrayItem(o, 0), "requested_by_name"), "root");
		cJSON_Delete(o);
		assert_int_equal(store_requests_pending(tx, now + 60, &o), STORE_OK); /* expired */
		assert_int_equal(cJSON_GetArraySize(o), 0);
		cJSON_Delete(o);
		assert_int_equal(store_request_decide(tx, req, "approved", admin, now + 60), STORE_NOTFOUND);
		assert_int_equal(store_request_decide(tx, req, "maybe", admin, now), STORE_CONFLICT);
		assert_int_equal(store_request_decide(tx, req, "approved", admin, now), STORE_OK);
		assert_int_equal(store_request_decide(tx, req, "refused", admin, now), STORE_NOTFOUND);
		assert_int_equal(store_request_get(tx, req, &o), STORE_OK);
		assert_string_equal(kcs_json_str(o, "state"), "approved");
		cJSON_Delete(o);
		assert_int_equal(store_request_get(tx, req + 1000, &o), STORE_NOTFOUND);
		assert_int_equal(store_operator_approve(tx, pending, now), STORE_OK);
		assert_int_equal(store_operator_approve(tx, pending, now), STORE_NOTFOUND);
		assert_int_equal(store_operator_by_token(tx, H("newbie"), &op), STORE_OK);
	}
}

static void
sdrm_and_accounts(void **state)
{
	long long id, other;
	cJSON *o;

	(void)state;
	assert_int_equal(store_sdrm_add(tx, "s1", "$argon2id$x", now), STORE_OK);
	assert_int_equal(store_sdrm_add(tx, "s1", "$argon2id$y", now), STORE_CONFLICT);
	assert_int_equal(store_sdrm_add(tx, "s2", "plain", now), STORE_CONFLICT); /* not a hash */
	assert_int_equal(store_sdrm_get(tx, "s1", &o), STORE_OK);
	cJSON_Delete(o);
	assert_int_equal(store_sdrm_get(tx, "none", &o), STORE_NOTFOUND);
	assert_true((id = account("s1", "j@example.com")) > 0);
	assert_int_equal(account("s1", "k@example.com"), -STORE_CONFLICT);      /* one per SDRM ID */
	assert_int_equal(account("nosuch", "l@example.com"), -STORE_CONFLICT);  /* not in the directory */
	assert_int_equal(store_sdrm_add(tx, "s3", "$argon2id$z", now), STORE_OK);
	assert_int_equal(account("s3", "j@example.com"), -STORE_CONFLICT);      /* one per e-mail */
	assert_int_equal(store_account_by_email(tx, "j@example.com", &o), STORE_OK);
	cJSON_Delete(o);
	assert_int_equal(store_account_by_sdrm(tx, "s3", &o), STORE_NOTFOUND);
	assert_int_equal(store_account_get(tx, id + 1000, &o), STORE_NOTFOUND);
	assert_int_equal(store_account_set_email(tx, id, "jj@example.com"), STORE_OK);
	assert_int_equal(store_account_email_verified(tx, id), STORE_OK);
	assert_int_equal(store_account_set_email(tx, id, "x@example.com"), STORE_NOTFOUND); /* verified */
	assert_int_equal(store_account_password(tx, id, "$argon2id$p", 1), STORE_OK);
	assert_int_equal(store_account_password(tx, id + 1000, "$argon2id$p", 1), STORE_NOTFOUND);
	assert_int_equal(store_account_address_verified(tx, id), STORE_OK);
	/* closing frees the SDRM ID and the address */
	assert_int_equal(store_account_close(tx, id, now), STORE_OK);
	assert_int_equal(store_account_close(tx, id, now), STORE_NOTFOUND);
	assert_int_equal(store_account_by_sdrm(tx, "s1", &o), STORE_NOTFOUND);
	assert_true((other = account("s1", "jj@example.com")) > 0);
	assert_true(other != id);
	assert_int_equal(store_sdrm_remove(tx, "s3"), STORE_OK);
	assert_int_equal(store_sdrm_remove(tx, "s3"), STORE_NOTFOUND);
}

static void
codes_sessions_failures(void **state)
{
	long long id, n = 0;
	struct session_row s;
	cJSON *o;

	(void)state;
	assert_int_equal(store_sdrm_add(tx, "c1", "$argon2id$x", now), STORE_OK);
	id = account("c1", "c@example.com");
	assert_int_equal(store_code_add(tx, id, "email", H("code1"), now, now + 60), STORE_OK);
	assert_int_equal(store_code_add(tx, id, "email", H("code1"), now, now + 60), STORE_CONFLICT);
	assert_int_equal(store_code_add(tx, id, "other", H("code2"), now, 0), STORE_CONFLICT);
	assert_int_equal(store_code_find(tx, "email", H("code1"), now, &o), STORE_OK);
	cJSON_Delete(o);
	assert_int_equal(store_code_find(tx, "email", H("code1"), now + 61, &o), STORE_NOTFOUND); /* expired */
	assert_int_equal(store_code_live(tx, id, "email", now, &o), STORE_OK);
	kcs_json_int(o, "id", &n);
	cJSON_Delete(o);
	assert_int_equal(store_code_use(tx, n, now), STORE_OK);
	assert_int_equal(store_code_use(tx, n, now), STORE_NOTFOUND); /* single use */
	assert_int_equal(store_code_void(tx, id, "email", now), STORE_OK);

	assert_int_equal(store_session_add(tx, id, H("sess"), "sdrm", now), STORE_OK);
	assert_int_equal(store_session_add(tx, id, H("sess"), "sdrm", now), STORE_CONFLICT);
	assert_int_equal(store_session_add(tx, id, H("sess2"), "root", now), STORE_CONFLICT);
	assert_int_equal(store_session_get(tx, H("sess"), &s), STORE_OK);
	n = s.id;
	assert_true(s.account_id == id && s.created_at == now && s.last_used_at == now && s.revoked_at == 0);
	assert_string_equal(s.stage, "sdrm");
	assert_int_equal(store_session_get(tx, H("none"), &s), STORE_NOTFOUND);
	assert_int_equal(store_session_touch(tx, n, now + 5), STORE_OK);
	assert_int_equal(store_session_stage(tx, n, "full"), STORE_OK);
	assert_int_equal(store_session_revoke(tx, n, now), STORE_OK);
	assert_int_equal(store_session_revoke(tx, n, now), STORE_NOTFOUND);
	assert_int_equal(store_session_revoke_all(tx, id, now), STORE_OK);

	assert_int_equal(store_failures_get(tx, H("key"), &o), STORE_NOTFOUND);
	for (int i = 1; i <= 2; i++) {
		assert_int_equal(store_failure_add(tx, H("key"), 3, 60, 600, now, &n), STORE_OK);
		assert_int_equal(n, i);
	}
	assert_int_equal(store_failure_add(tx, H("key"), 3, 60, 600, now, &n), STORE_OK);
	assert_int_equal(n, 3); /* the limit: locked */
	assert_int_equal(store_failures_get(tx, H("key"), &o), STORE_OK);
	kcs_json_int(o, "locked_until", &n);
	assert_int_equal(n, now + 60);
	cJSON_Delete(o);
	/* a failure long after the last one starts a new count */
	assert_int_equal(store_failure_add(tx, H("key"), 3, 60, 600, now + 1000, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_failures_clear(tx, H("key")), STORE_OK);
	assert_int_equal(store_failures_get(tx, H("key"), &o), STORE_NOTFOUND);
}

static void
tickets_calls_orders(void **state)
{
	long long acc, acc2 = 0, op = 0, t = 0, t2 = 0, n = 0, pos = 0, order = 0;
	struct store_order o = { 0 };
	uint8_t blob[4] = { 1, 2, 3, 4 };
	cJSON *r;

	(void)state;
	assert_int_equal(store_sdrm_add(tx, "t1", "$argon2id$x", now), STORE_OK);
	acc = account("t1", "t@example.com");
	assert_int_equal(store_disclaimer_current(tx, "ticket", &r), STORE_OK);
	cJSON_Delete(r);
	assert_int_equal(store_disclaimer_current(tx, "none", &r), STORE_NOTFOUND);
	assert_int_equal(store_acceptance_add(tx, acc, "ticket", 1, now, &acc2), STORE_OK);
	assert_int_equal(store_acceptance_add(tx, acc, "ticket", 99, now, NULL), STORE_CONFLICT);
	assert_int_equal(store_ticket_add(tx, acc, H("tan"), acc2, now, now + 60, &t), STORE_OK);
	assert_int_equal(store_ticket_add(tx, acc, H("tan"), acc2, now, now + 60, &t2), STORE_CONFLICT);
	assert_int_equal(store_ticket_current(tx, acc, now, &r), STORE_OK);
	cJSON_Delete(r);
	assert_int_equal(store_ticket_find(tx, H("tan"), now, &r), STORE_OK);
	cJSON_Delete(r);
	assert_int_equal(store_ticket_find(tx, H("tan"), now + 61, &r), STORE_NOTFOUND);
	assert_int_equal(store_ticket_redeem(tx, t, now), STORE_OK);
	assert_int_equal(store_ticket_redeem(tx, t, now), STORE_NOTFOUND); /* single use */
	assert_int_equal(store_ticket_by_hash(tx, H("tan"), &r), STORE_OK);
	assert_int_equal(kcs_json_int(r, "redeemed_at", &n), 0);
	cJSON_Delete(r);
	assert_int_equal(store_ticket_add(tx, acc, H("tan2"), acc2, now, now + 60, &t2), STORE_OK);
	assert_int_equal(store_ticket_cancel_live(tx, acc, now, &n), STORE_OK);
	assert_int_equal(n, 1);

	assert_int_equal(store_operator_add(tx, "op", "operator", H("op"), now, 1, &op), STORE_OK);
	assert_int_equal(store_call_add(tx, "0123456789abcdef", t, op, now, now + 60), STORE_OK);
	assert_int_equal(store_call_add(tx, "0123456789abcdee", t, op, now, now + 60), STORE_CONFLICT);
	assert_int_equal(store_call_get(tx, "0123456789abcdef", &r), STORE_OK);
	cJSON_Delete(r);
	assert_int_equal(store_call_get(tx, "ffffffffffffffff", &r), STORE_NOTFOUND);
	assert_int_equal(store_call_use(tx, "0123456789abcdef", now), STORE_OK);
	assert_int_equal(store_call_use(tx, "0123456789abcdef", now), STORE_NOTFOUND);
	assert_int_equal(store_call_cancel_open(tx, acc, now, &n), STORE_OK);
	assert_int_equal(n, 0);

	assert_int_equal(store_vehicle_add(tx, "WBA3A5C53CF256985", "328i", "2012-03-14", blob, 4, blob, 4, now),
	    STORE_OK);
	assert_int_equal(store_vehicle_add(tx, "WBA3A5C53CF256985", "328i", "2012-03-14", blob, 4, blob, 4, now),
	    STORE_CONFLICT);
	assert_int_equal(store_vehicle_get(tx, "WBAJA5C50KB312345", &r), STORE_NOTFOUND);
	assert_int_equal(store_vehicle_keys(tx, "WBA3A5C53CF256985", &r), STORE_OK);
	assert_int_equal(cJSON_GetArraySize(r), 2);
	cJSON_Delete(r);
	assert_int_equal(store_key_positions(tx, "WBA3A5C53CF256985", &pos, &n), STORE_OK);
	assert_int_equal(pos, 3);
	assert_int_equal(n, 8);
	o.kind = "key";
	o.account_id = acc;
	o.call_id = "0123456789abcdef";
	o.operator_id = op;
	o.vin = "WBA3A5C53CF256985";
	o.key_position = pos;
	o.key_code_hash = H("keycode");
	o.payment_ref = "P";
	o.ship_to = "here";
	assert_int_equal(store_order_add(tx, &o, now, &order), STORE_OK);
	assert_int_equal(store_order_add(tx, &o, now, &n), STORE_CONFLICT); /* one order per call */
	assert_int_equal(store_key_add(tx, o.vin, pos, order, now), STORE_OK);
	assert_int_equal(store_key_add(tx, o.vin, pos, order, now), STORE_CONFLICT); /* one key a position */
	assert_int_equal(store_key_add(tx, o.vin, 11, order, now), STORE_CONFLICT);  /* 10 at most */
	assert_int_equal(store_order_get(tx, order, &r), STORE_OK);
	cJSON_Delete(r);
	assert_int_equal(store_order_get(tx, order + 1000, &r), STORE_NOTFOUND);
	assert_int_equal(store_order_list(tx, acc, NULL, NULL, "placed", &r), STORE_OK);
	assert_int_equal(cJSON_GetArraySize(r), 1);
	cJSON_Delete(r);
	assert_int_equal(store_order_ship(tx, order, "1Z", now), STORE_OK);
	assert_int_equal(store_order_ship(tx, order, "1Z", now), STORE_NOTFOUND);
	assert_int_equal(store_keywriter_add(tx, "KW-1", acc, order, H("pub"), now), STORE_OK);
	assert_int_equal(store_keywriter_add(tx, "KW-1", acc, order, H("pub2"), now), STORE_CONFLICT);
}

static void
outbox_and_audit(void **state)
{
	uint8_t sealed[48] = { 0 };
	long long id = 0, n = 0;
	cJSON *r, *bad = cJSON_CreateArray();

	(void)state;
	assert_int_equal(store_outbox_add(tx, "email", "j@example.com", "Hi", sealed, sizeof sealed, "/s", "f.eml",
	    "<m1@kcs>", now, &id), STORE_OK);
	assert_int_equal(store_outbox_add(tx, "fax", "j", "Hi", sealed, sizeof sealed, "/s", "f", NULL, now, &n),
	    STORE_CONFLICT);
	assert_int_equal(store_outbox_get(tx, id, &r), STORE_OK);
	assert_int_equal(strlen(kcs_json_str(r, "sealed")), 2 * sizeof sealed); /* bytes as hex */
	assert_string_equal(kcs_json_str(r, "status"), "queued");
	cJSON_Delete(r);
	assert_int_equal(store_outbox_get(tx, id + 1000, &r), STORE_NOTFOUND);
	assert_int_equal(store_outbox_list(tx, &r), STORE_OK);
	cJSON_Delete(r);
	/* a message without a spool file (a letter, an e-mail for SMTP) is not spooled again */
	assert_int_equal(store_outbox_add(tx, "letter", "J W", "Code", sealed, sizeof sealed, "/s", "", NULL, now, &n),
	    STORE_OK);
	assert_int_equal(store_outbox_unspooled(tx, "/s", &r), STORE_OK);
	assert_int_equal(cJSON_GetArraySize(r), 1);
	cJSON_Delete(r);
	assert_int_equal(store_outbox_unspooled(tx, "/elsewhere", &r), STORE_OK);
	assert_int_equal(cJSON_GetArraySize(r), 0);
	cJSON_Delete(r);
	/* the mail room: a letter waits, is sent once, its body destroyed */
	assert_int_equal(store_letters_queued(tx, &r), STORE_OK);
	assert_int_equal(cJSON_GetArraySize(r), 1);
	cJSON_Delete(r);
	assert_int_equal(store_letter_sent(tx, id, now), STORE_NOTFOUND); /* an e-mail */
	assert_int_equal(store_letter_sent(tx, n, now), STORE_OK);
	assert_int_equal(store_letter_sent(tx, n, now), STORE_NOTFOUND);
	assert_int_equal(store_outbox_get(tx, n, &r), STORE_OK);
	assert_string_equal(kcs_json_str(r, "sealed"), "");
	cJSON_Delete(r);
	assert_int_equal(store_letters_queued(tx, &r), STORE_OK);
	assert_int_equal(cJSON_GetArraySize(r), 0);
	cJSON_Delete(r);
	/* delivery: taken once; queued again for later; then sent, its body gone */
	{
		long long taken = 0, due = -1;
		int none = 0;

		assert_int_equal(store_outbox_next_due(tx, &due, &none), STORE_OK);
		assert_true(!none && due == 0);
		assert_int_equal(store_outbox_claim(tx, now, &taken), STORE_OK);
		assert_true(taken == id);
		assert_int_equal(store_outbox_claim(tx, now, &taken), STORE_NOTFOUND);
		assert_int_equal(store_outbox_result(tx, id, "queued", "450 busy", now + 60, now), STORE_OK);
		assert_int_equal(store_outbox_result(tx, id, "sent", "250", 0, now), STORE_NOTFOUND); /* not sending */
		assert_int_equal(store_outbox_claim(tx, now, &taken), STORE_NOTFOUND);           /* not due */
		assert_int_equal(store_outbox_next_due(tx, &due, &none), STORE_OK);
		assert_true(due == now + 60);
		assert_int_equal(store_outbox_claim(tx, now + 60, &taken), STORE_OK);
		assert_int_equal(store_outbox_result(tx, id, "sent", "250 accepted", 0, now + 60), STORE_OK);
		assert_int_equal(store_outbox_get(tx, id, &r), STORE_OK);
		assert_string_equal(kcs_json_str(r, "status"), "sent");
		assert_string_equal(kcs_json_str(r, "sealed"), "");
		kcs_json_int(r, "attempts", &n);
		assert_int_equal(n, 2);
		cJSON_Delete(r);
		assert_int_equal(store_outbox_next_due(tx, &due, &none), STORE_OK);
		assert_true(none);
		/* a delivery left in sending turns unknown once stale */
		assert_int_equal(store_outbox_add(tx, "email", "k@example.com", "Hi", sealed, sizeof sealed, "/s",
		    "g.eml", "<m2@kcs>", now, &id), STORE_OK);
		assert_int_equal(store_outbox_claim(tx, now, &taken), STORE_OK);
		assert_int_equal(store_outbox_stale(tx, now, now, &r), STORE_OK);
		assert_int_equal(cJSON_GetArraySize(r), 0);
		cJSON_Delete(r);
		assert_int_equal(store_outbox_stale(tx, now + 1, now + 1, &r), STORE_OK);
		assert_int_equal(cJSON_GetArraySize(r), 1);
		cJSON_Delete(r);
		assert_int_equal(store_outbox_get(tx, id, &r), STORE_OK);
		assert_string_equal(kcs_json_str(r, "status"), "unknown");
		assert_string_equal(kcs_json_str(r, "sealed"), "");
		cJSON_Delete(r);
	}
	/* the first entry is the store's creation; then any */
	assert_int_equal(store_audit(tx, "test", "store.initialised", "s", NULL, now), STORE_OK);
	for (int i = 0; i < 5; i++)
		assert_int_equal(store_audit(tx, "test", "event", "s", NULL, now + i), STORE_OK);
	assert_int_equal(store_audit_verify(tx, &n, bad), STORE_OK);
	assert_int_equal(n, 6);
	assert_int_equal(cJSON_GetArraySize(bad), 0);
	cJSON_Delete(bad);
}

/* the online copy, taken while a transaction is open: it holds what was
 * committed, not what the open transaction wrote */
static void
backup(void **state)
{
	static char buf[8 << 20];
	char out[96], err[256];
	long long id = 0;
	size_t n;
	FILE *f;

	(void)state;
	snprintf(out, sizeof out, "/tmp/kcs-store-backup.%ld", (long)getpid());
	unlink(out);
	assert_int_equal(store_begin(&st, DB_WRITE, &tx), STORE_OK);
	assert_int_equal(store_operator_add(tx, "uncommitted", "operator", H("unc"), now, 1, &id), STORE_OK);
	assert_int_equal(db_backup(st.db, out, err, sizeof err), DB_OK);
	store_rollback(tx);
	assert_non_null(f = fopen(out, "r"));
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	unlink(out);
	assert_true(n > 0);
	if (path[0]) /* a SQLite copy is the plain file */
		assert_null(memmem(buf, n, "uncommitted", 11));
}

/* a writer that commits until told to stop, or for 20 seconds */
static volatile int copied;
static long commits;

static void *
committer(void *arg)
{
	time_t end = time(NULL) + 20;

	(void)arg;
	while (!copied && time(NULL) < end) {
		struct dbtx *w;
		long long id;
		char name[32];

		if (store_begin(&st, DB_WRITE, &w) != STORE_OK)
			continue;
		snprintf(name, sizeof name, "w%ld-", commits);
		if (store_operator_add(w, name, "operator", H(name), now, 1, &id) == STORE_OK && store_commit(w) == STORE_OK)
			commits++;
		else
			store_rollback(w);
	}
	return NULL;
}

/* the online copy ends while another connection commits without pause */
static void
backup_under_writes(void **state)
{
	char out[96], err[256];
	pthread_t t;
	time_t start, took;
	int rc;

	(void)state;
	snprintf(out, sizeof out, "/tmp/kcs-store-backup-w.%ld", (long)getpid());
	unlink(out);
	/* a store of a few thousand pages (SQLite: copied by pages) */
	assert_int_equal(store_begin(&st, DB_WRITE, &tx), STORE_OK);
	for (int i = 0; path[0] && i < 20000; i++) {
		char name[32];
		long long id;

		snprintf(name, sizeof name, "bulk-%d-", i);
		assert_int_equal(store_operator_add(tx, name, "operator", H(name), now, 1, &id), STORE_OK);
	}
	assert_int_equal(store_commit(tx), STORE_OK);
	copied = 0;
	commits = 0;
	assert_int_equal(pthread_create(&t, NULL, committer, NULL), 0);
	while (commits < 10)
		usleep(1000);
	start = time(NULL);
	rc = db_backup(st.db, out, err, sizeof err);
	took = time(NULL) - start;
	copied = 1;
	pthread_join(t, NULL);
	unlink(out);
	assert_int_equal(rc, DB_OK);
	/* it ended while the writer still wrote (which gives up after 20 s) */
	assert_true(took < 15);
}

/* group commit: writers that wait for the writer share its commit; one
 * that fails in the batch takes back its own work only */
struct grouped {
	const char *name;
	int fail, rc;
};

static void *
grouped_writer(void *arg)
{
	struct grouped *g = arg;
	struct dbtx *w;
	long long id;

	if ((g->rc = store_begin(&st, DB_WRITE, &w)) != STORE_OK)
		return NULL;
	g->rc = store_operator_add(w, g->name, "operator", H(g->name), now, 1, &id);
	if (g->rc == STORE_OK && g->fail) /* its second write conflicts: it fails whole */
		g->rc = store_operator_add(w, "g-first", "operator", H("g-first"), now, 1, &id);
	if (g->rc == STORE_OK)
		g->rc = store_commit(w);
	else
		store_rollback(w);
	return NULL;
}

static void
group_commit(void **state)
{
	struct grouped g[3] = { { "g-1", 0, 0 }, { "g-2", 1, 0 }, { "g-3", 0, 0 } };
	struct db_stats s0 = { 0, 0, 0 }, s1 = { 0, 0, 0 };
	int counted = db_stats(st.db, &s0) == DB_OK;
	pthread_t t[3];
	struct dbtx *first;
	long long id;
	cJSON *o = NULL;

	(void)state;
	db_group(st.db, 64, 2000000);
	assert_int_equal(store_begin(&st, DB_WRITE, &first), STORE_OK);
	assert_int_equal(store_operator_add(first, "g-first", "operator", H("g-first"), now, 1, &id), STORE_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, grouped_writer, &g[i]), 0);
	usleep(200000); /* they wait for the writer */
	/* returns once the batch that holds it is committed, by the last writer */
	assert_int_equal(store_commit(first), STORE_OK);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	db_group(st.db, 1, 0);
	assert_int_equal(g[0].rc, STORE_OK);
	assert_int_equal(g[1].rc, STORE_CONFLICT);
	assert_int_equal(g[2].rc, STORE_OK);
	assert_int_equal(store_begin(&st, DB_READ, &tx), STORE_OK);
	assert_int_equal(store_operator_list(tx, &o), STORE_OK);
	store_rollback(tx);
	tx = NULL;
	{
		int seen = 0;
		const cJSON *it;

		cJSON_ArrayForEach(it, o) {
			const char *n = kcs_json_str(it, "name");

			seen |= strcmp(n, "g-first") == 0 ? 1 : strcmp(n, "g-1") == 0 ? 2 : strcmp(n, "g-2") == 0 ? 4
			    : strcmp(n, "g-3") == 0 ? 8 : 0;
		}
		assert_int_equal(seen, 1 | 2 | 8);
	}
	cJSON_Delete(o);
	if (counted) {
		const char *url = getenv("KCS_STORE_URL");
		int pg = url && strncmp(url, "postgres", 8) == 0;

		assert_int_equal(db_stats(st.db, &s1), DB_OK);
		/* SQLite: one commit for the three; PostgreSQL: each its own */
		assert_int_equal(s1.commits - s0.commits, pg ? 3 : 1);
		assert_int_equal(s1.writes - s0.writes, 3);
		/* the first writer held the turn while the others waited */
		assert_true(s1.busy_usec - s0.busy_usec >= 200000);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(operators, begin, rollback),
		cmocka_unit_test_setup_teardown(sdrm_and_accounts, begin, rollback),
		cmocka_unit_test_setup_teardown(codes_sessions_failures, begin, rollback),
		cmocka_unit_test_setup_teardown(tickets_calls_orders, begin, rollback),
		cmocka_unit_test_setup_teardown(outbox_and_audit, begin, rollback),
		cmocka_unit_test(backup),
		cmocka_unit_test(backup_under_writes),
		cmocka_unit_test(group_commit),
	};

	return cmocka_run_group_tests_name("store", tests, open_store, close_store);
}
