/* account.c: the locksmith account (seed 000 §3, §4): registration by the
 * hotline, e-mail verification, temporary password, two-step login,
 * password change and reset, address verification. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kcsd.h"

/* US time zones: the form's short names and the IANA names they stand for. */
static const char *const zones[][2] = {
	{ "Eastern", "America/New_York" }, { "Central", "America/Chicago" },
	{ "Mountain", "America/Denver" }, { "Arizona", "America/Phoenix" },
	{ "Pacific", "America/Los_Angeles" }, { "Alaska", "America/Anchorage" },
	{ "Hawaii", "Pacific/Honolulu" }, { "Atlantic", "America/Puerto_Rico" },
	{ "Chamorro", "Pacific/Guam" }, { "Samoa", "Pacific/Pago_Pago" },
};

/* The key that failure counters and lockouts are kept under: the account's
 * e-mail address, so attempts count wherever they come from. */
static void
lock_key(const char *email, char out[KCS_HASH_HEX])
{
	char in[300];

	snprintf(in, sizeof in, "login:%s", email);
	kcs_keyed_hash(K.pepper, in, out);
}

int
check_lock(struct req *r, const char *key)
{
	cJSON *o;
	long long until = 0;
	char when[21];

	int rc = store_failures_get(r->tx, key, &o);

	/* fails closed: a store that cannot say is not taken for "not locked" */
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc != STORE_OK)
		return store_fail(r, rc);
	kcs_json_int(o, "locked_until", &until);
	cJSON_Delete(o);
	if (until <= r->now)
		return 0;
	kcs_time_iso((time_t)until, when);
	return fail(r, 429, "locked", NULL, "too many failed attempts: locked until %s", when);
}

/* Records a failed attempt under key (kept even though the answer is an
 * error); the limit-th consecutive one locks the key for cooldown seconds.
 * Audited as FAMILY.failed and FAMILY.locked. */
int
record_failure(struct req *r, const char *family, const char *key, long limit, long cooldown,
    const char *subject, const char *what, int status, const char *code, const char *msg)
{
	long long n = 0;
	cJSON *d = cJSON_CreateObject();
	char failed_ev[32], locked_ev[32];

	snprintf(failed_ev, sizeof failed_ev, "%s.failed", family);
	snprintf(locked_ev, sizeof locked_ev, "%s.locked", family);
	/* counts older than the longest cool-down are forgotten */
	long window = K.cf.lockout_cooldown > K.cf.redeem_cooldown ? K.cf.lockout_cooldown : K.cf.redeem_cooldown;

	if (K.cf.keycode_cooldown > window)
		window = K.cf.keycode_cooldown;

	if (store_failure_add(r->tx, key, limit, cooldown, window, r->now, &n) != STORE_OK) {
		cJSON_Delete(d);
		return fail(r, 500, "internal", NULL, "the store failed");
	}
	cJSON_AddStringToObject(d, "step", what);
	cJSON_AddStringToObject(d, "ip", r->ip);
	if (audit_event(r, failed_ev, subject, d))
		return 500;
	if (n >= limit && audit_event(r, locked_ev, subject, NULL))
		return 500;
	r->keep = 1;
	return fail(r, status, code, NULL, "%s", msg);
}

static int
failed(struct req *r, const char *key, const char *subject, const char *what,
    int status, const char *code, const char *msg)
{
	return record_failure(r, "login", key, K.cf.lockout_failures, K.cf.lockout_cooldown, subject,
	    what, status, code, msg);
}

static int
new_session(struct req *r, long long account, const char *stage)
{
	char token[80], hash[KCS_HASH_HEX];
	int rc;

	kcs_token_new(token, sizeof token);
	kcs_keyed_hash(K.pepper, token, hash);
	if ((rc = store_session_add(r->tx, account, hash, stage, r->now)) != STORE_OK)
		return store_fail(r, rc);
	if (!r->out)
		r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "session", token);
	cJSON_AddStringToObject(r->out, "stage", stage);
	sodium_memzero(token, sizeof token);
	return 0;
}

/* a 0/1 column of a stored row */
int
flag(const cJSON *row, const char *name)
{
	long long v = 0;

	return kcs_json_int(row, name, &v) == 0 && v == 1;
}

/* "First Last", as letters and the status box name the locksmith */
void
full_name(const cJSON *a, char *out, size_t n)
{
	snprintf(out, n, "%s %s", kcs_json_str(a, "first_name"), kcs_json_str(a, "last_name"));
}

cJSON *
status_box(const cJSON *a)
{
	cJSON *o = cJSON_CreateObject();
	char name[256];
	int ev = flag(a, "email_verified"), av = flag(a, "address_verified");

	full_name(a, name, sizeof name);
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "sdrm_id", kcs_json_str(a, "sdrm_id"));
	cJSON_AddStringToObject(o, "email", kcs_json_str(a, "email"));
	cJSON_AddStringToObject(o, "company", kcs_json_str(a, "company"));
	cJSON_AddStringToObject(o, "status", ev && av ? "Active" : "Inactive");
	cJSON_AddBoolToObject(o, "email_verified", ev);
	cJSON_AddBoolToObject(o, "address_verified", av);
	cJSON_AddStringToObject(o, "time_zone", kcs_json_str(a, "time_zone"));
	return o;
}

