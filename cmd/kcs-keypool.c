/* kcs-keypool: the KeyPool (seed 002): a key reader posts key reads (from
 * kcs-keywriter read, by options, or a legacy GKI .BIN file); a fleet system
 * asks for the latest valid read of a VIN, posts telematics, manages its
 * locations' settings and records its units' events (kcs-keypool(1)). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kcs.h"

enum {
	C_PUSH, C_IMPORT, C_LATEST, C_RESOLVE, C_SETTINGS_SHOW, C_SETTINGS_SET, C_SETTINGS_RESET, C_UNIT_ADD,
	C_UNIT_EDIT, C_UNIT_REMOVE, C_UNIT_RETURN, C_UNIT_ASSIGN, C_UNIT_CLOSE, C_UNIT_CLOSE_PENDING, C_UNIT_SHOW
};

static const struct kcs_command commands[] = {
	[C_PUSH] = { "push", "[--vin VIN --mileage N ...]", 0,
	    "post a key read: the one kcs-keywriter read printed on standard\ninput, or one given by options "
	    "(a fleet system's token posts\ntelematics)" },
	[C_IMPORT] = { "import", "FILE.BIN", 1,
	    "post the reads of a legacy GKI key-read file (kcs-gki(5));\none JSON line per record: stored, "
	    "duplicate or refused" },
	[C_LATEST] = { "latest", "VIN [--source SOURCE]", 1,
	    "the newest read of VIN if it is valid (younger than an hour),\nelse \"Key data was not retrieved or "
	    "is invalid\" and why" },
	[C_RESOLVE] = { "resolve", "VIN --location ID", 1,
	    "the mileage and fuel a unit at the location would take,\nfrom which source and why" },
	[C_SETTINGS_SHOW] = { "settings show", "[--dealer ID] [--location ID]", 0,
	    "the settings of the dealer or a location: each value, where\nit comes from and who locked it" },
	[C_SETTINGS_SET] = { "settings set", "NAME=VALUE [--dealer ID] [--location ID] [--lock|--unlock]", 1,
	    "set a setting at the dealer level (an administrator, who may\nlock it) or at a location" },
	[C_SETTINGS_RESET] = { "settings reset", "NAME [--dealer ID] [--location ID]", 1,
	    "back to the level above (or the default)" },
	[C_UNIT_ADD] = { "unit add", "NUMBER --vin VIN --location ID [--key-reader]", 1,
	    "add a unit to the fleet" },
	[C_UNIT_EDIT] = { "unit edit", "NUMBER [--location ID]", 1, "record a unit's mileage and fuel (and move it)" },
	[C_UNIT_REMOVE] = { "unit remove", "NUMBER", 1, "remove a unit from the fleet" },
	[C_UNIT_RETURN] = { "unit return", "NUMBER", 1, "return a removed unit to the fleet" },
	[C_UNIT_ASSIGN] = { "unit assign", "NUMBER --agreement REF", 1, "assign a unit to an agreement" },
	[C_UNIT_CLOSE] = { "unit close", "NUMBER --agreement REF", 1, "close the unit's agreement: it is back" },
	[C_UNIT_CLOSE_PENDING] = { "unit close-pending", "NUMBER --agreement REF", 1,
	    "close-pend the unit's agreement" },
	[C_UNIT_SHOW] = { "unit show", "NUMBER", 1, "a unit and its events, each with its source" },
	{ NULL, NULL, 0, NULL }
};

static void
usage(void)
{
	fputs("usage: kcs-keypool [--token-file FILE] [--url URL] COMMAND [ARGS] [OPTIONS]\n\nCommands:\n", stdout);
	kcs_command_help(stdout, commands);
	fputs("\n"
	    "A key reader's token posts key reads and imports; a fleet system's token\n"
	    "posts telematics, reads, resolves, records units and sets its locations'\n"
	    "settings; an administrator's token sets the dealer level and locks.\n"
	    "\n"
	    "Options:\n"
	    "      --vin VIN            push, unit add: the vehicle\n"
	    "      --read-at TIME       push: when the key was read, YYYY-MM-DDTHH:MM:SSZ (default: now)\n"
	    "      --mileage N          the mileage (push; a unit's, entered by hand)\n"
	    "      --mileage-unit U     km (default) or mi\n"
	    "      --fuel P             the fuel level, percent\n"
	    "      --battery P          the battery's state of charge, percent\n"
	    "      --key-number N       push: the key's number, 1 to 10\n"
	    "      --range-km N         push: the remaining range\n"
	    "      --service ITEM       push: NAME,DUE,KM: a service item, due on DUE (YYYY-MM-DD)\n"
	    "                           or in KM km (either may be empty); again for more\n"
	    "      --device SERIAL      push: the reader's serial number\n"
	    "      --source SOURCE      latest: key_reader, gki_import or telematics (default:\n"
	    "                           key reads of either kind)\n"
	    "      --dealer ID          settings: the dealer (an administrator)\n"
	    "      --location ID        a location\n"
	    "      --lock, --unlock     settings set: lock the dealer's value for its locations, or not\n"
	    "      --key-reader         unit add: by key reader (needs allow_add_manually)\n"
	    "      --agreement REF      unit assign, close, close-pending: the agreement\n"
	    "      --token-file FILE    the key reader's, fleet system's or administrator's token\n"
	    "                           (default: $KCS_TOKEN_FILE, the config's token_file, or $KCS_TOKEN)\n"
	    "      --url URL            kcsd's URL\n"
	    "  -h, --help               show this help\n"
	    "  -V, --version            show the version\n"
	    "\n"
	    "Exit status: 0 done, 1 refused by a rule (key data not retrieved or invalid, a\n"
	    "locked setting, a unit in the wrong state, records of an import refused), 2 usage,\n"
	    "3 invalid input, 4 not permitted, 5 server unreachable, 6 internal failure (kcs(7)).\n", stdout);
}

static struct {
	const char *url, *token_file, *vin, *read_at, *mileage, *unit, *fuel, *battery, *key_number, *range_km;
	const char *device, *source, *dealer, *location, *agreement;
	const char *service[16];
	int nservice, lock, unlock, key_reader;
} o;

/* an option's number into the body, when given */
static int
put_number(cJSON *body, const char *opt, const char *name, long long lo, long long hi)
{
	long long v;
	int rc;

	if (!opt)
		return KCS_OK;
	if ((rc = kcs_number_parse(opt, name, lo, hi, &v)) != KCS_OK)
		return rc;
	cJSON_DeleteItemFromObjectCaseSensitive(body, name);
	cJSON_AddNumberToObject(body, name, (double)v);
	return KCS_OK;
}

