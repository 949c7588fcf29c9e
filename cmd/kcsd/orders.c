/* orders.c: the vehicle registry, security tickets (TAN), the hotline's
 * redemption of a ticket and the orders it allows (seed 000 §5-§7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kcsd.h"

#define TAN_DIGITS 8
#define KEY_CODE_SYMBOLS 12

/* vehicles */

/* Checks one vehicle entry; writes the canonical VIN. */
static int
vehicle_entry(struct req *r, const cJSON *e, const char *prefix, char vin[18])
{
	static const char *const ok[] = { "vin", "model", "production_date", NULL };
	const char *v, *model, *date;
	char field[64], today[21];
	cJSON *old;
	int rc;

	for (const cJSON *it = e->child; it; it = it->next) {
		int known = 0;

		for (const char *const *a = ok; *a; a++)
			known |= strcmp(*a, it->string) == 0;
		if (!known) {
			snprintf(field, sizeof field, "%s%s", prefix, it->string);
			return fail(r, 400, "invalid", field, "unknown field");
		}
	}
#define FIELD(n) (snprintf(field, sizeof field, "%s%s", prefix, n), field)
	v = kcs_json_str(e, "vin");
	if (!v)
		return fail(r, 400, "invalid", FIELD("vin"), "is required (a string)");
	if (kcs_vin_parse(v, vin) != KCS_OK)
		return fail(r, 400, "invalid", FIELD("vin"), "%s", kcs_errmsg());
	model = kcs_json_str(e, "model");
	if (!model)
		return fail(r, 400, "invalid", FIELD("model"), "is required (a string)");
	if ((rc = check_text(r, FIELD("model"), model, 64, 1)))
		return rc;
	date = kcs_json_str(e, "production_date");
	if (!date)
		return fail(r, 400, "invalid", FIELD("production_date"), "is required (YYYY-MM-DD)");
	if (kcs_date_parse(date, "production_date") != KCS_OK)
		return fail(r, 400, "invalid", FIELD("production_date"), "%s", kcs_errmsg());
	/* the 17-character VIN dates from 1981; no car is made tomorrow */
	kcs_time_iso((time_t)r->now, today);
	today[10] = '\0';
	if (strcmp(date, "1981-01-01") < 0 || strcmp(date, today) > 0)
		return fail(r, 400, "invalid", FIELD("production_date"),
		    "%s is out of range (1981-01-01 to today, %s)", date, today);
	if (store_vehicle_get(r->tx, vin, &old) == STORE_OK) {
		cJSON_Delete(old);
		return fail(r, 409, "conflict", FIELD("vin"), "%s is registered already", vin);
	}
#undef FIELD
	return 0;
}

/* A new vehicle: its secret and its mechanical cut code are made here,
 * sealed under the master key, and never returned by any route. */
static int
vehicle_add(struct req *r, const cJSON *e, const char *vin)
{
	uint8_t secret[32], sealed_secret[32 + KCS_SEAL_OVERHEAD], sealed_cut[CUT_CODE_LEN + KCS_SEAL_OVERHEAD];
	char cut[CUT_CODE_LEN + 1];
	cJSON *d;
	int rc;

	randombytes_buf(secret, sizeof secret);
	/* the shape of the manual's cut codes (two letters, 000, five digits),
	 * made up in the synthetic series KS of share/cut-table-synthetic.json
	 * (codes 00000 to 00999): real blade codes are not public */
	memcpy(cut, "KS00000", 7);
	kcs_digits_new(cut + 7, 3);
	kcs_seal(K.master, secret, sizeof secret, sealed_secret);
	kcs_seal(K.master, cut, CUT_CODE_LEN, sealed_cut);
	sodium_memzero(secret, sizeof secret);
	sodium_memzero(cut, sizeof cut);
	rc = store_vehicle_add(r->tx, vin, kcs_json_str(e, "model"), kcs_json_str(e, "production_date"),
	    sealed_secret, sizeof sealed_secret, sealed_cut, sizeof sealed_cut, r->now);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "model", kcs_json_str(e, "model"));
	cJSON_AddStringToObject(d, "production_date", kcs_json_str(e, "production_date"));
	return audit_event(r, "vehicle.added", vin, d);
}