/* An account's delivery address as lines, for a letter or a label. */
void
address_lines(const cJSON *a, char *out, size_t n)
{
	const char *company = kcs_json_str(a, "company");

	snprintf(out, n, "%s %s\n%s%s%s\n%s, %s %s", kcs_json_str(a, "first_name"),
	    kcs_json_str(a, "last_name"), company && *company ? company : "", company && *company ? "\n" : "",
	    kcs_json_str(a, "address"), kcs_json_str(a, "city"), kcs_json_str(a, "state"),
	    kcs_json_str(a, "zip"));
}

/* s in single quotes for a POSIX shell, ' written as '\'' */
static void
shell_quote(const char *s, char *out, size_t n)
{
	size_t o = 0;

	out[o++] = '\'';
	for (; *s && o + 6 < n; s++) {
		if (*s == '\'') {
			memcpy(out + o, "'\\''", 4);
			o += 4;
		} else {
			out[o++] = *s;
		}
	}
	out[o++] = '\'';
	out[o] = '\0';
}

static int
page(struct req *r, int status, const char *title, const char *text)
{
	const char *fmt = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<title>%s</title></head>\n<body><h1>%s</h1>\n<p>%s</p></body></html>\n";
	size_t n = strlen(fmt) + 2 * strlen(title) + strlen(text) + 1;

	if ((r->html = malloc(n)))
		snprintf(r->html, n, fmt, title, title, text);
	if (status >= 400)
		fail(r, status, "link_invalid", "token", "%s", text);
	return status;
}

/* The e-mail verification link; a new one voids the account's older ones. */
static int
email_link(struct req *r, long long id, const char *sdrm, const char *mail, const char *first,
    const char *last)
{
	char token[80], hash[KCS_HASH_HEX], link[800], until[21];
	int rc;

	kcs_token_new(token, sizeof token);
	kcs_keyed_hash(K.pepper, token, hash);
	if ((rc = store_code_void(r->tx, id, "email", r->now)) ||
	    (rc = store_code_add(r->tx, id, "email", hash, r->now, r->now + K.cf.email_link_lifetime))) {
		sodium_memzero(token, sizeof token);
		return store_fail(r, rc);
	}
	snprintf(link, sizeof link, "%s/verify-email?token=%s", K.cf.public_url, token);
	kcs_time_iso((time_t)(r->now + K.cf.email_link_lifetime), until);
	rc = send_message(r, MSG_VERIFY_LINK, mail, NULL, first, last, sdrm, link, until);
	sodium_memzero(token, sizeof token);
	sodium_memzero(link, sizeof link);
	return rc;
}

/* The open account of an SDRM ID given in field "sdrm_id" or as arg. */
static int
account_of(struct req *r, const char *sdrm, cJSON **a)
{
	int rc;

	if ((rc = valid_sdrm_id(r, "sdrm_id", sdrm)))
		return rc;
	if ((rc = store_account_by_sdrm(r->tx, sdrm, a)) == STORE_NOTFOUND)
		return fail(r, 404, "unknown_account", "sdrm_id", "SDRM ID %s has no open account", sdrm);
	return rc == STORE_OK ? 0 : store_fail(r, rc);
}

