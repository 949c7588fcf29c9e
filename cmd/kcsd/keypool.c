/* keypool.c: the KeyPool (seed 002). Dealers and their locations; key
 * readers post the reads of car keys, fleet systems post telematics, read
 * the latest valid read of a VIN and record their units' events with the
 * mileage and fuel resolved from the location's settings, which lock from
 * the dealer to its locations. Each rule has one home here: the validity of
 * a read (judge), the settings and their locks (settings_load), the choice
 * of a source (resolve), the mileage's plausibility (plausible) and a
 * unit's moves (flows). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kcsd.h"

#define KEY_DATA_INVALID "Key data was not retrieved or is invalid"
#define SERVICE_MAX 16
#define IMPORT_MAX 500 /* reads in one import request */
#define MILEAGE_MAX 2000000

/* ---- dealers, locations, readers and fleet systems: administrators ---- */

static int
valid_number(struct req *r, const char *field, const char *v)
{
	if (!v || !*v || strlen(v) > 13 || strspn(v, "0123456789") != strlen(v))
		return fail(r, 400, "invalid", field, "must be 1 to 13 digits");
	return 0;
}

static int
want_id(struct req *r, const char *name, long long *out)
{
	*out = 0;
	return want_int(r, name, 1, KCS_ID_MAX, 1, out);
}

int
h_dealer_add(struct req *r)
{
	static const char *const ok[] = { "name", "distribution_product_number", "outlet_number", NULL };
	const char *name, *dpn, *outlet;
	char subject[32];
	long long id;
	cJSON *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_text(r, "name", 128, 1, &name)) ||
	    (rc = want_str(r, "distribution_product_number", 0, 13, 1, &dpn)) ||
	    (rc = valid_number(r, "distribution_product_number", dpn)) ||
	    (rc = want_str(r, "outlet_number", 0, 13, 1, &outlet)) || (rc = valid_number(r, "outlet_number", outlet)))
		return rc;
	if ((rc = store_dealer_add(r->tx, name, dpn, outlet, r->now, &id)) == STORE_CONFLICT)
		return fail(r, 409, "conflict", "outlet_number", "a dealer with distribution product number %s and "
		    "outlet number %s is registered", dpn, outlet);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	snprintf(subject, sizeof subject, "dealer:%lld", id);
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "name", name);
	cJSON_AddStringToObject(d, "distribution_product_number", dpn);
	cJSON_AddStringToObject(d, "outlet_number", outlet);
	if ((rc = audit_event(r, "dealer.added", subject, d)))
		return rc;
	if ((rc = store_dealer_get(r->tx, id, &r->out)) != STORE_OK)
		return store_fail(r, rc);
	return 201;
}

int
h_dealers(struct req *r)
{
	cJSON *dealers = NULL, *locations = NULL, *clients = NULL, *d, *it;
	int rc;

	if ((rc = store_dealers(r->tx, &dealers, &locations, &clients)) != STORE_OK) {
		cJSON_Delete(dealers);
		cJSON_Delete(locations);
		return store_fail(r, rc);
	}
	cJSON_ArrayForEach(d, dealers) {
		long long id = 0, of = 0;
		cJSON *locs = cJSON_AddArrayToObject(d, "locations"), *cls = cJSON_AddArrayToObject(d, "clients");

		kcs_json_int(d, "id", &id);
		cJSON_ArrayForEach(it, locations)
			if (kcs_json_int(it, "dealer_id", &of) == 0 && of == id)
				cJSON_AddItemToArray(locs, cJSON_Duplicate(it, 1));
		cJSON_ArrayForEach(it, clients)
			if (kcs_json_int(it, "dealer_id", &of) == 0 && of == id)
				cJSON_AddItemToArray(cls, cJSON_Duplicate(it, 1));
	}
	cJSON_Delete(locations);
	cJSON_Delete(clients);
	r->out = cJSON_CreateObject();
	cJSON_AddItemToObject(r->out, "dealers", dealers);
	return 200;
}

static int
dealer_of(struct req *r, long long id, cJSON **dealer)
{
	int rc = store_dealer_get(r->tx, id, dealer);

	if (rc == STORE_NOTFOUND)
		return fail(r, 404, "not_found", "dealer_id", "there is no dealer %lld", id);
	return rc == STORE_OK ? 0 : store_fail(r, rc);
}

int
h_location_add(struct req *r)
{
	static const char *const ok[] = { "dealer_id", "name", NULL };
	const char *name;
	char subject[32];
	long long dealer, id;
	cJSON *dl = NULL, *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_id(r, "dealer_id", &dealer)) ||
	    (rc = want_text(r, "name", 128, 1, &name)) || (rc = dealer_of(r, dealer, &dl)))
		return rc;
	cJSON_Delete(dl);
	if ((rc = store_location_add(r->tx, dealer, name, r->now, &id)) == STORE_CONFLICT)
		return fail(r, 409, "conflict", "name", "the dealer has a location named %s", name);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	snprintf(subject, sizeof subject, "location:%lld", id);
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "dealer_id", (double)dealer);
	cJSON_AddStringToObject(d, "name", name);
	if ((rc = audit_event(r, "location.added", subject, d)))
		return rc;
	if ((rc = store_location_get(r->tx, id, &r->out)) != STORE_OK)
		return store_fail(r, rc);
	return 201;
}

/* A key reader's or fleet system's token, for one dealer; shown once. */
int
h_client_add(struct req *r)
{
	static const char *const ok[] = { "dealer_id", "role", "name", NULL };
	const char *name, *role;
	char token[80], hash[KCS_HASH_HEX], subject[32];
	long long dealer, id;
	cJSON *dl = NULL, *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_id(r, "dealer_id", &dealer)) ||
	    (rc = want_str(r, "role", 1, 16, 1, &role)) || (rc = want_text(r, "name", 64, 1, &name)))
		return rc;
	if (strcmp(role, "reader") != 0 && strcmp(role, "fleet") != 0)
		return fail(r, 400, "invalid", "role", "must be 'reader' (a key reader) or 'fleet' (a fleet system)");
	if ((rc = dealer_of(r, dealer, &dl)))
		return rc;
	cJSON_Delete(dl);
	kcs_token_new(token, sizeof token);
	kcs_keyed_hash(K.pepper, token, hash);
	if ((rc = store_client_add(r->tx, dealer, role, name, hash, r->now, &id)) != STORE_OK) {
		sodium_memzero(token, sizeof token);
		return store_fail(r, rc);
	}
	snprintf(subject, sizeof subject, "keypool-client:%lld", id);
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "dealer_id", (double)dealer);
	cJSON_AddStringToObject(d, "role", role);
	cJSON_AddStringToObject(d, "name", name);
	if ((rc = audit_event(r, "keypool.client_added", subject, d))) {
		sodium_memzero(token, sizeof token);
		return rc;
	}
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "id", (double)id);
	cJSON_AddNumberToObject(r->out, "dealer_id", (double)dealer);
	cJSON_AddStringToObject(r->out, "role", role);
	cJSON_AddStringToObject(r->out, "name", name);
	cJSON_AddStringToObject(r->out, "token", token);
	sodium_memzero(token, sizeof token);
	return 201;
}

