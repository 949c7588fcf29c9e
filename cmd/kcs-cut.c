/* kcs-cut: the blade's cut code of an order's vehicle (seed 000 §9), for
 * the VIN and Key Code, with the coding disclaimer and the owner's
 * verification record (kcs-cut(1)). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcs.h"

static const struct kcs_command commands[] = {
	{ "", "[--vin VIN] [--key-code-file FILE] [owner's record] [--accept-disclaimer]", 0,
	    "the cut code of the blade for the order of VIN and Key Code" },
	{ NULL, NULL, 0, NULL }
};

static void
usage(void)
{
	fputs("usage: kcs-cut [--vin VIN] [--key-code-file FILE | --key-code-fd N] [--owner-file FILE]\n"
	    "               [--customer-name NAME --relation owner|family --id-kind KIND --id-state ST\n"
	    "                --id-last4 XXXX --registration-state ST --plate PLATE]\n"
	    "               [--accept-disclaimer] [--url URL]\n\n"
	    "Prints the cut code of the blade for an order placed for you, as\n"
	    "{\"job_id\",\"vin\",\"cut_code\"}: every key of a vehicle has the same cut code. The\n"
	    "VIN and Key Code come from the options or from the order's JSON on standard\n"
	    "input (vin, key_code); the Key Code is asked on the terminal otherwise. The\n"
	    "coding disclaimer and the owner's verification record are required, as for\n"
	    "kcs-code. Each retrieval is kept in your job record.\n"
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
	    "      --url URL                 kcsd's URL (default: the session's)\n"
	    "  -h, --help                    show this help\n"
	    "  -V, --version                 show the version\n"
	    "\n"
	    "Exit status: 0 done, 1 refused (no order of yours has this Key Code, locked after\n"
	    "wrong Key Codes), 2 usage, 3 invalid input, 4 not permitted (not logged in,\n"
	    "Inactive, disclaimer not accepted), 5 kcsd unreachable, 6 internal failure (kcs(7)).\n",
	    stdout);
}

static int
run(int argc, char **argv)
{
	enum { O_VIN = 256, O_KCFILE, O_KCFD, O_OWNER, O_ACCEPT, O_URL, O_FIELD };
	static const struct option base[] = {
		{ "vin", required_argument, NULL, O_VIN }, { "key-code-file", required_argument, NULL, O_KCFILE },
		{ "key-code-fd", required_argument, NULL, O_KCFD }, { "owner-file", required_argument, NULL, O_OWNER },
		{ "accept-disclaimer", no_argument, NULL, O_ACCEPT }, { "url", required_argument, NULL, O_URL },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' },
	};
	struct option opts[sizeof base / sizeof base[0] + KCS_OWNER_FIELDS + 1];
	struct kcs_job_opts jo = { .key_code = { NULL, -1 } };
	struct kcs_client cl = { 0 };
	const char *url = NULL, *arg = NULL;
	cJSON *body = NULL, *res = NULL;
	int c, rc;

	memcpy(opts, base, sizeof base);
	for (size_t i = 0; i < KCS_OWNER_FIELDS; i++)
		opts[sizeof base / sizeof base[0] + i] =
		    (struct option){ kcs_owner_fields[i][0], required_argument, NULL, O_FIELD + (int)i };
	opts[sizeof base / sizeof base[0] + KCS_OWNER_FIELDS] = (struct option){ NULL, 0, NULL, 0 };
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case O_VIN: jo.vin = optarg; break;
		case O_KCFILE: jo.key_code.file = optarg; break;
		case O_KCFD:
			if ((rc = kcs_parse_fd(optarg, "key_code_fd", &jo.key_code.fd)) != KCS_OK)
				return rc;
			break;
		case O_OWNER: jo.owner_file = optarg; break;
		case O_ACCEPT: jo.accept = 1; break;
		case O_URL: url = optarg; break;
		case 'h': usage(); return KCS_OK;
		case 'V': puts("kcs-cut " KCS_VERSION); return KCS_OK;
		default:
			if (c >= O_FIELD && c < O_FIELD + KCS_OWNER_FIELDS) {
				jo.owner[c - O_FIELD] = optarg;
				break;
			}
			return kcs_usage_error("unknown option");
		}
	}
	if (!kcs_command(commands, argc - optind, argv + optind, &arg))
		return KCS_EUSAGE;
	if ((rc = kcs_client_open(&cl, url)) == KCS_OK && (rc = kcs_client_session(&cl)) == KCS_OK &&
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
