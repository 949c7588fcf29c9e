/* coding.c: coding the blank key of an order with the locksmith's Key Writer
 * (seed 000 §8; kcs-keywriter-protocol(7)). Three steps, each its own
 * request:
 *
 *   start    the VIN and Key Code of an order placed for this locksmith, a
 *            writer registered to them, the coding disclaimer and the owner's
 *            verification record: a job and a fresh nonce;
 *   attest   the writer's signature over that nonce and its handshake,
 *            verified against the registered key: the transponder data sealed
 *            to that writer (the host relays it unread) and a challenge;
 *   receipt  the writer's signed receipt over the challenge: the key
 *            position is coded, once.
 *
 * A job interrupted anywhere starts again from start (a new nonce and
 * challenge); a receipt signs one challenge, so an old one is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kcsd.h"

#define TRANSPONDER_BYTES 16

/* The hash a Key Code is kept as: over the VIN and the canonical code. */
void
keycode_hash(const char *vin, const char *code, char out[KCS_HASH_HEX])
{
	char in[80];

	snprintf(in, sizeof in, "keycode:%s:%s", vin, code);
	kcs_keyed_hash(K.pepper, in, out);
	sodium_memzero(in, sizeof in);
}

/* A destroyed Key Code's tombstone: a one-way hash of its hash, which
 * authorizes nothing and lets a refusal say why. */
static void
keycode_tombstone(const char *hash, char out[KCS_HASH_HEX])
{
	char in[80];

	snprintf(in, sizeof in, "destroyed:%s", hash);
	kcs_keyed_hash(K.pepper, in, out);
}

/* Key Codes spent (the key coded and its cut code retrieved) more than
 * keycode_grace ago are destroyed, as California Vehicle Code 9954 asks of
 * the locksmith (also by kcs-admin maintain). */
int
keycodes_destroy(struct req *r, int *count)
{
	cJSON *due = NULL, *it;
	int rc = store_keycodes_due(r->tx, r->now - K.cf.keycode_grace, &due);

	if (count)
		*count = 0;
	if (rc != STORE_OK)
		return store_fail(r, rc);
	cJSON_ArrayForEach(it, due) {
		char tomb[KCS_HASH_HEX];
		long long id = 0;
		cJSON *d;

		kcs_json_int(it, "id", &id);
		keycode_tombstone(kcs_json_str(it, "key_code_hash"), tomb);
		if ((rc = store_keycode_destroy(r->tx, id, tomb, r->now)) != STORE_OK && rc != STORE_NOTFOUND) {
			cJSON_Delete(due);
			return store_fail(r, rc);
		}
		d = cJSON_CreateObject();
		cJSON_AddNumberToObject(d, "order_id", (double)id);
		if ((rc = audit_event(r, "keycode.destroyed", "kcsd", d))) {
			cJSON_Delete(due);
			return rc;
		}
		r->keep = 1; /* destroyed, whatever the request's answer */
		if (count)
			++*count;
	}
	cJSON_Delete(due);
	return 0;
}

/* The owner's verification record that the coding disclaimer speaks of:
 * every field required and checked, kept sealed under the master key. */