int
h_client_revoke(struct req *r)
{
	char subject[32];
	long long id;
	int rc;

	if (kcs_id_parse(r->arg, "id", &id) != KCS_OK)
		return fail(r, 400, "invalid", "id", "%s", kcs_errmsg());
	if ((rc = store_client_revoke(r->tx, id, r->now)) == STORE_NOTFOUND)
		return fail(r, 404, "not_found", "id", "no key reader or fleet system %lld holds a token", id);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	snprintf(subject, sizeof subject, "keypool-client:%lld", id);
	if ((rc = audit_event(r, "keypool.client_revoked", subject, NULL)))
		return rc;
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "id", (double)id);
	cJSON_AddBoolToObject(r->out, "revoked", 1);
	return 200;
}

/* The retention: reads older than keypool_retention go; *cutoff is the
 * oldest read time kept. */
int
keypool_purge(struct req *r, int *count, long long *cutoff)
{
	int n;

	*cutoff = r->now - K.cf.keypool_retention;
	if ((n = store_reads_purge(r->tx, *cutoff)) < 0)
		return store_fail(r, n);
	*count = n;
	return 0;
}

/* kcs-admin keypool purge */
int
h_reads_purge(struct req *r)
{
	static const char *const ok[] = { NULL };
	long long cutoff;
	cJSON *d;
	int rc, n = 0;

	if ((rc = only_fields(r, ok)) || (rc = keypool_purge(r, &n, &cutoff)))
		return rc;
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "purged", n);
	cJSON_AddNumberToObject(d, "retention", (double)K.cf.keypool_retention);
	if ((rc = audit_event(r, "keypool.purged", "keypool", d)))
		return rc;
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "purged", n);
	cJSON_AddNumberToObject(r->out, "cutoff_at", (double)cutoff);
	cJSON_AddNumberToObject(r->out, "retention_seconds", (double)K.cf.keypool_retention);
	return 200;
}

/* ---- key reads ---- */

/* "61 minutes", for messages */
static void
span(long long s, char *out, size_t n)
{
	if (s < 120)
		snprintf(out, n, "%lld seconds", s);
	else if (s < 2 * 3600)
		snprintf(out, n, "%lld minutes", s / 60);
	else if (s < 2 * 86400)
		snprintf(out, n, "%lld hours %lld minutes", s / 3600, s % 3600 / 60);
	else
		snprintf(out, n, "%lld days", s / 86400);
}

static long long
to_km(long long mileage, const char *unit)
{
	/* a mile is 1.609344 km: rounded to the nearest kilometre */
	return strcmp(unit, "mi") == 0 ? (mileage * 1609344 + 500000) / 1000000 : mileage;
}

/* The mileage's plausibility: not lower than the highest mileage recorded
 * for the VIN before (a rolled-back odometer, or a wrong VIN). A kilometre
 * of rounding between miles and kilometres is allowed. */
static int
plausible(struct req *r, long long dealer, const char *vin, long long before, long long km, long long *rb_km,
    long long *rb_at)
{
	long long high = 0, at = 0;
	int rc = store_mileage_before(r->tx, dealer, vin, before, &high, &at);

	*rb_km = *rb_at = -1;
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc != STORE_OK)
		return store_fail(r, rc);
	if (high > km + 1) {
		*rb_km = high;
		*rb_at = at;
	}
	return 0;
}

static void
rollback_warning(cJSON *o, long long km, long long rb_km, long long rb_at)
{
	char when[21], msg[256];

	if (rb_km < 0)
		return;
	kcs_time_iso((time_t)rb_at, when);
	snprintf(msg, sizeof msg, "the mileage (%lld km) is lower than the %lld km recorded for this VIN at %s: "
	    "a rolled-back odometer or a wrong VIN", km, rb_km, when);
	cJSON_AddStringToObject(o, "warning", msg);
}

/* the optional fuel or battery level of the request (-1: absent) */
static int
want_energy(struct req *r, long long *fuel, long long *battery)
{
	int rc;

	*fuel = *battery = -1;
	if ((rc = want_int(r, "fuel_percent", 0, 100, 0, fuel)) || (rc = want_int(r, "battery_percent", 0, 100, 0, battery)))
		return rc;
	if (*fuel >= 0 && *battery >= 0)
		return fail(r, 400, "invalid", "battery_percent", "give a fuel level or a battery state of charge, not both");
	return 0;
}

static int
want_mileage(struct req *r, int required, long long *mileage, const char **unit)
{
	int rc;

	*mileage = -1;
	if ((rc = want_int(r, "mileage", 0, MILEAGE_MAX, required, mileage)) ||
	    (rc = want_str(r, "mileage_unit", 1, 2, 0, unit)))
		return rc;
	if (!*unit)
		*unit = "km";
	if (strcmp(*unit, "km") != 0 && strcmp(*unit, "mi") != 0)
		return fail(r, 400, "invalid", "mileage_unit", "must be km or mi");
	return 0;
}

/* service data: [{name, due (YYYY-MM-DD), remaining_km}], as canonical JSON */
static int
want_service(struct req *r, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->in, "service"), *it;
	cJSON *clean;
	cJSON *saved = r->in;
	int i = 0, rc = 0;

	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > SERVICE_MAX)
		return fail(r, 400, "invalid", "service", "must be a list of at most %d service items", SERVICE_MAX);
	clean = cJSON_CreateArray();
	cJSON_ArrayForEach(it, v) {
		static const char *const ok[] = { "name", "due", "remaining_km", NULL };
		const char *name, *due;
		long long left = LLONG_MIN;
		cJSON *c;

		r->in = (cJSON *)it;
		if (!cJSON_IsObject(it))
			rc = fail(r, 400, "invalid", "service", "item %d must be an object", i);
		else if ((rc = only_fields(r, ok)) || (rc = want_text(r, "name", 64, 1, &name)) ||
		    (rc = want_str(r, "due", 10, 10, 0, &due)) ||
		    (rc = want_int(r, "remaining_km", -1000000, 1000000, 0, &left)))
			;
		else if (due && kcs_date_parse(due, "due") != KCS_OK)
			rc = fail(r, 400, "invalid", "due", "%s", kcs_errmsg());
		else if (!due && left == LLONG_MIN)
			rc = fail(r, 400, "invalid", "service", "item %d needs a due date or a remaining distance", i);
		if (rc) {
			char field[64];

			snprintf(field, sizeof field, "service[%d].%s", i, r->efield[0] ? r->efield : "item");
			if (strcmp(r->efield, "service") != 0)
				snprintf(r->efield, sizeof r->efield, "%s", field);
			break;
		}
		c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "name", name);
		if (due)
			cJSON_AddStringToObject(c, "due", due);
		if (left != LLONG_MIN)
			cJSON_AddNumberToObject(c, "remaining_km", (double)left);
		cJSON_AddItemToArray(clean, c);
		i++;
	}
	r->in = saved;
	if (!rc)
		*out = kcs_json_dump(clean);
	cJSON_Delete(clean);
	return rc;
}

