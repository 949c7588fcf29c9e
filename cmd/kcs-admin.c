/* kcs-admin: initialise the store; manage hotline operators, the SDRM
 * directory, the outbox and the audit log of kcsd. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kcs.h"

enum {
	C_INIT, C_OPERATOR_ADD, C_OPERATOR_LIST, C_OPERATOR_REMOVE, C_SDRM_ADD, C_SDRM_IMPORT, C_SDRM_REMOVE,
	C_OUTBOX_LIST, C_OUTBOX_SHOW, C_VEHICLE_ADD, C_VEHICLE_IMPORT, C_VEHICLE_SHOW, C_ACCOUNT_CLOSE,
	C_AUDIT_VERIFY, C_REQUEST_LIST, C_REQUEST_APPROVE, C_REQUEST_REFUSE, C_JOBS_EXPORT, C_DOWNLOAD_ADD,
	C_ACTIVATION_ADD, C_ACTIVATION_LIST, C_MODEL_SET, C_DEALER_ADD, C_DEALER_LIST, C_LOCATION_ADD, C_CLIENT_ADD,
	C_CLIENT_REVOKE, C_KEYPOOL_PURGE, C_MAINTAIN, C_AUDIT_CHECKPOINT, C_AUDIT_KEY, C_AUDIT_EXPORT,
	C_AUDIT_VERIFY_EXPORT, C_BACKUP, C_RESTORE
};

static const struct kcs_command commands[] = {
	[C_INIT] = { "init", "--db FILE|URL [--key FILE]", 0,
	    "create the store and the server key file (kcsd init);\nprints the two administrators' tokens once" },
	[C_OPERATOR_ADD] = { "operator add", "NAME [--role operator|mailroom|admin]", 1,
	    "request a hotline operator, a mail room or an administrator;\n"
	    "prints its token once, which works when another administrator\napproves" },
	[C_OPERATOR_LIST] = { "operator list", NULL, 0, "list operators as JSON lines" },
	[C_OPERATOR_REMOVE] = { "operator remove", "ID", 1,
	    "request an operator's removal; its token stops working when\nanother administrator approves" },
	[C_SDRM_ADD] = { "sdrm add", "SDRM_ID [--password-file FILE | --password-fd N]", 1,
	    "add an SDRM ID and its password to the SDRM directory" },
	[C_SDRM_IMPORT] = { "sdrm import", "FILE", 1,
	    "import JSON lines {\"sdrm_id\":..,\"password\":..}; all or none" },
	[C_SDRM_REMOVE] = { "sdrm remove", "SDRM_ID", 1, "remove an SDRM ID that no account uses" },
	[C_OUTBOX_LIST] = { "outbox list", NULL, 0, "list stored e-mails and letters as JSON lines" },
	[C_OUTBOX_SHOW] = { "outbox show", "ID", 1, "show one message: where it stands, not its text" },
	[C_VEHICLE_ADD] = { "vehicle add", "VIN --model MODEL --production-date YYYY-MM-DD", 1,
	    "register a vehicle (keys 1 and 2 are its delivered keys)" },
	[C_VEHICLE_IMPORT] = { "vehicle import", "FILE [--skip-invalid]", 1,
	    "import JSON lines {\"vin\",\"model\",\"production_date\"}:\n"
	    "all or none, unless invalid lines are to be skipped" },
	[C_VEHICLE_SHOW] = { "vehicle show", "VIN", 1, "a vehicle and its key positions" },
	[C_ACCOUNT_CLOSE] = { "account close", "SDRM_ID", 1,
	    "close a locksmith's account: its sessions, tickets and\ncodes end; its SDRM ID and e-mail are free again" },
	[C_AUDIT_VERIFY] = { "audit verify", NULL, 0, "check the audit log's hash chain" },
	[C_REQUEST_LIST] = { "request list", NULL, 0, "the requests waiting for approval, as JSON lines" },
	[C_REQUEST_APPROVE] = { "request approve", "ID", 1, "approve another administrator's request" },
	[C_REQUEST_REFUSE] = { "request refuse", "ID", 1, "refuse a request" },
	[C_JOBS_EXPORT] = { "jobs export", "--from YYYY-MM-DD --to YYYY-MM-DD", 0,
	    "every locksmith's coding and cutting jobs of those days (UTC),\n"
	    "with the owner's records, as JSON lines, for an auditor (audited)" },
	[C_DOWNLOAD_ADD] = { "download add", "NAME --file FILE --title TITLE", 1,
	    "add FILE to the download area as NAME, or replace it with\nthe next version; kcsd signs it" },
	[C_ACTIVATION_ADD] = { "activation add", "--model MODEL --from DAY --to DAY --download NAME", 0,
	    "a vehicle of MODEL ('*': any) built from DAY to DAY is\nactivated by the instructions in download NAME" },
	[C_ACTIVATION_LIST] = { "activation list", NULL, 0, "the activation rules, as JSON lines" },
	[C_MODEL_SET] = { "model set", "MODEL --personalization-max N", 1,
	    "a model's Key Memory profiles: personalization numbers 1 to N\n(4 unless set)" },
	[C_DEALER_ADD] = { "dealer add", "NAME --dpn N --outlet N", 1,
	    "register a dealer by its distribution product number and\noutlet number (the KeyPool)" },
	[C_DEALER_LIST] = { "dealer list", NULL, 0,
	    "the dealers with their locations, key readers and fleet\nsystems, as JSON lines" },
	[C_LOCATION_ADD] = { "location add", "NAME --dealer ID", 1, "add a location to a dealer" },
	[C_CLIENT_ADD] = { "keypool client add", "NAME --dealer ID --role reader|fleet", 1,
	    "a key reader's or fleet system's token for the dealer;\nprinted once" },
	[C_CLIENT_REVOKE] = { "keypool client revoke", "ID", 1, "the token stops working" },
	[C_KEYPOOL_PURGE] = { "keypool purge", NULL, 0,
	    "delete the key reads older than keypool_retention (7 days);\nrun it from cron" },
	[C_MAINTAIN] = { "maintain", "[expire|purge|mail|checkpoint|backup]", -1,
	    "what cron runs: end sessions past their lifetime, delete what\nmust not linger, report the mail, "
	    "sign an audit\ncheckpoint, back up the store when due; one task, or all; a\nJSON summary (the "
	    "maintenance token, or an administrator's)" },
	[C_AUDIT_CHECKPOINT] = { "audit checkpoint", NULL, 0,
	    "sign a checkpoint of the audit log's tree (refused if the log\nno longer extends the last one)" },
	[C_AUDIT_KEY] = { "audit key", NULL, 0, "the audit log's verifier key and its newest checkpoint" },
	[C_AUDIT_EXPORT] = { "audit export", "[--from N --to N] [--size N] [--since N]", 0,
	    "entries of the newest checkpoint (or of --size), each with\nits proof, as JSON lines for a regulator" },
	[C_AUDIT_VERIFY_EXPORT] = { "audit verify-export", "FILE --log-key KEY [--previous FILE] [--partial]", 1,
	    "check an export offline, with the log's key alone: its\ncheckpoint, every entry, and that it extends "
	    "an earlier\ncheckpoint" },
	[C_BACKUP] = { "backup", "FILE [--db FILE --key FILE] | --verify FILE", 1,
	    "on kcsd's machine: an encrypted, checked copy of the SQLite\nstore while kcsd serves; --verify checks "
	    "a backup" },
	[C_RESTORE] = { "restore", "FILE [--db FILE --key FILE] [--verify]", 1,
	    "on kcsd's machine, kcsd stopped: check a backup and put it\nin place of the store" },
	{ NULL, NULL, 0, NULL }
};

static void
usage(void)
{
	fputs("usage: kcs-admin [--url URL] [--token-file FILE] COMMAND [ARGS]\n"
	    "\n"
	    "Administer the Key Coding System.\n"
	    "\n"
	    "Commands:\n", stdout);
	kcs_command_help(stdout, commands);
	fputs("\n"
    "Options:\n"
    "      --url URL            kcsd's URL (default: $KCS_URL, the config's url, http://127.0.0.1:8425)\n"
    "      --token-file FILE    the administrator token (default: $KCS_TOKEN_FILE, the config's\n"
    "                           token_file, or $KCS_TOKEN)\n"
    "      --db FILE            init: the store to create; backup, restore: the store (default:\n"
    "                           kcs.conf's)\n"
    "      --key FILE           init: the key file to create (default: kcs.key beside the store);\n"
    "                           backup, restore: the store's key file\n"
    "      --verify             backup, restore: check the backup, restore nothing\n"
    "      --role ROLE          operator add: operator (default), mailroom, maintenance or admin;\n"
    "                           keypool client add: reader or fleet\n"
    "      --dpn N              dealer add: the distribution product number\n"
    "      --outlet N           dealer add: the outlet number\n"
    "      --dealer ID          location add, keypool client add: the dealer\n"
    "      --password-file FILE read the secret from FILE\n"
    "      --password-fd N      read the secret from file descriptor N\n"
    "      --model MODEL        vehicle add: the model\n"
    "      --production-date D  vehicle add: the production date, YYYY-MM-DD\n"
    "      --skip-invalid       vehicle import: import the valid lines, report the others\n"
    "      --from DATE          jobs export, activation add: the first day, YYYY-MM-DD\n"
    "      --to DATE            jobs export, activation add: the last day, YYYY-MM-DD\n"
    "      --file FILE          download add: the file\n"
    "      --title TITLE        download add: its title\n"
    "      --download NAME      activation add: the download holding the instructions\n"
    "      --personalization-max N  model set: the highest personalization number, 1 to 4\n"    "      --from N, --to N     audit export: the first and last entry\n"
    "      --size N             audit export: the checkpoint of N entries (default: the newest)\n"
    "      --since N            audit export: with the proof that extends the checkpoint of N\n"
    "      --log-key KEY        audit verify-export: the log's verifier key (NAME+ID+KEY)\n"
    "      --previous FILE      audit verify-export: an earlier checkpoint, which must be extended\n"
    "      --partial            audit verify-export: the export may hold part of the entries\n"
    "  -h, --help               show this help\n"
    "  -V, --version            show the version\n"
    "\n"
    "Exit status: 0 done, 1 refused by a rule, 2 usage, 3 invalid input, 4 not permitted,\n"
    "5 server unreachable, 6 internal failure (kcs(7)).\n", stdout);
}

static struct {
	const char *url, *token_file, *db, *key, *role, *pw_file;
	const char *model, *production_date, *from, *to, *file, *title, *download, *pmax, *dpn, *outlet, *dealer;
	const char *log_key, *previous, *size, *since;
	int partial, verify;
	int pw_fd, skip;
} o = { .pw_fd = -1 };

/* a file into the download area, sent in base64 */
static int
download_add(struct kcs_client *cl, const char *name, cJSON **res)
{
	char *buf = NULL, *b64;
	size_t len = 0;
	cJSON *body;
	int rc;

	if (!o.file || !o.title)
		return kcs_usage_error("download add needs --file and --title");
	if ((rc = kcs_read_file(o.file, "file", &buf, &len, KCS_DOWNLOAD_MAX)) != KCS_OK)
		return rc;
	if (!(b64 = malloc(sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL)))) {
		free(buf);
		return kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
	}
	sodium_bin2base64(b64, sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL), (const uint8_t *)buf,
	    len, sodium_base64_VARIANT_ORIGINAL);
	free(buf);
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "name", name);
	cJSON_AddStringToObject(body, "title", o.title);
	cJSON_AddStringToObject(body, "content", b64);
	free(b64);
	if ((rc = kcs_call(cl, KCS_DOWNLOAD_PUT, NULL, body, res)) == KCS_OK)
		rc = kcs_print(*res);
	cJSON_Delete(body);
	return rc;
}

