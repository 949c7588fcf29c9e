/* cas.c: a vehicle's CAS key slots (seed 001): key numbers 1 to 10, each
 * once; lock and release; the lost-key procedure; activation of a coded key
 * (seed 000 §10); personalization numbers. A locksmith acts only on the
 * vehicles of their own key orders, with the coding disclaimer accepted;
 * the hotline and administrators on any. Every change is audited. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kcsd.h"

#define KEYS_WARN 8 /* a warning from this many used positions on */

struct cas {
	char vin[18];
	cJSON *vehicle, *keys;
	long long acceptance; /* the locksmith's disclaimer acceptance, or 0 */
	long long pmax;       /* the model's personalization numbers: 1 to pmax */
};

static void
cas_free(struct cas *c)
{
	cJSON_Delete(c->vehicle);
	cJSON_Delete(c->keys);
}

/* the state a row says: free, reserved (ordered), coded, active, locked */
static const char *
key_state(const cJSON *k)
{
	long long t = 0;

	if (!k)
		return "free";
	if (kcs_json_int(k, "locked_at", &t) == 0)
		return "locked";
	if (kcs_json_int(k, "active_at", &t) == 0)
		return "active";
	if (kcs_json_int(k, "coded_at", &t) == 0)
		return "coded";
	return "reserved";
}

static const cJSON *
key_at(const struct cas *c, long long pos)
{
	const cJSON *k;
	long long p = 0;

	cJSON_ArrayForEach(k, c->keys)
		if (kcs_json_int(k, "position", &p) == 0 && p == pos)
			return k;
	return NULL;
}

/* the vehicle, its keys, and whether this caller may see or change them */
static int
cas_open(struct req *r, const char *vin_in, int change, struct cas *c)
{
	long long version = 0;
	int rc;

	memset(c, 0, sizeof *c);
	if (!vin_in)
		return fail(r, 400, "invalid", "vin", "is required");
	if (kcs_vin_parse(vin_in, c->vin) != KCS_OK)
		return fail(r, 400, "invalid", "vin", "%s", kcs_errmsg());
	if ((rc = store_vehicle_get(r->tx, c->vin, &c->vehicle)) == STORE_NOTFOUND)
		return fail(r, 404, "unknown_vin", "vin", "%s is not a registered vehicle", c->vin);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	if (r->account_id) {
		if ((rc = store_cas_orders_of(r->tx, c->vin, r->account_id)) == STORE_NOTFOUND)
			return fail(r, 403, "not_your_vehicle", "vin", "you have no key order for %s: only its "
			    "locksmiths, the hotline and administrators see or change its keys", c->vin);
		if (rc != STORE_OK)
			return store_fail(r, rc);
		if (change && ((rc = accepted_version(r, "coding", &version)) ||
		    (rc = store_acceptance_add(r->tx, r->account_id, "coding", version, r->now, &c->acceptance))))
			return rc > 0 ? rc : store_fail(r, rc);
	}
	if ((rc = store_cas_keys(r->tx, c->vin, &c->keys)) != STORE_OK ||
	    (rc = store_model_range(r->tx, kcs_json_str(c->vehicle, "model"), &c->pmax)) != STORE_OK)
		return store_fail(r, rc);
	return 0;
}

/* the Key Memory settings of one personalization number (0: all, by number) */
static cJSON *
memory_view(struct req *r, const struct cas *c, long long only)
{
	cJSON *rows = NULL, *it, *o = cJSON_CreateObject();

	if (store_memory_of(r->tx, c->vin, &rows) != STORE_OK)
		return o;
	cJSON_ArrayForEach(it, rows) {
		long long p = 0;
		char num[4];
		cJSON *prof, *unit;

		kcs_json_int(it, "personalization", &p);
		if (only && p != only)
			continue;
		snprintf(num, sizeof num, "%lld", p);
		prof = only ? o : cJSON_GetObjectItem(o, num) ? cJSON_GetObjectItem(o, num) : cJSON_AddObjectToObject(o, num);
		if (!(unit = cJSON_GetObjectItem(prof, kcs_json_str(it, "unit"))))
			unit = cJSON_AddObjectToObject(prof, kcs_json_str(it, "unit"));
		cJSON_AddStringToObject(unit, kcs_json_str(it, "name"), kcs_json_str(it, "value"));
	}
	cJSON_Delete(rows);
	return o;
}