/* The caller's own dealer, when the request names one. */
static int
own_dealer(struct req *r)
{
	const char *dpn, *outlet;
	cJSON *d = NULL;
	int rc;

	if ((rc = want_str(r, "distribution_product_number", 0, 13, 0, &dpn)) ||
	    (rc = want_str(r, "outlet_number", 0, 13, 0, &outlet)))
		return rc;
	if (!dpn && !outlet)
		return 0;
	if ((rc = dealer_of(r, r->dealer_id, &d)))
		return rc;
	if ((dpn && strcmp(dpn, kcs_json_str(d, "distribution_product_number")) != 0) ||
	    (outlet && strcmp(outlet, kcs_json_str(d, "outlet_number")) != 0))
		rc = fail(r, 403, "other_dealer", dpn ? "distribution_product_number" : "outlet_number",
		    "%s may only post reads for its own dealer (%s/%s)", r->actor,
		    kcs_json_str(d, "distribution_product_number"), kcs_json_str(d, "outlet_number"));
	cJSON_Delete(d);
	return rc;
}

/* One read of the request (r->in): validated, its plausibility judged,
 * stored once. *dup is set when the same read was stored before. */
static int
read_one(struct req *r, const char *source, int import, cJSON **result)
{
	static const char *const ok[] = { "vin", "read_at", "mileage", "mileage_unit", "fuel_percent",
		"battery_percent", "key_number", "range_km", "service", "device", "source",
		"distribution_product_number", "outlet_number", "raw_sha256", NULL };
	struct store_read k = { 0 };
	const char *vin_in, *at, *device, *src, *raw;
	char vin[18], *service = NULL;
	long long id;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "vin", 1, 64, 1, &vin_in)))
		return rc;
	if (kcs_vin_parse(vin_in, vin) != KCS_OK)
		return fail(r, 400, "invalid", "vin", "%s", kcs_errmsg());
	if ((rc = want_str(r, "read_at", 1, 32, 1, &at)))
		return rc;
	if (kcs_time_parse(at, "read_at", &k.read_at) != KCS_OK)
		return fail(r, 400, "invalid", "read_at", "%s", kcs_errmsg());
	if (k.read_at > r->now + K.cf.keypool_skew) {
		char s[48];

		span(k.read_at - r->now, s, sizeof s);
		return fail(r, 400, "invalid", "read_at", "is %s in the future: the reader's clock is wrong "
		    "(%ld seconds of difference are allowed)", s, K.cf.keypool_skew);
	}
	if (k.read_at < r->now - K.cf.keypool_retention) {
		char s[48];

		span(r->now - k.read_at, s, sizeof s);
		return fail(r, 400, "invalid", "read_at", "is %s ago: the KeyPool keeps reads for %ld days", s,
		    K.cf.keypool_retention / 86400);
	}
	k.key_number = k.range_km = -1;
	if ((rc = want_mileage(r, 1, &k.mileage, &k.mileage_unit)) || (rc = want_energy(r, &k.fuel, &k.battery)) ||
	    (rc = want_int(r, "key_number", 1, KEY_POSITIONS, 0, &k.key_number)) ||
	    (rc = want_int(r, "range_km", 0, 5000, 0, &k.range_km)) ||
	    (rc = want_str(r, "device", 1, 32, 0, &device)) || (rc = want_str(r, "source", 1, 16, 0, &src)) ||
	    (rc = want_str(r, "raw_sha256", 64, 64, 0, &raw)))
		return rc;
	if (device && strspn(device, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:") !=
	    strlen(device))
		return fail(r, 400, "invalid", "device", "must be letters, digits and - _ . :");
	if (src && strcmp(src, source) != 0)
		return fail(r, 403, "forbidden", "source", "%s posts %s data, not %s", r->actor, source, src);
	if (raw && (!import || strspn(raw, "0123456789abcdef") != 64))
		return fail(r, 400, "invalid", "raw_sha256", import ? "must be 64 lowercase hex digits"
		    : "is only for an import");
	if ((rc = own_dealer(r)) || (rc = want_service(r, &service)))
		return rc;
	k.dealer_id = r->dealer_id;
	k.client_id = r->client_id;
	k.source = source;
	k.device = device;
	k.vin = vin;
	k.mileage_km = to_km(k.mileage, k.mileage_unit);
	k.service = service;
	k.raw_sha256 = raw;
	if ((rc = plausible(r, r->dealer_id, vin, k.read_at, k.mileage_km, &k.rollback_km, &k.rollback_at))) {
		free(service);
		return rc;
	}
	rc = store_read_add(r->tx, &k, r->now, &id);
	free(service);
	*result = cJSON_CreateObject();
	if (rc == STORE_CONFLICT) {
		cJSON *same = NULL;

		if ((rc = store_read_same(r->tx, r->client_id, vin, k.read_at, &same)) != STORE_OK)
			return store_fail(r, rc);
		kcs_json_int(same, "id", &id);
		cJSON_Delete(same);
		cJSON_AddNumberToObject(*result, "id", (double)id);
		cJSON_AddStringToObject(*result, "status", "duplicate");
		return 200;
	}
	if (rc != STORE_OK)
		return store_fail(r, rc);
	cJSON_AddNumberToObject(*result, "id", (double)id);
	cJSON_AddStringToObject(*result, "status", "stored");
	cJSON_AddStringToObject(*result, "vin", vin);
	cJSON_AddStringToObject(*result, "source", source);
	cJSON_AddNumberToObject(*result, "read_at", (double)k.read_at);
	cJSON_AddNumberToObject(*result, "received_at", (double)r->now);
	if (k.rollback_km >= 0)
		cJSON_AddStringToObject(*result, "flag", "mileage_rollback");
	rollback_warning(*result, k.mileage_km, k.rollback_km, k.rollback_at);
	return 201;
}

/* the source of what this caller posts */
static const char *
source_of(const struct req *r)
{
	return strcmp(r->role, "reader") == 0 ? "key_reader" : "telematics";
}

int
h_read_push(struct req *r)
{
	int status = read_one(r, source_of(r), 0, &r->out);

	if (status >= 400) {
		cJSON_Delete(r->out);
		r->out = NULL;
	}
	return status;
}

/* A legacy GKI file's reads (kcs-gki(5)), as kcs-keypool import parsed
 * them: each stored, found a duplicate or refused on its own. */
