/* kcs-cas: a vehicle's CAS key slots (seed 001): show them, lock and release
 * a key, the lost-key procedure, activate a coded key (seed 000 §10), set a
 * key's personalization number (kcs-cas(1)). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcs.h"

static const struct kcs_command commands[] = {
	{ "show", "VIN", 1, "the vehicle's ten key positions and their states" },
	{ "lock", "VIN --key N --reason TEXT", 1, "lock a lost or stolen key: it keeps its number" },
	{ "release", "VIN --key N --reason TEXT", 1, "release a locked key" },
	{ "lost-key", "VIN --keep N[,N...] | --read FILE... --reason TEXT", 1,
	    "lock every active key but those the customer still has (by number,\nor as read by kcs-keywriter read), at once" },
	{ "activate", "VIN [--read FILE]", 1,
	    "activate the key in the writer (or read into FILE by kcs-keywriter\nread) that kcsd's job coded" },
	{ "personalize", "VIN --key N --personalization P", 1,
	    "set a key's personalization number (1 to 4, or the model's range);\nthe answer shows the Key Memory that now applies" },
	{ "memory", "VIN --personalization P --unit UNIT --set NAME=VALUE...", 1,
	    "store Key Memory settings of a control unit for a personalization\nnumber" },
	{ "reconcile", "VIN --car FILE [--apply]", 1,
	    "compare kcsd's keys with the key numbers read from the car's CAS\n(JSON); report every difference; change nothing unless --apply" },
	{ NULL, NULL, 0, NULL }
};

static void
usage(void)
{
	fputs("usage: kcs-cas [--token-file FILE] [--url URL] COMMAND VIN [OPTIONS]\n\nCommands:\n", stdout);
	kcs_command_help(stdout, commands);
	fputs("\n"
	    "A locksmith acts on the vehicles of their own key orders, with the coding\n"
	    "disclaimer accepted (asked on a terminal, or --accept-disclaimer); the hotline\n"
	    "and administrators on any vehicle, with their token (--token-file).\n"
	    "\n"
	    "Options:\n"
	    "      --key N              the key number, 1 to 10\n"
	    "      --reason TEXT        lock, release, lost-key: why (kept in the audit log)\n"
	    "      --keep LIST          lost-key: the key numbers the customer still has, as 1,2\n"
	    "      --personalization P  personalize: the number, 1 to 4\n"
	    "      --read FILE          activate, lost-key: a key as kcs-keywriter read printed it\n"
	    "                           (lost-key: again for each key the customer has)\n"
	    "      --unit UNIT          memory: the control unit\n"
	    "      --set NAME=VALUE     memory: a setting (again for more)\n"
	    "      --car FILE           reconcile: {\"keys\":[numbers]} read from the car's CAS\n"
	    "      --apply              reconcile: activate the coded keys the car has learnt\n"
	    "      --accept-disclaimer  accept the coding disclaimer without showing it\n"
	    "      --device SERIAL      activate: the writer with this serial number\n"
	    "      --usb-id VVVV:PPPP   activate: the writers' USB ID\n"
	    "      --token-file FILE    a hotline or administrator token (default: the session)\n"
	    "      --url URL            kcsd's URL\n"
	    "  -h, --help               show this help\n"
	    "  -V, --version            show the version\n"
	    "\n"
	    "Exit status: 0 done, 1 refused by a rule (the last working key, a key never\n"
	    "activated, a key of another vehicle, not your vehicle's), 2 usage, 3 invalid\n"
	    "input, 4 not permitted, 5 kcsd or the writer unreachable, 6 internal failure\n"
	    "(kcs(7)).\n", stdout);
}

static struct {
	const char *url, *token_file, *key, *reason, *keep, *pers, *read, *usb, *unit, *car;
	const char *reads[10]; /* lost-key: the keys the customer has, as read */
	int nreads;
	const char *set[50];
	int nset;
	int accept, apply;
	struct kw_pick pick;
} o;

/* a key as kcs-keywriter read printed it */
static int
key_file(const char *path, cJSON **key)
{
	char *buf = NULL;
	size_t len;
	int rc = kcs_read_file(path, "read", &buf, &len, 65536);

	if (rc == KCS_OK && !(*key = kcs_json_parse(buf, len)))
		rc = kcs_errcode();
	free(buf);
	return rc;
}

/* the key to activate: from --read, or read now from the writer */
static int
read_key(cJSON **key)
{
	struct kw_usb u = { 0 };
	struct kw_host h;
	struct kw_frame r;
	int rc;

	if (o.read)
		return key_file(o.read, key);
	if ((rc = kw_pick_id(&o.pick, o.usb)) == KCS_OK && (rc = kw_pick_open(&o.pick, &u, &h)) == KCS_OK &&
	    (rc = kw_host_usable(&h)) == KCS_OK && (rc = kw_host_call(&h, KW_KEY_READ, NULL, 0, &r)) == KCS_OK &&
	    !(*key = kw_key_json(&r)))
		rc = kcs_errcode();
	kw_usb_close(&u);
	kw_usb_exit();
	return rc;
}

