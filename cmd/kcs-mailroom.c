/* kcs-mailroom: the mail room prints the letters kcsd writes (the delivery
 * address verification code, packing slips) and marks them sent. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "kcs.h"

static const struct kcs_command commands[] = {
	{ "list", NULL, 0, "the letters waiting to be printed, as JSON lines (no text)" },
	{ "print", "ID", 1, "a letter's text on standard output, for the printer (audited)" },
	{ "sent", "ID", 1, "mark a letter posted: its text is destroyed" },
	{ NULL, NULL, 0, NULL }
};

static void
usage(void)
{
	fputs("usage: kcs-mailroom [--url URL] [--token-file FILE] COMMAND [ID]\n\nCommands:\n", stdout);
	kcs_command_help(stdout, commands);
	fputs("\n"
	    "The mail room alone reads letters: an administrator or the hotline cannot.\n"
	    "Print a letter, post it, then mark it sent.\n"
	    "\n"
	    "Options:\n"
	    "      --url URL           kcsd's URL (default: $KCS_URL, the config's url, http://127.0.0.1:8425)\n"
	    "      --token-file FILE   the mail room token (default: $KCS_TOKEN_FILE, the config's\n"
	    "                          token_file, or $KCS_TOKEN)\n"
	    "  -h, --help              show this help\n"
	    "  -V, --version           show the version\n"
	    "\n"
	    "Exit status: 0 done, 1 refused by a rule (not found, already sent), 2 usage,\n"
	    "3 invalid input, 4 not permitted, 5 server unreachable, 6 internal failure (kcs(7)).\n", stdout);
}

static int
run(int argc, char **argv)
{
	enum { O_URL = 256, O_TOKEN };
	static const struct option opts[] = {
		{ "url", required_argument, NULL, O_URL }, { "token-file", required_argument, NULL, O_TOKEN },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 }
	};
	const char *url = NULL, *token_file = NULL, *arg = NULL;
	const struct kcs_command *cmd;
	struct kcs_client cl = { 0 };
	cJSON *body = NULL, *res = NULL;
	char path[32];
	long long id = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case O_URL: url = optarg; break;
		case O_TOKEN: token_file = optarg; break;
		case 'h': usage(); return KCS_OK;
		case 'V': puts("kcs-mailroom " KCS_VERSION); return KCS_OK;
		default: return kcs_usage_error("unknown option");
		}
	}
	if (!(cmd = kcs_command(commands, argc - optind, argv + optind, &arg)))
		return KCS_EUSAGE;
	if (arg && (rc = kcs_id_parse(arg, "id", &id)) != KCS_OK)
		return rc;
	if ((rc = kcs_client_open(&cl, url)) != KCS_OK || (rc = kcs_client_token(&cl, token_file)) != KCS_OK)
		goto out;
	snprintf(path, sizeof path, "%lld", id);
	if (strcmp(cmd->name, "list") == 0) {
		if ((rc = kcs_call(&cl, KCS_LETTERS, NULL, NULL, &res)) == KCS_OK)
			rc = kcs_print_each(cJSON_GetObjectItem(res, "letters"));
	} else if (strcmp(cmd->name, "print") == 0) {
		if ((rc = kcs_call(&cl, KCS_LETTER, path, NULL, &res)) == KCS_OK)
			fputs(kcs_json_str(res, "text") ? kcs_json_str(res, "text") : "", stdout);
	} else {
		body = cJSON_CreateObject();
		cJSON_AddNumberToObject(body, "id", (double)id);
		if ((rc = kcs_call(&cl, KCS_LETTER_SENT, NULL, body, &res)) == KCS_OK)
			rc = kcs_print(res);
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