int
h_read_import(struct req *r)
{
	static const char *const ok[] = { "distribution_product_number", "outlet_number", "file_sha256", "reads", NULL };
	const cJSON *reads = cJSON_GetObjectItemCaseSensitive(r->in, "reads"), *it;
	const char *file;
	cJSON *all = r->in, *results, *d;
	int rc, i = 0, stored = 0, dups = 0, refused = 0;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "file_sha256", 64, 64, 1, &file)))
		return rc;
	if (!cJSON_GetObjectItemCaseSensitive(r->in, "distribution_product_number") ||
	    !cJSON_GetObjectItemCaseSensitive(r->in, "outlet_number"))
		return fail(r, 400, "invalid", "outlet_number", "the file's dealer is required");
	if ((rc = own_dealer(r)))
		return rc;
	if (!cJSON_IsArray(reads) || cJSON_GetArraySize(reads) < 1 || cJSON_GetArraySize(reads) > IMPORT_MAX)
		return fail(r, 400, "invalid", "reads", "must be a list of 1 to %d reads", IMPORT_MAX);
	results = cJSON_CreateArray();
	cJSON_ArrayForEach(it, reads) {
		cJSON *res = NULL;
		int status;

		r->in = cJSON_IsObject(it) ? (cJSON *)it : NULL;
		status = r->in ? read_one(r, "gki_import", 1, &res) : fail(r, 400, "invalid", NULL, "not an object");
		if (status >= 500 || r->retry) {
			cJSON_Delete(res);
			cJSON_Delete(results);
			r->in = all;
			return status;
		}
		if (status >= 400) {
			cJSON_Delete(res);
			res = cJSON_CreateObject();
			cJSON_AddStringToObject(res, "status", "refused");
			if (r->efield[0])
				cJSON_AddStringToObject(res, "field", r->efield);
			cJSON_AddStringToObject(res, "message", r->emsg);
			r->ecode[0] = r->efield[0] = r->emsg[0] = '\0';
			refused++;
		} else if (status == 200) {
			dups++;
		} else {
			stored++;
		}
		cJSON_AddNumberToObject(res, "index", i++);
		cJSON_AddItemToArray(results, res);
	}
	r->in = all;
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "file_sha256", file);
	cJSON_AddNumberToObject(d, "stored", stored);
	cJSON_AddNumberToObject(d, "duplicates", dups);
	cJSON_AddNumberToObject(d, "refused", refused);
	if ((rc = audit_event(r, "keypool.imported", r->actor, d))) {
		cJSON_Delete(results);
		return rc;
	}
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "stored", stored);
	cJSON_AddNumberToObject(r->out, "duplicates", dups);
	cJSON_AddNumberToObject(r->out, "refused", refused);
	cJSON_AddItemToObject(r->out, "results", results);
	return 200;
}

/* ---- the latest valid read ---- */

/* an answer leaves out what is not set */
static void
drop_nulls(cJSON *o)
{
	for (cJSON *it = o->child, *next; it; it = next) {
		next = it->next;
		if (cJSON_IsNull(it))
			cJSON_DeleteItemFromObjectCaseSensitive(o, it->string);
	}
}

/* A read as answers show it: service data as JSON, the rollback flag. */
static void
read_view(cJSON *o)
{
	const char *svc = kcs_json_str(o, "service");
	long long km = 0, at = 0;

	if (svc) {
		cJSON *s = cJSON_Parse(svc); /* written by kcsd */

		cJSON_ReplaceItemInObjectCaseSensitive(o, "service", s ? s : cJSON_CreateArray());
	}
	if (kcs_json_int(o, "rollback_km", &km) == 0 && kcs_json_int(o, "rollback_at", &at) == 0) {
		cJSON *f = cJSON_AddObjectToObject(o, "mileage_rollback");

		cJSON_AddNumberToObject(f, "earlier_km", (double)km);
		cJSON_AddNumberToObject(f, "earlier_at", (double)at);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(o, "rollback_km");
	cJSON_DeleteItemFromObjectCaseSensitive(o, "rollback_at");
	cJSON_DeleteItemFromObjectCaseSensitive(o, "mileage_km");
	drop_nulls(o);
}

/* The verdict on a source's newest read of a VIN: valid, or why not. */
struct verdict {
	int ok;
	const char *reason; /* not_found, stale, invalid */
	char why[256];
	long long age;
	cJSON *read; /* the newest read, if any */
};

static const char *
source_name(const char *s)
{
	return strcmp(s, "telematics") == 0 ? "telematics" : strcmp(s, "gki_import") == 0 ? "GKI import" : "key read";
}

/* The one rule of validity: the newest read of the VIN from the source
 * (a, or b) is younger than keypool_validity and carries no mileage
 * rollback. */
static int
judge(struct req *r, long long dealer, const char *vin, const char *a, const char *b, struct verdict *v)
{
	long long at = 0, km = 0;
	char age[48], valid[48];
	int rc;

	memset(v, 0, sizeof *v);
	if ((rc = store_read_latest(r->tx, dealer, vin, a, b, &v->read)) == STORE_NOTFOUND) {
		v->reason = "not_found";
		snprintf(v->why, sizeof v->why, "no %s of %s", source_name(a), vin);
		return 0;
	}
	if (rc != STORE_OK)
		return store_fail(r, rc);
	kcs_json_int(v->read, "read_at", &at);
	v->age = r->now - at;
	span(v->age > 0 ? v->age : 0, age, sizeof age);
	span(K.cf.keypool_validity, valid, sizeof valid);
	if (v->age >= K.cf.keypool_validity) {
		v->reason = "stale";
		snprintf(v->why, sizeof v->why, "the newest %s of %s is %s old; only reads younger than %s are valid: "
		    "read the key again", source_name(a), vin, age, valid);
	} else if (kcs_json_int(v->read, "rollback_km", &km) == 0) {
		v->reason = "invalid";
		snprintf(v->why, sizeof v->why, "the newest %s of %s has a mileage lower than %lld km recorded before: "
		    "a rolled-back odometer or a wrong VIN", source_name(a), vin, km);
	} else {
		v->ok = 1;
		snprintf(v->why, sizeof v->why, "read %s ago", age);
	}
	read_view(v->read);
	cJSON_AddNumberToObject(v->read, "age_seconds", (double)(v->age > 0 ? v->age : 0));
	return 0;
}

/* The seed's message, with the reason code and, for a stale read, its age. */
static int
key_data_invalid(struct req *r, const char *reason, const char *why, long long age, cJSON *sources)
{
	cJSON_Delete(r->edetail);
	r->edetail = cJSON_CreateObject();
	cJSON_AddStringToObject(r->edetail, "reason", reason);
	if (strcmp(reason, "stale") == 0)
		cJSON_AddNumberToObject(r->edetail, "age_seconds", (double)age);
	if (sources)
		cJSON_AddItemToObject(r->edetail, "sources", sources);
	return fail(r, 404, "key_data_invalid", "vin", KEY_DATA_INVALID ": %s", why);
}

static int
vin_of(struct req *r, const char *in, char vin[18])
{
	if (!in || kcs_vin_parse(in, vin) != KCS_OK)
		return key_data_invalid(r, "vin_invalid", in ? kcs_errmsg() : "a VIN is required", 0, NULL);
	return 0;
}

int
h_read_latest(struct req *r)
{
	const char *src = query_arg(r, "source"), *a = "key_reader", *b = "gki_import";
	struct verdict v;
	char vin[18];
	int rc;

	if (src && strcmp(src, "key_reader") != 0 && strcmp(src, "gki_import") != 0 && strcmp(src, "telematics") != 0)
		return fail(r, 400, "invalid", "source", "must be key_reader, gki_import or telematics");
	if (src)
		a = b = src;
	if ((rc = vin_of(r, query_arg(r, "vin"), vin)) || (rc = judge(r, r->dealer_id, vin, a, b, &v)))
		return rc;
	if (!v.ok) {
		rc = key_data_invalid(r, v.reason, v.why, v.age, NULL);
		cJSON_Delete(v.read);
		return rc;
	}
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "vin", vin);
	cJSON_AddBoolToObject(r->out, "valid", 1);
	cJSON_AddNumberToObject(r->out, "age_seconds", (double)(v.age > 0 ? v.age : 0));
	cJSON_AddNumberToObject(r->out, "valid_for_seconds", (double)K.cf.keypool_validity);
	cJSON_AddItemToObject(r->out, "read", v.read);
	return 200;
}