/* The store's own work runs in kcsd, found beside this program, in
 * ../sbin, or on the PATH: "kcsd init" makes the store and its key;
 * "kcsd backup" and "kcsd restore" copy it, with --db and --key when
 * given, else kcs.conf's. */
static int
local_kcsd(const char *what, const char *file)
{
	char self[1024], dir[1024], path[1100];
	const char *argv[10];
	int n = 0;
	ssize_t len;

	if (strcmp(what, "init") == 0 && !o.db)
		return kcs_usage_error("init needs --db FILE (or a postgresql:// URL)");
	argv[n++] = "kcsd";
	if (o.db) {
		argv[n++] = "--db";
		argv[n++] = o.db;
	}
	if (o.key) {
		argv[n++] = "--key";
		argv[n++] = o.key;
	}
	argv[n++] = what;
	if (o.verify)
		argv[n++] = "--verify";
	if (file)
		argv[n++] = file;
	argv[n] = NULL;
	fflush(stdout);
	if ((len = readlink("/proc/self/exe", self, sizeof self - 1)) > 0) {
		self[len] = '\0';
		snprintf(dir, sizeof dir, "%s", dirname(self));
		snprintf(path, sizeof path, "%s/kcsd", dir);
		if (access(path, X_OK) == 0)
			execv(path, (char *const *)argv);
		snprintf(path, sizeof path, "%s/../sbin/kcsd", dir);
		if (access(path, X_OK) == 0)
			execv(path, (char *const *)argv);
	}
	execvp("kcsd", (char *const *)argv);
	return kcs_fail(KCS_EINTERNAL, NULL, "cannot run kcsd %s: %s", what, strerror(errno));
}