static void
put_str(cJSON *body, const char *name, const char *v)
{
	if (!v)
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(body, name);
	cJSON_AddStringToObject(body, name, v);
}

/* the mileage and fuel entered by hand (or pushed) */
static int
put_manual(cJSON *body)
{
	int rc;

	if ((rc = put_number(body, o.mileage, "mileage", 0, 2000000)) != KCS_OK ||
	    (rc = put_number(body, o.fuel, "fuel_percent", 0, 100)) != KCS_OK ||
	    (rc = put_number(body, o.battery, "battery_percent", 0, 100)) != KCS_OK)
		return rc;
	put_str(body, "mileage_unit", o.unit);
	return KCS_OK;
}

/* A key read as kcs-keywriter read prints it, as the KeyPool takes it. */
static int
from_keywriter(const cJSON *in, cJSON *body)
{
	static const char *const keep[] = { "vin", "read_at", "mileage", "mileage_unit", "fuel_percent",
		"battery_percent", "key_number", "range_km", "service", "device", "distribution_product_number",
		"outlet_number", "source", NULL };
	static const char *const skip[] = { "present", "chip", "key_id", "state", "personalization", "stored_at",
		"writer", NULL };
	const cJSON *it;

	if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(in, "present")))
		return kcs_fail(KCS_EINVALID, "present", "the writer's slot held no key: there is no read to post");
	if (kcs_json_str(in, "state") && strcmp(kcs_json_str(in, "state"), "blank") == 0)
		return kcs_fail(KCS_EINVALID, "state", "the key is blank: it carries no vehicle data");
	cJSON_ArrayForEach(it, in) {
		int known = 0;

		for (const char *const *k = keep; *k && !known; k++)
			if (strcmp(*k, it->string) == 0) {
				cJSON_AddItemToObject(body, it->string, cJSON_Duplicate(it, 1));
				known = 1;
			}
		for (const char *const *k = skip; *k && !known; k++)
			known = strcmp(*k, it->string) == 0;
		if (!known)
			return kcs_fail(KCS_EINVALID, it->string, "is not part of a key read");
	}
	if (kcs_json_str(in, "writer") && !cJSON_GetObjectItemCaseSensitive(body, "device"))
		cJSON_AddStringToObject(body, "device", kcs_json_str(in, "writer"));
	return KCS_OK;
}