int
h_register(struct req *r)
{
	static const char *const ok[] = { "sdrm_id", "email", "last_name", "first_name", "company",
		"address", "city", "state", "zip", "phone", "comments", "time_zone", "signature_confirmed", NULL };
	const char *sdrm, *email, *last, *first, *company, *addr, *city, *state, *zip, *phone,
	    *comments, *tz;
	char mail[256], stbuf[3], hash[KCS_HASH_HEX], code[16], block[800];
	const char *zone = NULL;
	long long id;
	cJSON *form, *other, *d;
	int rc, digits = 0;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "sdrm_id", 1, 32, 1, &sdrm)) ||
	    (rc = valid_sdrm_id(r, "sdrm_id", sdrm)) || (rc = want_str(r, "email", 1, 254, 1, &email)) ||
	    (rc = valid_email(r, "email", email, mail, sizeof mail)) ||
	    (rc = want_text(r, "last_name", 100, 1, &last)) ||
	    (rc = want_text(r, "first_name", 100, 1, &first)) ||
	    (rc = want_text(r, "company", 100, 0, &company)) ||
	    (rc = want_text(r, "address", 200, 1, &addr)) || (rc = want_text(r, "city", 100, 1, &city)) ||
	    (rc = want_str(r, "state", 1, 2, 1, &state)) || (rc = want_str(r, "zip", 1, 10, 1, &zip)) ||
	    (rc = want_str(r, "phone", 1, 25, 1, &phone)) ||
	    (rc = want_text(r, "comments", 1000, 0, &comments)) ||
	    (rc = want_str(r, "time_zone", 1, 40, 1, &tz)))
		return rc;
	/* the form's 13th field: the locksmith signed it */
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->in, "signature_confirmed")))
		return fail(r, 400, "invalid", "signature_confirmed",
		    "confirm that the form carries the locksmith's signature (true)");
	if ((rc = valid_us_state(r, "state", state, stbuf)))
		return rc;
	if (!((strlen(zip) == 5 || (strlen(zip) == 10 && zip[5] == '-')) &&
	    strspn(zip, "0123456789") == 5 && (strlen(zip) == 5 || strspn(zip + 6, "0123456789") == 4)))
		return fail(r, 400, "invalid", "zip", "must be a ZIP code: 12345 or 12345-6789");
	for (const char *p = phone; *p; p++) {
		if (isdigit((unsigned char)*p))
			digits++;
		else if (!strchr("+-(). ", *p))
			return fail(r, 400, "invalid", "phone", "may hold only digits, spaces and + - ( ) .");
	}
	if (digits < 10 || digits > 15)
		return fail(r, 400, "invalid", "phone", "must have 10 to 15 digits");
	for (size_t i = 0; i < sizeof zones / sizeof *zones && !zone; i++)
		if (strcasecmp(tz, zones[i][0]) == 0 || strcmp(tz, zones[i][1]) == 0)
			zone = zones[i][1];
	if (!zone)
		return fail(r, 400, "invalid", "time_zone",
		    "must be a US time zone: Eastern, Central, Mountain, Arizona, Pacific, Alaska, Hawaii, "
		    "Atlantic, Chamorro, Samoa (or the IANA name, such as America/Los_Angeles)");

	if ((rc = store_sdrm_get(r->tx, sdrm, &other)) == STORE_NOTFOUND)
		return fail(r, 404, "unknown_sdrm_id", "sdrm_id", "SDRM ID %s is not in the SDRM directory", sdrm);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	cJSON_Delete(other);
	if (store_account_by_sdrm(r->tx, sdrm, &other) == STORE_OK) {
		cJSON_Delete(other);
		return fail(r, 409, "duplicate", "sdrm_id",
		    "SDRM ID %s has an account already (one account and one delivery address per SDRM ID)", sdrm);
	}
	if (store_account_by_email(r->tx, mail, &other) == STORE_OK) {
		cJSON_Delete(other);
		return fail(r, 409, "duplicate", "email", "%s has an account already", mail);
	}

	form = cJSON_CreateObject();
	cJSON_AddStringToObject(form, "sdrm_id", sdrm);
	cJSON_AddStringToObject(form, "email", mail);
	cJSON_AddStringToObject(form, "last_name", last);
	cJSON_AddStringToObject(form, "first_name", first);
	cJSON_AddStringToObject(form, "company", company ? company : "");
	cJSON_AddStringToObject(form, "address", addr);
	cJSON_AddStringToObject(form, "city", city);
	cJSON_AddStringToObject(form, "state", stbuf);
	cJSON_AddStringToObject(form, "zip", zip);
	cJSON_AddStringToObject(form, "phone", phone);
	cJSON_AddStringToObject(form, "comments", comments ? comments : "");
	cJSON_AddStringToObject(form, "time_zone", zone);
	rc = store_account_add(r->tx, form, r->now, &id);
	cJSON_Delete(form);
	if (rc != STORE_OK || (rc = store_account_get(r->tx, id, &other)) != STORE_OK)
		return store_fail(r, rc);
	/* the answer; the letter's address block comes from the same stored row */
	address_lines(other, block, sizeof block);
	r->out = status_box(other);
	cJSON_AddNumberToObject(r->out, "account_id", (double)id);
	cJSON_Delete(other);

	if ((rc = email_link(r, id, sdrm, mail, first, last)))
		return rc;

	/* the delivery address verification letter */
	kcs_code_new(code, sizeof code, 9);
	kcs_keyed_hash(K.pepper, code, hash);
	if ((rc = store_code_add(r->tx, id, "address", hash, r->now, 0))) {
		sodium_memzero(code, sizeof code);
		return store_fail(r, rc);
	}
	{
		char name[256];

		snprintf(name, sizeof name, "%s %s", first, last);
		rc = send_message(r, MSG_ADDRESS_CODE, name, block, name, code, code);
		sodium_memzero(code, sizeof code);
		if (rc)
			return rc;
	}
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "sdrm_id", sdrm);
	cJSON_AddStringToObject(d, "email", mail);
	if ((rc = audit_event(r, "account.registered", sdrm, d)))
		return rc;
	return 201;
}

int
h_verify_email(struct req *r)
{
	const char *token = query_arg(r, "token");
	char hash[KCS_HASH_HEX], pw[24], pwhash[128];
	cJSON *code, *a;
	long long cid, aid;
	int rc;

	if (!token || strlen(token) != 64)
		return page(r, 400, "Invalid link", "This link is not a Key Coding System verification link.");
	kcs_keyed_hash(K.pepper, token, hash);
	if (store_code_find(r->tx, "email", hash, r->now, &code) != STORE_OK)
		return page(r, 410, "Link not valid",
		    "This verification link is invalid, used or expired. Ask the hotline for a new one.");
	kcs_json_int(code, "id", &cid);
	kcs_json_int(code, "account_id", &aid);
	cJSON_Delete(code);
	/* the temporary password, changed at first login; hashed before
	 * anything is written, and the link used only if no one used it
	 * meanwhile */
	kcs_code_new(pw, sizeof pw, 15);
	if ((rc = hash_password(r, pw, pwhash))) {
		sodium_memzero(pw, sizeof pw);
		return rc;
	}
	if ((rc = store_code_use(r->tx, cid, r->now)) == STORE_NOTFOUND) {
		sodium_memzero(pw, sizeof pw);
		return page(r, 410, "Link not valid",
		    "This verification link is invalid, used or expired. Ask the hotline for a new one.");
	}
	if (rc || (rc = store_account_email_verified(r->tx, aid)) || (rc = store_account_get(r->tx, aid, &a))) {
		sodium_memzero(pw, sizeof pw);
		return store_fail(r, rc);
	}
	if ((rc = store_account_password(r->tx, aid, pwhash, 1))) {
		cJSON_Delete(a);
		return store_fail(r, rc);
	}
	rc = send_message(r, MSG_TEMP_PASSWORD, kcs_json_str(a, "email"), NULL, kcs_json_str(a, "first_name"),
	    kcs_json_str(a, "last_name"), pw);
	sodium_memzero(pw, sizeof pw);
	if (!rc)
		rc = audit_event(r, "email.verified", kcs_json_str(a, "sdrm_id"), NULL);
	cJSON_Delete(a);
	if (rc)
		return rc;
	return page(r, 200, "E-mail address verified",
	    "Thank you. Your e-mail address is verified; a temporary password is on its way to it.");
}

