/* kcs-hotline: the maker's hotline, from scripts: register a locksmith
 * (seed 000, Appendix A), redeem a caller's security ticket, place key and
 * key writer orders, ship them, list them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcs.h"

/* every input field: option, JSON name; --state is both the form's US state
 * and, for orders, the order state */
static const char *const fields[][2] = {
	{ "sdrm-id", "sdrm_id" }, { "email", "email" }, { "last-name", "last_name" },
	{ "first-name", "first_name" }, { "company", "company" }, { "address", "address" },
	{ "city", "city" }, { "state", "state" }, { "zip", "zip" }, { "phone", "phone" },
	{ "comments", "comments" }, { "time-zone", "time_zone" }, { "tan", "tan" },
	{ "call-id", "call_id" }, { "vin", "vin" }, { "payment-ref", "payment_ref" },
	{ "tracking", "tracking" }, { "serial", "serial" }, { "public-key", "public_key" },
	{ "reason", "reason" },
};
#define NFIELDS (sizeof fields / sizeof *fields)

static const struct kcs_command commands[] = {
	{ "register", NULL, 0, "enter a locksmith's registration form" },
	{ "resend-link", NULL, 0, "e-mail a new verification link (the old one stops working)" },
	{ "correct-email", NULL, 0, "correct a mistyped e-mail address before it is verified" },
	{ "redeem", NULL, 0, "check a caller's TAN with the SDRM ID; answers a call record" },
	{ "check-vin", NULL, 0, "is a VIN registered, and has it a free key position?" },
	{ "order-key", NULL, 0, "order a blank key for a VIN on a call; answers the Key Code once" },
	{ "order-keywriter", NULL, 0, "order a key writer on a call" },
	{ "ship", "ORDER_ID", -1, "mark an order shipped (a key writer also registers its device)" },
	{ "cancel", "ORDER_ID --reason TEXT", -1,
	    "cancel an order that has not shipped: a key order's position is\nfree again" },
	{ "orders", NULL, 0, "list orders as JSON lines (filters: --sdrm-id --vin --state)" },
	{ NULL, NULL, 0, NULL }
};

/* for each command: its route, the JSON fields it sends, and of those the
 * ones that make standard input worth reading */
static const struct how {
	enum kcs_route route;
	const char *send, *required;
} how[] = {
	{ KCS_REGISTER,
	  " sdrm_id email last_name first_name company address city state zip phone comments time_zone"
	  " signature_confirmed ",
	  " sdrm_id email last_name first_name address city state zip phone time_zone " },
	{ KCS_RESEND_LINK, " sdrm_id ", " sdrm_id " },
	{ KCS_CORRECT_EMAIL, " sdrm_id email ", " sdrm_id email " },
	{ KCS_REDEEM, " tan sdrm_id ", " tan sdrm_id " },
	{ KCS_CHECK_VIN, " vin ", " vin " },
	{ KCS_ORDER_KEY, " call_id vin payment_ref address_confirmed ", " call_id vin payment_ref " },
	{ KCS_ORDER_KEYWRITER, " call_id payment_ref address_confirmed ", " call_id payment_ref " },
	{ KCS_SHIP, " order_id tracking serial public_key ", " tracking " },
	{ KCS_ORDER_CANCEL, " order_id reason ", " reason " },
	{ KCS_ORDERS, "", "" },
};

static void
usage(void)
{
	fputs("usage: kcs-hotline [--url URL] [--token-file FILE] COMMAND [OPTIONS]\n"
    "\n"
    "The hotline's side of the Key Coding System. Input fields come from the options\n"
    "or from a JSON object on standard input (options win); answers are JSON lines.\n"
    "\n"
	    "Commands:\n", stdout);
	kcs_command_help(stdout, commands);
	fputs("\n"
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
    "      --signature-confirmed  the form carries the locksmith's signature (signature_confirmed)\n"
    "\n"
    "Call and order fields:\n"
    "      --tan TAN           redeem: the caller's security ticket (tan)\n"
    "      --sdrm-id ID        redeem, resend-link, correct-email: the locksmith's SDRM ID;\n"
    "                          orders: filter (sdrm_id)\n"
    "      --email ADDRESS     correct-email: the right address (email)\n"
    "      --call-id ID        order-*: the call from redeem (call_id)\n"
    "      --vin VIN           check-vin, order-key: the 17-character VIN; orders: filter (vin)\n"
    "      --payment-ref REF   order-*: the payment's reference (payment_ref)\n"
    "      --address-confirmed order-*: the delivery address was read back (address_confirmed)\n"
    "      --tracking REF      ship: the shipment's tracking reference (tracking)\n"
    "      --serial SERIAL     ship: a key writer's serial number (serial)\n"
    "      --public-key HEX    ship: a key writer's public key, 64 hex digits (public_key)\n"
    "      --reason TEXT       cancel: why (reason)\n"
    "      --state STATE       orders: placed, shipped or cancelled (state)\n"
    "\n"
    "Options:\n"
    "      --url URL           kcsd's URL (default: $KCS_URL, the config's url, http://127.0.0.1:8425)\n"
    "      --token-file FILE   the operator token (default: $KCS_TOKEN_FILE, the config's\n"
    "                          token_file, or $KCS_TOKEN)\n"
    "  -h, --help              show this help\n"
    "  -V, --version           show the version\n"
    "\n"
    "Exit status: 0 done, 1 refused by a rule, 2 usage, 3 invalid input, 4 not permitted,\n"
    "5 server unreachable, 6 internal failure (kcs(7)).\n", stdout);
}

static int
has(const char *list, const char *name)
{
	char w[40];

	snprintf(w, sizeof w, " %s ", name);
	return strstr(list, w) != NULL;
}

