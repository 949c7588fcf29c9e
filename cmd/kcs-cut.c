/* kcs-cut: the blade's cut code of an order's vehicle (seed 000 §9), for
 * the VIN and Key Code, with the coding disclaimer and the owner's
 * verification record (kcs-cut(1)). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kcs.h"

static const struct kcs_command commands[] = {
	{ "", "[--vin VIN] [--key-code-file FILE] [owner's record] [--accept-disclaimer]", 0,
	    "the cut code of the blade for the order of VIN and Key Code" },
	{ "table", "[--name NAME]", 0,
	    "fetch the cut code mapping table from the download area, verify it\nand keep it for decode" },
	{ "decode", "CUT_CODE", 1,
	    "the blade, tracks and depth at each cut position, offline, from\nthe table kept" },
	{ NULL, NULL, 0, NULL }
};

#define TABLE_NAME "cut-table"

static void
usage(void)
{
	fputs("usage: kcs-cut [--vin VIN] [--key-code-file FILE | --key-code-fd N] [--owner-file FILE]\n"
	    "               [--customer-name NAME --relation owner|family --id-kind KIND --id-state ST\n"
	    "                --id-last4 XXXX --registration-state ST --plate PLATE]\n"
	    "               [--accept-disclaimer] [--url URL]\n"
	    "       kcs-cut table [--name NAME] [--url URL]\n"
	    "       kcs-cut decode CUT_CODE\n\n"
	    "Prints the cut code of the blade for an order placed for you, as\n"
	    "{\"job_id\",\"vin\",\"cut_code\"}: every key of a vehicle has the same cut code. The\n"
	    "VIN and Key Code come from the options or from the order's JSON on standard\n"
	    "input (vin, key_code); the Key Code is asked on the terminal otherwise. The\n"
	    "coding disclaimer and the owner's verification record are required, as for\n"
	    "kcs-code. Each retrieval is kept in your job record.\n"
	    "\n"
	    "table fetches the mapping table (download cut-table), checks its SHA-256, kcsd's\n"
	    "signature and every rule of the table, and keeps it in $XDG_DATA_HOME/kcs;\n"
	    "decode answers from it offline, with the table's version and hash.\n"
	    "\n"
	    "Options:\n"
	    "      --vin VIN                 the vehicle's VIN\n"
	    "      --key-code-file FILE      the Key Code, from a file (one line)\n"
	    "      --key-code-fd N           the Key Code, from a file descriptor\n"
	    "      --owner-file FILE         the owner's record as a JSON object with the fields below\n"
	    "      --customer-name NAME      the customer, as on the driver's license (customer_name)\n"
	    "      --relation WHO            owner, or family: an immediate family member (relation)\n"
	    "      --id-kind KIND            drivers_license, state_id or passport (id_kind)\n"
	    "      --id-state ST             the document's issuing state (id_state)\n"
	    "      --id-last4 XXXX           the document number's last 4 characters (id_last4)\n"
	    "      --registration-state ST   the vehicle registration's state (registration_state)\n"
	    "      --plate PLATE             the license plate on the registration (plate)\n"
	    "      --accept-disclaimer       accept the coding disclaimer without showing it\n"
	    "      --name NAME               table: the download holding the table (default cut-table)\n"
	    "      --url URL                 kcsd's URL (default: the session's)\n"
	    "  -h, --help                    show this help\n"
	    "  -V, --version                 show the version\n"
	    "\n"
	    "Exit status: 0 done, 1 refused (no order of yours has this Key Code, locked after\n"
	    "wrong Key Codes, a table that fails its signature or a rule, a code not in the\n"
	    "table), 2 usage, 3 invalid input, 4 not permitted (not logged in,\n"
	    "Inactive, disclaimer not accepted), 5 kcsd unreachable, 6 internal failure (kcs(7)).\n",
	    stdout);
}

/* the table kept for decode: $XDG_DATA_HOME/kcs/cut-table.json */
static int
table_path(char *out, size_t n, int make)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char dir[900];

	if (xdg && *xdg)
		snprintf(dir, sizeof dir, "%s/kcs", xdg);
	else if (home && *home)
		snprintf(dir, sizeof dir, "%s/.local/share/kcs", home);
	else
		return kcs_fail(KCS_EINTERNAL, NULL, "neither XDG_DATA_HOME nor HOME is set");
	if (make && kcs_mkdirs(dir, 0700) != KCS_OK)
		return kcs_errcode();
	snprintf(out, n, "%s/cut-table.json", dir);
	return KCS_OK;
}

/* a table's bytes: the table, with every rule checked */
static int
parse_table(const uint8_t *p, size_t n, cJSON **table, long long *ncodes)
{
	if (!(*table = kcs_json_parse((const char *)p, n)))
		return kcs_fail(KCS_EREFUSED, "table", "the table is not JSON: %s", kcs_errmsg());
	if (kcs_cut_table_check(*table, ncodes) != KCS_OK) {
		cJSON_Delete(*table);
		*table = NULL;
		return kcs_fail(KCS_EREFUSED, kcs_errfield(), "the table is refused: %s", kcs_errmsg());
	}
	return KCS_OK;
}