/* ---- settings, from the dealer to its locations ---- */

enum { S_SWITCH, S_PROVIDER, S_NUMBER };

static const struct setting {
	const char *name;
	int kind;
	const char *def; /* NULL: the dealer's registration */
} settings[] = {
	{ "integration", S_SWITCH, "off" },
	{ "provider", S_PROVIDER, "kai" },
	{ "distribution_product_number", S_NUMBER, NULL },
	{ "outlet_number", S_NUMBER, NULL },
	{ "prioritize_key_reader", S_SWITCH, "on" },
	{ "allow_add_manually", S_SWITCH, "off" },
};
#define NSETTINGS (sizeof settings / sizeof *settings)

/* A location's settings (0: the dealer level), each with where its value
 * comes from and who locked it. */
struct kp_settings {
	int integration, prioritize, allow_add;
	char provider[4];
	cJSON *view;
};

static const cJSON *
setting_row(const cJSON *rows, long long location, const char *name)
{
	const cJSON *it;
	long long l = -1;

	cJSON_ArrayForEach(it, rows)
		if (kcs_json_int(it, "location_id", &l) == 0 && l == location &&
		    strcmp(kcs_json_str(it, "name"), name) == 0)
			return it;
	return NULL;
}

static int
settings_load(struct req *r, long long dealer, long long location, struct kp_settings *s)
{
	cJSON *rows = NULL, *d = NULL;
	int rc;

	memset(s, 0, sizeof *s);
	if ((rc = dealer_of(r, dealer, &d)))
		return rc;
	if ((rc = store_settings_of(r->tx, dealer, location, &rows)) != STORE_OK) {
		cJSON_Delete(d);
		return store_fail(r, rc);
	}
	s->view = cJSON_CreateObject();
	for (size_t i = 0; i < NSETTINGS; i++) {
		const cJSON *dl = setting_row(rows, 0, settings[i].name);
		const cJSON *lo = location ? setting_row(rows, location, settings[i].name) : NULL, *use;
		cJSON *v = cJSON_AddObjectToObject(s->view, settings[i].name);
		long long locked = 0, t = 0;
		const char *value, *from;

		if (dl)
			kcs_json_int(dl, "locked", &locked);
		use = dl && locked ? dl : lo ? lo : dl;
		from = !use ? (settings[i].def ? "default" : "dealer registration") : use == lo ? "location" : "dealer";
		value = use ? kcs_json_str(use, "value") : settings[i].def ? settings[i].def
		    : kcs_json_str(d, settings[i].name);
		cJSON_AddStringToObject(v, "value", value);
		cJSON_AddStringToObject(v, "from", from);
		cJSON_AddBoolToObject(v, "locked", locked != 0);
		if (use) {
			cJSON_AddStringToObject(v, locked ? "locked_by" : "set_by", kcs_json_str(use, "set_by"));
			if (kcs_json_int(use, "set_at", &t) == 0)
				cJSON_AddNumberToObject(v, locked ? "locked_at" : "set_at", (double)t);
		}
		if (strcmp(settings[i].name, "integration") == 0)
			s->integration = strcmp(value, "on") == 0;
		else if (strcmp(settings[i].name, "prioritize_key_reader") == 0)
			s->prioritize = strcmp(value, "on") == 0;
		else if (strcmp(settings[i].name, "allow_add_manually") == 0)
			s->allow_add = strcmp(value, "on") == 0;
		else if (strcmp(settings[i].name, "provider") == 0)
			snprintf(s->provider, sizeof s->provider, "%s", value);
	}
	cJSON_Delete(rows);
	cJSON_Delete(d);
	return 0;
}

/* The dealer and location a request is about: a fleet system's are its
 * own dealer's; an administrator names the dealer or a location. */
static int
scope(struct req *r, long long dealer_in, long long location, long long *dealer)
{
	cJSON *l = NULL;
	long long of = 0;
	int rc;

	*dealer = strcmp(r->role, "admin") == 0 ? dealer_in : r->dealer_id;
	if (location) {
		if ((rc = store_location_get(r->tx, location, &l)) == STORE_NOTFOUND)
			return fail(r, 404, "not_found", "location_id", "there is no location %lld", location);
		if (rc != STORE_OK)
			return store_fail(r, rc);
		kcs_json_int(l, "dealer_id", &of);
		cJSON_Delete(l);
		if (!*dealer)
			*dealer = of;
		if (of != *dealer)
			return strcmp(r->role, "admin") == 0
			    ? fail(r, 400, "invalid", "location_id", "location %lld is not the dealer's", location)
			    : fail(r, 403, "other_dealer", "location_id", "location %lld is not one of your dealer's",
				location);
	}
	if (!*dealer)
		return fail(r, 400, "invalid", "dealer_id", "name the dealer (or a location)");
	return 0;
}

static int
query_id(struct req *r, const char *name, long long *out)
{
	const char *v = query_arg(r, name);

	*out = 0;
	if (v && kcs_id_parse(v, name, out) != KCS_OK)
		return fail(r, 400, "invalid", name, "%s", kcs_errmsg());
	return 0;
}

static void
settings_answer(struct req *r, long long dealer, long long location, struct kp_settings *s)
{
	r->out = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->out, "dealer_id", (double)dealer);
	if (location)
		cJSON_AddNumberToObject(r->out, "location_id", (double)location);
	cJSON_AddStringToObject(r->out, "level", location ? "location" : "dealer");
	cJSON_AddItemToObject(r->out, "settings", s->view);
	s->view = NULL;
}

int
h_settings(struct req *r)
{
	struct kp_settings s;
	long long dealer_in, location, dealer;
	int rc;

	if ((rc = query_id(r, "dealer", &dealer_in)) || (rc = query_id(r, "location", &location)) ||
	    (rc = scope(r, dealer_in, location, &dealer)) || (rc = settings_load(r, dealer, location, &s)))
		return rc;
	settings_answer(r, dealer, location, &s);
	return 200;
}