/* What the hotline tells a caller before an order takes position pos. */
static const char *
position_warning(long long pos)
{
	return pos == KEY_POSITIONS - 1
	    ? "this key takes position 9 of 10: one more key can be ordered for this vehicle"
	    : pos == KEY_POSITIONS
	    ? "this key takes position 10 of 10: no further key can be ordered for this vehicle" : NULL;
}

static cJSON *
vehicle_view(struct req *r, const char *vin)
{
	cJSON *v, *keys;
	long long next = 0, nfree = 0;
	int rc;

	if (store_vehicle_get(r->tx, vin, &v) != STORE_OK)
		return NULL;
	if (store_vehicle_keys(r->tx, vin, &keys) != STORE_OK) {
		cJSON_Delete(v);
		return NULL;
	}
	cJSON_AddItemToObject(v, "keys", keys);
	if ((rc = store_key_positions(r->tx, vin, &next, &nfree)) != STORE_OK && rc != STORE_NOTFOUND) {
		cJSON_Delete(v);
		return NULL;
	}
	cJSON_AddNumberToObject(v, "free_positions", (double)nfree);
	return v;
}

/* {vin, model, production_date} adds one; {entries: [...], skip_invalid}
 * imports many: all or none, unless invalid entries are to be skipped. */
int
h_vehicle_add(struct req *r)
{
	const cJSON *entries = cJSON_GetObjectItemCaseSensitive(r->in, "entries"), *e;
	int skip = kcs_json_bool(r->in, "skip_invalid"), rc, i = 0, n = 0;
	char vin[18];
	cJSON *invalid;

	if (!entries) {
		if ((rc = vehicle_entry(r, r->in, "", vin)) || (rc = vehicle_add(r, r->in, vin)))
			return rc;
		r->out = vehicle_view(r, vin);
		return r->out ? 201 : store_fail(r, STORE_ERROR);
	}
	for (const cJSON *it = r->in->child; it; it = it->next)
		if (strcmp(it->string, "entries") && strcmp(it->string, "skip_invalid"))
			return fail(r, 400, "invalid", it->string, "unknown field");
	if (!cJSON_IsArray(entries) || cJSON_GetArraySize(entries) == 0)
		return fail(r, 400, "invalid", "entries", "must be a non-empty array of vehicles");
	invalid = cJSON_CreateArray();
	cJSON_ArrayForEach(e, entries) {
		char prefix[32];

		snprintf(prefix, sizeof prefix, "entries[%d].", i);
		rc = cJSON_IsObject(e) ? vehicle_entry(r, e, prefix, vin)
				       : fail(r, 400, "invalid", prefix, "is not an object");
		if (rc == 0 && (rc = vehicle_add(r, e, vin)) == 0)
			n++;
		if (rc >= 500) {
			cJSON_Delete(invalid);
			return rc;
		}
		if (rc) {
			cJSON *bad = cJSON_CreateObject();
			size_t plen = strlen(prefix);

			/* the field within the entry: entries[3].vin -> vin */
			cJSON_AddNumberToObject(bad, "index", i);
			cJSON_AddStringToObject(bad, "field",
			    strncmp(r->efield, prefix, plen) == 0 ? r->efield + plen : r->efield);
			cJSON_AddStringToObject(bad, "message", r->emsg);
			cJSON_AddItemToArray(invalid, bad);
		}
		i++;
	}
	if (cJSON_GetArraySize(invalid) && !skip) {
		r->edetail = invalid;
		return fail(r, 400, "invalid", "entries", "%d of %d entries are invalid: nothing was imported",
		    cJSON_GetArraySize(invalid), i);
	}
	r->ecode[0] = r->efield[0] = r->emsg[0] = '\0';
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "imported", n);
	cJSON_AddItemToObject(r->out, "skipped", invalid);
	return 201;
}

/* The hotline's check before it takes payment (seed 000 §6.4): is the VIN
 * registered, and has it a free key position? Nothing secret in it. */