/* --service NAME,DUE,KM */
static int
put_service(cJSON *body)
{
	cJSON *arr;

	if (!o.nservice)
		return KCS_OK;
	cJSON_DeleteItemFromObjectCaseSensitive(body, "service");
	arr = cJSON_AddArrayToObject(body, "service");
	for (int i = 0; i < o.nservice; i++) {
		char buf[256], *due, *km;
		cJSON *s = cJSON_CreateObject();
		long long v;

		cJSON_AddItemToArray(arr, s);
		snprintf(buf, sizeof buf, "%s", o.service[i]);
		if (!(due = strchr(buf, ',')) || !(km = strchr(due + 1, ',')))
			return kcs_fail(KCS_EUSAGE, "service", "write a service item as NAME,DUE,KM");
		*due++ = '\0';
		*km++ = '\0';
		cJSON_AddStringToObject(s, "name", buf);
		if (*due)
			cJSON_AddStringToObject(s, "due", due);
		if (*km) {
			if (kcs_number_parse(km, "service", -1000000, 1000000, &v) != KCS_OK)
				return KCS_EINVALID;
			cJSON_AddNumberToObject(s, "remaining_km", (double)v);
		}
	}
	return KCS_OK;
}

static int
push(struct kcs_client *cl)
{
	cJSON *body = cJSON_CreateObject(), *in = NULL, *res = NULL;
	int rc = KCS_OK;

	if (!o.vin) {
		if (kcs_is_tty(STDIN_FILENO)) {
			rc = kcs_usage_error("push takes the key read on standard input (kcs-keywriter read | "
			    "kcs-keypool push) or --vin and --mileage");
			goto out;
		}
		if (!(in = kcs_json_stdin())) {
			rc = kcs_errcode();
			goto out;
		}
		if (!cJSON_GetArraySize(in)) {
			rc = kcs_usage_error("standard input holds no key read");
			goto out;
		}
		if ((rc = from_keywriter(in, body)) != KCS_OK)
			goto out;
	}
	put_str(body, "vin", o.vin);
	put_str(body, "read_at", o.read_at);
	put_str(body, "device", o.device);
	if ((rc = put_manual(body)) != KCS_OK || (rc = put_number(body, o.key_number, "key_number", 1, 10)) != KCS_OK ||
	    (rc = put_number(body, o.range_km, "range_km", 0, 5000)) != KCS_OK || (rc = put_service(body)) != KCS_OK)
		goto out;
	if (!cJSON_GetObjectItemCaseSensitive(body, "read_at")) {
		char now[21];

		kcs_time_iso(time(NULL), now);
		cJSON_AddStringToObject(body, "read_at", now);
	}
	if ((rc = kcs_call(cl, KCS_READ_PUSH, NULL, body, &res)) == KCS_OK) {
		rc = kcs_print(res);
		if (kcs_json_str(res, "warning") && kcs_is_tty(STDERR_FILENO))
			fprintf(stderr, "%s: warning: %s\n", kcs_prog(), kcs_json_str(res, "warning"));
	}
out:
	cJSON_Delete(in);
	cJSON_Delete(body);
	cJSON_Delete(res);
	return rc;
}

/* ---- import ---- */

#define BATCH 100