int
accepted_version(struct req *r, const char *kind, long long *version)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->in, "accept_disclaimer");
	cJSON *d;
	long long cur = 0, given = 0;
	int rc;

	if (!v || cJSON_IsFalse(v) || cJSON_IsNull(v))
		return fail(r, 403, "disclaimer_required", "accept_disclaimer",
		    "the %s disclaimer must be accepted to continue", kind);
	if ((rc = store_disclaimer_current(r->tx, kind, &d)) != STORE_OK)
		return store_fail(r, rc);
	kcs_json_int(d, "version", &cur);
	cJSON_Delete(d);
	if (cJSON_IsTrue(v))
		given = cur;
	else if (!cJSON_IsNumber(v))
		return fail(r, 400, "invalid", "accept_disclaimer", "must be true or the disclaimer's version");
	else if ((rc = want_int(r, "accept_disclaimer", 1, KCS_ID_MAX, 1, &given)))
		return rc;
	if (given != cur)
		return fail(r, 409, "disclaimer_changed", "accept_disclaimer",
		    "the %s disclaimer is now version %lld: read it again", kind, cur);
	*version = cur;
	return 0;
}

/* After a verification with the store released: the account as it is now.
 * A password changed meanwhile makes the verification void. */
static int
recheck(struct req *r, cJSON **a, const char *email, int *good)
{
	cJSON *now = NULL;
	long long id = 0;
	int rc;

	if (!*a)
		return 0;
	kcs_json_int(*a, "id", &id);
	rc = email ? store_account_by_email(r->tx, email, &now) : store_account_get(r->tx, id, &now);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	if (!kcs_json_str(now, "pwhash") || !kcs_json_str(*a, "pwhash") ||
	    strcmp(kcs_json_str(now, "pwhash"), kcs_json_str(*a, "pwhash")) != 0)
		*good = 0;
	cJSON_Delete(*a);
	*a = now;
	return 0;
}

int
h_login(struct req *r)
{
	static const char *const ok[] = { "email", "password", "accept_disclaimer", NULL };
	const char *email, *pw, *hash;
	char mail[256], key[KCS_HASH_HEX], newhash[128];
	long long version = 0, id = 0;
	cJSON *a = NULL, *d;
	int rc, good = 0;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "email", 1, 254, 1, &email)) ||
	    (rc = valid_email(r, "email", email, mail, sizeof mail)) ||
	    (rc = want_str(r, "password", 1, KCS_SECRET_MAX, 1, &pw)) ||
	    (rc = accepted_version(r, "login", &version)))
		return rc;
	lock_key(mail, key);
	if ((rc = check_lock(r, key)))
		return rc;
	rc = store_account_by_email(r->tx, mail, &a);
	if (rc == STORE_ERROR)
		return store_fail(r, rc);
	/* an unknown address costs the same work and gets the same answer */
	/* the store was released: attempts made meanwhile may have locked it */
	if ((rc = verify_password(r, a ? kcs_json_str(a, "pwhash") : NULL, pw, &good)) ||
	    (rc = recheck(r, &a, mail, &good)) || (rc = check_lock(r, key))) {
		cJSON_Delete(a);
		return rc;
	}
	hash = a ? kcs_json_str(a, "pwhash") : NULL;
	if (!good) {
		cJSON_Delete(a);
		return failed(r, key, mail, "password", 401, "invalid_credentials",
		    "the e-mail address or the password is wrong");
	}
	kcs_json_int(a, "id", &id);
	if (hash && crypto_pwhash_str_needs_rehash(hash, K.cf.argon2_ops, K.cf.argon2_mem) != 0) {
		if ((rc = hash_password(r, pw, newhash)) == 0 &&
		    store_account_password(r->tx, id, newhash, flag(a, "must_change")) != STORE_OK)
			rc = store_fail(r, STORE_ERROR);
		if (rc) {
			cJSON_Delete(a);
			return rc;
		}
	}
	/* the failure count is cleared only when both steps succeed: a right
	 * password must not buy more guesses at the SDRM password */
	if ((rc = store_acceptance_add(r->tx, id, "login", version, r->now, NULL))) {
		cJSON_Delete(a);
		return store_fail(r, rc);
	}
	snprintf(r->actor, sizeof r->actor, "account:%lld", id);
	rc = new_session(r, id, flag(a, "must_change") ? "password" : "sdrm");
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "ip", r->ip);
	cJSON_AddNumberToObject(d, "disclaimer_version", (double)version);
	if (!rc)
		rc = audit_event(r, "login.step1", kcs_json_str(a, "sdrm_id"), d);
	else
		cJSON_Delete(d);
	cJSON_Delete(a);
	return rc ? rc : 200;
}