int
h_vehicle_check(struct req *r)
{
	char vin[18];
	cJSON *v;
	long long next = 0, nfree = 0;
	int rc;

	if (kcs_vin_parse(r->arg, vin) != KCS_OK)
		return fail(r, 400, "invalid", "vin", "%s", kcs_errmsg());
	if ((rc = store_vehicle_get(r->tx, vin, &v)) == STORE_NOTFOUND)
		return fail(r, 404, "unknown_vin", "vin", "%s is not a registered vehicle", vin);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	if ((rc = store_key_positions(r->tx, vin, &next, &nfree)) != STORE_OK && rc != STORE_NOTFOUND) {
		cJSON_Delete(v);
		return store_fail(r, rc);
	}
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "vin", vin);
	cJSON_AddStringToObject(r->out, "model", kcs_json_str(v, "model"));
	cJSON_AddStringToObject(r->out, "production_date", kcs_json_str(v, "production_date"));
	cJSON_AddNumberToObject(r->out, "free_positions", (double)nfree);
	if (nfree > 0) {
		cJSON_AddNumberToObject(r->out, "next_position", (double)next);
		if (position_warning(next))
			cJSON_AddStringToObject(r->out, "warning", position_warning(next));
	} else {
		cJSON_AddStringToObject(r->out, "warning",
		    "all 10 key positions are used: no further key can be ordered for this vehicle");
	}
	cJSON_Delete(v);
	return 200;
}

int
h_vehicle_get(struct req *r)
{
	char vin[18];

	if (kcs_vin_parse(r->arg, vin) != KCS_OK)
		return fail(r, 400, "invalid", "vin", "%s", kcs_errmsg());
	if (!(r->out = vehicle_view(r, vin)))
		return fail(r, 404, "unknown_vin", "vin", "%s is not a registered vehicle", vin);
	return 200;
}

/* security tickets */

static void
tan_hash(const char *sdrm_id, const char *tan, char out[KCS_HASH_HEX])
{
	char in[80];

	snprintf(in, sizeof in, "tan:%s:%s", sdrm_id, tan);
	kcs_keyed_hash(K.pepper, in, out);
	sodium_memzero(in, sizeof in);
}

int
h_ticket_issue(struct req *r)
{
	static const char *const ok[] = { "accept_disclaimer", NULL };
	long long version = 0, acceptance = 0, id = 0;
	char tan[TAN_DIGITS + 1], hash[KCS_HASH_HEX], until[21];
	cJSON *a, *d;
	int rc;

	if ((rc = only_fields(r, ok)))
		return rc;
	if ((rc = store_account_get(r->tx, r->account_id, &a)) != STORE_OK)
		return store_fail(r, rc);
	if (!flag(a, "email_verified") || !flag(a, "address_verified")) {
		cJSON_Delete(a);
		return fail(r, 403, "inactive", NULL,
		    "the account is Inactive: verify the delivery address first (kcs-login verify-address)");
	}
	if ((rc = accepted_version(r, "ticket", &version)) ||
	    (rc = store_acceptance_add(r->tx, r->account_id, "ticket", version, r->now, &acceptance)) ||
	    (rc = store_ticket_cancel_live(r->tx, r->account_id, r->now, NULL))) {
		cJSON_Delete(a);
		return rc > 0 ? rc : store_fail(r, rc);
	}
	/* a TAN is read over the phone: digits only */
	for (int tries = 0; tries < 5; tries++) {
		kcs_digits_new(tan, TAN_DIGITS);
		tan_hash(kcs_json_str(a, "sdrm_id"), tan, hash);
		if ((rc = store_ticket_add(r->tx, r->account_id, hash, acceptance, r->now,
		    r->now + K.cf.ticket_lifetime, &id)) != STORE_CONFLICT)
			break;
	}
	if (rc != STORE_OK) {
		cJSON_Delete(a);
		sodium_memzero(tan, sizeof tan);
		return store_fail(r, rc);
	}
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "ticket_id", (double)id);
	cJSON_AddNumberToObject(d, "disclaimer_version", (double)version);
	rc = audit_event(r, "ticket.issued", kcs_json_str(a, "sdrm_id"), d);
	cJSON_Delete(a);
	if (rc) {
		sodium_memzero(tan, sizeof tan);
		return rc;
	}
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "tan", tan);
	kcs_time_iso((time_t)(r->now + K.cf.ticket_lifetime), until);
	cJSON_AddStringToObject(r->out, "expires_at", until);
	cJSON_AddNumberToObject(r->out, "lifetime_seconds", (double)K.cf.ticket_lifetime);
	sodium_memzero(tan, sizeof tan);
	return 201;
}