/* the ten positions as JSON */
static cJSON *
cas_view(const struct cas *c)
{
	static const char *const times[] = { "created_at", "coded_at", "active_at", "locked_at", "changed_at" };
	cJSON *o = cJSON_CreateObject(), *arr;
	int used = 0;

	cJSON_AddStringToObject(o, "vin", c->vin);
	cJSON_AddStringToObject(o, "model", kcs_json_str(c->vehicle, "model"));
	cJSON_AddStringToObject(o, "production_date", kcs_json_str(c->vehicle, "production_date"));
	{
		cJSON *range = cJSON_AddArrayToObject(o, "personalization_range");

		cJSON_AddItemToArray(range, cJSON_CreateNumber(1));
		cJSON_AddItemToArray(range, cJSON_CreateNumber((double)c->pmax));
	}
	arr = cJSON_AddArrayToObject(o, "keys");
	for (long long pos = 1; pos <= KEY_POSITIONS; pos++) {
		const cJSON *k = key_at(c, pos);
		cJSON *x = cJSON_CreateObject();
		long long v = 0;

		cJSON_AddNumberToObject(x, "key_number", (double)pos);
		cJSON_AddStringToObject(x, "state", key_state(k));
		if (k) {
			char when[21], src[40];

			used++;
			if (kcs_json_int(k, "personalization", &v) == 0)
				cJSON_AddNumberToObject(x, "personalization", (double)v);
			if (kcs_json_int(k, "order_id", &v) == 0)
				snprintf(src, sizeof src, "order %lld", v);
			else
				snprintf(src, sizeof src, "delivered with the car");
			cJSON_AddStringToObject(x, "source", src);
			for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
				if (kcs_json_int(k, times[i], &v) == 0) {
					kcs_time_iso((time_t)v, when);
					cJSON_AddStringToObject(x, times[i], when);
				}
			if (kcs_json_str(k, "lock_reason"))
				cJSON_AddStringToObject(x, "lock_reason", kcs_json_str(k, "lock_reason"));
			if (kcs_json_str(k, "changed_by"))
				cJSON_AddStringToObject(x, "changed_by", kcs_json_str(k, "changed_by"));
		}
		cJSON_AddItemToArray(arr, x);
	}
	cJSON_AddNumberToObject(o, "used", used);
	if (used >= KEYS_WARN) {
		char w[120];

		snprintf(w, sizeof w, "%d of %d key positions are used: %d more key%s can be ordered", used,
		    KEY_POSITIONS, KEY_POSITIONS - used, KEY_POSITIONS - used == 1 ? "" : "s");
		cJSON_AddStringToObject(o, "warning", w);
	}
	return o;
}

static int
cas_audit(struct req *r, const struct cas *c, const char *event, long long pos, const char *reason)
{
	cJSON *d = cJSON_CreateObject();

	if (pos)
		cJSON_AddNumberToObject(d, "key_number", (double)pos);
	if (reason)
		cJSON_AddStringToObject(d, "reason", reason);
	if (c->acceptance)
		cJSON_AddNumberToObject(d, "disclaimer_acceptance_id", (double)c->acceptance);
	return audit_event(r, event, c->vin, d);
}

/* after a change: the slots as they are now */
static int
cas_answer(struct req *r, struct cas *c)
{
	int rc;

	cJSON_Delete(c->keys);
	c->keys = NULL;
	if ((rc = store_cas_keys(r->tx, c->vin, &c->keys)) != STORE_OK)
		return store_fail(r, rc);
	r->out = cas_view(c);
	return 200;
}

int
h_cas_show(struct req *r)
{
	struct cas c;
	int rc = cas_open(r, r->arg, 0, &c);

	if (!rc) {
		r->out = cas_view(&c);
		cJSON_AddItemToObject(r->out, "key_memory", memory_view(r, &c, 0));
		rc = 200;
	}
	cas_free(&c);
	return rc;
}