static int
session_account(struct req *r, cJSON **a, char key[KCS_HASH_HEX])
{
	int rc = store_account_get(r->tx, r->account_id, a);

	if (rc != STORE_OK)
		return store_fail(r, rc);
	lock_key(kcs_json_str(*a, "email"), key);
	return 0;
}

int
h_login_sdrm(struct req *r)
{
	static const char *const ok[] = { "sdrm_id", "sdrm_password", NULL };
	const char *sdrm, *pw, *hash;
	char key[KCS_HASH_HEX];
	cJSON *a, *dir = NULL;
	int rc, good = 0;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "sdrm_id", 1, 32, 1, &sdrm)) ||
	    (rc = want_str(r, "sdrm_password", 1, KCS_SECRET_MAX, 1, &pw)) ||
	    (rc = session_account(r, &a, key)))
		return rc;
	if ((rc = check_lock(r, key))) {
		cJSON_Delete(a);
		return rc;
	}
	if (strcmp(sdrm, kcs_json_str(a, "sdrm_id")) == 0 && store_sdrm_get(r->tx, sdrm, &dir) == STORE_ERROR) {
		cJSON_Delete(a);
		return store_fail(r, STORE_ERROR);
	}
	hash = dir ? kcs_json_str(dir, "pwhash") : NULL;
	rc = verify_password(r, hash, pw, &good);
	cJSON_Delete(dir);
	if (rc || (rc = check_lock(r, key))) {
		cJSON_Delete(a);
		return rc;
	}
	if (!good) {
		rc = failed(r, key, kcs_json_str(a, "sdrm_id"), "sdrm", 401, "invalid_credentials",
		    "the SDRM ID or the SDRM password is wrong");
		cJSON_Delete(a);
		return rc;
	}
	if ((rc = store_failures_clear(r->tx, key)) || (rc = store_session_stage(r->tx, r->session_id, "full"))) {
		cJSON_Delete(a);
		return store_fail(r, rc);
	}
	rc = audit_event(r, "login.step2", kcs_json_str(a, "sdrm_id"), NULL);
	if (!rc) {
		r->out = status_box(a);
		cJSON_AddStringToObject(r->out, "stage", "full");
	}
	cJSON_Delete(a);
	return rc ? rc : 200;
}

/* Sets a new password (hashed by the caller before it wrote): every session
 * of the account ends, and so do its live tickets and open hotline calls,
 * which an intruder may hold. */
static int
set_password(struct req *r, const cJSON *a, const char *hash)
{
	long long id = 0, tickets = 0, calls = 0;
	cJSON *d;
	int rc;

	kcs_json_int(a, "id", &id);
	if ((rc = store_account_password(r->tx, id, hash, 0)) ||
	    (rc = store_session_revoke_all(r->tx, id, r->now)) ||
	    (rc = store_ticket_cancel_live(r->tx, id, r->now, &tickets)) ||
	    (rc = store_call_cancel_open(r->tx, id, r->now, &calls)))
		return store_fail(r, rc);
	if (!tickets && !calls)
		return 0;
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "tickets", (double)tickets);
	cJSON_AddNumberToObject(d, "calls", (double)calls);
	cJSON_AddStringToObject(d, "reason", "password set");
	return audit_event(r, "tickets.cancelled", kcs_json_str(a, "sdrm_id"), d);
}

int
h_password(struct req *r)
{
	static const char *const ok[] = { "old_password", "new_password", NULL };
	const char *old, *pw;
	char key[KCS_HASH_HEX], hash[128];
	cJSON *a;
	int rc, good = 0;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "old_password", 1, KCS_SECRET_MAX, 1, &old)) ||
	    (rc = want_str(r, "new_password", 1, 1 << 20, 1, &pw)) ||
	    (rc = valid_password(r, "new_password", pw)) || (rc = session_account(r, &a, key)))
		return rc;
	if ((rc = check_lock(r, key))) {
		cJSON_Delete(a);
		return rc;
	}
	/* the store was released: attempts made meanwhile may have locked it */
	if ((rc = verify_password(r, kcs_json_str(a, "pwhash"), old, &good)) ||
	    (rc = recheck(r, &a, NULL, &good)) || (rc = check_lock(r, key))) {
		cJSON_Delete(a);
		return rc;
	}
	if (!good) {
		rc = failed(r, key, kcs_json_str(a, "sdrm_id"), "password change", 403, "wrong_password",
		    "the old password is wrong");
		cJSON_Delete(a);
		return rc;
	}
	if (strcmp(old, pw) == 0) {
		cJSON_Delete(a);
		return fail(r, 400, "invalid", "new_password", "must differ from the old password");
	}
	if ((rc = hash_password(r, pw, hash)) || (rc = set_password(r, a, hash)) ||
	    (rc = audit_event(r, "password.changed", kcs_json_str(a, "sdrm_id"), NULL))) {
		cJSON_Delete(a);
		return rc;
	}
	/* this caller just proved the old password: it goes on in a new session */
	rc = new_session(r, r->account_id, strcmp(r->stage, "password") == 0 ? "sdrm" : r->stage);
	cJSON_Delete(a);
	return rc ? rc : 200;
}

int
h_logout(struct req *r)
{
	int rc = store_session_revoke(r->tx, r->session_id, r->now);

	if (rc != STORE_OK)
		return store_fail(r, rc);
	if ((rc = audit_event(r, "logout", r->actor, NULL)))
		return rc;
	r->out = cJSON_CreateObject();
	cJSON_AddBoolToObject(r->out, "logged_out", 1);
	return 200;
}