/* Reads JSON lines into an array of objects; line[i] is entry i's line.
 * A line that is not a JSON object is reported; with skip it is left out. */
static int
read_jsonl(const char *file, int skip, cJSON **entries, int **line)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	char *buf, *p, *next;
	size_t len;
	int rc, lineno = 0, n = 0, bad = 0;

	if (!f)
		return kcs_fail(KCS_EINVALID, "file", "%s: %s", file, strerror(errno));
	rc = kcs_read_all(f, &buf, &len, 64 << 20);
	if (f != stdin)
		fclose(f);
	if (rc != KCS_OK)
		return rc;
	*entries = cJSON_CreateArray();
	if (!(*line = calloc(len / 2 + 2, sizeof **line))) {
		sodium_memzero(buf, len);
		free(buf);
		return kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
	}
	for (p = buf; p && *p; p = next) {
		cJSON *e;

		if ((next = strchr(p, '\n')))
			*next++ = '\0';
		lineno++;
		if (strspn(p, " \t\r") == strlen(p))
			continue;
		if (!(e = kcs_json_parse(p, strlen(p)))) {
			fprintf(stderr, "%s: %s:%d: %s%s\n", kcs_prog(), file, lineno, kcs_errmsg(),
			    skip ? " (skipped)" : "");
			bad++;
			continue;
		}
		(*line)[n++] = lineno;
		cJSON_AddItemToArray(*entries, e);
	}
	sodium_memzero(buf, len);
	free(buf);
	if (bad && !skip)
		return kcs_fail(KCS_EINVALID, "file", "%s: %d bad line%s: nothing was imported", file, bad,
		    bad == 1 ? "" : "s");
	if (n == 0)
		return kcs_fail(KCS_EINVALID, "file", "%s: no entries", file);
	if (kcs_is_tty(STDERR_FILENO))
		fprintf(stderr, "importing %d entries from %s...\n", n, file);
	return KCS_OK;
}