int
h_cas_lock(struct req *r)
{
	static const char *const ok[] = { "vin", "key_number", "reason", "accept_disclaimer", NULL };
	const char *vin, *reason;
	long long pos = 0;
	const cJSON *k;
	struct cas c = { 0 };
	int rc, active = 0;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "vin", 1, 64, 1, &vin)) ||
	    (rc = want_int(r, "key_number", 1, KEY_POSITIONS, 1, &pos)) ||
	    (rc = want_text(r, "reason", 200, 1, &reason)) || (rc = cas_open(r, vin, 1, &c)))
		goto out;
	k = key_at(&c, pos);
	if (!strcmp(key_state(k), "locked")) {
		rc = fail(r, 409, "locked", "key_number", "key %lld is locked already", pos);
		goto out;
	}
	if (strcmp(key_state(k), "active")) {
		rc = fail(r, 409, "never_active", "key_number", "key %lld is %s: only a key that has been activated "
		    "can be locked", pos, key_state(k));
		goto out;
	}
	cJSON_ArrayForEach(k, c.keys)
		active += !strcmp(key_state(k), "active");
	if (active <= 1) {
		rc = fail(r, 409, "last_key", "key_number", "key %lld is the vehicle's last working key: locking it "
		    "would leave the car without one", pos);
		goto out;
	}
	if ((rc = store_key_lock(r->tx, c.vin, pos, reason, r->actor, r->now)) == STORE_NOTFOUND) {
		rc = fail(r, 409, "changed", "key_number", "the keys of %s changed meanwhile: look again", c.vin);
		goto out;
	}
	if (rc != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	if (!(rc = cas_audit(r, &c, "cas.locked", pos, reason)))
		rc = cas_answer(r, &c);
out:
	cas_free(&c);
	return rc;
}

int
h_cas_release(struct req *r)
{
	static const char *const ok[] = { "vin", "key_number", "reason", "accept_disclaimer", NULL };
	const char *vin, *reason;
	long long pos = 0;
	struct cas c = { 0 };
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "vin", 1, 64, 1, &vin)) ||
	    (rc = want_int(r, "key_number", 1, KEY_POSITIONS, 1, &pos)) ||
	    (rc = want_text(r, "reason", 200, 1, &reason)) || (rc = cas_open(r, vin, 1, &c)))
		goto out;
	if ((rc = store_key_release(r->tx, c.vin, pos, r->actor, r->now)) == STORE_NOTFOUND) {
		rc = fail(r, 409, "not_locked", "key_number", "key %lld is not locked", pos);
		goto out;
	}
	if (rc != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	if (!(rc = cas_audit(r, &c, "cas.released", pos, reason)))
		rc = cas_answer(r, &c);
out:
	cas_free(&c);
	return rc;
}

/* {"vin","keep":[numbers],"reason"}: every other active key is locked, at once */
int
h_cas_lost_key(struct req *r)
{
	static const char *const ok[] = { "vin", "keep", "reason", "accept_disclaimer", NULL };
	const cJSON *keep = cJSON_GetObjectItemCaseSensitive(r->in, "keep"), *it, *k;
	const char *vin, *reason;
	int kept[KEY_POSITIONS + 1] = { 0 }, working = 0, locked = 0, rc;
	struct cas c = { 0 };
	cJSON *list;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "vin", 1, 64, 1, &vin)) ||
	    (rc = want_text(r, "reason", 200, 1, &reason)))
		return rc;
	if (!cJSON_IsArray(keep) || !cJSON_GetArraySize(keep))
		return fail(r, 400, "invalid", "keep", "is required: the key numbers the customer still has");
	cJSON_ArrayForEach(it, keep) {
		if (!cJSON_IsNumber(it) || it->valuedouble != (double)(int)it->valuedouble || it->valueint < 1 ||
		    it->valueint > KEY_POSITIONS)
			return fail(r, 400, "invalid", "keep", "holds key numbers, whole numbers from 1 to %d", KEY_POSITIONS);
		kept[it->valueint] = 1;
	}
	if ((rc = cas_open(r, vin, 1, &c)))
		goto out;
	for (int pos = 1; pos <= KEY_POSITIONS; pos++)
		working += kept[pos] && !strcmp(key_state(key_at(&c, pos)), "active");
	if (!working) {
		rc = fail(r, 409, "last_key", "keep", "none of the keys kept is an active, unlocked key: locking the "
		    "others would leave the car without a working key");
		goto out;
	}
	list = cJSON_CreateArray();
	for (int pos = 1; pos <= KEY_POSITIONS; pos++) {
		k = key_at(&c, pos);
		if (kept[pos] || strcmp(key_state(k), "active"))
			continue;
		if ((rc = store_key_lock(r->tx, c.vin, pos, reason, r->actor, r->now)) != STORE_OK) {
			cJSON_Delete(list);
			rc = rc == STORE_NOTFOUND ? fail(r, 409, "changed", "keep", "the keys of %s changed meanwhile: "
			    "look again", c.vin) : store_fail(r, rc);
			goto out;
		}
		cJSON_AddItemToArray(list, cJSON_CreateNumber(pos));
		locked++;
	}
	{
		cJSON *d = cJSON_CreateObject();

		cJSON_AddItemToObject(d, "locked", list);
		cJSON_AddItemToObject(d, "kept", cJSON_Duplicate(keep, 1));
		cJSON_AddStringToObject(d, "reason", reason);
		if (c.acceptance)
			cJSON_AddNumberToObject(d, "disclaimer_acceptance_id", (double)c.acceptance);
		if ((rc = audit_event(r, "cas.lost_key", c.vin, d)))
			goto out;
	}
	if ((rc = cas_answer(r, &c)) == 200)
		cJSON_AddNumberToObject(r->out, "locked_now", locked);