int
h_status(struct req *r)
{
	cJSON *a;
	int rc = store_account_get(r->tx, r->account_id, &a);

	if (rc != STORE_OK)
		return store_fail(r, rc);
	r->out = status_box(a);
	cJSON_Delete(a);
	return 200;
}

int
h_verify_address(struct req *r)
{
	static const char *const ok[] = { "code", NULL };
	const char *in;
	char code[40], key[KCS_HASH_HEX], hash[KCS_HASH_HEX];
	cJSON *a, *c;
	long long cid = 0;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "code", 1, 40, 1, &in)))
		return rc;
	if (kcs_code_parse(in, "code", code, sizeof code) != KCS_OK)
		return fail(r, 400, "invalid", "code", "%s", kcs_errmsg());
	if ((rc = session_account(r, &a, key)))
		return rc;
	if (flag(a, "address_verified")) {
		cJSON_Delete(a);
		return fail(r, 409, "already_verified", "code", "the delivery address is verified already");
	}
	if ((rc = check_lock(r, key))) {
		cJSON_Delete(a);
		return rc;
	}
	kcs_keyed_hash(K.pepper, code, hash);
	rc = store_code_live(r->tx, r->account_id, "address", r->now, &c);
	if (rc == STORE_OK) {
		const char *stored = kcs_json_str(c, "hash");

		if (strlen(stored) != KCS_HASH_HEX - 1 || sodium_memcmp(stored, hash, KCS_HASH_HEX - 1) != 0)
			rc = STORE_NOTFOUND;
		kcs_json_int(c, "id", &cid);
		cJSON_Delete(c);
	}
	if (rc != STORE_OK) {
		rc = rc == STORE_ERROR ? store_fail(r, rc)
		    : failed(r, key, kcs_json_str(a, "sdrm_id"), "address code", 403, "wrong_code",
			"the address verification code is wrong");
		cJSON_Delete(a);
		return rc;
	}
	cJSON_Delete(a);
	if ((rc = store_code_use(r->tx, cid, r->now)) ||
	    (rc = store_account_address_verified(r->tx, r->account_id)) ||
	    (rc = store_account_get(r->tx, r->account_id, &a)))
		return store_fail(r, rc);
	r->out = status_box(a);
	rc = audit_event(r, "address.verified", kcs_json_str(a, "sdrm_id"), NULL);
	cJSON_Delete(a);
	return rc ? rc : 200;
}

/* Password reset requests are answered at once, the same way whether or
 * not the address has an account: the work (a code, an e-mail, the audit
 * entry) is done by a worker thread after the answer, so that how long
 * the answer takes tells nothing. The queue is in memory and bounded: a
 * request that finds it full, or is lost with a restart, is asked again. */
#define RESET_QUEUE 64

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	char email[RESET_QUEUE][256];
	struct timespec at[RESET_QUEUE];
	int head, n, stop, running;
} rq = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* A request is worked on this long after its answer, not while the answer
 * is on its way, when its work would slow the answer down. */
#define RESET_DELAY_MS 100

/* A reset code: typed rarely and usually pasted, long enough (125 bits)
 * that guessing is hopeless, so that a confirmation is never locked out. */
#define RESET_CODE_SYMBOLS 25

static int
reset_send(struct req *r, const char *mail)
{
	char code[40], hash[KCS_HASH_HEX], until[21], quoted[1100];
	cJSON *a = NULL, *c;
	long long id = 0;
	int rc;

	if ((rc = store_account_by_email(r->tx, mail, &a)) != STORE_OK || !kcs_json_str(a, "pwhash")) {
		cJSON_Delete(a);
		return rc == STORE_ERROR ? 500 : 0;
	}
	kcs_json_int(a, "id", &id);
	/* one reset e-mail per interval: the form must not flood an inbox */
	if (store_code_live(r->tx, id, "reset", r->now, &c) == STORE_OK) {
		long long created = 0;

		kcs_json_int(c, "created_at", &created);
		cJSON_Delete(c);
		if (r->now - created < K.cf.reset_interval) {
			cJSON_Delete(a);
			return 0;
		}
	}
	kcs_code_new(code, sizeof code, RESET_CODE_SYMBOLS);
	kcs_keyed_hash(K.pepper, code, hash);
	kcs_time_iso((time_t)(r->now + K.cf.reset_lifetime), until);
	/* the address may hold ` or $ (RFC 5322 allows them): quoted for a shell */
	shell_quote(mail, quoted, sizeof quoted);
	if ((rc = store_code_void(r->tx, id, "reset", r->now)) ||
	    (rc = store_code_add(r->tx, id, "reset", hash, r->now, r->now + K.cf.reset_lifetime)))
		rc = store_fail(r, rc);
	else
		rc = send_message(r, MSG_RESET_CODE, mail, NULL, kcs_json_str(a, "first_name"),
		    kcs_json_str(a, "last_name"), code, until, quoted, code);
	sodium_memzero(code, sizeof code);
	if (!rc)
		rc = audit_event(r, "password.reset_requested", kcs_json_str(a, "sdrm_id"), NULL);
	cJSON_Delete(a);
	return rc;
}