int
h_setting_set(struct req *r)
{
	static const char *const ok[] = { "dealer_id", "location_id", "name", "value", "reset", "lock", NULL };
	const struct setting *def = NULL;
	const cJSON *lock = cJSON_GetObjectItemCaseSensitive(r->in, "lock");
	const cJSON *reset = cJSON_GetObjectItemCaseSensitive(r->in, "reset");
	const char *name, *value;
	long long dealer_in = 0, location = 0, dealer;
	struct kp_settings s;
	char subject[48];
	cJSON *d;
	int rc;

	if ((rc = only_fields(r, ok)) || (rc = want_int(r, "dealer_id", 1, KCS_ID_MAX, 0, &dealer_in)) ||
	    (rc = want_int(r, "location_id", 1, KCS_ID_MAX, 0, &location)) ||
	    (rc = want_str(r, "name", 1, 64, 1, &name)) || (rc = want_str(r, "value", 1, 13, 0, &value)))
		return rc;
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			def = &settings[i];
	if (!def)
		return fail(r, 400, "invalid", "name", "%s is not a KeyPool setting", name);
	if ((lock && !cJSON_IsBool(lock)) || (reset && !cJSON_IsTrue(reset)))
		return fail(r, 400, "invalid", lock && !cJSON_IsBool(lock) ? "lock" : "reset", "must be true%s",
		    lock && !cJSON_IsBool(lock) ? " or false" : "");
	if (!reset == !value)
		return fail(r, 400, "invalid", "value", reset ? "give a value or reset, not both" : "is required");
	if ((rc = scope(r, dealer_in, location, &dealer)))
		return rc;
	if (strcmp(r->role, "admin") != 0 && !location)
		return fail(r, 403, "forbidden", "location_id", "a fleet system sets its locations' settings; the "
		    "dealer level is an administrator's");
	if (lock && location)
		return fail(r, 400, "invalid", "lock", "a setting is locked at the dealer level, for its locations");
	if (value && ((def->kind == S_SWITCH && strcmp(value, "on") != 0 && strcmp(value, "off") != 0) ||
	    (def->kind == S_PROVIDER && strcmp(value, "kai") != 0 && strcmp(value, "gki") != 0)))
		return fail(r, 400, "invalid", "value", def->kind == S_SWITCH ? "must be on or off"
		    : "must be kai (the KAI web service, by VIN) or gki (GKI .BIN files)");
	if (value && def->kind == S_NUMBER && (rc = valid_number(r, "value", value)))
		return rc;
	if (reset && location) {
		/* a location's value under a lock is not there to reset */
		if ((rc = settings_load(r, dealer, location, &s)))
			return rc;
		rc = kcs_json_bool(cJSON_GetObjectItem(s.view, name), "locked") ? STORE_CONFLICT : STORE_OK;
		cJSON_Delete(s.view);
	}
	if (rc == STORE_OK)
		rc = reset ? store_setting_reset(r->tx, dealer, location, name)
			   : store_setting_set(r->tx, dealer, location, name, value, lock ? cJSON_IsTrue(lock) : -1,
			       r->actor, r->now);
	if (rc == STORE_CONFLICT) {
		const cJSON *v;
		char when[21] = "";
		long long t = 0;

		if ((rc = settings_load(r, dealer, location, &s)))
			return rc;
		v = cJSON_GetObjectItem(s.view, name);
		if (kcs_json_int(v, "locked_at", &t) == 0)
			kcs_time_iso((time_t)t, when);
		rc = fail(r, 409, "locked", "name", "%s is locked at the dealer level (by %s, %s): it cannot be changed "
		    "at a location", name, kcs_json_str(v, "locked_by") ? kcs_json_str(v, "locked_by") : "?", when);
		cJSON_Delete(s.view);
		return rc;
	}
	if (rc != STORE_OK)
		return store_fail(r, rc);
	if (location)
		snprintf(subject, sizeof subject, "location:%lld", location);
	else
		snprintf(subject, sizeof subject, "dealer:%lld", dealer);
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "name", name);
	if (value)
		cJSON_AddStringToObject(d, "value", value);
	else
		cJSON_AddBoolToObject(d, "reset", 1);
	if (lock)
		cJSON_AddBoolToObject(d, "locked", cJSON_IsTrue(lock));
	if ((rc = audit_event(r, "keypool.setting", subject, d)) || (rc = settings_load(r, dealer, location, &s)))
		return rc;
	settings_answer(r, dealer, location, &s);
	return 200;
}

/* ---- resolving a unit's mileage and fuel ---- */

enum mode { M_ANY, M_ADD, M_KEY_ONLY };

struct manual {
	long long mileage, fuel, battery; /* -1: not given */
	const char *unit;
};

struct resolved {
	const char *source;
	long long read_id, mileage, fuel, battery;
	char unit[3];
	cJSON *sources; /* each source: used or not, and why */
};

static void
note(cJSON *sources, const char *name, int used, const char *reason, const char *why)
{
	cJSON *o = cJSON_AddObjectToObject(sources, name);

	cJSON_AddBoolToObject(o, "used", used);
	if (reason)
		cJSON_AddStringToObject(o, "reason", reason);
	cJSON_AddStringToObject(o, "why", why);
}

static void
take(struct resolved *out, const cJSON *read, const char *source)
{
	long long v = 0;

	out->source = source;
	kcs_json_int(read, "id", &out->read_id);
	kcs_json_int(read, "mileage", &out->mileage);
	snprintf(out->unit, sizeof out->unit, "%s", kcs_json_str(read, "mileage_unit"));
	out->fuel = kcs_json_int(read, "fuel_percent", &v) == 0 ? v : -1;
	out->battery = kcs_json_int(read, "battery_percent", &v) == 0 ? v : -1;
}

/* The one rule of the fallback: with key-reader integration on, the key
 * read (from the provider: KAI reads, or GKI imports) when it is
 * prioritized and valid, else telematics, else the other; with it off,
 * telematics; else what was entered by hand. Adding a unit may use the key
 * read only with allow_add_manually on. */