static cJSON *
record_json(const uint8_t *file, const struct kcs_gki_record *g)
{
	cJSON *o2 = cJSON_CreateObject();
	uint8_t sha[32];
	char iso[21], hex[65];

	cJSON_AddStringToObject(o2, "vin", g->vin);
	kcs_time_iso((time_t)g->read_at, iso);
	cJSON_AddStringToObject(o2, "read_at", iso);
	cJSON_AddNumberToObject(o2, "mileage", g->mileage);
	cJSON_AddStringToObject(o2, "mileage_unit", g->unit ? "mi" : "km");
	if (g->energy_kind)
		cJSON_AddNumberToObject(o2, g->energy_kind == 1 ? "fuel_percent" : "battery_percent", g->energy);
	if (g->key_number)
		cJSON_AddNumberToObject(o2, "key_number", g->key_number);
	if (g->device[0])
		cJSON_AddStringToObject(o2, "device", g->device);
	if (g->nservice) {
		cJSON *arr = cJSON_AddArrayToObject(o2, "service");

		for (unsigned i = 0; i < g->nservice; i++) {
			cJSON *s = cJSON_CreateObject();

			cJSON_AddStringToObject(s, "name", g->service[i].name);
			if (g->service[i].due_day) {
				kcs_time_iso((time_t)g->service[i].due_day * 86400, iso);
				iso[10] = '\0';
				cJSON_AddStringToObject(s, "due", iso);
			}
			if (g->service[i].remaining_km != KCS_GKI_NONE)
				cJSON_AddNumberToObject(s, "remaining_km", g->service[i].remaining_km);
			cJSON_AddItemToArray(arr, s);
		}
	}
	crypto_hash_sha256(sha, file + g->offset, KCS_GKI_RECORD);
	kcs_hex_encode(sha, sizeof sha, hex);
	cJSON_AddStringToObject(o2, "raw_sha256", hex);
	return o2;
}

static void
report(uint32_t record, size_t offset, const cJSON *res, const char *status, const char *field, const char *msg)
{
	cJSON *line = res ? cJSON_Duplicate(res, 1) : cJSON_CreateObject();

	cJSON_DeleteItemFromObjectCaseSensitive(line, "index");
	cJSON_AddNumberToObject(line, "record", record + 1);
	cJSON_AddNumberToObject(line, "offset", (double)offset);
	if (status)
		cJSON_AddStringToObject(line, "status", status);
	if (field && *field)
		cJSON_AddStringToObject(line, "field", field);
	if (msg)
		cJSON_AddStringToObject(line, "message", msg);
	kcs_print(line);
	cJSON_Delete(line);
}