static void *
reset_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&rq.mu);
	for (;;) {
		struct req r;
		char mail[256];

		struct timespec due;

		while (!rq.n && !rq.stop)
			pthread_cond_wait(&rq.cv, &rq.mu);
		if (rq.stop)
			break;
		due = rq.at[rq.head];
		due.tv_nsec += RESET_DELAY_MS * 1000000L;
		if (due.tv_nsec >= 1000000000L) {
			due.tv_sec++;
			due.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&rq.cv, &rq.mu, &due) == 0)
			continue; /* woken early (another request, or the stop): look again */
		memcpy(mail, rq.email[rq.head], sizeof mail);
		sodium_memzero(rq.email[rq.head], sizeof rq.email[rq.head]);
		rq.head = (rq.head + 1) % RESET_QUEUE;
		rq.n--;
		pthread_mutex_unlock(&rq.mu);

		memset(&r, 0, sizeof r);
		r.now = (long long)time(NULL);
		snprintf(r.actor, sizeof r.actor, "anonymous");
		if (store_begin(&K.st, DB_WRITE, &r.tx) != STORE_OK) {
			fprintf(stderr, "kcsd: password reset: the store is busy; the request is dropped\n");
		} else if (reset_send(&r, mail) != 0) {
			store_rollback(r.tx);
			fprintf(stderr, "kcsd: password reset: %s\n", r.emsg[0] ? r.emsg : "the store failed");
		} else if (store_commit(r.tx) == STORE_OK) {
			outbox_spool(&r);
		}
		outbox_discard(&r);
		pthread_mutex_lock(&rq.mu);
	}
	pthread_mutex_unlock(&rq.mu);
	return NULL;
}

int
reset_worker_start(void)
{
	rq.stop = 0;
	if (pthread_create(&rq.thread, NULL, reset_worker, NULL) != 0)
		return -1;
	rq.running = 1;
	return 0;
}

void
reset_worker_stop(void)
{
	if (!rq.running)
		return;
	pthread_mutex_lock(&rq.mu);
	rq.stop = 1;
	pthread_cond_signal(&rq.cv);
	pthread_mutex_unlock(&rq.mu);
	pthread_join(rq.thread, NULL);
	rq.running = 0;
}

/* Anyone may ask, a locked account too: the e-mailed code proves control of
 * the mailbox, and is how a locksmith locked out by someone else's guesses
 * gets back in (kcs(7)). */
int
h_reset_request(struct req *r)
{
	static const char *const ok[] = { "email", NULL };
	const char *email;
	char mail[256];
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "email", 1, 254, 1, &email)) ||
	    (rc = valid_email(r, "email", email, mail, sizeof mail)))
		return rc;
	pthread_mutex_lock(&rq.mu);
	if (rq.n < RESET_QUEUE) {
		memcpy(rq.email[(rq.head + rq.n) % RESET_QUEUE], mail, sizeof mail);
		clock_gettime(CLOCK_REALTIME, &rq.at[(rq.head + rq.n) % RESET_QUEUE]);
		rq.n++;
		pthread_cond_signal(&rq.cv);
	}
	pthread_mutex_unlock(&rq.mu);
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "status",
	    "if the address belongs to a verified account, a reset code is on its way to it");
	return 202;
}

/* The code from the e-mail sets a new password whatever the lockout: it
 * proves control of the mailbox, and is too long to guess. A success ends
 * the lockout. */
int
h_reset_confirm(struct req *r)
{
	static const char *const ok[] = { "email", "code", "new_password", NULL };
	const char *email, *in, *pw, *stored;
	char mail[256], key[KCS_HASH_HEX], code[48], hash[KCS_HASH_HEX], pwhash[128];
	cJSON *a = NULL, *c = NULL;
	long long id = 0, cid = 0;
	int rc, good = 0, same = 0;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "email", 1, 254, 1, &email)) ||
	    (rc = valid_email(r, "email", email, mail, sizeof mail)) ||
	    (rc = want_str(r, "code", 1, 64, 1, &in)) ||
	    (rc = want_str(r, "new_password", 1, 1 << 20, 1, &pw)) ||
	    (rc = valid_password(r, "new_password", pw)))
		return rc;
	if (kcs_code_parse(in, "code", code, sizeof code) != KCS_OK)
		return fail(r, 400, "invalid", "code", "%s", kcs_errmsg());
	lock_key(mail, key);
	kcs_keyed_hash(K.pepper, code, hash);
	sodium_memzero(code, sizeof code);
	if ((rc = store_account_by_email(r->tx, mail, &a)) == STORE_OK) {
		kcs_json_int(a, "id", &id);
		if ((rc = store_code_live(r->tx, id, "reset", r->now, &c)) == STORE_OK) {
			stored = kcs_json_str(c, "hash");
			good = strlen(stored) == KCS_HASH_HEX - 1 &&
			    sodium_memcmp(stored, hash, KCS_HASH_HEX - 1) == 0;
			kcs_json_int(c, "id", &cid);
			cJSON_Delete(c);
		}
	}
	if (rc == STORE_ERROR) {
		cJSON_Delete(a);
		return store_fail(r, rc);
	}
	if (!good) {
		cJSON_Delete(a);
		return fail(r, 403, "wrong_code", "code", "the reset code is wrong, used or expired");
	}
	/* both Argon2 steps before anything is written */
	if ((rc = verify_password(r, kcs_json_str(a, "pwhash"), pw, &same)) ||
	    (!same && (rc = hash_password(r, pw, pwhash)))) {
		cJSON_Delete(a);
		return rc;
	}
	if (same) {
		cJSON_Delete(a);
		return fail(r, 400, "invalid", "new_password", "must differ from the old password");
	}
	/* single use: a concurrent confirmation may have used the code meanwhile */
	if ((rc = store_code_use(r->tx, cid, r->now)) == STORE_NOTFOUND) {
		cJSON_Delete(a);
		return fail(r, 403, "wrong_code", "code", "the reset code is wrong, used or expired");
	}
	if (rc || (rc = store_failures_clear(r->tx, key))) {
		cJSON_Delete(a);
		return store_fail(r, rc);
	}
	if ((rc = set_password(r, a, pwhash)) ||
	    (rc = audit_event(r, "password.reset", kcs_json_str(a, "sdrm_id"), NULL))) {
		cJSON_Delete(a);
		return rc;
	}
	cJSON_Delete(a);
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "status", "password changed: log in with the new password");
	return 200;
}