/* Reports the server's per-entry errors ("invalid": [{index, field, message}])
 * by line number. */
static void
report_invalid(const char *file, const cJSON *invalid, const int *line, const char *suffix)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, invalid) {
		long long i = 0;

		kcs_json_int(it, "index", &i);
		fprintf(stderr, "%s: %s:%d: %s: %s%s\n", kcs_prog(), file, line[i],
		    kcs_json_str(it, "field"), kcs_json_str(it, "message"), suffix);
	}
}

/* JSON lines of {sdrm_id, password}, sent as one all-or-nothing import. */
static int
sdrm_import(struct kcs_client *cl, const char *file)
{
	cJSON *body, *entries = NULL, *res = NULL, *e;
	int *line = NULL, rc;

	if ((rc = read_jsonl(file, 0, &entries, &line)) == KCS_OK) {
		body = cJSON_CreateObject();
		cJSON_AddItemToObject(body, "entries", entries);
		rc = kcs_call(cl, KCS_SDRM_ADD, NULL, body, &res);
		entries = cJSON_DetachItemFromObject(body, "entries");
		cJSON_Delete(body);
	}
	cJSON_ArrayForEach(e, entries) {
		const char *pw = kcs_json_str(e, "password");

		if (pw)
			sodium_memzero((void *)pw, strlen(pw));
	}
	cJSON_Delete(entries);
	free(line);
	if (rc == KCS_OK)
		rc = kcs_print(res);
	cJSON_Delete(res);
	return rc;
}

/* JSON lines of {vin, model, production_date}: all or none, unless skip. */
static int
vehicle_import(struct kcs_client *cl, const char *file)
{
	cJSON *body, *entries = NULL, *res = NULL;
	int *line = NULL, rc;

	if ((rc = read_jsonl(file, o.skip, &entries, &line)) != KCS_OK) {
		cJSON_Delete(entries);
		free(line);
		return rc;
	}
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "entries", entries);
	cJSON_AddBoolToObject(body, "skip_invalid", o.skip);
	rc = kcs_call(cl, KCS_VEHICLE_ADD, NULL, body, &res);
	if (rc != KCS_OK && cl->error)
		report_invalid(file, cJSON_GetObjectItem(cl->error, "invalid"), line, "");
	if (rc == KCS_OK) {
		cJSON *out = cJSON_CreateObject();

		report_invalid(file, cJSON_GetObjectItem(res, "skipped"), line, " (skipped)");
		cJSON_AddItemToObject(out, "imported", cJSON_Duplicate(cJSON_GetObjectItem(res, "imported"), 1));
		cJSON_AddNumberToObject(out, "skipped", cJSON_GetArraySize(cJSON_GetObjectItem(res, "skipped")));
		rc = kcs_print(out);
		cJSON_Delete(out);
	}
	cJSON_Delete(body);
	cJSON_Delete(res);
	free(line);
	return rc;
}

/* The newest checkpoint's entries (or those of --size), page by page: a
 * header line, one line per entry with its proof, and with --since the
 * consistency proof from that checkpoint. */
