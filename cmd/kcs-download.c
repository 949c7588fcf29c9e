/* kcs-download: the download area (seed 000 §9.4, §10): lists its files,
 * fetches one and verifies it against kcsd's download-signing key, and
 * names the activation instructions of a vehicle (kcs-download(1)). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcs.h"

static const struct kcs_command commands[] = {
	{ "list", NULL, 0, "the files of the download area, as JSON lines" },
	{ "get", "NAME [--output FILE]", 1,
	    "a file, verified (SHA-256 and kcsd's signature): to FILE, or to\nstandard output" },
	{ "activation", "VIN", 1, "the activation instructions that apply to a vehicle" },
	{ NULL, NULL, 0, NULL }
};

static void
usage(void)
{
	fputs("usage: kcs-download [--url URL] COMMAND [ARG] [--output FILE]\n\nCommands:\n", stdout);
	kcs_command_help(stdout, commands);
	fputs("\n"
	    "Every file is checked against its SHA-256 and kcsd's download-signing key:\n"
	    "the config's download_key, or the key pinned the first time (download-key\n"
	    "beside the session file). Needs a full login (kcs-login).\n"
	    "\n"
	    "Options:\n"
	    "      --output FILE   get: write the file to FILE and print its details\n"
	    "      --url URL       kcsd's URL (default: the session's)\n"
	    "  -h, --help          show this help\n"
	    "  -V, --version       show the version\n"
	    "\n"
	    "Exit status: 0 done, 1 refused (no such file, a file that fails its check or\n"
	    "signature, no instructions for the vehicle), 2 usage, 3 invalid input, 4 not\n"
	    "permitted (not logged in), 5 server unreachable, 6 internal failure (kcs(7)).\n", stdout);
}

static int
get(struct kcs_client *cl, const char *name, const char *output)
{
	cJSON *meta = NULL;
	uint8_t *content = NULL;
	size_t n = 0;
	FILE *f;
	int rc;

	if ((rc = kcs_download_fetch(cl, name, &meta, &content, &n)) != KCS_OK)
		return rc;
	if (!output) {
		rc = fwrite(content, 1, n, stdout) == n ? KCS_OK : kcs_fail(KCS_EINTERNAL, NULL, "writing standard output");
	} else if (!(f = fopen(output, "wb"))) {
		rc = kcs_fail(KCS_EINVALID, "output", "cannot write %s", output);
	} else {
		rc = fwrite(content, 1, n, f) == n && fclose(f) == 0 ? KCS_OK
		    : kcs_fail(KCS_EINTERNAL, "output", "writing %s failed", output);
		if (rc == KCS_OK) {
			cJSON_AddStringToObject(meta, "file", output);
			cJSON_AddBoolToObject(meta, "verified", 1);
			rc = kcs_print(meta);
		}
	}
	free(content);
	cJSON_Delete(meta);
	return rc;
}

static int
run(int argc, char **argv)
{
	enum { O_URL = 256, O_OUTPUT };
	static const struct option opts[] = {
		{ "url", required_argument, NULL, O_URL }, { "output", required_argument, NULL, O_OUTPUT },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 }
	};
	const char *url = NULL, *output = NULL, *arg = NULL;
	const struct kcs_command *cmd;
	struct kcs_client cl = { 0 };
	cJSON *res = NULL;
	char vin[18];
	int c, rc;

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case O_URL: url = optarg; break;
		case O_OUTPUT: output = optarg; break;
		case 'h': usage(); return KCS_OK;
		case 'V': puts("kcs-download " KCS_VERSION); return KCS_OK;
		default: return kcs_usage_error("unknown option");
		}
	}
	if (!(cmd = kcs_command(commands, argc - optind, argv + optind, &arg)))
		return KCS_EUSAGE;
	if (output && strcmp(cmd->name, "get") != 0)
		return kcs_usage_error("--output is for get");
	if (strcmp(cmd->name, "activation") == 0 && kcs_vin_parse(arg, vin) != KCS_OK)
		return kcs_errcode();
	if ((rc = kcs_crypto_init()) != KCS_OK || (rc = kcs_client_open(&cl, url)) != KCS_OK ||
	    (rc = kcs_client_session(&cl)) != KCS_OK)
		goto out;
	if (strcmp(cmd->name, "list") == 0) {
		if ((rc = kcs_call(&cl, KCS_DOWNLOADS, NULL, NULL, &res)) == KCS_OK)
			rc = kcs_print_each(cJSON_GetObjectItem(res, "downloads"));
	} else if (strcmp(cmd->name, "get") == 0) {
		rc = get(&cl, arg, output);
	} else if ((rc = kcs_call(&cl, KCS_ACTIVATION, vin, NULL, &res)) == KCS_OK)
		rc = kcs_print(res);
out:
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
