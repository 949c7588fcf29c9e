/* kcs-ticket: a locksmith's security ticket (TAN) for one hotline call
 * (seed 000 §5). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kcs.h"

static const struct kcs_command commands[] = {
	{ "", "[--accept-disclaimer]", 0,
	    "request a security ticket (TAN) for one call to the hotline, after\n"
	    "accepting the ticket disclaimer" },
	{ "status", NULL, 0, "the current ticket's state and remaining time" },
	{ NULL, NULL, 0, NULL }
};

static void
usage(void)
{
	fputs("usage: kcs-ticket [--accept-disclaimer] [--url URL] [status]\n\nCommands:\n", stdout);
	kcs_command_help(stdout, commands);
	fputs("\n"
	    "The disclaimer is shown and asked on a terminal (--accept-disclaimer for\n"
	    "scripts). Prints {\"tan\":...,\"expires_at\":...}. A new ticket cancels the\n"
	    "previous one. Needs a full login (kcs-login) and an Active account.\n"
	    "\n"
	    "Options:\n"
	    "      --accept-disclaimer  accept the ticket disclaimer without showing it\n"
	    "      --url URL            kcsd's URL (default: the session's, $KCS_URL, the config's url)\n"
	    "  -h, --help               show this help\n"
	    "  -V, --version            show the version\n"
	    "\n"
	    "Exit status: 0 done, 1 refused by a rule, 2 usage, 3 invalid input, 4 not permitted\n"
	    "(not logged in, Inactive account, disclaimer not accepted), 5 server unreachable,\n"
	    "6 internal failure (kcs(7)).\n", stdout);
}

static int
run(int argc, char **argv)
{
	enum { O_URL = 256, O_ACCEPT };
	static const struct option opts[] = {
		{ "url", required_argument, NULL, O_URL },
		{ "accept-disclaimer", no_argument, NULL, O_ACCEPT },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 }
	};
	const char *url = NULL, *arg = NULL;
	const struct kcs_command *cmd;
	struct kcs_client cl = { 0 };
	cJSON *d = NULL, *body = NULL, *res = NULL;
	long long version = 0;
	int c, rc, accept = 0;

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case O_URL: url = optarg; break;
		case O_ACCEPT: accept = 1; break;
		case 'h': usage(); return KCS_OK;
		case 'V': puts("kcs-ticket " KCS_VERSION); return KCS_OK;
		default: return kcs_usage_error("unknown option");
		}
	}
	if (!(cmd = kcs_command(commands, argc - optind, argv + optind, &arg)))
		return KCS_EUSAGE;
	if ((rc = kcs_client_open(&cl, url)) != KCS_OK || (rc = kcs_client_session(&cl)) != KCS_OK)
		goto out;
	if (cmd->name[0]) {
		if ((rc = kcs_call(&cl, KCS_TICKET_STATUS, NULL, NULL, &res)) == KCS_OK)
			rc = kcs_print(res);
		goto out;
	}
	if ((rc = kcs_disclaimer(&cl, "ticket", accept, &version)) != KCS_OK)
		goto out;
	body = cJSON_CreateObject();
	cJSON_AddNumberToObject(body, "accept_disclaimer", (double)version);
	if ((rc = kcs_call(&cl, KCS_TICKET, NULL, body, &res)) == KCS_OK) {
		if (kcs_is_tty(STDERR_FILENO))
			fprintf(stderr, "Call the hotline with this TAN and your SDRM ID before %s.\n",
			    kcs_json_str(res, "expires_at"));
		rc = kcs_print(res);
	}
out:
	cJSON_Delete(d);
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