static int
resolve(struct req *r, long long dealer, long long location, const char *vin, enum mode mode,
    const struct manual *m, struct resolved *out)
{
	struct kp_settings s;
	struct verdict v[2];
	const char *names[2], *reason0 = NULL, *fail_reason = NULL, *fail_why = NULL;
	long long fail_age = 0;
	int rc;
	char buf[400];

	memset(out, 0, sizeof *out);
	memset(v, 0, sizeof v);
	out->fuel = out->battery = -1;
	if ((rc = settings_load(r, dealer, location, &s)))
		return rc;
	cJSON_Delete(s.view);
	if (mode == M_KEY_ONLY && (!s.integration || !s.allow_add))
		return fail(r, 409, "setting_off", s.integration ? "allow_add_manually" : "integration",
		    s.integration ? "adding a unit by key reader needs allow_add_manually at location %lld"
		    : "key-reader integration is off at location %lld", location);
	out->sources = cJSON_CreateObject();
	{
		const char *key = strcmp(s.provider, "gki") == 0 ? "gki_import" : "key_reader";

		names[0] = s.prioritize ? key : "telematics";
		names[1] = s.prioritize ? "telematics" : key;
	}
	for (int i = 0; i < 2; i++) {
		const char *src = names[i], *reason, *why;
		int is_key = strcmp(src, "telematics") != 0;

		if (is_key && !s.integration) {
			reason = "off";
			why = "key-reader integration is off at this location";
		} else if (is_key && mode == M_ADD && !s.allow_add) {
			reason = "setting_off";
			why = "adding a unit by key reader needs allow_add_manually";
		} else if (!is_key && mode == M_KEY_ONLY) {
			reason = "not_asked";
			why = "a unit added by key reader takes the key read only";
		} else if (out->source) {
			snprintf(buf, sizeof buf, "not needed: the %s was valid and comes first (prioritize_key_reader is "
			    "%s)", source_name(out->source), s.prioritize ? "on" : "off");
			note(out->sources, src, 0, "not_needed", buf);
			continue;
		} else {
			if ((rc = judge(r, dealer, vin, src, src, &v[i]))) {
				cJSON_Delete(out->sources);
				out->sources = NULL;
				return rc;
			}
			if (v[i].ok) {
				take(out, v[i].read, src);
				if (i == 0)
					snprintf(buf, sizeof buf, "used: %s; it comes first (prioritize_key_reader is %s)",
					    v[i].why, s.prioritize ? "on" : "off");
				else
					snprintf(buf, sizeof buf, "used: %s, in place of the %s (%s)", v[i].why,
					    source_name(names[0]), reason0);
				note(out->sources, src, 1, NULL, buf);
				continue;
			}
			reason = v[i].reason;
			why = v[i].why;
			if (!fail_reason) {
				fail_reason = reason;
				fail_why = why;
				fail_age = v[i].age;
			}
		}
		note(out->sources, src, 0, reason, why);
		if (i == 0)
			reason0 = reason;
	}
	if (!out->source && m->mileage >= 0 && mode != M_KEY_ONLY) {
		out->source = "manual";
		out->mileage = m->mileage;
		snprintf(out->unit, sizeof out->unit, "%s", m->unit);
		out->fuel = m->fuel;
		out->battery = m->battery;
		note(out->sources, "manual", 1, NULL, "used: entered by hand, as no source had valid data");
	} else if (m->mileage >= 0) {
		if (out->source)
			snprintf(buf, sizeof buf, "not used: the %s was valid", source_name(out->source));
		else
			snprintf(buf, sizeof buf, "not used: a unit added by key reader takes the key read only");
		note(out->sources, "manual", 0, out->source ? "not_needed" : "not_asked", buf);
	}
	if (!out->source) {
		snprintf(buf, sizeof buf, "%s%s", fail_why ? fail_why : "no source is available at this location",
		    mode == M_KEY_ONLY ? "" : "; or enter the mileage and fuel by hand");
		rc = key_data_invalid(r, fail_reason ? fail_reason : "not_found", buf, fail_age, out->sources);
		out->sources = NULL;
	}
	for (int i = 0; i < 2; i++)
		cJSON_Delete(v[i].read);
	return rc;
}

static void
resolved_json(cJSON *o, const struct resolved *res)
{
	cJSON_AddStringToObject(o, "source", res->source);
	if (res->read_id)
		cJSON_AddNumberToObject(o, "read_id", (double)res->read_id);
	cJSON_AddNumberToObject(o, "mileage", (double)res->mileage);
	cJSON_AddStringToObject(o, "mileage_unit", res->unit);
	if (res->fuel >= 0)
		cJSON_AddNumberToObject(o, "fuel_percent", (double)res->fuel);
	if (res->battery >= 0)
		cJSON_AddNumberToObject(o, "battery_percent", (double)res->battery);
}

int
h_resolve(struct req *r)
{
	struct manual m = { -1, -1, -1, "km" };
	struct resolved res;
	long long location, dealer;
	char vin[18];
	int rc;

	if ((rc = query_id(r, "location", &location)))
		return rc;
	if (!location)
		return fail(r, 400, "invalid", "location", "is required");
	if ((rc = scope(r, 0, location, &dealer)) || (rc = vin_of(r, query_arg(r, "vin"), vin)) ||
	    (rc = resolve(r, dealer, location, vin, M_ANY, &m, &res)))
		return rc;
	r->out = cJSON_CreateObject();
	cJSON_AddStringToObject(r->out, "vin", vin);
	cJSON_AddNumberToObject(r->out, "location_id", (double)location);
	resolved_json(r->out, &res);
	cJSON_AddItemToObject(r->out, "sources", res.sources);
	return 200;
}

/* ---- fleet units ---- */

/* A unit's moves: from which statuses an event may be recorded, to which
 * status it takes the unit, and whether it names the agreement. */
static const struct flow {
	const char *event, *from, *to;
	int agreement;
} flows[] = {
	{ "add", NULL, "available", 0 },
	{ "edit", NULL, NULL, 0 },
	{ "remove", "available", "removed", 0 },
	{ "return", "removed", "available", 0 },
	{ "assign", "available", "on_rent", 1 },
	{ "close_pending", "on_rent", "close_pending", 1 },
	{ "close", "on_rent,close_pending", "available", 1 },
};

static int
status_in(const char *status, const char *list)
{
	size_t n = strlen(status);

	for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, status, n) == 0 && (p[n] == ',' || !p[n]))
			return 1;
	return 0;
}