static int
owner_record(struct req *r, cJSON **rec)
{
	static const char *const relations[] = { "owner", "family", NULL };
	static const char *const kinds[] = { "drivers_license", "state_id", "passport", NULL };
	const char *name, *relation, *kind, *id_state, *last4, *reg_state, *plate;
	char st1[3], st2[3];
	int rc, ok = 0;

	if ((rc = want_str(r, "customer_name", 1, 100, 1, &name)) ||
	    (rc = want_str(r, "relation", 1, 16, 1, &relation)) ||
	    (rc = want_str(r, "id_kind", 1, 32, 1, &kind)) ||
	    (rc = want_str(r, "id_state", 1, 2, 1, &id_state)) ||
	    (rc = want_str(r, "id_last4", 4, 4, 1, &last4)) ||
	    (rc = want_str(r, "registration_state", 1, 2, 1, &reg_state)) ||
	    (rc = want_str(r, "plate", 1, 10, 1, &plate)))
		return rc;
	for (const char *const *p = relations; *p; p++)
		ok |= strcmp(*p, relation) == 0;
	if (!ok)
		return fail(r, 400, "invalid", "relation", "must be owner or family (an immediate family member)");
	ok = 0;
	for (const char *const *p = kinds; *p; p++)
		ok |= strcmp(*p, kind) == 0;
	if (!ok)
		return fail(r, 400, "invalid", "id_kind", "must be drivers_license, state_id or passport");
	if ((rc = valid_us_state(r, "id_state", id_state, st1)) ||
	    (rc = valid_us_state(r, "registration_state", reg_state, st2)))
		return rc;
	if (strspn(last4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != 4)
		return fail(r, 400, "invalid", "id_last4", "is the document number's last 4 letters or digits");
	if (strspn(plate, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -") != strlen(plate))
		return fail(r, 400, "invalid", "plate", "may hold only letters, digits, spaces and '-'");
	*rec = cJSON_CreateObject();
	cJSON_AddStringToObject(*rec, "customer_name", name);
	cJSON_AddStringToObject(*rec, "relation", relation);
	cJSON_AddStringToObject(*rec, "id_kind", kind);
	cJSON_AddStringToObject(*rec, "id_state", st1);
	cJSON_AddStringToObject(*rec, "id_last4", last4);
	cJSON_AddStringToObject(*rec, "registration_state", st2);
	cJSON_AddStringToObject(*rec, "plate", plate);
	return 0;
}

/* hex of exactly n bytes into out */
static int
want_hex(struct req *r, const char *name, uint8_t *out, size_t n)
{
	const char *s;
	int rc;

	if ((rc = want_str(r, name, 2 * n, 2 * n, 1, &s)))
		return rc;
	if (kcs_hex_decode(s, out, n) != 0)
		return fail(r, 400, "invalid", name, "must be %zu bytes in hexadecimal", n);
	return 0;
}

/* hex of at most max bytes: how many */
static int
want_hex_var(struct req *r, const char *name, uint8_t *out, size_t max, size_t *n)
{
	const char *s;
	int rc;

	if ((rc = want_str(r, name, 2, 2 * max, 1, &s)))
		return rc;
	*n = strlen(s) / 2;
	if (strlen(s) % 2 || kcs_hex_decode(s, out, *n) != 0)
		return fail(r, 400, "invalid", name, "must be hexadecimal");
	return 0;
}

/* What coding and cutting both ask: an Active account, the owner's record,
 * the coding disclaimer, and the VIN and Key Code of a key order placed for
 * this locksmith (wrong codes counted and locked out). */
struct job_ask {
	char vin[18];
	long long order, pos, coded, acceptance;
	cJSON *account, *owner;
	uint8_t *sealed_owner;
	size_t sealed_len;
};

static void
job_ask_free(struct job_ask *q)
{
	cJSON_Delete(q->account);
	cJSON_Delete(q->owner);
	free(q->sealed_owner);
}

static int
job_ask(struct req *r, struct job_ask *q)
{
	const char *vin_in, *code_in;
	char code[40], in[64], key[KCS_HASH_HEX], hash[KCS_HASH_HEX], tomb[KCS_HASH_HEX], *text;
	long long version = 0, owner_account = 0;
	cJSON *o = NULL;
	size_t len;
	int rc;

	if ((rc = want_str(r, "vin", 1, 64, 1, &vin_in)) || (rc = want_str(r, "key_code", 1, 40, 1, &code_in)))
		return rc;
	if (kcs_vin_parse(vin_in, q->vin) != KCS_OK)
		return fail(r, 400, "invalid", "vin", "%s", kcs_errmsg());
	if (kcs_code_parse(code_in, "key_code", code, sizeof code) != KCS_OK)
		return fail(r, 400, "invalid", "key_code", "%s", kcs_errmsg());
	if ((rc = owner_record(r, &q->owner)))
		return rc;
	if ((rc = store_account_get(r->tx, r->account_id, &q->account)) != STORE_OK)
		return store_fail(r, rc);
	if (!flag(q->account, "email_verified") || !flag(q->account, "address_verified"))
		return fail(r, 403, "inactive", NULL, "the account is Inactive: verify the delivery address first");
	/* wrong Key Codes are counted per locksmith, as ticket redemptions are */
	snprintf(in, sizeof in, "keycode:%lld", r->account_id);
	kcs_keyed_hash(K.pepper, in, key);
	if ((rc = check_lock(r, key)) || (rc = keycodes_destroy(r, NULL)))
		return rc;
	keycode_hash(q->vin, code, hash);
	sodium_memzero(code, sizeof code);
	/* a destroyed code is known, not guessed: said so, and not counted */
	keycode_tombstone(hash, tomb);
	if ((rc = store_keycode_order(r->tx, tomb, &o)) == STORE_OK) {
		long long spent = 0;
		char when[21];

		kcs_json_int(o, "account_id", &owner_account);
		kcs_json_int(o, "key_code_spent_at", &spent);
		cJSON_Delete(o);
		o = NULL;
		kcs_time_iso((time_t)spent, when);
		if (owner_account == r->account_id)
			return fail(r, 410, "keycode_destroyed", "key_code",
			    "this Key Code was used on %.10s and has been destroyed", when);
	} else if (rc != STORE_NOTFOUND)
		return store_fail(r, rc);
	if ((rc = store_keycode_order(r->tx, hash, &o)) == STORE_OK) {
		kcs_json_int(o, "order_id", &q->order);
		kcs_json_int(o, "account_id", &owner_account);
		kcs_json_int(o, "key_position", &q->pos);
		kcs_json_int(o, "coded_at", &q->coded);
		cJSON_Delete(o);
	}
	if (rc == STORE_NOTFOUND || (rc == STORE_OK && owner_account != r->account_id))
		return record_failure(r, "keycode", key, K.cf.keycode_failures, K.cf.keycode_cooldown,
		    kcs_json_str(q->account, "sdrm_id"), "keycode", 404, "no_order",
		    "no key order of yours for this VIN has this Key Code");
	if (rc != STORE_OK || (rc = store_failures_clear(r->tx, key)) != STORE_OK)
		return store_fail(r, rc);
	if ((rc = accepted_version(r, "coding", &version)) ||
	    (rc = store_acceptance_add(r->tx, r->account_id, "coding", version, r->now, &q->acceptance)))
		return rc > 0 ? rc : store_fail(r, rc);
	text = kcs_json_dump(q->owner);
	len = strlen(text);
	if (!(q->sealed_owner = malloc(len + KCS_SEAL_OVERHEAD))) {
		free(text);
		return fail(r, 500, "internal", NULL, "out of memory");
	}
	kcs_seal(K.master, text, len, q->sealed_owner);
	q->sealed_len = len + KCS_SEAL_OVERHEAD;
	sodium_memzero(text, len);
	free(text);
	return 0;
}

/* the job's row, and its audit detail, from what was asked */
static void
job_row(struct store_job *j, const struct job_ask *q, const char *kind, long long account)
{
	j->kind = kind;
	j->account_id = account;
	j->order_id = q->order;
	j->acceptance_id = q->acceptance;
	j->owner = q->sealed_owner;
	j->owner_len = q->sealed_len;
}

static cJSON *
job_detail(const struct job_ask *q, long long job)
{
	cJSON *d = cJSON_CreateObject();

	cJSON_AddNumberToObject(d, "job_id", (double)job);
	cJSON_AddNumberToObject(d, "order_id", (double)q->order);
	cJSON_AddStringToObject(d, "vin", q->vin);
	cJSON_AddNumberToObject(d, "key_position", (double)q->pos);
	cJSON_AddNumberToObject(d, "disclaimer_acceptance_id", (double)q->acceptance);
	return d;
}

int
h_coding_start(struct req *r)
{
	static const char *const ok[] = { "vin", "key_code", "serial", "accept_disclaimer", "customer_name",
		"relation", "id_kind", "id_state", "id_last4", "registration_state", "plate", NULL };
	const char *serial;
	char nonce[2 * KW_NONCE + 1];
	uint8_t rnd[KW_NONCE];
	long long job = 0;
	struct job_ask q = { 0 };
	struct store_job j = { 0 };
	cJSON *w = NULL, *old = NULL, *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "serial", 1, 32, 1, &serial)) || (rc = job_ask(r, &q)))
		goto out;
	if (q.coded) {
		char when[21];

		kcs_time_iso((time_t)q.coded, when);
		rc = fail(r, 409, "coded", "key_code", "key position %lld of %s was coded on %.10s", q.pos, q.vin, when);
		goto out;
	}
	if ((rc = store_keywriter_of(r->tx, serial, r->account_id, &w)) == STORE_NOTFOUND) {
		rc = fail(r, 403, "writer_not_registered", "serial",
		    "key writer %s is not registered to you: use the writer the hotline shipped to you", serial);
		goto out;
	}
	if (rc != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	randombytes_buf(rnd, sizeof rnd);
	kcs_hex_encode(rnd, sizeof rnd, nonce);
	job_row(&j, &q, "code", r->account_id);
	j.serial = serial;
	j.nonce = nonce;
	if ((rc = store_coding_job(r->tx, q.order, &old)) == STORE_OK) {
		kcs_json_int(old, "id", &job);
		rc = store_job_restart(r->tx, job, &j, r->now);
	} else if (rc == STORE_NOTFOUND)
		rc = store_job_add(r->tx, &j, r->now, &job);
	if (rc != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	d = job_detail(&q, job);
	cJSON_AddStringToObject(d, "serial", serial);
	cJSON_AddBoolToObject(d, "restarted", old != NULL);
	if ((rc = audit_event(r, "coding.started", kcs_json_str(q.account, "sdrm_id"), d)))
		goto out;
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "job_id", (double)job);
	cJSON_AddStringToObject(r->out, "vin", q.vin);
	cJSON_AddNumberToObject(r->out, "key_position", (double)q.pos);
	cJSON_AddStringToObject(r->out, "serial", serial);
	cJSON_AddStringToObject(r->out, "nonce", nonce);
	rc = 201;
out:
	job_ask_free(&q);
	cJSON_Delete(w);
	cJSON_Delete(old);
	return rc;
}

/* The blade's cut code (seed 000 §9): the same Key Code, disclaimer and
 * owner's record as coding; every key of a vehicle has the same cut code.
 * Each retrieval is a job of the locksmith's record. */
int
h_cut(struct req *r)
{
	static const char *const ok[] = { "vin", "key_code", "accept_disclaimer", "customer_name",
		"relation", "id_kind", "id_state", "id_last4", "registration_state", "plate", NULL };
	uint8_t sealed[CUT_CODE_LEN + KCS_SEAL_OVERHEAD];
	char cut[CUT_CODE_LEN + 1];
	struct job_ask q = { 0 };
	struct store_job j = { 0 };
	long long job = 0;
	cJSON *v = NULL, *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = job_ask(r, &q)))
		goto out;
	if ((rc = store_vehicle_secret(r->tx, q.vin, &v)) != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	if (kcs_hex_decode(kcs_json_str(v, "cut_code") ? kcs_json_str(v, "cut_code") : "", sealed, sizeof sealed) != 0 ||
	    kcs_open(K.master, sealed, sizeof sealed, cut) != 0) {
		rc = fail(r, 500, "internal", NULL, "the vehicle's cut code cannot be opened");
		goto out;
	}
	cut[CUT_CODE_LEN] = '\0';
	job_row(&j, &q, "cut", r->account_id);
	if ((rc = store_cut_job_add(r->tx, &j, r->now, &job)) != STORE_OK ||
	    (rc = store_keycode_spend(r->tx, q.order, r->now)) != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	d = job_detail(&q, job);
	if ((rc = audit_event(r, "cut.retrieved", kcs_json_str(q.account, "sdrm_id"), d)))
		goto out;
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "job_id", (double)job);
	cJSON_AddStringToObject(r->out, "vin", q.vin);
	cJSON_AddStringToObject(r->out, "cut_code", cut);
	rc = 200;
out:
	sodium_memzero(cut, sizeof cut);
	job_ask_free(&q);
	cJSON_Delete(v);
	return rc;
}