int
h_ticket_status(struct req *r)
{
	cJSON *t;
	long long expires = 0;
	int rc = store_ticket_current(r->tx, r->account_id, r->now, &t);

	if (rc == STORE_ERROR)
		return store_fail(r, rc);
	r->out = cJSON_CreateObject();
	if (rc == STORE_NOTFOUND) {
		cJSON_AddStringToObject(r->out, "ticket", "none");
		return 200;
	}
	kcs_json_int(t, "expires_at", &expires);
	cJSON_AddStringToObject(r->out, "ticket", "live");
	cJSON_AddItemToObject(r->out, "issued_at", cJSON_Duplicate(cJSON_GetObjectItem(t, "created_at"), 1));
	cJSON_AddNumberToObject(r->out, "expires_at", (double)expires);
	cJSON_AddNumberToObject(r->out, "remaining_seconds", (double)(expires - r->now));
	cJSON_Delete(t);
	return 200;
}

static cJSON *
delivery_address(const cJSON *a)
{
	cJSON *o = cJSON_CreateObject();
	static const char *const f[] = { "company", "address", "city", "state", "zip" };
	char name[256];

	full_name(a, name, sizeof name);
	cJSON_AddStringToObject(o, "name", name);
	for (size_t i = 0; i < sizeof f / sizeof *f; i++)
		cJSON_AddStringToObject(o, f[i], kcs_json_str(a, f[i]));
	return o;
}

int
h_redeem(struct req *r)
{
	static const char *const ok[] = { "tan", "sdrm_id", NULL };
	const char *tan, *sdrm;
	char key[KCS_HASH_HEX], hash[KCS_HASH_HEX], in[80], call[17];
	uint8_t rnd[8];
	long long tid = 0, aid = 0;
	cJSON *t, *a, *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "tan", 1, 32, 1, &tan)) ||
	    (rc = want_str(r, "sdrm_id", 1, 32, 1, &sdrm)) || (rc = valid_sdrm_id(r, "sdrm_id", sdrm)))
		return rc;
	if (strlen(tan) != TAN_DIGITS || strspn(tan, "0123456789") != TAN_DIGITS)
		return fail(r, 400, "invalid", "tan", "a TAN has %d digits", TAN_DIGITS);
	snprintf(in, sizeof in, "redeem:%s", sdrm);
	kcs_keyed_hash(K.pepper, in, key);
	if ((rc = check_lock(r, key)))
		return rc;
	tan_hash(sdrm, tan, hash);
	/* found and consumed in one transaction under the store's lock: of many
	 * concurrent redemptions, one wins */
	if ((rc = store_ticket_find(r->tx, hash, r->now, &t)) == STORE_OK) {
		kcs_json_int(t, "id", &tid);
		kcs_json_int(t, "account_id", &aid);
		cJSON_Delete(t);
		rc = store_ticket_redeem(r->tx, tid, r->now);
	}
	if (rc == STORE_NOTFOUND && (rc = store_ticket_by_hash(r->tx, hash, &t)) == STORE_OK) {
		long long redeemed = 0;

		/* this SDRM ID's own used TAN (a retry, a double click) is no
		 * guess: said so, and not counted toward the lockout */
		kcs_json_int(t, "redeemed_at", &redeemed);
		cJSON_Delete(t);
		if (redeemed)
			return fail(r, 409, "ticket_used", "tan",
			    "this TAN was redeemed already: a ticket is good for one call");
		rc = STORE_NOTFOUND;
	}
	if (rc == STORE_NOTFOUND)
		return record_failure(r, "redeem", key, K.cf.redeem_failures, K.cf.redeem_cooldown, sdrm,
		    "redeem", 410, "no_ticket",
		    "no live ticket matches this TAN and SDRM ID (wrong, used, cancelled or expired)");
	if (rc != STORE_OK)
		return store_fail(r, rc);
	randombytes_buf(rnd, sizeof rnd);
	kcs_hex_encode(rnd, sizeof rnd, call);
	if ((rc = store_call_add(r->tx, call, tid, r->op_id, r->now, r->now + K.cf.call_lifetime)) ||
	    (rc = store_failures_clear(r->tx, key)) || (rc = store_account_get(r->tx, aid, &a)))
		return store_fail(r, rc);
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "ticket_id", (double)tid);
	cJSON_AddStringToObject(d, "call_id", call);
	if ((rc = audit_event(r, "ticket.redeemed", sdrm, d))) {
		cJSON_Delete(a);
		return rc;
	}
	r->out = status_box(a);
	cJSON_AddStringToObject(r->out, "call_id", call);
	cJSON_AddNumberToObject(r->out, "call_expires_at", (double)(r->now + K.cf.call_lifetime));
	cJSON_AddItemToObject(r->out, "delivery_address", delivery_address(a));
	cJSON_AddStringToObject(r->out, "phone", kcs_json_str(a, "phone"));
	cJSON_Delete(a);
	return 200;
}