out:
	cas_free(&c);
	return rc;
}

/* {"vin","key_number","key_id","key_vin"}: the key read from the writer
 * (kcs-keywriter read) that kcsd's coding job wrote to this position */
int
h_cas_activate(struct req *r)
{
	static const char *const ok[] = { "vin", "key_number", "key_id", "key_vin", "key_state", "accept_disclaimer",
		NULL };
	const char *vin, *key_id, *key_vin, *kstate;
	char kv[18];
	long long pos = 0;
	struct cas c = { 0 };
	const char *st;
	cJSON *j = NULL, *a = NULL;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "vin", 1, 64, 1, &vin)) ||
	    (rc = want_int(r, "key_number", 1, KEY_POSITIONS, 1, &pos)) ||
	    (rc = want_str(r, "key_id", 8, 16, 1, &key_id)) || (rc = want_str(r, "key_state", 1, 16, 1, &kstate)) ||
	    (rc = want_str(r, "key_vin", 0, 64, 0, &key_vin)) || (rc = cas_open(r, vin, 1, &c)))
		goto out;
	if (strcmp(kstate, "coded") != 0) {
		rc = fail(r, 409, "blank_key", "key_state", "the key read is %s: code it first (kcs-code)", kstate);
		goto out;
	}
	if (!key_vin || kcs_vin_parse(key_vin, kv) != KCS_OK || strcmp(kv, c.vin) != 0) {
		rc = fail(r, 409, "other_vehicle", "key_vin", "the key read is coded for %s, not %s",
		    key_vin ? key_vin : "no vehicle", c.vin);
		goto out;
	}
	st = key_state(key_at(&c, pos));
	if (strcmp(st, "coded") != 0) {
		rc = fail(r, 409, !strcmp(st, "locked") ? "locked" : !strcmp(st, "active") ? "active" : "not_coded",
		    "key_number", !strcmp(st, "locked") ? "key %lld is locked: release it first"
		    : !strcmp(st, "active") ? "key %lld is active already" : "key %lld of the vehicle is not coded (%s)",
		    pos, st);
		goto out;
	}
	if ((rc = store_cas_coded_key(r->tx, c.vin, pos, &j)) != STORE_OK || !kcs_json_str(j, "key_id") ||
	    strcasecmp(kcs_json_str(j, "key_id"), key_id) != 0) {
		rc = rc == STORE_OK || rc == STORE_NOTFOUND ? fail(r, 409, "other_key", "key_id",
		    "this key is not the one kcsd's coding job wrote to key %lld", pos) : store_fail(r, rc);
		goto out;
	}
	if ((rc = store_key_activate(r->tx, c.vin, pos, c.pmax, r->actor, r->now)) == STORE_NOTFOUND) {
		rc = fail(r, 409, "changed", "key_number", "the keys of %s changed meanwhile: look again", c.vin);
		goto out;
	}
	if (rc != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	if ((rc = cas_audit(r, &c, "cas.activated", pos, NULL)) || (rc = cas_answer(r, &c)) != 200)
		goto out;
	/* the instructions that apply, from the download area */
	if (store_activation_for(r->tx, kcs_json_str(c.vehicle, "model"), kcs_json_str(c.vehicle, "production_date"),
	    &a) == STORE_OK)
		cJSON_AddItemToObject(r->out, "instructions", a);
out:
	cJSON_Delete(j);
	cas_free(&c);
	return rc;
}