int
h_unit_event(struct req *r)
{
	static const char *const ok[] = { "event", "number", "vin", "location_id", "agreement", "key_reader", "mileage",
		"mileage_unit", "fuel_percent", "battery_percent", NULL };
	const struct flow *f = NULL;
	const char *event, *number, *vin_in = NULL, *agreement;
	const cJSON *by_key = cJSON_GetObjectItemCaseSensitive(r->in, "key_reader");
	struct manual m;
	struct resolved res = { 0 };
	struct store_event e = { 0 };
	long long location = 0, dealer = r->dealer_id, unit_id = 0, cur_location = 0, id;
	char vin[18], *resolution;
	cJSON *unit = NULL, *ev;
	int rc, status = 200;

	if ((rc = only_fields(r, ok)) || (rc = want_str(r, "event", 1, 16, 1, &event)))
		return rc;
	for (size_t i = 0; i < sizeof flows / sizeof *flows; i++)
		if (strcmp(flows[i].event, event) == 0)
			f = &flows[i];
	if (!f)
		return fail(r, 400, "invalid", "event", "must be add, edit, remove, return, assign, close or "
		    "close_pending");
	if ((rc = want_str(r, "number", 1, 32, 1, &number)))
		return rc;
	if (strspn(number, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./") != strlen(number))
		return fail(r, 400, "invalid", "number", "a unit number is letters, digits and - _ . /");
	if ((rc = want_text(r, "agreement", 64, 0, &agreement)) ||
	    (rc = want_int(r, "location_id", 1, KCS_ID_MAX, 0, &location)) ||
	    (rc = want_mileage(r, 0, &m.mileage, &m.unit)) || (rc = want_energy(r, &m.fuel, &m.battery)))
		return rc;
	if (f->agreement && !agreement)
		return fail(r, 400, "invalid", "agreement", "is required to %s a unit", event);
	if (!f->agreement && agreement)
		return fail(r, 400, "invalid", "agreement", "is only for assign, close and close_pending");
	if (by_key && (!cJSON_IsBool(by_key) || strcmp(event, "add") != 0))
		return fail(r, 400, "invalid", "key_reader", "is true or false, for add only");
	if ((m.fuel >= 0 || m.battery >= 0) && m.mileage < 0)
		return fail(r, 400, "invalid", "mileage", "is required with a fuel or battery level entered by hand");
	if (strcmp(event, "add") == 0) {
		if ((rc = want_str(r, "vin", 1, 64, 1, &vin_in)))
			return rc;
		if (kcs_vin_parse(vin_in, vin) != KCS_OK)
			return fail(r, 400, "invalid", "vin", "%s", kcs_errmsg());
		if (!location)
			return fail(r, 400, "invalid", "location_id", "is required to add a unit");
	} else {
		const char *st, *on;

		if (cJSON_GetObjectItemCaseSensitive(r->in, "vin"))
			return fail(r, 400, "invalid", "vin", "is given when a unit is added, not changed");
		if (location && strcmp(event, "edit") != 0)
			return fail(r, 400, "invalid", "location_id", "a unit changes location by edit");
		if ((rc = store_unit_get(r->tx, dealer, number, &unit)) == STORE_NOTFOUND)
			return fail(r, 404, "not_found", "number", "your dealer has no unit %s", number);
		if (rc != STORE_OK)
			return store_fail(r, rc);
		snprintf(vin, sizeof vin, "%s", kcs_json_str(unit, "vin"));
		kcs_json_int(unit, "id", &unit_id);
		kcs_json_int(unit, "location_id", &cur_location);
		st = kcs_json_str(unit, "status");
		on = kcs_json_str(unit, "agreement");
		if (f->from && !status_in(st, f->from))
			rc = fail(r, 409, "wrong_status", "number", "unit %s is %s: %s needs a unit that is %s", number, st,
			    event, f->from);
		else if (f->agreement && on && strcmp(event, "assign") != 0 && strcmp(on, agreement) != 0)
			rc = fail(r, 409, "wrong_agreement", "agreement", "unit %s is on agreement %s, not %s", number,
			    on, agreement);
		if (rc) {
			cJSON_Delete(unit);
			return rc;
		}
		if (!f->to)
			e.agreement = on;
	}
	if (location && (rc = scope(r, 0, location, &dealer)))
		goto out;
	if ((rc = resolve(r, dealer, location ? location : cur_location, vin,
	    cJSON_IsTrue(by_key) ? M_KEY_ONLY : strcmp(event, "add") == 0 ? M_ADD : M_ANY, &m, &res)))
		goto out;
	if (f == &flows[0]) {
		if ((rc = store_unit_add(r->tx, dealer, location, number, vin, r->now, &unit_id)) == STORE_CONFLICT) {
			rc = fail(r, 409, "conflict", "number", "your dealer has a unit %s", number);
			goto out;
		}
		status = 201;
	} else {
		const char *st = kcs_json_str(unit, "status");

		rc = store_unit_move(r->tx, unit_id, f->from ? f->from : st, f->to ? f->to : st,
		    f->agreement ? agreement : e.agreement, strcmp(event, "assign") == 0 || !f->to, location, r->now);
		if (rc == STORE_NOTFOUND) {
			rc = fail(r, 409, "conflict", "number", "unit %s changed meanwhile: try again", number);
			goto out;
		}
	}
	if (rc != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	e.unit_id = unit_id;
	e.dealer_id = dealer;
	e.vin = vin;
	e.event = event;
	e.location_id = location ? location : cur_location;
	if (f->agreement)
		e.agreement = agreement;
	e.source = res.source;
	e.read_id = res.read_id;
	e.mileage = res.mileage;
	e.mileage_unit = res.unit;
	e.mileage_km = to_km(res.mileage, res.unit);
	e.fuel = res.fuel;
	e.battery = res.battery;
	e.actor = r->actor;
	if ((rc = plausible(r, dealer, vin, r->now + K.cf.keypool_skew + 1, e.mileage_km, &e.rollback_km,
	    &e.rollback_at)))
		goto out;
	resolution = kcs_json_dump(res.sources);
	e.resolution = resolution;
	rc = store_unit_event(r->tx, &e, r->now, &id);
	free(resolution);
	if (rc != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	cJSON_Delete(unit);
	unit = NULL;
	if ((rc = store_unit_get(r->tx, dealer, number, &unit)) != STORE_OK) {
		rc = store_fail(r, rc);
		goto out;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(unit, "id");
	drop_nulls(unit);
	r->out = cJSON_CreateObject();
	cJSON_AddItemToObject(r->out, "unit", unit);
	unit = NULL;
	ev = cJSON_AddObjectToObject(r->out, "event");
	cJSON_AddNumberToObject(ev, "id", (double)id);
	cJSON_AddStringToObject(ev, "event", event);
	resolved_json(ev, &res);
	if (e.rollback_km >= 0)
		cJSON_AddStringToObject(ev, "flag", "mileage_rollback");
	rollback_warning(ev, e.mileage_km, e.rollback_km, e.rollback_at);
	cJSON_AddItemToObject(ev, "sources", res.sources);
	res.sources = NULL;
	rc = status;
out:
	cJSON_Delete(unit);
	cJSON_Delete(res.sources);
	return rc;
}

int
h_unit_get(struct req *r)
{
	cJSON *unit = NULL, *events = NULL, *it;
	long long id = 0;
	int rc;

	if ((rc = store_unit_get(r->tx, r->dealer_id, r->arg, &unit)) == STORE_NOTFOUND)
		return fail(r, 404, "not_found", "number", "your dealer has no unit %s", r->arg);
	if (rc != STORE_OK)
		return store_fail(r, rc);
	kcs_json_int(unit, "id", &id);
	if ((rc = store_unit_events(r->tx, id, &events)) != STORE_OK) {
		cJSON_Delete(unit);
		return store_fail(r, rc);
	}
	cJSON_ArrayForEach(it, events) {
		const char *res = kcs_json_str(it, "resolution");
		cJSON *s = res ? kcs_json_parse(res, strlen(res)) : NULL;
		long long km = 0;

		cJSON_ReplaceItemInObjectCaseSensitive(it, "resolution", s ? s : cJSON_CreateObject());
		if (kcs_json_int(it, "rollback_km", &km) == 0)
			cJSON_AddStringToObject(it, "flag", "mileage_rollback");
		drop_nulls(it);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(unit, "id");
	drop_nulls(unit);
	cJSON_AddItemToObject(unit, "events", events);
	r->out = unit;
	return 200;
}