static int
audit_export(struct kcs_client *cl)
{
	long long from = 1, to = 0, size = 0, since = 0, at;
	cJSON *res = NULL, *cons = NULL;
	char q[160];
	int rc, first = 1;

	if ((o.from && (rc = kcs_id_parse(o.from, "from", &from)) != KCS_OK) ||
	    (o.to && (rc = kcs_id_parse(o.to, "to", &to)) != KCS_OK) ||
	    (o.size && (rc = kcs_id_parse(o.size, "size", &size)) != KCS_OK) ||
	    (o.since && (rc = kcs_id_parse(o.since, "since", &since)) != KCS_OK))
		return rc;
	for (at = from;; at += 5000) {
		long long last, upto;
		cJSON *it;
		int n = snprintf(q, sizeof q, "from=%lld", at);

		if (size)
			n += snprintf(q + n, sizeof q - (size_t)n, "&size=%lld", size);
		if (to)
			n += snprintf(q + n, sizeof q - (size_t)n, "&to=%lld", at + 4999 < to ? at + 4999 : to);
		if (since && first)
			snprintf(q + n, sizeof q - (size_t)n, "&since=%lld", since);
		if ((rc = kcs_call(cl, KCS_AUDIT_EXPORT, q, NULL, &res)) != KCS_OK)
			break;
		kcs_json_int(res, "size", &size);
		upto = to ? to : size;
		if (first) {
			cJSON *h = cJSON_CreateObject();

			cJSON_AddStringToObject(h, "checkpoint", kcs_json_str(res, "checkpoint"));
			cJSON_AddStringToObject(h, "key", kcs_json_str(res, "key"));
			cJSON_AddNumberToObject(h, "size", (double)size);
			cJSON_AddNumberToObject(h, "from", (double)from);
			cJSON_AddNumberToObject(h, "to", (double)upto);
			kcs_print(h);
			cJSON_Delete(h);
			cons = cJSON_DetachItemFromObject(res, "consistency");
			first = 0;
		}
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(res, "entries"))
			kcs_print(it);
		last = 0;
		kcs_json_int(res, "to", &last);
		cJSON_Delete(res);
		res = NULL;
		if (last >= upto)
			break;
	}
	if (rc == KCS_OK && cons) {
		cJSON *c = cJSON_CreateObject();

		cJSON_AddItemToObject(c, "consistency", cons);
		cons = NULL;
		rc = kcs_print(c);
		cJSON_Delete(c);
	}
	cJSON_Delete(cons);
	cJSON_Delete(res);
	return rc;
}

/* offline: no kcsd, no token */
static int
verify_export(const char *file)
{
	char *text = NULL, *prev = NULL;
	cJSON *report = NULL;
	int rc;

	if (!o.log_key)
		return kcs_usage_error("audit verify-export needs --log-key KEY (kcs-admin audit key)");
	if (kcs_crypto_init() != KCS_OK)
		return kcs_errcode();
	size_t len;

	if ((rc = kcs_read_file(file, "file", &text, &len, 1 << 30)) == KCS_OK && (!o.previous ||
	    (rc = kcs_read_file(o.previous, "previous", &prev, &len, 1 << 20)) == KCS_OK) &&
	    (rc = kcs_audit_verify_export(text, o.log_key, prev, o.partial, &report)) == KCS_OK)
		rc = kcs_print(report);
	cJSON_Delete(report);
	free(text);
	free(prev);
	return rc;
}