int
h_cas_personalize(struct req *r)
{
	static const char *const ok[] = { "vin", "key_number", "personalization", "accept_disclaimer", NULL };
	const char *vin;
	long long pos = 0, p = 0;
	struct cas c = { 0 };
	const char *st;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "vin", 1, 64, 1, &vin)) ||
	    (rc = want_int(r, "key_number", 1, KEY_POSITIONS, 1, &pos)) ||
	    (rc = want_int(r, "personalization", 1, 4, 1, &p)) || (rc = cas_open(r, vin, 1, &c)))
		goto out;
	if (p > c.pmax) {
		rc = fail(r, 400, "invalid", "personalization", "a %s has Key Memory profiles 1 to %lld",
		    kcs_json_str(c.vehicle, "model"), c.pmax);
		goto out;
	}
	st = key_state(key_at(&c, pos));
	if (strcmp(st, "active") != 0) {
		rc = fail(r, 409, !strcmp(st, "locked") ? "locked" : "not_active", "key_number",
		    "key %lld is %s: only an active, unlocked key is personalized", pos, st);
		goto out;
	}
	if ((rc = store_key_personalize(r->tx, c.vin, pos, p, r->actor, r->now)) != STORE_OK) {
		rc = rc == STORE_NOTFOUND ? fail(r, 409, "changed", "key_number", "the keys of %s changed meanwhile",
		    c.vin) : store_fail(r, rc);
		goto out;
	}
	{
		char why[40];

		snprintf(why, sizeof why, "personalization %lld", p);
		if (!(rc = cas_audit(r, &c, "cas.personalized", pos, why)) && (rc = cas_answer(r, &c)) == 200)
			cJSON_AddItemToObject(r->out, "key_memory_applies", memory_view(r, &c, p));
	}
out:
	cas_free(&c);
	return rc;
}

/* {"vin","personalization","unit","settings":{name: value}}: Key Memory */
int
h_cas_memory(struct req *r)
{
	static const char *const ok[] = { "vin", "personalization", "unit", "settings", "accept_disclaimer", NULL };
	const cJSON *set = cJSON_GetObjectItemCaseSensitive(r->in, "settings"), *it;
	const char *vin, *unit;
	long long p = 0;
	struct cas c = { 0 };
	int rc, n = 0;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "vin", 1, 64, 1, &vin)) ||
	    (rc = want_int(r, "personalization", 1, 4, 1, &p)) || (rc = want_text(r, "unit", 32, 1, &unit)))
		return rc;
	if (!cJSON_IsObject(set) || !set->child)
		return fail(r, 400, "invalid", "settings", "is required: an object of names and values");
	cJSON_ArrayForEach(it, set) {
		if (++n > 50)
			return fail(r, 400, "invalid", "settings", "holds at most 50 settings");
		if (!cJSON_IsString(it) || check_text(r, "settings", it->valuestring, 200, 0) ||
		    check_text(r, "settings", it->string, 64, 1))
			return r->ecode[0] ? 400 : fail(r, 400, "invalid", "settings", "values are strings");
	}
	if ((rc = cas_open(r, vin, 1, &c)))
		goto out;
	if (p > c.pmax) {
		rc = fail(r, 400, "invalid", "personalization", "a %s has Key Memory profiles 1 to %lld",
		    kcs_json_str(c.vehicle, "model"), c.pmax);
		goto out;
	}
	cJSON_ArrayForEach(it, set)
		if ((rc = store_memory_set(r->tx, c.vin, p, unit, it->string, it->valuestring, r->actor, r->now))) {
			rc = store_fail(r, rc);
			goto out;
		}
	{
		char why[80];

		snprintf(why, sizeof why, "Key Memory %lld, %s: %d settings", p, unit, n);
		if ((rc = cas_audit(r, &c, "cas.key_memory", 0, why)))
			goto out;
	}
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "vin", c.vin);
	cJSON_AddNumberToObject(r->out, "personalization", (double)p);
	cJSON_AddItemToObject(r->out, "key_memory", memory_view(r, &c, p));
	rc = 200;
out:
	cas_free(&c);
	return rc;
}