static int
fetch_table(struct kcs_client *cl, const char *name)
{
	cJSON *meta = NULL, *table = NULL, *out;
	uint8_t *content = NULL;
	char path[1024], *b64 = NULL, *text = NULL;
	long long ncodes = 0;
	size_t n = 0;
	int rc;

	if ((rc = kcs_download_fetch(cl, name, &meta, &content, &n)) != KCS_OK ||
	    (rc = parse_table(content, n, &table, &ncodes)) != KCS_OK || (rc = table_path(path, sizeof path, 1)))
		goto out;
	if (!(b64 = malloc(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL)))) {
		rc = kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
		goto out;
	}
	sodium_bin2base64(b64, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), content, n,
	    sodium_base64_VARIANT_ORIGINAL);
	cJSON_AddStringToObject(meta, "content", b64);
	text = kcs_json_dump(meta);
	if ((rc = kcs_write_private(path, text, strlen(text))) != KCS_OK)
		goto out;
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "name", name);
	cJSON_AddItemToObject(out, "version", cJSON_Duplicate(cJSON_GetObjectItem(meta, "version"), 1));
	cJSON_AddStringToObject(out, "sha256", kcs_json_str(meta, "sha256"));
	cJSON_AddStringToObject(out, "title", kcs_json_str(table, "title") ? kcs_json_str(table, "title") : "");
	cJSON_AddBoolToObject(out, "synthetic", kcs_json_bool(table, "synthetic"));
	cJSON_AddNumberToObject(out, "series", cJSON_GetArraySize(cJSON_GetObjectItem(table, "series")));
	cJSON_AddNumberToObject(out, "codes", (double)ncodes);
	cJSON_AddStringToObject(out, "file", path);
	rc = kcs_print(out);
	cJSON_Delete(out);
out:
	free(text);
	free(b64);
	free(content);
	cJSON_Delete(meta);
	cJSON_Delete(table);
	return rc;
}

/* offline: the kept table, verified again, answers */
static int
decode(const char *code)
{
	char path[1024], *buf = NULL;
	const char *b64;
	cJSON *env = NULL, *table = NULL, *res = NULL, *t;
	uint8_t *content = NULL;
	long long ncodes = 0;
	size_t len, n = 0;
	FILE *f;
	int rc;

	if ((rc = kcs_cut_code_parse(code)) || (rc = table_path(path, sizeof path, 0)))
		return rc;
	if (!(f = fopen(path, "r")))
		return kcs_fail(KCS_EREFUSED, "table", "no table is kept (%s): run kcs-cut table first", path);
	rc = kcs_read_all(f, &buf, &len, 8 * KCS_DOWNLOAD_MAX);
	fclose(f);
	if (rc != KCS_OK)
		return rc;
	if (!(env = kcs_json_parse(buf, len)) || !(b64 = kcs_json_str(env, "content")) ||
	    !(content = malloc(strlen(b64) + 1)) || sodium_base642bin(content, strlen(b64) + 1, b64, strlen(b64), NULL,
	    &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		rc = kcs_fail(KCS_EREFUSED, "table", "%s is damaged: run kcs-cut table again", path);
		goto out;
	}
	if ((rc = kcs_download_verify(NULL, env, content, n)) != KCS_OK ||
	    (rc = parse_table(content, n, &table, &ncodes)) != KCS_OK || (rc = kcs_cut_decode(table, code, &res)))
		goto out;
	t = cJSON_AddObjectToObject(res, "table");
	cJSON_AddStringToObject(t, "name", kcs_json_str(env, "name"));
	cJSON_AddItemToObject(t, "version", cJSON_Duplicate(cJSON_GetObjectItem(env, "version"), 1));
	cJSON_AddStringToObject(t, "sha256", kcs_json_str(env, "sha256"));
	rc = kcs_print(res);
out:
	free(buf);
	free(content);
	cJSON_Delete(env);
	cJSON_Delete(table);
	cJSON_Delete(res);
	return rc;
}

static int
run(int argc, char **argv)
{
	enum { O_URL = 256, O_NAME };
	static const struct option base[] = {
		{ "name", required_argument, NULL, O_NAME }, { "url", required_argument, NULL, O_URL },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' },
	};
	struct option opts[sizeof base / sizeof base[0] + KCS_JOB_NOPTS + 1] = { { NULL, 0, NULL, 0 } };
	struct kcs_job_opts jo = { .key_code = { NULL, -1 } };
	struct kcs_client cl = { 0 };
	const char *url = NULL, *arg = NULL, *name = TABLE_NAME;
	const struct kcs_command *cmd;
	cJSON *body = NULL, *res = NULL;
	int c, rc, name_set = 0;

	memcpy(opts, base, sizeof base);
	kcs_job_options(opts + sizeof base / sizeof base[0]);
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case O_URL: url = optarg; break;
		case O_NAME: name = optarg, name_set = 1; break;
		case 'h': usage(); return KCS_OK;
		case 'V': puts("kcs-cut " KCS_VERSION); return KCS_OK;
		default:
			if ((rc = kcs_job_option(&jo, c, optarg)) < 0)
				return kcs_usage_error("unknown option");
			if (rc)
				return rc;
		}
	}
	if (!(cmd = kcs_command(commands, argc - optind, argv + optind, &arg)))
		return KCS_EUSAGE;
	if (name_set && strcmp(cmd->name, "table") != 0)
		return kcs_usage_error("--name is for table");
	if ((rc = kcs_crypto_init()) != KCS_OK)
		return rc;
	if (strcmp(cmd->name, "decode") == 0)
		return decode(arg);
	if ((rc = kcs_client_open(&cl, url)) == KCS_OK && (rc = kcs_client_session(&cl)) == KCS_OK &&
	    strcmp(cmd->name, "table") == 0) {
		rc = fetch_table(&cl, name);
		kcs_client_close(&cl);
		return rc;
	}
	if (rc == KCS_OK &&
	    (rc = kcs_job_body(&cl, &jo, &body)) == KCS_OK && (rc = kcs_call(&cl, KCS_CUT, NULL, body, &res)) == KCS_OK)
		rc = kcs_print(res);
	kcs_body_wipe(body);
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