/* the job named by the request's job_id, of this locksmith */
static int
get_job(struct req *r, cJSON **job, long long *id)
{
	int rc;

	if ((rc = want_int(r, "job_id", 1, KCS_ID_MAX, 1, id)))
		return rc;
	if ((rc = store_job_get(r->tx, *id, r->account_id, job)) == STORE_NOTFOUND)
		return fail(r, 404, "unknown_job", "job_id", "you have no job %lld", *id);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	if (strcmp(kcs_json_str(*job, "kind"), "code") != 0) {
		cJSON_Delete(*job);
		return fail(r, 409, "not_coding", "job_id", "job %lld is not a coding job", *id);
	}
	return 0;
}

/* a refusal that stays on record: audited, and kept though the answer is an error */
static int
refused(struct req *r, const char *event, long long job, int status, const char *code, const char *field,
    const char *why)
{
	cJSON *d = cJSON_CreateObject();

	cJSON_AddNumberToObject(d, "job_id", (double)job);
	cJSON_AddStringToObject(d, "reason", why);
	if (audit_event(r, event, r->actor, d))
		return 500;
	r->keep = 1;
	return fail(r, status, code, field, "%s", why);
}

int
h_coding_attest(struct req *r)
{
	static const char *const ok[] = { "job_id", "hello", "firmware_hash", "signature", NULL };
	uint8_t hello[KW_MAX_PAYLOAD], fw_hash[32], sig[64], nonce[KW_NONCE], pk[32], msg[64 + KW_MAX_PAYLOAD];
	uint8_t secret[32], sealed_secret[32 + KCS_SEAL_OVERHEAD], rnd[KW_NONCE], blob[KW_JOB_SEALED_MAX];
	char challenge[2 * KW_NONCE + 1], *hex = NULL, label[32], until[21];
	struct kw_info info;
	struct kw_job kj = { 0 };
	long long id = 0, pos = 0;
	size_t hello_n = 0, n;
	cJSON *job = NULL, *v = NULL, *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = get_job(r, &job, &id)))
		return rc;
	if ((rc = want_hex_var(r, "hello", hello, sizeof hello, &hello_n)) ||
	    (rc = want_hex(r, "firmware_hash", fw_hash, 32)) || (rc = want_hex(r, "signature", sig, 64)))
		goto out;
	if (strcmp(kcs_json_str(job, "state"), "started") != 0) {
		rc = fail(r, 409, "not_started", "job_id", "job %lld has no attestation pending: start it again", id);
		goto out;
	}
	if (kw_hello_parse(hello, hello_n, &info) != 0) {
		rc = fail(r, 400, "invalid", "hello", "is not a key writer's handshake");
		goto out;
	}
	if (strcmp(info.serial, kcs_json_str(job, "serial")) != 0) {
		rc = refused(r, "coding.refused", id, 403, "attestation_failed", "hello",
		    "the attesting writer is not the job's writer");
		goto out;
	}
	if (info.fw[0] < KW_FIRMWARE_MIN) {
		rc = fail(r, 403, "firmware_too_old", "hello", "the writer's firmware is older than %d", KW_FIRMWARE_MIN);
		goto out;
	}
	kcs_hex_decode(kcs_json_str(job, "nonce"), nonce, KW_NONCE);
	kcs_hex_decode(kcs_json_str(job, "public_key"), pk, 32);
	n = kw_attest_message(msg, sizeof msg, nonce, hello, hello_n, fw_hash);
	if (!n || crypto_sign_verify_detached(sig, msg, n, pk) != 0) {
		rc = refused(r, "coding.refused", id, 403, "attestation_failed", "signature",
		    "the attestation does not verify under the writer's registered key");
		goto out;
	}
	/* the transponder data of this key position, from the vehicle's secret */
	kcs_json_int(job, "key_position", &pos);
	if ((rc = store_vehicle_secret(r->tx, kcs_json_str(job, "vin"), &v)) != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	if (kcs_hex_decode(kcs_json_str(v, "secret"), sealed_secret, sizeof sealed_secret) != 0 ||
	    kcs_open(K.master, sealed_secret, sizeof sealed_secret, secret) != 0) {
		rc = fail(r, 500, "internal", NULL, "the vehicle's secret cannot be opened");
		goto out;
	}
	snprintf(label, sizeof label, "transponder:%lld", pos);
	crypto_generichash(kj.data, TRANSPONDER_BYTES, (const uint8_t *)label, strlen(label), secret, sizeof secret);
	sodium_memzero(secret, sizeof secret);
	kj.n = TRANSPONDER_BYTES;
	kj.id = (uint64_t)id;
	snprintf(kj.vin, sizeof kj.vin, "%s", kcs_json_str(job, "vin"));
	kj.number = (unsigned)pos;
	kj.expires = (uint32_t)(r->now + K.cf.coding_lifetime);
	n = kw_job_seal(&kj, pk, blob, sizeof blob);
	sodium_memzero(&kj, sizeof kj);
	randombytes_buf(rnd, sizeof rnd);
	kcs_hex_encode(rnd, sizeof rnd, challenge);
	if (!n) {
		rc = fail(r, 500, "internal", NULL, "the job cannot be sealed to the writer");
		goto out;
	}
	if ((rc = store_job_attested(r->tx, id, kcs_json_str(job, "nonce"), challenge,
	    r->now + K.cf.coding_lifetime, r->now)) == STORE_NOTFOUND) {
		rc = fail(r, 409, "not_started", "job_id", "job %lld has no attestation pending: start it again", id);
		goto out;
	}
	if (rc != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "job_id", (double)id);
	cJSON_AddStringToObject(d, "serial", info.serial);
	snprintf(label, sizeof label, "%u.%u.%u", info.fw[0], info.fw[1], info.fw[2]);
	cJSON_AddStringToObject(d, "firmware", label);
	if ((rc = audit_event(r, "coding.attested", r->actor, d)))
		goto out;
	hex = malloc(2 * n + 1);
	if (!hex) {
		rc = fail(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	kcs_hex_encode(blob, n, hex);
	kcs_time_iso((time_t)(r->now + K.cf.coding_lifetime), until);
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "job_id", (double)id);
	cJSON_AddStringToObject(r->out, "sealed_job", hex);
	cJSON_AddStringToObject(r->out, "challenge", challenge);
	cJSON_AddStringToObject(r->out, "expires_at", until);
	cJSON_AddNumberToObject(r->out, "now", (double)r->now);
	rc = 200;
out:
	free(hex);
	cJSON_Delete(job);
	cJSON_Delete(v);
	return rc;
}

static cJSON *
coded_answer(const cJSON *job, long long id)
{
	cJSON *o = cJSON_CreateObject();
	long long pos = 0, done = 0;
	char when[21];

	kcs_json_int(job, "key_position", &pos);
	kcs_json_int(job, "done_at", &done);
	cJSON_AddNumberToObject(o, "job_id", (double)id);
	cJSON_AddStringToObject(o, "vin", kcs_json_str(job, "vin"));
	cJSON_AddNumberToObject(o, "key_position", (double)pos);
	cJSON_AddStringToObject(o, "state", "coded");
	cJSON_AddStringToObject(o, "serial", kcs_json_str(job, "serial"));
	if (kcs_json_str(job, "key_id"))
		cJSON_AddStringToObject(o, "key_id", kcs_json_str(job, "key_id"));
	kcs_time_iso((time_t)done, when);
	cJSON_AddStringToObject(o, "coded_at", when);
	return o;
}

int
h_coding_receipt(struct req *r)
{
	static const char *const ok[] = { "job_id", "receipt", "signature", NULL };
	uint8_t receipt[KW_MAX_PAYLOAD], sig[64], challenge[KW_NONCE], pk[32], msg[64 + KW_MAX_PAYLOAD];
	char hex[2 * KW_MAX_PAYLOAD + 1], key_id[17];
	struct kw_receipt rc_ = { 0 };
	long long id = 0, pos = 0, expires = 0, order = 0;
	size_t n = 0, m;
	cJSON *job = NULL, *d, *again;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = get_job(r, &job, &id)))
		return rc;
	if ((rc = want_hex_var(r, "receipt", receipt, sizeof receipt, &n)) || (rc = want_hex(r, "signature", sig, 64)))
		goto out;
	kcs_hex_encode(receipt, n, hex);
	if (strcmp(kcs_json_str(job, "state"), "done") == 0) {
		/* the same receipt again (a retry): the same answer */
		if (kcs_json_str(job, "receipt") && strcmp(kcs_json_str(job, "receipt"), hex) == 0) {
			r->out = coded_answer(job, id);
			rc = 200;
		} else
			rc = fail(r, 409, "coded", "job_id", "job %lld is done: its key is coded", id);
		goto out;
	}
	if (strcmp(kcs_json_str(job, "state"), "attested") != 0) {
		rc = fail(r, 409, "not_attested", "job_id", "job %lld has no coding under way: start it again", id);
		goto out;
	}
	kcs_json_int(job, "expires_at", &expires);
	if (expires <= r->now) {
		rc = fail(r, 410, "expired", "job_id", "job %lld's coding expired: run kcs-code again", id);
		goto out;
	}
	kcs_json_int(job, "key_position", &pos);
	kcs_json_int(job, "order_id", &order);
	kcs_hex_decode(kcs_json_str(job, "challenge"), challenge, KW_NONCE);
	kcs_hex_decode(kcs_json_str(job, "public_key"), pk, 32);
	m = kw_receipt_message(msg, sizeof msg, challenge, receipt, n);
	if (!m || crypto_sign_verify_detached(sig, msg, m, pk) != 0) {
		rc = refused(r, "coding.refused", id, 403, "receipt_invalid", "signature",
		    "the receipt is not signed by the job's writer over this job's challenge");
		goto out;
	}
	if (kw_receipt_parse(receipt, n, &rc_) != 0 || rc_.job != (uint64_t)id ||
	    strcmp(rc_.vin, kcs_json_str(job, "vin")) != 0 || rc_.number != (unsigned)pos) {
		rc = refused(r, "coding.refused", id, 403, "receipt_invalid", "receipt",
		    "the receipt is for another job, vehicle or key position");
		goto out;
	}
	if (rc_.result != 0) {
		rc = refused(r, "coding.refused", id, 409, "coding_failed", "receipt",
		    "the writer reports that the key was not written: run kcs-code again");
		goto out;
	}
	kcs_hex_encode(rc_.key_id, rc_.key_id_n, key_id);
	if ((rc = store_job_done(r->tx, id, kcs_json_str(job, "challenge"), hex, key_id, rc_.count, r->now)) ==
	    STORE_NOTFOUND) {
		rc = fail(r, 409, "not_attested", "job_id", "job %lld has no coding under way: start it again", id);
		goto out;
	}
	if (rc != STORE_OK || (rc = store_key_coded(r->tx, order, r->now)) != STORE_OK ||
	    (rc = store_keycode_spend(r->tx, order, r->now)) != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "job_id", (double)id);
	cJSON_AddNumberToObject(d, "order_id", (double)order);
	cJSON_AddStringToObject(d, "vin", kcs_json_str(job, "vin"));
	cJSON_AddNumberToObject(d, "key_position", (double)pos);
	cJSON_AddStringToObject(d, "serial", kcs_json_str(job, "serial"));
	cJSON_AddStringToObject(d, "key_id", key_id);
	cJSON_AddNumberToObject(d, "writer_count", rc_.count);
	if ((rc = audit_event(r, "key.coded", r->actor, d)))
		goto out;
	if ((rc = store_job_get(r->tx, id, r->account_id, &again)) != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	r->out = coded_answer(again, id);
	cJSON_Delete(again);
	rc = 200;
out:
	cJSON_Delete(job);
	return rc;
}