static int
run(int argc, char **argv)
{
	enum { O_URL = 256, O_TOKEN, O_DB, O_KEY, O_ROLE, O_PWFILE, O_PWFD, O_MODEL, O_DATE, O_SKIP, O_FROM, O_TO,
		O_FILE, O_TITLE, O_DOWNLOAD, O_PMAX, O_DPN, O_OUTLET, O_DEALER, O_LOG_KEY, O_PREVIOUS, O_PARTIAL, O_SIZE,
		O_SINCE, O_VERIFY };
	static const struct option opts[] = {
		{ "url", required_argument, NULL, O_URL }, { "token-file", required_argument, NULL, O_TOKEN },
		{ "db", required_argument, NULL, O_DB }, { "key", required_argument, NULL, O_KEY },
		{ "role", required_argument, NULL, O_ROLE },
		{ "password-file", required_argument, NULL, O_PWFILE },
		{ "password-fd", required_argument, NULL, O_PWFD },
		{ "model", required_argument, NULL, O_MODEL },
		{ "production-date", required_argument, NULL, O_DATE },
		{ "skip-invalid", no_argument, NULL, O_SKIP },
		{ "from", required_argument, NULL, O_FROM }, { "to", required_argument, NULL, O_TO },
		{ "file", required_argument, NULL, O_FILE }, { "title", required_argument, NULL, O_TITLE },
		{ "download", required_argument, NULL, O_DOWNLOAD },
		{ "personalization-max", required_argument, NULL, O_PMAX },
		{ "dpn", required_argument, NULL, O_DPN }, { "outlet", required_argument, NULL, O_OUTLET },
		{ "dealer", required_argument, NULL, O_DEALER },
		{ "log-key", required_argument, NULL, O_LOG_KEY }, { "previous", required_argument, NULL, O_PREVIOUS },
		{ "partial", no_argument, NULL, O_PARTIAL }, { "size", required_argument, NULL, O_SIZE },
		{ "since", required_argument, NULL, O_SINCE }, { "verify", no_argument, NULL, O_VERIFY },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 }
	};
	struct kcs_client cl;
	const struct kcs_command *cmd;
	const char *arg = NULL;
	char path[32];
	cJSON *res = NULL, *body = NULL;
	int c, rc, command;

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case O_URL: o.url = optarg; break;
		case O_TOKEN: o.token_file = optarg; break;
		case O_DB: o.db = optarg; break;
		case O_KEY: o.key = optarg; break;
		case O_ROLE: o.role = optarg; break;
		case O_PWFILE: o.pw_file = optarg; break;
		case O_PWFD:
			if ((rc = kcs_parse_fd(optarg, "password-fd", &o.pw_fd)) != KCS_OK)
				return rc;
			break;
		case O_MODEL: o.model = optarg; break;
		case O_DATE: o.production_date = optarg; break;
		case O_SKIP: o.skip = 1; break;
		case O_FROM: o.from = optarg; break;
		case O_TO: o.to = optarg; break;
		case O_FILE: o.file = optarg; break;
		case O_TITLE: o.title = optarg; break;
		case O_DOWNLOAD: o.download = optarg; break;
		case O_PMAX: o.pmax = optarg; break;
		case O_DPN: o.dpn = optarg; break;
		case O_OUTLET: o.outlet = optarg; break;
		case O_DEALER: o.dealer = optarg; break;
		case O_LOG_KEY: o.log_key = optarg; break;
		case O_PREVIOUS: o.previous = optarg; break;
		case O_PARTIAL: o.partial = 1; break;
		case O_SIZE: o.size = optarg; break;
		case O_SINCE: o.since = optarg; break;
		case O_VERIFY: o.verify = 1; break;
		case 'h': usage(); return KCS_OK;
		case 'V': puts("kcs-admin " KCS_VERSION); return KCS_OK;
		default: return kcs_usage_error("unknown option");
		}
	}
	if (!(cmd = kcs_command(commands, argc - optind, argv + optind, &arg)))
		return KCS_EUSAGE;
	command = (int)(cmd - commands);
	if (command == C_INIT)
		return local_kcsd("init", NULL);
	if (command == C_BACKUP || command == C_RESTORE)
		return local_kcsd(command == C_RESTORE || o.verify ? "restore" : "backup", arg);
	if (command == C_AUDIT_VERIFY_EXPORT)
		return verify_export(arg);
	if (kcs_crypto_init() != KCS_OK || kcs_client_open(&cl, o.url) != KCS_OK)
		return kcs_errcode();
	if ((rc = kcs_client_token(&cl, o.token_file)) != KCS_OK)
		goto out;
	if ((command == C_OPERATOR_ADD)) {
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "name", arg);
		if (o.role)
			cJSON_AddStringToObject(body, "role", o.role);
		if ((rc = kcs_call(&cl, KCS_OPERATOR_ADD, NULL, body, &res)) == KCS_OK) {
			long long req = 0;

			kcs_json_int(res, "request_id", &req);
			if (kcs_is_tty(STDERR_FILENO))
				fprintf(stderr, "The token works once another administrator approves: "
				    "kcs-admin request approve %lld\n", req);
			rc = kcs_print(res);
		}
	} else if ((command == C_OPERATOR_LIST)) {
		if ((rc = kcs_call(&cl, KCS_OPERATOR_LIST, NULL, NULL, &res)) == KCS_OK)
			rc = kcs_print_each(cJSON_GetObjectItem(res, "operators"));
	} else if ((command == C_OPERATOR_REMOVE)) {
		long long id;

		if ((rc = kcs_id_parse(arg, "id", &id)) != KCS_OK)
			goto out;
		snprintf(path, sizeof path, "%lld", id);
		if ((rc = kcs_call(&cl, KCS_OPERATOR_REMOVE, path, NULL, &res)) == KCS_OK)
			rc = kcs_print(res);
	} else if ((command == C_REQUEST_LIST)) {
		if ((rc = kcs_call(&cl, KCS_REQUESTS, NULL, NULL, &res)) == KCS_OK)
			rc = kcs_print_each(cJSON_GetObjectItem(res, "requests"));
	} else if ((command == C_REQUEST_APPROVE || command == C_REQUEST_REFUSE)) {
		long long id;

		if ((rc = kcs_id_parse(arg, "id", &id)) != KCS_OK)
			goto out;
		body = cJSON_CreateObject();
		cJSON_AddNumberToObject(body, "id", (double)id);
		if ((rc = kcs_call(&cl, command == C_REQUEST_APPROVE ? KCS_REQUEST_APPROVE : KCS_REQUEST_REFUSE, NULL,
		    body, &res)) == KCS_OK)
			rc = kcs_print(res);
	} else if ((command == C_SDRM_ADD)) {
		struct kcs_secret_src src = { o.pw_file, o.pw_fd };
		char pw[KCS_SECRET_MAX + 1];

		if ((rc = kcs_secret_read(&src, "SDRM password: ", "password", pw, sizeof pw)) != KCS_OK)
			goto out;
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "sdrm_id", arg);
		cJSON_AddStringToObject(body, "password", pw);
		sodium_memzero(pw, sizeof pw);
		rc = kcs_call(&cl, KCS_SDRM_ADD, NULL, body, &res);
		sodium_memzero(cJSON_GetObjectItem(body, "password")->valuestring,
		    strlen(cJSON_GetObjectItem(body, "password")->valuestring));
		if (rc == KCS_OK)
			rc = kcs_print(res);
	} else if ((command == C_SDRM_IMPORT)) {
		rc = sdrm_import(&cl, arg);
	} else if ((command == C_SDRM_REMOVE) || (command == C_ACCOUNT_CLOSE)) {
		/* the SDRM ID's rule is the server's; this only keeps the path whole */
		if (strlen(arg) > 32 || strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-_.") != strlen(arg)) {
			rc = kcs_fail(KCS_EINVALID, "sdrm_id", "'%s' is not an SDRM ID", arg);
			goto out;
		}
		if ((rc = kcs_call(&cl, (command == C_SDRM_REMOVE) ? KCS_SDRM_REMOVE : KCS_ACCOUNT_CLOSE, arg, NULL,
		    &res)) == KCS_OK)
			rc = kcs_print(res);
	} else if (command == C_JOBS_EXPORT) {
		char query[64];

		if (!o.from || !o.to) {
			rc = kcs_usage_error("jobs export needs --from and --to");
			goto out;
		}
		if ((rc = kcs_date_parse(o.from, "from")) != KCS_OK || (rc = kcs_date_parse(o.to, "to")) != KCS_OK)
			goto out;
		snprintf(query, sizeof query, "from=%s&to=%s", o.from, o.to);
		if ((rc = kcs_call(&cl, KCS_JOBS_EXPORT, query, NULL, &res)) == KCS_OK)
			rc = kcs_print_each(cJSON_GetObjectItem(res, "jobs"));
	} else if (command == C_DOWNLOAD_ADD) {
		rc = download_add(&cl, arg, &res);
	} else if (command == C_ACTIVATION_ADD) {
		if (!o.model || !o.from || !o.to || !o.download) {
			rc = kcs_usage_error("activation add needs --model, --from, --to and --download");
			goto out;
		}
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "model", o.model);
		cJSON_AddStringToObject(body, "from", o.from);
		cJSON_AddStringToObject(body, "to", o.to);
		cJSON_AddStringToObject(body, "download", o.download);
		if ((rc = kcs_call(&cl, KCS_ACTIVATION_ADD, NULL, body, &res)) == KCS_OK)
			rc = kcs_print(res);
	} else if (command == C_MODEL_SET) {
		long long n;

		if (!o.pmax) {
			rc = kcs_usage_error("model set needs --personalization-max N");
			goto out;
		}
		if ((rc = kcs_id_parse(o.pmax, "personalization_max", &n)) != KCS_OK)
			goto out;
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "model", arg);
		cJSON_AddNumberToObject(body, "personalization_max", (double)n);
		if ((rc = kcs_call(&cl, KCS_MODEL_SET, NULL, body, &res)) == KCS_OK)
			rc = kcs_print(res);
	} else if (command == C_DEALER_ADD) {
		if (!o.dpn || !o.outlet) {
			rc = kcs_usage_error("dealer add needs --dpn and --outlet");
			goto out;
		}
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "name", arg);
		cJSON_AddStringToObject(body, "distribution_product_number", o.dpn);
		cJSON_AddStringToObject(body, "outlet_number", o.outlet);
		if ((rc = kcs_call(&cl, KCS_DEALER_ADD, NULL, body, &res)) == KCS_OK)
			rc = kcs_print(res);
	} else if (command == C_DEALER_LIST) {
		if ((rc = kcs_call(&cl, KCS_DEALERS, NULL, NULL, &res)) == KCS_OK)
			rc = kcs_print_each(cJSON_GetObjectItem(res, "dealers"));
	} else if (command == C_LOCATION_ADD || command == C_CLIENT_ADD) {
		long long dealer;

		if (!o.dealer || (command == C_CLIENT_ADD && !o.role)) {
			rc = kcs_usage_error(command == C_CLIENT_ADD ? "keypool client add needs --dealer and --role"
			    : "location add needs --dealer");
			goto out;
		}
		if ((rc = kcs_id_parse(o.dealer, "dealer", &dealer)) != KCS_OK)
			goto out;
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "name", arg);
		cJSON_AddNumberToObject(body, "dealer_id", (double)dealer);
		if (command == C_CLIENT_ADD)
			cJSON_AddStringToObject(body, "role", o.role);
		if ((rc = kcs_call(&cl, command == C_CLIENT_ADD ? KCS_CLIENT_ADD : KCS_LOCATION_ADD, NULL, body, &res)) ==
		    KCS_OK)
			rc = kcs_print(res);
	} else if (command == C_CLIENT_REVOKE) {
		long long id;

		if ((rc = kcs_id_parse(arg, "id", &id)) != KCS_OK)
			goto out;
		snprintf(path, sizeof path, "%lld", id);
		if ((rc = kcs_call(&cl, KCS_CLIENT_REVOKE, path, NULL, &res)) == KCS_OK)
			rc = kcs_print(res);
	} else if (command == C_AUDIT_CHECKPOINT) {
		if ((rc = kcs_call(&cl, KCS_AUDIT_CHECKPOINT, NULL, NULL, &res)) == KCS_OK)
			rc = kcs_print(res);
	} else if (command == C_AUDIT_KEY) {
		if ((rc = kcs_call(&cl, KCS_AUDIT_CHECKPOINT_GET, NULL, NULL, &res)) == KCS_OK)
			rc = kcs_print(res);
	} else if (command == C_AUDIT_EXPORT) {
		rc = audit_export(&cl);
	} else if (command == C_MAINTAIN) {
		if (arg && strcmp(arg, "expire") != 0 && strcmp(arg, "purge") != 0 && strcmp(arg, "mail") != 0 &&
		    strcmp(arg, "checkpoint") != 0 && strcmp(arg, "backup") != 0) {
			rc = kcs_usage_error("maintain takes a task: expire, purge, mail, checkpoint or backup");
			goto out;
		}
		body = cJSON_CreateObject();
		if (arg)
			cJSON_AddItemToArray(cJSON_AddArrayToObject(body, "tasks"), cJSON_CreateString(arg));
		if (kcs_is_tty(STDERR_FILENO))
			fprintf(stderr, "maintain: %s...\n", arg ? arg : "expire, purge, mail, checkpoint, backup");
		if ((rc = kcs_call(&cl, KCS_MAINTAIN, NULL, body, &res)) == KCS_OK &&
		    (rc = kcs_print(res)) == KCS_OK) {
			/* a task that failed (the others are done): exit 6 */
			const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "failed_tasks"), 0);
			const char *e = cJSON_IsString(f) ? kcs_json_str(cJSON_GetObjectItem(cJSON_GetObjectItem(res,
			    "tasks"), f->valuestring), "error") : NULL;

			if (cJSON_IsString(f))
				rc = kcs_fail(KCS_EINTERNAL, f->valuestring, "the %s failed: %s", f->valuestring,
				    e ? e : "see kcsd's log");
		}
	} else if (command == C_KEYPOOL_PURGE) {
		if ((rc = kcs_call(&cl, KCS_READS_PURGE, NULL, NULL, &res)) == KCS_OK)
			rc = kcs_print(res);
	} else if (command == C_ACTIVATION_LIST) {
		if ((rc = kcs_call(&cl, KCS_ACTIVATION_LIST, NULL, NULL, &res)) == KCS_OK)
			rc = kcs_print_each(cJSON_GetObjectItem(res, "rules"));
	} else if ((command == C_OUTBOX_LIST)) {
		if ((rc = kcs_call(&cl, KCS_OUTBOX_LIST, NULL, NULL, &res)) == KCS_OK)
			rc = kcs_print_each(cJSON_GetObjectItem(res, "messages"));
	} else if ((command == C_OUTBOX_SHOW)) {
		long long id;

		if ((rc = kcs_id_parse(arg, "id", &id)) != KCS_OK)
			goto out;
		snprintf(path, sizeof path, "%lld", id);
		if ((rc = kcs_call(&cl, KCS_OUTBOX_GET, path, NULL, &res)) == KCS_OK)
			rc = kcs_print(res);
	} else if ((command == C_VEHICLE_ADD)) {
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "vin", arg);
		if (o.model)
			cJSON_AddStringToObject(body, "model", o.model);
		if (o.production_date)
			cJSON_AddStringToObject(body, "production_date", o.production_date);
		if ((rc = kcs_call(&cl, KCS_VEHICLE_ADD, NULL, body, &res)) == KCS_OK)
			rc = kcs_print(res);
	} else if ((command == C_VEHICLE_IMPORT)) {
		rc = vehicle_import(&cl, arg);
	} else if ((command == C_VEHICLE_SHOW)) {
		char vin[18];

		if ((rc = kcs_vin_parse(arg, vin)) != KCS_OK)
			goto out;
		if ((rc = kcs_call(&cl, KCS_VEHICLE_GET, vin, NULL, &res)) == KCS_OK)
			rc = kcs_print(res);
	} else if ((command == C_AUDIT_VERIFY)) {
		if ((rc = kcs_call(&cl, KCS_AUDIT_VERIFY, NULL, NULL, &res)) == KCS_OK) {
			rc = kcs_print(res);
			if (!kcs_json_bool(res, "intact")) {
				cJSON *bad = cJSON_GetObjectItem(res, "bad_entries");
				char *list = cJSON_GetArraySize(bad) ? kcs_json_dump(bad) : NULL;

				rc = list ? kcs_fail(KCS_EREFUSED, NULL, "the audit log is damaged at entries %s", list)
				    : kcs_fail(KCS_EREFUSED, NULL, "the audit log is empty: its first entry is gone");
				free(list);
			}
		}
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