static int
number(const char *s, const char *field, int lo, int hi, long long *out)
{
	if (!s)
		return kcs_fail(KCS_EUSAGE, field, "is required (--%s)", field);
	return kcs_number_parse(s, field, lo, hi, out);
}

static int
run(int argc, char **argv)
{
	enum { O_URL = 256, O_TOKEN, O_KEY, O_REASON, O_KEEP, O_PERS, O_READ, O_ACCEPT, O_DEVICE, O_USB, O_UNIT, O_SET,
		O_CAR, O_APPLY };
	static const struct option opts[] = {
		{ "url", required_argument, NULL, O_URL }, { "token-file", required_argument, NULL, O_TOKEN },
		{ "key", required_argument, NULL, O_KEY }, { "reason", required_argument, NULL, O_REASON },
		{ "keep", required_argument, NULL, O_KEEP }, { "personalization", required_argument, NULL, O_PERS },
		{ "read", required_argument, NULL, O_READ }, { "accept-disclaimer", no_argument, NULL, O_ACCEPT },
		{ "device", required_argument, NULL, O_DEVICE }, { "usb-id", required_argument, NULL, O_USB },
		{ "unit", required_argument, NULL, O_UNIT }, { "set", required_argument, NULL, O_SET },
		{ "car", required_argument, NULL, O_CAR }, { "apply", no_argument, NULL, O_APPLY },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 }
	};
	const char *arg = NULL;
	const struct kcs_command *cmd;
	struct kcs_client cl = { 0 };
	cJSON *body = NULL, *res = NULL, *key = NULL;
	enum kcs_route route;
	long long n = 0, version = 0;
	char vin[18];
	int c, rc;

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case O_URL: o.url = optarg; break;
		case O_TOKEN: o.token_file = optarg; break;
		case O_KEY: o.key = optarg; break;
		case O_REASON: o.reason = optarg; break;
		case O_KEEP: o.keep = optarg; break;
		case O_PERS: o.pers = optarg; break;
		case O_READ:
			if (o.nreads == 10)
				return kcs_fail(KCS_EUSAGE, "read", "is given at most 10 times");
			o.read = o.reads[o.nreads++] = optarg;
			break;
		case O_ACCEPT: o.accept = 1; break;
		case O_DEVICE: o.pick.device = optarg; break;
		case O_USB: o.usb = optarg; break;
		case O_UNIT: o.unit = optarg; break;
		case O_CAR: o.car = optarg; break;
		case O_APPLY: o.apply = 1; break;
		case O_SET:
			if (o.nset == 50 || !strchr(optarg, '=') || optarg[0] == '=')
				return kcs_fail(KCS_EUSAGE, "set", "is NAME=VALUE, at most 50 times");
			o.set[o.nset++] = optarg;
			break;
		case 'h': usage(); return KCS_OK;
		case 'V': puts("kcs-cas " KCS_VERSION); return KCS_OK;
		default: return kcs_usage_error("unknown option");
		}
	}
	if (!(cmd = kcs_command(commands, argc - optind, argv + optind, &arg)))
		return KCS_EUSAGE;
	if (kcs_vin_parse(arg, vin) != KCS_OK || (rc = kw_pick_serial(o.pick.device)) != KCS_OK)
		return kcs_errcode();
	if ((rc = kcs_crypto_init()) != KCS_OK || (rc = kcs_client_open(&cl, o.url)) != KCS_OK ||
	    (rc = o.token_file || getenv("KCS_TOKEN_FILE") ? kcs_client_token(&cl, o.token_file)
	    : kcs_client_session(&cl)) != KCS_OK)
		goto out;
	if (!strcmp(cmd->name, "show")) {
		if ((rc = kcs_call(&cl, KCS_CAS, vin, NULL, &res)) == KCS_OK)
			rc = kcs_print(res);
		goto out;
	}
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "vin", vin);
	if (!strcmp(cmd->name, "lost-key")) {
		cJSON *keep = cJSON_AddArrayToObject(body, "keep");
		char list[64], *save, *t;

		route = KCS_CAS_LOST_KEY;
		if (!o.keep && !o.nreads) {
			rc = kcs_usage_error("lost-key needs --keep or --read: the keys the customer still has");
			goto out;
		}
		/* the keys read with the writer: theirs, coded for this car */
		for (int i = 0; i < o.nreads; i++) {
			cJSON *k = NULL;
			const char *kv;

			if ((rc = key_file(o.reads[i], &k)) != KCS_OK)
				goto out;
			kv = kcs_json_str(k, "vin");
			if (!kv || strcmp(kv, vin) != 0 || kcs_json_int(k, "key_number", &n) != 0) {
				cJSON_Delete(k);
				rc = kcs_fail(KCS_EINVALID, "read", "%s is not a key coded for %s", o.reads[i], vin);
				goto out;
			}
			cJSON_Delete(k);
			cJSON_AddItemToArray(keep, cJSON_CreateNumber((double)n));
		}
		snprintf(list, sizeof list, "%s", o.keep ? o.keep : "");
		for (t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if ((rc = number(t, "keep", 1, 10, &n)) != KCS_OK)
				goto out;
			cJSON_AddItemToArray(keep, cJSON_CreateNumber((double)n));
		}
	} else if (!strcmp(cmd->name, "memory")) {
		cJSON *s = cJSON_AddObjectToObject(body, "settings");

		route = KCS_CAS_MEMORY;
		if ((rc = number(o.pers, "personalization", 1, 4, &n)) != KCS_OK)
			goto out;
		if (!o.unit || !o.nset) {
			rc = kcs_usage_error("memory needs --unit and --set NAME=VALUE");
			goto out;
		}
		cJSON_AddNumberToObject(body, "personalization", (double)n);
		cJSON_AddStringToObject(body, "unit", o.unit);
		for (int i = 0; i < o.nset; i++) {
			char name[80];
			const char *eq = strchr(o.set[i], '=');

			snprintf(name, sizeof name, "%.*s", (int)(eq - o.set[i]), o.set[i]);
			cJSON_DeleteItemFromObject(s, name);
			cJSON_AddStringToObject(s, name, eq + 1);
		}
	} else if (!strcmp(cmd->name, "reconcile")) {
		FILE *f;
		char *buf = NULL;
		size_t len;
		cJSON *car, *keys;

		route = KCS_CAS_RECONCILE;
		if (!o.car) {
			rc = kcs_usage_error("reconcile needs --car FILE");
			goto out;
		}
		if (!(f = fopen(o.car, "r"))) {
			rc = kcs_fail(KCS_EINVALID, "car", "cannot open %s", o.car);
			goto out;
		}
		rc = kcs_read_all(f, &buf, &len, 65536);
		fclose(f);
		if (rc != KCS_OK || !(car = kcs_json_parse(buf, len))) {
			free(buf);
			rc = kcs_errcode();
			goto out;
		}
		free(buf);
		keys = cJSON_DetachItemFromObject(car, "keys");
		cJSON_Delete(car);
		if (!cJSON_IsArray(keys)) {
			cJSON_Delete(keys);
			rc = kcs_fail(KCS_EINVALID, "keys", "the car's read must hold \"keys\": the key numbers its CAS knows");
			goto out;
		}
		cJSON_AddItemToObject(body, "car_keys", keys);
		if (o.apply)
			cJSON_AddBoolToObject(body, "apply", 1);
	} else if (!strcmp(cmd->name, "activate")) {
		const char *kv;

		route = KCS_CAS_ACTIVATE;
		if ((rc = read_key(&key)) != KCS_OK)
			goto out;
		if (!kcs_json_bool(key, "present")) {
			rc = kcs_fail(KCS_EREFUSED, "read", "there is no key in the writer's slot");
			goto out;
		}
		if (kcs_json_int(key, "key_number", &n) != 0 && (rc = number(o.key, "key", 1, 10, &n)) != KCS_OK)
			goto out;
		cJSON_AddNumberToObject(body, "key_number", (double)n);
		cJSON_AddStringToObject(body, "key_id", kcs_json_str(key, "key_id") ? kcs_json_str(key, "key_id") : "");
		cJSON_AddStringToObject(body, "key_state", kcs_json_str(key, "state") ? kcs_json_str(key, "state") : "");
		if ((kv = kcs_json_str(key, "vin")))
			cJSON_AddStringToObject(body, "key_vin", kv);
	} else {
		if ((rc = number(o.key, "key", 1, 10, &n)) != KCS_OK)
			goto out;
		cJSON_AddNumberToObject(body, "key_number", (double)n);
		if (!strcmp(cmd->name, "personalize")) {
			route = KCS_CAS_PERSONALIZE;
			if ((rc = number(o.pers, "personalization", 1, 4, &n)) != KCS_OK)
				goto out;
			cJSON_AddNumberToObject(body, "personalization", (double)n);
		} else
			route = !strcmp(cmd->name, "lock") ? KCS_CAS_LOCK : KCS_CAS_RELEASE;
	}
	if (route == KCS_CAS_LOCK || route == KCS_CAS_RELEASE || route == KCS_CAS_LOST_KEY) {
		if (!o.reason) {
			rc = kcs_usage_error("%s needs --reason", cmd->name);
			goto out;
		}
		cJSON_AddStringToObject(body, "reason", o.reason);
	}
	/* a locksmith accepts the coding disclaimer for a change; the hotline and
	 * administrators need not */
	if ((route != KCS_CAS_RECONCILE || o.apply) && !o.token_file && !getenv("KCS_TOKEN_FILE")) {
		if ((rc = kcs_disclaimer(&cl, "coding", o.accept, &version)) != KCS_OK)
			goto out;
		cJSON_AddNumberToObject(body, "accept_disclaimer", (double)version);
	}
	if ((rc = kcs_call(&cl, route, NULL, body, &res)) == KCS_OK)
		rc = kcs_print(res);
out:
	cJSON_Delete(body);
	cJSON_Delete(res);
	cJSON_Delete(key);
	kcs_client_close(&cl);
	return rc;
}

int
main(int argc, char **argv)
{
	kcs_setprog(argv[0]);
	return kcs_finish(run(argc, argv));
}