/* The call an order is placed on: live, unused, this operator's. Marks it used. */
static int
take_call(struct req *r, const char *call, cJSON **a, long long *ticket, long long *acceptance)
{
	cJSON *c;
	long long expires = 0, used = 0, cancelled = 0, op = 0, aid = 0;
	int rc;

	if (strlen(call) != 16 || strspn(call, "0123456789abcdef") != 16)
		return fail(r, 400, "invalid", "call_id", "is not a call id (16 hexadecimal digits)");
	if ((rc = store_call_get(r->tx, call, &c)) == STORE_NOTFOUND)
		return fail(r, 404, "unknown_call", "call_id", "no such call: redeem the caller's TAN first");
	if (rc != STORE_OK)
		return store_fail(r, rc);
	kcs_json_int(c, "expires_at", &expires);
	kcs_json_int(c, "used_at", &used);
	kcs_json_int(c, "cancelled_at", &cancelled);
	kcs_json_int(c, "operator_id", &op);
	kcs_json_int(c, "account_id", &aid);
	kcs_json_int(c, "ticket_id", ticket);
	kcs_json_int(c, "acceptance_id", acceptance);
	cJSON_Delete(c);
	if (op != r->op_id)
		return fail(r, 403, "not_your_call", "call_id", "this call was taken by another operator");
	if (used)
		return fail(r, 409, "call_used", "call_id", "this call has placed its order already");
	if (cancelled)
		return fail(r, 410, "call_cancelled", "call_id",
		    "the call was cancelled (the locksmith's password was changed): a new ticket is needed");
	if (expires <= r->now)
		return fail(r, 410, "call_expired", "call_id",
		    "the call has expired: the locksmith needs a new ticket");
	if ((rc = store_call_use(r->tx, call, r->now)) || (rc = store_account_get(r->tx, aid, a)))
		return store_fail(r, rc);
	return 0;
}

static int
order_fields(struct req *r, const char *const *ok, const char **call, const char **payment)
{
	const cJSON *conf = cJSON_GetObjectItemCaseSensitive(r->in, "address_confirmed");
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "call_id", 1, 64, 1, call)) ||
	    (rc = want_text(r, "payment_ref", 64, 1, payment)))
		return rc;
	if (!cJSON_IsTrue(conf))
		return fail(r, 400, "invalid", "address_confirmed",
		    "read the delivery address back to the caller, then confirm it (true)");
	return 0;
}

/* What every order has: who, on which call, paid how, shipped where. */
static void
order_init(struct req *r, struct store_order *o, const char *kind, const cJSON *a, const char *call,
    const char *payment, char *ship_to, size_t n)
{
	address_lines(a, ship_to, n);
	o->kind = kind;
	kcs_json_int(a, "id", &o->account_id);
	o->call_id = call;
	o->operator_id = r->op_id;
	o->payment_ref = payment;
	o->ship_to = ship_to;
}

static cJSON *
order_answer(long long id, const char *kind, const cJSON *a, const char *ship_to)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "order_id", (double)id);
	cJSON_AddStringToObject(o, "kind", kind);
	cJSON_AddStringToObject(o, "sdrm_id", kcs_json_str(a, "sdrm_id"));
	cJSON_AddStringToObject(o, "email", kcs_json_str(a, "email"));
	cJSON_AddStringToObject(o, "ship_to", ship_to);
	cJSON_AddStringToObject(o, "state", "placed");
	return o;
}

static cJSON *
order_audit(long long id, long long ticket, long long acceptance, const char *call)
{
	cJSON *d = cJSON_CreateObject();

	cJSON_AddNumberToObject(d, "order_id", (double)id);
	cJSON_AddStringToObject(d, "call_id", call);
	cJSON_AddNumberToObject(d, "ticket_id", (double)ticket);
	cJSON_AddNumberToObject(d, "disclaimer_acceptance_id", (double)acceptance);
	return d;
}