/* {"vin","car_keys":[numbers],"apply"}: what kcsd holds against what the
 * car's CAS knows; every difference, nothing changed unless apply is true:
 * then a key the car has learnt that kcsd holds as coded becomes active
 * (the other differences need a person: a key coded elsewhere, a key the
 * car never learnt) */
int
h_cas_reconcile(struct req *r)
{
	static const char *const ok[] = { "vin", "car_keys", "apply", "accept_disclaimer", NULL };
	int apply = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->in, "apply")), applied = 0;
	const cJSON *car = cJSON_GetObjectItemCaseSensitive(r->in, "car_keys"), *it;
	int known[KEY_POSITIONS + 1] = { 0 }, rc;
	const char *vin;
	struct cas c = { 0 };
	cJSON *diff;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "vin", 1, 64, 1, &vin)))
		return rc;
	if (!cJSON_IsArray(car))
		return fail(r, 400, "invalid", "car_keys", "is required: the key numbers the car's CAS knows");
	cJSON_ArrayForEach(it, car) {
		if (!cJSON_IsNumber(it) || it->valuedouble != (double)(int)it->valuedouble || it->valueint < 1 ||
		    it->valueint > KEY_POSITIONS)
			return fail(r, 400, "invalid", "car_keys", "holds key numbers, whole numbers from 1 to %d",
			    KEY_POSITIONS);
		known[it->valueint] = 1;
	}
	if ((rc = cas_open(r, vin, apply, &c)))
		goto out;
	if (apply)
		for (int pos = 1; pos <= KEY_POSITIONS; pos++) {
			if (!known[pos] || strcmp(key_state(key_at(&c, pos)), "coded"))
				continue;
			if ((rc = store_key_activate(r->tx, c.vin, pos, c.pmax, r->actor, r->now)) != STORE_OK) {
				rc = rc == STORE_NOTFOUND ? fail(r, 409, "changed", "car_keys", "the keys of %s changed "
				    "meanwhile: look again", c.vin) : store_fail(r, rc);
				goto out;
			}
			if ((rc = cas_audit(r, &c, "cas.activated", pos, "reconciled: the car has learnt it")))
				goto out;
			applied++;
		}
	if (applied) {
		cJSON_Delete(c.keys);
		c.keys = NULL;
		if ((rc = store_cas_keys(r->tx, c.vin, &c.keys)) != STORE_OK) {
			rc = store_fail(r, rc);
			goto out;
		}
	}
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "vin", c.vin);
	diff = cJSON_AddArrayToObject(r->out, "differences");
	for (int pos = 1; pos <= KEY_POSITIONS; pos++) {
		const char *st = key_state(key_at(&c, pos)), *what = NULL;
		int learnt = !strcmp(st, "active") || !strcmp(st, "locked");

		if (known[pos] && !learnt)
			what = "the car knows this key; kcsd does not hold it as activated";
		else if (!known[pos] && learnt)
			what = "kcsd holds this key as activated; the car never learnt it";
		if (what) {
			cJSON *d = cJSON_CreateObject();

			cJSON_AddNumberToObject(d, "key_number", pos);
			cJSON_AddStringToObject(d, "kcsd", st);
			cJSON_AddBoolToObject(d, "car_knows", known[pos]);
			cJSON_AddStringToObject(d, "difference", what);
			cJSON_AddItemToArray(diff, d);
		}
	}
	cJSON_AddBoolToObject(r->out, "in_step", cJSON_GetArraySize(diff) == 0);
	cJSON_AddNumberToObject(r->out, "activated", applied);
	rc = 200;
out:
	cas_free(&c);
	return rc;
}

/* {"model","personalization_max"}: the registry's Key Memory profiles of a model */
int
h_model_set(struct req *r)
{
	static const char *const ok[] = { "model", "personalization_max", NULL };
	const char *model;
	long long max = 0;
	cJSON *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_text(r, "model", 64, 1, &model)) ||
	    (rc = want_int(r, "personalization_max", 1, 4, 1, &max)))
		return rc;
	if ((rc = store_model_set(r->tx, model, max, r->now)) != STORE_OK)
		return store_fail(r, rc);
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "personalization_max", (double)max);
	if ((rc = audit_event(r, "model.set", model, d)))
		return rc;
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "model", model);
	cJSON_AddNumberToObject(r->out, "personalization_max", (double)max);
	return 200;
}