static int
import(struct kcs_client *cl, const char *path)
{
	struct kcs_gki_header h;
	uint8_t sha[32];
	char hex[65];
	char *buf = NULL;
	size_t len = 0, offsets[BATCH];
	uint32_t nums[BATCH];
	long long stored = 0, dups = 0, refused = 0;
	int rc, n = 0;
	cJSON *body = NULL, *reads = NULL;

	if ((rc = kcs_read_file(path, "file", &buf, &len, KCS_GKI_HEADER + KCS_GKI_MAX * KCS_GKI_RECORD + 1)) !=
	    KCS_OK)
		return rc;
	if ((rc = kcs_gki_header((const uint8_t *)buf, len, &h)) != KCS_OK) {
		kcs_fail(rc, "file", "%s: %s", path, kcs_errmsg());
		free(buf);
		return rc;
	}
	crypto_hash_sha256(sha, (const uint8_t *)buf, len);
	kcs_hex_encode(sha, sizeof sha, hex);
	if (kcs_is_tty(STDERR_FILENO))
		fprintf(stderr, "importing %u records of %s/%s from %s...\n", h.count, h.dpn, h.outlet, path);
	for (uint32_t i = 0; i <= h.count && rc == KCS_OK; i++) {
		struct kcs_gki_record g;

		if (i < h.count) {
			if (kcs_gki_record((const uint8_t *)buf, i, &g) != KCS_OK) {
				report(i, KCS_GKI_HEADER + (size_t)i * KCS_GKI_RECORD, NULL, "refused", kcs_errfield(),
				    kcs_errmsg());
				refused++;
				continue;
			}
			if (!body) {
				body = cJSON_CreateObject();
				cJSON_AddStringToObject(body, "distribution_product_number", h.dpn);
				cJSON_AddStringToObject(body, "outlet_number", h.outlet);
				cJSON_AddStringToObject(body, "file_sha256", hex);
				reads = cJSON_AddArrayToObject(body, "reads");
			}
			cJSON_AddItemToArray(reads, record_json((const uint8_t *)buf, &g));
			offsets[n] = g.offset;
			nums[n++] = i;
		}
		if (body && (n == BATCH || i == h.count)) {
			cJSON *res = NULL, *it;
			int k = 0;

			if ((rc = kcs_call(cl, KCS_READ_IMPORT, NULL, body, &res)) == KCS_OK) {
				cJSON_ArrayForEach(it, cJSON_GetObjectItem(res, "results")) {
					const char *st = kcs_json_str(it, "status");

					if (k >= n)
						break;
					stored += st && strcmp(st, "stored") == 0;
					dups += st && strcmp(st, "duplicate") == 0;
					refused += st && strcmp(st, "refused") == 0;
					report(nums[k], offsets[k], it, NULL, NULL, NULL);
					k++;
				}
			}
			cJSON_Delete(res);
			cJSON_Delete(body);
			body = NULL;
			n = 0;
		}
	}
	cJSON_Delete(body);
	free(buf);
	if (rc != KCS_OK)
		return rc;
	{
		cJSON *sum = cJSON_CreateObject();

		cJSON_AddStringToObject(sum, "file", path);
		cJSON_AddStringToObject(sum, "sha256", hex);
		cJSON_AddNumberToObject(sum, "records", h.count);
		cJSON_AddNumberToObject(sum, "stored", (double)stored);
		cJSON_AddNumberToObject(sum, "duplicates", (double)dups);
		cJSON_AddNumberToObject(sum, "refused", (double)refused);
		rc = kcs_print(sum);
		cJSON_Delete(sum);
	}
	if (rc == KCS_OK && refused)
		rc = kcs_fail(KCS_EREFUSED, "file", "%s: %lld of %u records were refused", path, refused, h.count);
	return rc;
}

/* "Key data was not retrieved or is invalid": the reason on standard
 * output too, for scripts */
static int
not_valid(struct kcs_client *cl, int rc, const char *vin)
{
	if (rc == KCS_EREFUSED && strcmp(kcs_errname(), "key_data_invalid") == 0 && cl->error) {
		cJSON *out = cJSON_CreateObject();
		const cJSON *age = cJSON_GetObjectItem(cl->error, "age_seconds");

		if (vin)
			cJSON_AddStringToObject(out, "vin", vin);
		cJSON_AddBoolToObject(out, "valid", 0);
		cJSON_AddStringToObject(out, "reason", kcs_json_str(cl->error, "reason"));
		if (age)
			cJSON_AddItemToObject(out, "age_seconds", cJSON_Duplicate(age, 1));
		if (cJSON_GetObjectItem(cl->error, "sources"))
			cJSON_AddItemToObject(out, "sources", cJSON_Duplicate(cJSON_GetObjectItem(cl->error, "sources"), 1));
		cJSON_AddStringToObject(out, "message", kcs_json_str(cl->error, "message"));
		kcs_print(out);
		cJSON_Delete(out);
	}
	return rc;
}

static int
query(struct kcs_client *cl, char *q, size_t n, const char *name, const char *value)
{
	char *e;
	size_t used = strlen(q);

	if (!value)
		return KCS_OK;
	if (!(e = kcs_url_escape(cl, value)))
		return kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
	snprintf(q + used, n - used, "%s%s=%s", used ? "&" : "", name, e);
	kcs_free(e);
	return KCS_OK;
}

static int
id_option(const char *v, const char *field)
{
	long long id;

	return v ? kcs_id_parse(v, field, &id) : KCS_OK;
}