int
h_order_key(struct req *r)
{
	static const char *const ok[] = { "call_id", "vin", "payment_ref", "address_confirmed", NULL };
	const char *call, *payment, *vin_in;
	char vin[18], code[24], hash[KCS_HASH_HEX], ship_to[600], name[256];
	long long ticket = 0, acceptance = 0, pos = 0, nfree = 0, id = 0;
	struct store_order o = { 0 };
	cJSON *a = NULL, *v, *d;
	int rc;

	if ((rc = order_fields(r, ok, &call, &payment)) || (rc = want_str(r, "vin", 1, 64, 1, &vin_in)))
		return rc;
	if (kcs_vin_parse(vin_in, vin) != KCS_OK)
		return fail(r, 400, "invalid", "vin", "%s", kcs_errmsg());
	if ((rc = store_vehicle_get(r->tx, vin, &v)) == STORE_NOTFOUND)
		return fail(r, 404, "unknown_vin", "vin", "%s is not a registered vehicle", vin);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	cJSON_Delete(v);
	if ((rc = store_key_positions(r->tx, vin, &pos, &nfree)) == STORE_NOTFOUND)
		return fail(r, 409, "no_free_position", "vin",
		    "all 10 key positions of %s are used: no further key can be ordered", vin);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	if ((rc = take_call(r, call, &a, &ticket, &acceptance)))
		return rc;
	/* the Key Code: given once, kept only as a keyed hash */
	kcs_code_new(code, sizeof code, KEY_CODE_SYMBOLS);
	keycode_hash(vin, code, hash);
	order_init(r, &o, "key", a, call, payment, ship_to, sizeof ship_to);
	full_name(a, name, sizeof name);
	o.vin = vin;
	o.key_position = pos;
	o.key_code_hash = hash;
	if ((rc = store_order_add(r->tx, &o, r->now, &id)) || (rc = store_key_add(r->tx, vin, pos, id, r->now))) {
		rc = store_fail(r, rc);
		goto out;
	}
	if ((rc = send_message(r, MSG_KEY_ORDER, kcs_json_str(a, "email"), NULL, kcs_json_str(a, "first_name"),
	    kcs_json_str(a, "last_name"), id, vin, pos, code, ship_to)) ||
	    (rc = send_message(r, MSG_KEY_SLIP, name, ship_to, id, vin, pos)))
		goto out;
	d = order_audit(id, ticket, acceptance, call);
	cJSON_AddStringToObject(d, "vin", vin);
	cJSON_AddNumberToObject(d, "key_position", (double)pos);
	if ((rc = audit_event(r, "order.key", kcs_json_str(a, "sdrm_id"), d)))
		goto out;
	r->out = order_answer(id, "key", a, ship_to);
	cJSON_AddStringToObject(r->out, "vin", vin);
	cJSON_AddNumberToObject(r->out, "key_position", (double)pos);
	cJSON_AddStringToObject(r->out, "key_code", code);
	if (position_warning(pos))
		cJSON_AddStringToObject(r->out, "warning", position_warning(pos));
	rc = 201;
out:
	sodium_memzero(code, sizeof code);
	cJSON_Delete(a);
	return rc;
}

int
h_order_keywriter(struct req *r)
{
	static const char *const ok[] = { "call_id", "payment_ref", "address_confirmed", NULL };
	const char *call, *payment;
	char ship_to[600], from[11], to[11], name[256];
	long long ticket = 0, acceptance = 0, id = 0;
	struct store_order o = { 0 };
	cJSON *a = NULL;
	int rc;

	if ((rc = order_fields(r, ok, &call, &payment)) || (rc = take_call(r, call, &a, &ticket, &acceptance)))
		return rc;
	order_init(r, &o, "keywriter", a, call, payment, ship_to, sizeof ship_to);
	full_name(a, name, sizeof name);
	kcs_business_day((time_t)r->now, 5, from);
	kcs_business_day((time_t)r->now, 10, to);
	o.expected_from = from;
	o.expected_to = to;
	if ((rc = store_order_add(r->tx, &o, r->now, &id))) {
		rc = store_fail(r, rc);
		goto out;
	}
	if ((rc = send_message(r, MSG_KEYWRITER_ORDER, kcs_json_str(a, "email"), NULL,
	    kcs_json_str(a, "first_name"), kcs_json_str(a, "last_name"), id, from, to, ship_to)) ||
	    (rc = send_message(r, MSG_KEYWRITER_SLIP, name, ship_to, id, from, to)) ||
	    (rc = audit_event(r, "order.keywriter", kcs_json_str(a, "sdrm_id"),
		order_audit(id, ticket, acceptance, call))))
		goto out;
	r->out = order_answer(id, "keywriter", a, ship_to);
	cJSON_AddStringToObject(r->out, "expected_from", from);
	cJSON_AddStringToObject(r->out, "expected_to", to);
	rc = 201;
out:
	cJSON_Delete(a);
	return rc;
}