/* GET /v1/hotline/orders with the filters as a query string */
static int
list_orders(struct kcs_client *cl, const char *const *val)
{
	char query[600] = "";
	const char *filters[] = { "sdrm_id", "vin", "state" };
	cJSON *res = NULL;
	int rc, first = 1;

	for (size_t f = 0; f < 3; f++)
		for (size_t i = 0; i < NFIELDS; i++)
			if (val[i] && strcmp(fields[i][1], filters[f]) == 0) {
				char *e = kcs_url_escape(cl, val[i]);

				if (!e)
					return kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
				snprintf(query + strlen(query), sizeof query - strlen(query), "%s%s=%s",
				    first ? "" : "&", filters[f], e);
				kcs_free(e);
				first = 0;
			}
	if ((rc = kcs_call(cl, KCS_ORDERS, query, NULL, &res)) == KCS_OK)
		rc = kcs_print_each(cJSON_GetObjectItem(res, "orders"));
	cJSON_Delete(res);
	return rc;
}

static int
run(int argc, char **argv)
{
	enum { O_URL = 256, O_TOKEN, O_CONFIRMED, O_SIGNED, O_FIELD };
	struct option opts[NFIELDS + 7];
	const char *url = NULL, *token_file = NULL, *val[NFIELDS] = { 0 }, *arg = NULL;
	const struct kcs_command *command;
	const struct how *cmd;
	struct kcs_client cl = { 0 };
	cJSON *in = NULL, *body = NULL, *res = NULL;
	int c, idx, rc, confirmed = 0, signed_ = 0;
	size_t n = 0;

	opts[n++] = (struct option){ "url", required_argument, NULL, O_URL };
	opts[n++] = (struct option){ "token-file", required_argument, NULL, O_TOKEN };
	opts[n++] = (struct option){ "address-confirmed", no_argument, NULL, O_CONFIRMED };
	opts[n++] = (struct option){ "signature-confirmed", no_argument, NULL, O_SIGNED };
	for (size_t i = 0; i < NFIELDS; i++)
		opts[n++] = (struct option){ fields[i][0], required_argument, NULL, O_FIELD };
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[n++] = (struct option){ "version", no_argument, NULL, 'V' };
	opts[n] = (struct option){ NULL, 0, NULL, 0 };
	while ((c = getopt_long(argc, argv, "hV", opts, &idx)) != -1) {
		switch (c) {
		case O_URL: url = optarg; break;
		case O_TOKEN: token_file = optarg; break;
		case O_CONFIRMED: confirmed = 1; break;
		case O_SIGNED: signed_ = 1; break;
		case O_FIELD: val[idx - 4] = optarg; break;
		case 'h': usage(); return KCS_OK;
		case 'V': puts("kcs-hotline " KCS_VERSION); return KCS_OK;
		default: return kcs_usage_error("unknown option");
		}
	}
	if (!(command = kcs_command(commands, argc - optind, argv + optind, &arg)))
		return KCS_EUSAGE;
	cmd = &how[command - commands];

	/* a piped object is read only when a required field has no option */
	for (size_t i = 0; i < NFIELDS && !in; i++)
		if (!val[i] && has(cmd->required, fields[i][1]) && !(in = kcs_json_stdin()))
			return kcs_errcode();
	if (!in && (cmd->route == KCS_SHIP || cmd->route == KCS_ORDER_CANCEL) && !arg && !(in = kcs_json_stdin()))
		return kcs_errcode();
	body = cJSON_CreateObject();
	for (size_t i = 0; i < NFIELDS; i++) {
		const char *v = val[i];

		if (!has(cmd->send, fields[i][1]) || cJSON_GetObjectItem(body, fields[i][1]))
			continue;
		/* a piped field of the wrong type is an error, not dropped */
		if (!v && (rc = kcs_json_text(in, fields[i][1], &v)) != KCS_OK)
			goto out;
		if (v)
			cJSON_AddStringToObject(body, fields[i][1], v);
	}
	if (has(cmd->send, "address_confirmed") && (confirmed || kcs_json_bool(in, "address_confirmed")))
		cJSON_AddBoolToObject(body, "address_confirmed", 1);
	if (has(cmd->send, "signature_confirmed") && (signed_ || kcs_json_bool(in, "signature_confirmed")))
		cJSON_AddBoolToObject(body, "signature_confirmed", 1);
	if (has(cmd->send, "order_id")) {
		long long id = 0;

		if (!arg && !cJSON_GetObjectItem(in, "order_id")) {
			rc = kcs_usage_error("%s needs an ORDER_ID (or order_id on standard input)", command->name);
			goto out;
		}
		if ((rc = arg ? kcs_id_parse(arg, "order_id", &id) : kcs_json_id(in, "order_id", &id)) != KCS_OK)
			goto out;
		cJSON_AddNumberToObject(body, "order_id", (double)id);
	}
	if ((rc = kcs_client_open(&cl, url)) != KCS_OK || (rc = kcs_client_token(&cl, token_file)) != KCS_OK)
		goto out;
	if (cmd->route == KCS_ORDERS) {
		rc = list_orders(&cl, val);
		goto out;
	}
	if (cmd->route == KCS_CHECK_VIN) {
		char vin[18];

		if ((rc = kcs_vin_parse(kcs_json_str(body, "vin") ? kcs_json_str(body, "vin") : "", vin)) != KCS_OK)
			goto out;
		rc = kcs_call(&cl, cmd->route, vin, NULL, &res);
	} else {
		rc = kcs_call(&cl, cmd->route, NULL, body, &res);
	}
	if (rc == KCS_OK) {
		const char *warn = kcs_json_str(res, "warning");

		if (warn)
			fprintf(stderr, "%s: warning: %s\n", kcs_prog(), warn);
		rc = kcs_print(res);
	}
out:
	cJSON_Delete(in);
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