/* A new verification link for a locksmith whose link expired or was lost. */
int
h_resend_link(struct req *r)
{
	static const char *const ok[] = { "sdrm_id", NULL };
	const char *sdrm;
	cJSON *a;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "sdrm_id", 1, 32, 1, &sdrm)) ||
	    (rc = account_of(r, sdrm, &a)))
		return rc;
	if (flag(a, "email_verified"))
		rc = fail(r, 409, "already_verified", "sdrm_id", "the e-mail address of %s is verified already", sdrm);
	else if (!(rc = email_link(r, (long long)cJSON_GetObjectItem(a, "id")->valuedouble, sdrm,
	    kcs_json_str(a, "email"), kcs_json_str(a, "first_name"), kcs_json_str(a, "last_name"))) &&
	    !(rc = audit_event(r, "email.link_resent", sdrm, NULL))) {
		r->out = status_box(a);
		rc = 200;
	}
	cJSON_Delete(a);
	return rc;
}

/* Corrects an e-mail address the hotline mistyped, before it is verified:
 * the old link stops working and a new one goes to the new address. */
int
h_correct_email(struct req *r)
{
	static const char *const ok[] = { "sdrm_id", "email", NULL };
	const char *sdrm, *email;
	char mail[256];
	long long id = 0;
	cJSON *a, *other, *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "sdrm_id", 1, 32, 1, &sdrm)) ||
	    (rc = want_str(r, "email", 1, 254, 1, &email)) ||
	    (rc = valid_email(r, "email", email, mail, sizeof mail)) || (rc = account_of(r, sdrm, &a)))
		return rc;
	kcs_json_int(a, "id", &id);
	if (flag(a, "email_verified")) {
		cJSON_Delete(a);
		return fail(r, 409, "already_verified", "email",
		    "the e-mail address of %s is verified already: it is the locksmith's login", sdrm);
	}
	if (store_account_by_email(r->tx, mail, &other) == STORE_OK) {
		cJSON_Delete(other);
		cJSON_Delete(a);
		return fail(r, 409, "duplicate", "email", "%s has an account already", mail);
	}
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "old", kcs_json_str(a, "email"));
	cJSON_AddStringToObject(d, "new", mail);
	if ((rc = store_account_set_email(r->tx, id, mail)) != STORE_OK) {
		cJSON_Delete(d);
		cJSON_Delete(a);
		return store_fail(r, rc);
	}
	rc = email_link(r, id, sdrm, mail, kcs_json_str(a, "first_name"), kcs_json_str(a, "last_name"));
	cJSON_Delete(a);
	if (rc) {
		cJSON_Delete(d);
		return rc;
	}
	if ((rc = audit_event(r, "email.corrected", sdrm, d)) || (rc = store_account_get(r->tx, id, &a)))
		return rc > 0 ? rc : store_fail(r, rc);
	r->out = status_box(a);
	cJSON_Delete(a);
	return 200;
}

/* Closes an account: its sessions, tickets, calls and codes end, and its
 * SDRM ID and e-mail address are free for a new registration. */
int
h_account_close(struct req *r)
{
	long long id = 0, tickets = 0, calls = 0;
	cJSON *a, *d;
	int rc;

	if ((rc = account_of(r, r->arg, &a)))
		return rc;
	kcs_json_int(a, "id", &id);
	if ((rc = store_account_close(r->tx, id, r->now)) ||
	    (rc = store_session_revoke_all(r->tx, id, r->now)) ||
	    (rc = store_ticket_cancel_live(r->tx, id, r->now, &tickets)) ||
	    (rc = store_call_cancel_open(r->tx, id, r->now, &calls)) ||
	    (rc = store_code_void(r->tx, id, "email", r->now)) ||
	    (rc = store_code_void(r->tx, id, "reset", r->now)) ||
	    (rc = store_code_void(r->tx, id, "address", r->now))) {
		cJSON_Delete(a);
		return store_fail(r, rc);
	}
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "email", kcs_json_str(a, "email"));
	cJSON_AddNumberToObject(d, "tickets_cancelled", (double)tickets);
	cJSON_AddNumberToObject(d, "calls_cancelled", (double)calls);
	if ((rc = audit_event(r, "account.closed", r->arg, d))) {
		cJSON_Delete(a);
		return rc;
	}
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "sdrm_id", r->arg);
	cJSON_AddStringToObject(r->out, "email", kcs_json_str(a, "email"));
	cJSON_AddBoolToObject(r->out, "closed", 1);
	cJSON_Delete(a);
	return 200;
}
