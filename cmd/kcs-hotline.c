/* kcs-hotline: the maker's hotline, from scripts: enter a locksmith's
 * registration form (seed 000, Appendix A). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "kcs.h"

static const char usage[] =
    "usage: kcs-hotline [--url URL] [--token-file FILE] COMMAND [OPTIONS]\n"
    "\n"
    "The hotline's side of the Key Coding System. Input fields come from the options\n"
    "or from a JSON object on standard input (options win); answers are JSON lines.\n"
    "\n"
    "Commands:\n"
    "  register      enter a locksmith's registration form; kcsd e-mails the verification\n"
    "                link and writes the address verification letter\n"
    "\n"
    "Registration fields (JSON name in brackets):\n"
    "      --sdrm-id ID        SDRM ID, in the SDRM directory (sdrm_id)\n"
    "      --email ADDRESS     the locksmith's e-mail address, the LSID (email)\n"
    "      --last-name NAME    (last_name)\n"
    "      --first-name NAME   (first_name)\n"
    "      --company NAME      optional (company)\n"
    "      --address STREET    delivery address (address)\n"
    "      --city CITY         (city)\n"
    "      --state XX          US state or territory code (state)\n"
    "      --zip ZIP           12345 or 12345-6789 (zip)\n"
    "      --phone NUMBER      (phone)\n"
    "      --comments TEXT     optional (comments)\n"
    "      --time-zone ZONE    Eastern, Central, Mountain, Arizona, Pacific, Alaska, Hawaii,\n"
    "                          Atlantic, Chamorro, Samoa, or an IANA name (time_zone)\n"
    "\n"
    "Options:\n"
    "      --url URL           kcsd's URL (default: $KCS_URL, the config's url, http://127.0.0.1:8425)\n"
    "      --token-file FILE   the operator token (default: $KCS_TOKEN_FILE, the config's\n"
    "                          token_file, or $KCS_TOKEN)\n"
    "  -h, --help              show this help\n"
    "  -V, --version           show the version\n"
    "\n"
    "Exit status: 0 done, 1 refused by a rule, 2 usage, 3 invalid input, 4 not permitted,\n"
    "5 server unreachable, 6 internal failure (kcs(7)).\n";

/* the form's fields: option name and JSON name, in the form's order */
static const char *const form[][2] = {
	{ "sdrm-id", "sdrm_id" }, { "email", "email" }, { "last-name", "last_name" },
	{ "first-name", "first_name" }, { "company", "company" }, { "address", "address" },
	{ "city", "city" }, { "state", "state" }, { "zip", "zip" }, { "phone", "phone" },
	{ "comments", "comments" }, { "time-zone", "time_zone" },
};
#define NFORM (sizeof form / sizeof *form)

static int
run(int argc, char **argv)
{
	enum { O_URL = 256, O_TOKEN, O_FORM };
	struct option opts[NFORM + 5];
	const char *url = NULL, *token_file = NULL, *val[NFORM] = { 0 }, *cmd;
	struct kcs_client cl;
	cJSON *in = NULL, *body, *res = NULL;
	int c, idx, rc;
	size_t n = 0;

	opts[n++] = (struct option){ "url", required_argument, NULL, O_URL };
	opts[n++] = (struct option){ "token-file", required_argument, NULL, O_TOKEN };
	for (size_t i = 0; i < NFORM; i++)
		opts[n++] = (struct option){ form[i][0], required_argument, NULL, O_FORM };
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[n++] = (struct option){ "version", no_argument, NULL, 'V' };
	opts[n] = (struct option){ NULL, 0, NULL, 0 };
	while ((c = getopt_long(argc, argv, "hV", opts, &idx)) != -1) {
		switch (c) {
		case O_URL: url = optarg; break;
		case O_TOKEN: token_file = optarg; break;
		case O_FORM: val[idx - 2] = optarg; break;
		case 'h': fputs(usage, stdout); return KCS_OK;
		case 'V': puts("kcs-hotline " KCS_VERSION); return KCS_OK;
		default: return kcs_usage_error("unknown option");
		}
	}
	if (optind >= argc)
		return kcs_usage_error("a command is required");
	cmd = argv[optind++];
	if (optind != argc)
		return kcs_usage_error("unexpected argument '%s'", argv[optind]);
	if (strcmp(cmd, "register") != 0)
		return kcs_usage_error("unknown command '%s'", cmd);
	/* the piped form is read only when a required field has no flag */
	for (size_t i = 0; i < NFORM && !in; i++)
		if (!val[i] && strcmp(form[i][1], "company") && strcmp(form[i][1], "comments") &&
		    !(in = kcs_json_stdin()))
			return kcs_errcode();
	body = cJSON_CreateObject();
	for (size_t i = 0; i < NFORM; i++) {
		const char *v = kcs_field(in, val[i], form[i][1]);

		if (v)
			cJSON_AddStringToObject(body, form[i][1], v);
	}
	cJSON_Delete(in);
	if ((rc = kcs_client_open(&cl, url)) == KCS_OK && (rc = kcs_client_token(&cl, token_file)) == KCS_OK &&
	    (rc = kcs_request(&cl, "POST", "/v1/hotline/locksmiths", body, &res)) == KCS_OK)
		rc = kcs_print(res);
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