int
h_ship(struct req *r)
{
	static const char *const ok[] = { "order_id", "tracking", "serial", "public_key", NULL };
	const char *tracking, *serial, *pub, *kind;
	long long id = 0, account = 0;
	cJSON *o, *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_text(r, "tracking", 64, 1, &tracking)) ||
	    (rc = want_str(r, "serial", 1, 32, 0, &serial)) || (rc = want_str(r, "public_key", 1, 64, 0, &pub)))
		return rc;
	if ((rc = want_int(r, "order_id", 1, KCS_ID_MAX, 1, &id)))
		return rc;
	if ((rc = store_order_get(r->tx, id, &o)) == STORE_NOTFOUND)
		return fail(r, 404, "unknown_order", "order_id", "no order %lld", id);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	kind = kcs_json_str(o, "kind");
	kcs_json_int(o, "account_id", &account);
	if (strcmp(kcs_json_str(o, "state"), "cancelled") == 0) {
		cJSON_Delete(o);
		return fail(r, 409, "cancelled", "order_id", "order %lld was cancelled", id);
	}
	if (strcmp(kcs_json_str(o, "state"), "placed") != 0) {
		cJSON_Delete(o);
		return fail(r, 409, "shipped_already", "order_id", "order %lld has shipped already", id);
	}
	if (strcmp(kind, "keywriter") == 0) {
		if (!serial) {
			cJSON_Delete(o);
			return fail(r, 400, "invalid", "serial", "is required for a key writer: the device's serial number");
		}
		if (strspn(serial, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") != strlen(serial)) {
			cJSON_Delete(o);
			return fail(r, 400, "invalid", "serial", "may hold only letters, digits and '-'");
		}
		if (!pub || strlen(pub) != 64 || strspn(pub, "0123456789abcdef") != 64) {
			cJSON_Delete(o);
			return fail(r, 400, "invalid", "public_key",
			    "is required for a key writer: its public key, 64 lowercase hexadecimal digits");
		}
		if ((rc = store_keywriter_add(r->tx, serial, account, id, pub, r->now)) != STORE_OK) {
			cJSON_Delete(o);
			return rc == STORE_CONFLICT
			    ? fail(r, 409, "conflict", "serial", "this serial number or public key is registered already")
			    : store_fail(r, rc);
		}
	} else if (serial || pub) {
		cJSON_Delete(o);
		return fail(r, 400, "invalid", serial ? "serial" : "public_key", "only a key writer order has one");
	}
	if ((rc = store_order_ship(r->tx, id, tracking, r->now)) != STORE_OK) {
		cJSON_Delete(o);
		return store_fail(r, rc);
	}
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "order_id", (double)id);
	cJSON_AddStringToObject(d, "tracking", tracking);
	if (serial)
		cJSON_AddStringToObject(d, "keywriter_serial", serial);
	rc = audit_event(r, "order.shipped", kcs_json_str(o, "sdrm_id"), d);
	cJSON_Delete(o);
	if (rc)
		return rc;
	if ((rc = store_order_get(r->tx, id, &r->out)) != STORE_OK)
		return store_fail(r, rc);
	cJSON_DeleteItemFromObject(r->out, "account_id");
	return 200;
}