/* Job records (NASTF's D1 form is the anchor): each coding and cutting with
 * its owner's record opened, the disclaimer accepted, the writer, the
 * receipt and the times. Every export is audited. */
static int
export_jobs(struct req *r, long long account, long long from, long long to, const char *event)
{
	cJSON *rows, *it, *d;
	int rc = store_jobs_list(r->tx, account, from, to, &rows);

	if (rc != STORE_OK)
		return store_fail(r, rc);
	cJSON_ArrayForEach(it, rows) {
		const char *hex = kcs_json_str(it, "owner");
		size_t n = hex ? strlen(hex) / 2 : 0;
		uint8_t *sealed = n > KCS_SEAL_OVERHEAD ? malloc(n) : NULL;
		char *text = sealed ? malloc(n - KCS_SEAL_OVERHEAD + 1) : NULL;
		static const char *const times[] = { "accepted_at", "created_at", "done_at" };

		if (!text || kcs_hex_decode(hex, sealed, n) != 0 || kcs_open(K.master, sealed, n, text) != 0) {
			free(sealed);
			free(text);
			cJSON_Delete(rows);
			return fail(r, 500, "internal", NULL, "a job's owner's record cannot be opened");
		}
		text[n - KCS_SEAL_OVERHEAD] = '\0';
		cJSON_ReplaceItemInObject(it, "owner", cJSON_Parse(text));
		sodium_memzero(text, n - KCS_SEAL_OVERHEAD);
		free(text);
		free(sealed);
		for (size_t k = 0; k < sizeof times / sizeof times[0]; k++) {
			long long t = 0;
			char iso[21];

			if (kcs_json_int(it, times[k], &t) == 0) {
				kcs_time_iso((time_t)t, iso);
				cJSON_ReplaceItemInObject(it, times[k], cJSON_CreateString(iso));
			}
		}
	}
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "jobs", cJSON_GetArraySize(rows));
	cJSON_AddNumberToObject(d, "from", (double)from);
	cJSON_AddNumberToObject(d, "to", (double)to);
	if ((rc = audit_event(r, event, r->actor, d))) {
		cJSON_Delete(rows);
		return rc;
	}
	r->out = cJSON_CreateObject();
	cJSON_AddItemToObject(r->out, "jobs", rows);
	return 200;
}

int
h_my_jobs(struct req *r)
{
	return export_jobs(r, r->account_id, 0, KCS_ID_MAX, "jobs.listed");
}

/* ?from=YYYY-MM-DD&to=YYYY-MM-DD: the days, in UTC, both included */
int
h_jobs_export(struct req *r)
{
	const char *from = query_arg(r, "from"), *to = query_arg(r, "to");
	struct tm a = { 0 }, b = { 0 };

	if (!from || kcs_date_parse(from, "from") != KCS_OK || !strptime(from, "%Y-%m-%d", &a))
		return fail(r, 400, "invalid", "from", "is required: the first day, YYYY-MM-DD");
	if (!to || kcs_date_parse(to, "to") != KCS_OK || !strptime(to, "%Y-%m-%d", &b))
		return fail(r, 400, "invalid", "to", "is required: the last day, YYYY-MM-DD");
	if (timegm(&b) < timegm(&a))
		return fail(r, 400, "invalid", "to", "is before from");
	return export_jobs(r, 0, (long long)timegm(&a), (long long)timegm(&b) + 86400, "jobs.exported");
}