static int
unit_event(struct kcs_client *cl, int command, const char *number, cJSON **res)
{
	static const char *const events[] = {
		[C_UNIT_ADD] = "add", [C_UNIT_EDIT] = "edit", [C_UNIT_REMOVE] = "remove", [C_UNIT_RETURN] = "return",
		[C_UNIT_ASSIGN] = "assign", [C_UNIT_CLOSE] = "close", [C_UNIT_CLOSE_PENDING] = "close_pending"
	};
	cJSON *body = cJSON_CreateObject();
	int rc;

	cJSON_AddStringToObject(body, "event", events[command]);
	cJSON_AddStringToObject(body, "number", number);
	put_str(body, "vin", o.vin);
	put_str(body, "agreement", o.agreement);
	if (o.key_reader)
		cJSON_AddBoolToObject(body, "key_reader", 1);
	if ((rc = put_number(body, o.location, "location_id", 1, KCS_ID_MAX)) == KCS_OK &&
	    (rc = put_manual(body)) == KCS_OK)
		rc = not_valid(cl, kcs_call(cl, KCS_UNIT_EVENT, NULL, body, res), o.vin);
	cJSON_Delete(body);
	return rc;
}

static int
run(int argc, char **argv)
{
	enum { O_URL = 256, O_TOKEN, O_VIN, O_READ_AT, O_MILEAGE, O_UNIT, O_FUEL, O_BATTERY, O_KEY, O_RANGE, O_SERVICE,
		O_DEVICE, O_SOURCE, O_DEALER, O_LOCATION, O_LOCK, O_UNLOCK, O_KEY_READER, O_AGREEMENT };
	static const struct option opts[] = {
		{ "url", required_argument, NULL, O_URL }, { "token-file", required_argument, NULL, O_TOKEN },
		{ "vin", required_argument, NULL, O_VIN }, { "read-at", required_argument, NULL, O_READ_AT },
		{ "mileage", required_argument, NULL, O_MILEAGE }, { "mileage-unit", required_argument, NULL, O_UNIT },
		{ "fuel", required_argument, NULL, O_FUEL }, { "battery", required_argument, NULL, O_BATTERY },
		{ "key-number", required_argument, NULL, O_KEY }, { "range-km", required_argument, NULL, O_RANGE },
		{ "service", required_argument, NULL, O_SERVICE }, { "device", required_argument, NULL, O_DEVICE },
		{ "source", required_argument, NULL, O_SOURCE }, { "dealer", required_argument, NULL, O_DEALER },
		{ "location", required_argument, NULL, O_LOCATION }, { "lock", no_argument, NULL, O_LOCK },
		{ "unlock", no_argument, NULL, O_UNLOCK }, { "key-reader", no_argument, NULL, O_KEY_READER },
		{ "agreement", required_argument, NULL, O_AGREEMENT },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 }
	};
	const struct kcs_command *cmd;
	struct kcs_client cl = { 0 };
	const char *arg = NULL;
	cJSON *res = NULL, *body = NULL;
	char q[512] = "";
	int c, rc, command;

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case O_URL: o.url = optarg; break;
		case O_TOKEN: o.token_file = optarg; break;
		case O_VIN: o.vin = optarg; break;
		case O_READ_AT: o.read_at = optarg; break;
		case O_MILEAGE: o.mileage = optarg; break;
		case O_UNIT: o.unit = optarg; break;
		case O_FUEL: o.fuel = optarg; break;
		case O_BATTERY: o.battery = optarg; break;
		case O_KEY: o.key_number = optarg; break;
		case O_RANGE: o.range_km = optarg; break;
		case O_SERVICE:
			if (o.nservice == (int)(sizeof o.service / sizeof *o.service))
				return kcs_usage_error("at most %zu --service items", sizeof o.service / sizeof *o.service);
			o.service[o.nservice++] = optarg;
			break;
		case O_DEVICE: o.device = optarg; break;
		case O_SOURCE: o.source = optarg; break;
		case O_DEALER: o.dealer = optarg; break;
		case O_LOCATION: o.location = optarg; break;
		case O_LOCK: o.lock = 1; break;
		case O_UNLOCK: o.unlock = 1; break;
		case O_KEY_READER: o.key_reader = 1; break;
		case O_AGREEMENT: o.agreement = optarg; break;
		case 'h': usage(); return KCS_OK;
		case 'V': puts("kcs-keypool " KCS_VERSION); return KCS_OK;
		default: return kcs_usage_error("unknown option");
		}
	}
	if (!(cmd = kcs_command(commands, argc - optind, argv + optind, &arg)))
		return KCS_EUSAGE;
	command = (int)(cmd - commands);
	if (o.lock && o.unlock)
		return kcs_usage_error("--lock or --unlock, not both");
	if ((rc = id_option(o.dealer, "dealer")) != KCS_OK || (rc = id_option(o.location, "location")) != KCS_OK)
		return rc;
	if (command == C_RESOLVE && !o.location)
		return kcs_usage_error("resolve needs --location ID");
	if (command == C_UNIT_ADD && (!o.vin || !o.location))
		return kcs_usage_error("unit add needs --vin and --location");
	if ((command == C_UNIT_ASSIGN || command == C_UNIT_CLOSE || command == C_UNIT_CLOSE_PENDING) && !o.agreement)
		return kcs_usage_error("%s needs --agreement REF", cmd->name);
	if (kcs_crypto_init() != KCS_OK)
		return kcs_errcode();
	if ((rc = kcs_client_open(&cl, o.url)) != KCS_OK || (rc = kcs_client_token(&cl, o.token_file)) != KCS_OK)
		goto out;
	switch (command) {
	case C_PUSH:
		rc = push(&cl);
		break;
	case C_IMPORT:
		rc = import(&cl, arg);
		break;
	case C_LATEST:
	case C_RESOLVE:
		if ((rc = query(&cl, q, sizeof q, "vin", arg)) != KCS_OK ||
		    (rc = query(&cl, q, sizeof q, "source", o.source)) != KCS_OK ||
		    (rc = query(&cl, q, sizeof q, "location", o.location)) != KCS_OK)
			break;
		rc = not_valid(&cl, kcs_call(&cl, command == C_LATEST ? KCS_READ_LATEST : KCS_RESOLVE, q, NULL, &res),
		    arg);
		if (rc == KCS_OK)
			rc = kcs_print(res);
		break;
	case C_SETTINGS_SHOW:
		if ((rc = query(&cl, q, sizeof q, "dealer", o.dealer)) != KCS_OK ||
		    (rc = query(&cl, q, sizeof q, "location", o.location)) != KCS_OK)
			break;
		if ((rc = kcs_call(&cl, KCS_SETTINGS, q, NULL, &res)) == KCS_OK)
			rc = kcs_print(res);
		break;
	case C_SETTINGS_SET:
	case C_SETTINGS_RESET: {
		char name[80];
		const char *eq = strchr(arg, '=');

		if ((command == C_SETTINGS_SET) != (eq != NULL)) {
			rc = kcs_usage_error(eq ? "settings reset takes a NAME" : "settings set takes NAME=VALUE");
			break;
		}
		snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "name", name);
		if (eq)
			cJSON_AddStringToObject(body, "value", eq + 1);
		else
			cJSON_AddBoolToObject(body, "reset", 1);
		if (o.lock || o.unlock)
			cJSON_AddBoolToObject(body, "lock", o.lock);
		if ((rc = put_number(body, o.dealer, "dealer_id", 1, KCS_ID_MAX)) != KCS_OK ||
		    (rc = put_number(body, o.location, "location_id", 1, KCS_ID_MAX)) != KCS_OK)
			break;
		if ((rc = kcs_call(&cl, KCS_SETTING_SET, NULL, body, &res)) == KCS_OK)
			rc = kcs_print(res);
		break;
	}
	case C_UNIT_SHOW:
		if ((rc = kcs_call(&cl, KCS_UNIT, arg, NULL, &res)) == KCS_OK)
			rc = kcs_print(res);
		break;
	default:
		if ((rc = unit_event(&cl, command, arg, &res)) == KCS_OK) {
			rc = kcs_print(res);
			if (kcs_json_str(cJSON_GetObjectItem(res, "event"), "warning") && kcs_is_tty(STDERR_FILENO))
				fprintf(stderr, "%s: warning: %s\n", kcs_prog(),
				    kcs_json_str(cJSON_GetObjectItem(res, "event"), "warning"));
		}
		break;
	}
out:
	cJSON_Delete(body);
	cJSON_Delete(res);
	kcs_client_close(&cl);
	return rc;
}

int
main(int argc, char **argv)
{
	kcs_setprog(argv[0]);
	return kcs_finish(run(argc, argv));
}