static int
list_orders(struct req *r, long long account, const char *sdrm, const char *vin_in, const char *state)
{
	char vin[18];
	cJSON *rows;
	int rc;

	if (sdrm && (rc = valid_sdrm_id(r, "sdrm_id", sdrm)))
		return rc;
	if (vin_in && kcs_vin_parse(vin_in, vin) != KCS_OK)
		return fail(r, 400, "invalid", "vin", "%s", kcs_errmsg());
	if (state && strcmp(state, "placed") && strcmp(state, "shipped") && strcmp(state, "cancelled"))
		return fail(r, 400, "invalid", "state", "must be placed, shipped or cancelled");
	if ((rc = store_order_list(r->tx, account, sdrm, vin_in ? vin : NULL, state, &rows)) != STORE_OK)
		return store_fail(r, rc);
	r->out = cJSON_CreateObject();
	cJSON_AddItemToObject(r->out, "orders", rows);
	return 200;
}

int
h_orders(struct req *r)
{
	return list_orders(r, 0, query_arg(r, "sdrm_id"), query_arg(r, "vin"), query_arg(r, "state"));
}

int
h_my_orders(struct req *r)
{
	int rc = list_orders(r, r->account_id, NULL, NULL, query_arg(r, "state"));
	cJSON *it;

	/* the hotline's call ids are its own business */
	if (rc == 200)
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(r->out, "orders"))
			cJSON_DeleteItemFromObject(it, "call_id");
	return rc;
}

/* the key writers shipped to this locksmith: serial and public key, for
 * kcs-keywriter info to check a writer's attestation against */
int
h_my_keywriters(struct req *r)
{
	cJSON *rows;
	int rc;

	if ((rc = store_keywriter_list(r->tx, r->account_id, &rows)) != STORE_OK)
		return store_fail(r, rc);
	r->out = cJSON_CreateObject();
	cJSON_AddItemToObject(r->out, "keywriters", rows);
	return 200;
}

/* {"order_id","reason"}: an order that has not shipped is cancelled; a key
 * order's position, not coded, is free again (the ten-key rule) */
int
h_order_cancel(struct req *r)
{
	static const char *const ok[] = { "order_id", "reason", NULL };
	const char *reason;
	long long id = 0, coded = 0;
	cJSON *o, *k = NULL, *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_int(r, "order_id", 1, KCS_ID_MAX, 1, &id)) ||
	    (rc = want_text(r, "reason", 200, 1, &reason)))
		return rc;
	if ((rc = store_order_get(r->tx, id, &o)) == STORE_NOTFOUND)
		return fail(r, 404, "unknown_order", "order_id", "no order %lld", id);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	if (strcmp(kcs_json_str(o, "state"), "placed") != 0) {
		rc = fail(r, 409, strcmp(kcs_json_str(o, "state"), "cancelled") ? "shipped_already" : "cancelled",
		    "order_id", "order %lld %s", id, strcmp(kcs_json_str(o, "state"), "cancelled")
		    ? "has shipped: it can no longer be cancelled" : "was cancelled already");
		cJSON_Delete(o);
		return rc;
	}
	if (kcs_json_str(o, "vin") && store_cas_coded_key(r->tx, kcs_json_str(o, "vin"),
	    (long long)cJSON_GetObjectItem(o, "key_position")->valuedouble, &k) == STORE_OK)
		coded = 1;
	cJSON_Delete(k);
	if (coded || (rc = store_order_cancel(r->tx, id, reason, r->now)) == STORE_NOTFOUND) {
		cJSON_Delete(o);
		return fail(r, 409, "coded", "order_id", "order %lld's key is coded: it can no longer be cancelled", id);
	}
	if (rc != STORE_OK) {
		cJSON_Delete(o);
		return store_fail(r, rc);
	}
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "order_id", (double)id);
	cJSON_AddStringToObject(d, "reason", reason);
	if (kcs_json_str(o, "vin")) {
		cJSON_AddStringToObject(d, "vin", kcs_json_str(o, "vin"));
		cJSON_AddItemToObject(d, "key_position", cJSON_Duplicate(cJSON_GetObjectItem(o, "key_position"), 1));
	}
	rc = audit_event(r, "order.cancelled", kcs_json_str(o, "sdrm_id"), d);
	cJSON_Delete(o);
	if (rc)
		return rc;
	if ((rc = store_order_get(r->tx, id, &r->out)) != STORE_OK)
		return store_fail(r, rc);
	cJSON_DeleteItemFromObject(r->out, "account_id");
	return 200;
}
