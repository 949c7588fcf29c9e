/* kcs-login: the locksmith's two-step login (seed 000 §4), the first-login
 * password change, status, logout, address verification and password reset. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kcs.h"

enum { C_LOGIN, C_PASSWORD, C_STATUS, C_LOGOUT, C_VERIFY_ADDRESS, C_ORDERS, C_JOBS, C_FORGOT, C_RESET };

static const struct kcs_command commands[] = {
	[C_LOGIN] = { "", "[OPTIONS]", 0, "log in (both steps)" },
	[C_PASSWORD] = { "password", "[OPTIONS]", 0, "change the password" },
	[C_STATUS] = { "status", NULL, 0, "show the account (Locksmith box)" },
	[C_LOGOUT] = { "logout", NULL, 0, "end the session" },
	[C_VERIFY_ADDRESS] = { "verify-address", "[CODE]", -1, "enter the code from the letter" },
	[C_ORDERS] = { "orders", NULL, 0, "list your key and key writer orders" },
	[C_JOBS] = { "jobs", NULL, 0, "export your job record: every coding and cutting, with\nthe owner's record, as JSON lines" },
	[C_FORGOT] = { "forgot", "--email ADDRESS", 0, "e-mail a password reset code" },
	[C_RESET] = { "reset", "--email ADDRESS --code CODE", 0, "set a new password with it" },
	{ NULL, NULL, 0, NULL }
};

static void
usage(void)
{
	fputs("usage: kcs-login [OPTIONS] [COMMAND]\n\nCommands:\n", stdout);
	kcs_command_help(stdout, commands);
	fputs(    "\n"
    "Step 1 is the e-mail address (LSID) and password with the login disclaimer\n"
    "accepted; step 2 is the SDRM ID and SDRM password. A temporary password is\n"
    "changed at first login. The session is kept in $XDG_STATE_HOME/kcs/session.\n"
    "Secrets are asked on the terminal without echo unless given by file or descriptor.\n"
    "\n"
    "Options:\n"
    "      --email ADDRESS            the e-mail address (LSID)\n"
    "      --sdrm-id ID               the SDRM ID\n"
    "      --accept-disclaimer        accept the login disclaimer without showing it\n"
    "      --password-file FILE       the (current) password, from FILE\n"
    "      --password-fd N            ... from file descriptor N\n"
    "      --sdrm-password-file FILE  the SDRM password, from FILE\n"
    "      --sdrm-password-fd N       ... from file descriptor N\n"
    "      --new-password-file FILE   the new password (first login, password, reset)\n"
    "      --new-password-fd N        ... from file descriptor N\n"
    "      --code CODE                reset: the code from the reset e-mail\n"
    "      --url URL                  kcsd's URL (default: $KCS_URL, the config's url,\n"
    "                                 http://127.0.0.1:8425)\n"
    "  -h, --help                     show this help\n"
    "  -V, --version                  show the version\n"
    "\n"
    "Exit status: 0 done, 1 refused by a rule (locked, used, expired), 2 usage,\n"
    "3 invalid input, 4 not permitted (wrong credentials, not logged in),\n"
    "5 server unreachable, 6 internal failure (kcs(7)).\n", stdout);
}

static struct {
	const char *url, *email, *sdrm_id, *code;
	struct kcs_secret_src pw, sdrm_pw, new_pw;
	int accept;
} o = { .pw = { NULL, -1 }, .sdrm_pw = { NULL, -1 }, .new_pw = { NULL, -1 } };

static struct kcs_client cl;
static cJSON *in; /* a piped object: fields by name, read when a flag is missing */

/* The new password; on a terminal, typed twice. */
static int
add_new_password(cJSON *body)
{
	char a[KCS_SECRET_MAX + 1], b[KCS_SECRET_MAX + 1];
	int rc;

	if ((rc = kcs_secret_read(&o.new_pw, "New password (at least 12 characters): ", "new_password",
	    a, sizeof a)) != KCS_OK)
		return rc;
	if (!o.new_pw.file && o.new_pw.fd < 0) {
		rc = kcs_secret_read(&o.new_pw, "Re-type new password: ", "new_password", b, sizeof b);
		if (rc == KCS_OK && strcmp(a, b) != 0)
			rc = kcs_fail(KCS_EINVALID, "new_password", "the two entries differ");
		sodium_memzero(b, sizeof b);
	}
	if (rc == KCS_OK)
		cJSON_AddStringToObject(body, "new_password", a);
	sodium_memzero(a, sizeof a);
	return rc;
}

/* A route with secrets in the body, which is wiped and freed. */
static int
post(enum kcs_route route, cJSON *body, cJSON **res)
{
	int rc = kcs_call(&cl, route, NULL, body, res);

	kcs_body_wipe(body);
	return rc;
}

static int
save(const cJSON *res)
{
	const char *tok = kcs_json_str(res, "session");

	if (!tok)
		return kcs_fail(KCS_EINTERNAL, NULL, "the server answered no session");
	snprintf(cl.token, sizeof cl.token, "%s", tok);
	return kcs_session_save(cl.url, tok);
}

static int
get_field(const char *flag, const char *name, const char *prompt, char *buf, size_t cap)
{
	const char *v = flag;

	if (!v && !in && !(in = kcs_json_stdin()))
		return kcs_errcode();
	if (!v && kcs_json_text(in, name, &v) != KCS_OK)
		return kcs_errcode();
	if (v) {
		snprintf(buf, cap, "%s", v);
		return KCS_OK;
	}
	return kcs_tty_line(prompt, name, buf, cap);
}

static int
login(void)
{
	char email[300], sdrm[64];
	long long version = 0;
	cJSON *body, *res = NULL;
	const char *stage;
	int rc;

	if ((rc = get_field(o.email, "email", "E-mail address (LSID): ", email, sizeof email)) != KCS_OK ||
	    (rc = kcs_disclaimer(&cl, "login", o.accept, &version)) != KCS_OK)
		return rc;
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "email", email);
	cJSON_AddNumberToObject(body, "accept_disclaimer", (double)version);
	if ((rc = kcs_body_secret(body, &o.pw, "Password: ", "password")) != KCS_OK) {
		kcs_body_wipe(body);
		return rc;
	}
	/* the old password is needed again if it is temporary */
	cJSON *keep = cJSON_Duplicate(cJSON_GetObjectItem(body, "password"), 1);

	if ((rc = post(KCS_LOGIN, body, &res)) != KCS_OK || (rc = save(res)) != KCS_OK)
		goto out;
	stage = kcs_json_str(res, "stage");
	if (stage && strcmp(stage, "password") == 0) {
		if (kcs_is_tty(STDERR_FILENO))
			fputs("This is a temporary password: choose a new one.\n", stderr);
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "old_password", keep->valuestring);
		cJSON_Delete(res);
		res = NULL;
		if ((rc = add_new_password(body)) != KCS_OK) {
			kcs_body_wipe(body);
			goto out;
		}
		if ((rc = post(KCS_PASSWORD, body, &res)) != KCS_OK || (rc = save(res)) != KCS_OK)
			goto out;
	}
	cJSON_Delete(res);
	res = NULL;
	if ((rc = get_field(o.sdrm_id, "sdrm_id", "SDRM ID: ", sdrm, sizeof sdrm)) != KCS_OK)
		goto out;
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "sdrm_id", sdrm);
	if ((rc = kcs_body_secret(body, &o.sdrm_pw, "SDRM password: ", "sdrm_password")) != KCS_OK) {
		kcs_body_wipe(body);
		goto out;
	}
	if ((rc = post(KCS_LOGIN_SDRM, body, &res)) == KCS_OK)
		rc = kcs_print(res);
out:
	sodium_memzero(keep->valuestring, strlen(keep->valuestring));
	cJSON_Delete(keep);
	cJSON_Delete(res);
	return rc;
}

static int
change_password(void)
{
	cJSON *body = cJSON_CreateObject(), *res = NULL;
	int rc;

	if ((rc = kcs_client_session(&cl)) != KCS_OK ||
	    (rc = kcs_body_secret(body, &o.pw, "Old password: ", "old_password")) != KCS_OK ||
	    (rc = add_new_password(body)) != KCS_OK) {
		kcs_body_wipe(body);
		return rc;
	}
	if ((rc = post(KCS_PASSWORD, body, &res)) == KCS_OK && (rc = save(res)) == KCS_OK) {
		cJSON *out = cJSON_CreateObject();

		cJSON_AddBoolToObject(out, "password_changed", 1);
		cJSON_AddStringToObject(out, "stage", kcs_json_str(res, "stage"));
		rc = kcs_print(out);
		cJSON_Delete(out);
	}
	cJSON_Delete(res);
	return rc;
}

static int
simple(enum kcs_route route, cJSON *body)
{
	cJSON *res = NULL;
	int rc = kcs_client_session(&cl);

	if (rc == KCS_OK && (rc = kcs_call(&cl, route, NULL, body, &res)) == KCS_OK)
		rc = kcs_print(res);
	cJSON_Delete(body);
	cJSON_Delete(res);
	return rc;
}

/* a list of the locksmith's own, as JSON lines */
static int
list(enum kcs_route route, const char *name)
{
	cJSON *res = NULL;
	int rc = kcs_client_session(&cl);

	if (rc == KCS_OK && (rc = kcs_call(&cl, route, NULL, NULL, &res)) == KCS_OK)
		rc = kcs_print_each(cJSON_GetObjectItem(res, name));
	cJSON_Delete(res);
	return rc;
}

static int
logout(void)
{
	cJSON *res = NULL;
	int rc = kcs_client_session(&cl), drop;

	if (rc != KCS_OK)
		return rc;
	rc = kcs_call(&cl, KCS_LOGOUT, NULL, NULL, &res);
	/* an ended or expired session is gone either way: drop the file */
	if (rc == KCS_OK || rc == KCS_EPERM) {
		if ((drop = kcs_session_drop()) != KCS_OK)
			rc = drop;
		else if (rc == KCS_OK)
			rc = kcs_print(res);
	}
	cJSON_Delete(res);
	return rc;
}

static int
verify_address(const char *arg)
{
	char raw[64], code[40];
	cJSON *body;
	int rc = arg ? (snprintf(raw, sizeof raw, "%s", arg), KCS_OK)
		     : get_field(NULL, "code", "Address verification code: ", raw, sizeof raw);

	/* a mistyped code is caught here, before it costs an attempt */
	if (rc != KCS_OK || (rc = kcs_code_parse(raw, "code", code, sizeof code)) != KCS_OK)
		return rc;
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "code", code);
	return simple(KCS_VERIFY_ADDRESS, body);
}

static int
forgot(void)
{
	char email[300];
	cJSON *body, *res = NULL;
	int rc = get_field(o.email, "email", "E-mail address (LSID): ", email, sizeof email);

	if (rc != KCS_OK)
		return rc;
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "email", email);
	if ((rc = post(KCS_RESET, body, &res)) == KCS_OK)
		rc = kcs_print(res);
	cJSON_Delete(res);
	return rc;
}

static int
reset(void)
{
	char email[300], raw[64], code[40];
	cJSON *body, *res = NULL;
	int rc;

	if ((rc = get_field(o.email, "email", "E-mail address (LSID): ", email, sizeof email)) != KCS_OK ||
	    (rc = get_field(o.code, "code", "Reset code: ", raw, sizeof raw)) != KCS_OK ||
	    (rc = kcs_code_parse(raw, "code", code, sizeof code)) != KCS_OK)
		return rc;
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "email", email);
	cJSON_AddStringToObject(body, "code", code);
	if ((rc = add_new_password(body)) != KCS_OK) {
		kcs_body_wipe(body);
		return rc;
	}
	if ((rc = post(KCS_RESET_CONFIRM, body, &res)) == KCS_OK)
		rc = kcs_print(res);
	cJSON_Delete(res);
	return rc;
}

static int
fdopt(const char *arg, const char *field, struct kcs_secret_src *src)
{
	return kcs_parse_fd(arg, field, &src->fd);
}

static int
run(int argc, char **argv)
{
	enum { O_URL = 256, O_EMAIL, O_SDRM, O_ACCEPT, O_PWF, O_PWD, O_SPWF, O_SPWD, O_NPWF, O_NPWD, O_CODE };
	static const struct option opts[] = {
		{ "url", required_argument, NULL, O_URL }, { "email", required_argument, NULL, O_EMAIL },
		{ "sdrm-id", required_argument, NULL, O_SDRM },
		{ "accept-disclaimer", no_argument, NULL, O_ACCEPT },
		{ "password-file", required_argument, NULL, O_PWF },
		{ "password-fd", required_argument, NULL, O_PWD },
		{ "sdrm-password-file", required_argument, NULL, O_SPWF },
		{ "sdrm-password-fd", required_argument, NULL, O_SPWD },
		{ "new-password-file", required_argument, NULL, O_NPWF },
		{ "new-password-fd", required_argument, NULL, O_NPWD },
		{ "code", required_argument, NULL, O_CODE },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 }
	};
	const struct kcs_command *cmd;
	const char *arg = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		rc = KCS_OK;
		switch (c) {
		case O_URL: o.url = optarg; break;
		case O_EMAIL: o.email = optarg; break;
		case O_SDRM: o.sdrm_id = optarg; break;
		case O_ACCEPT: o.accept = 1; break;
		case O_PWF: o.pw.file = optarg; break;
		case O_PWD: rc = fdopt(optarg, "password-fd", &o.pw); break;
		case O_SPWF: o.sdrm_pw.file = optarg; break;
		case O_SPWD: rc = fdopt(optarg, "sdrm-password-fd", &o.sdrm_pw); break;
		case O_NPWF: o.new_pw.file = optarg; break;
		case O_NPWD: rc = fdopt(optarg, "new-password-fd", &o.new_pw); break;
		case O_CODE: o.code = optarg; break;
		case 'h': usage(); return KCS_OK;
		case 'V': puts("kcs-login " KCS_VERSION); return KCS_OK;
		default: return kcs_usage_error("unknown option");
		}
		if (rc != KCS_OK)
			return rc;
	}
	if (!(cmd = kcs_command(commands, argc - optind, argv + optind, &arg)))
		return KCS_EUSAGE;
	if (kcs_crypto_init() != KCS_OK || kcs_client_open(&cl, o.url) != KCS_OK)
		return kcs_errcode();
	switch (cmd - commands) {
	case C_LOGIN: rc = login(); break;
	case C_PASSWORD: rc = change_password(); break;
	case C_STATUS: rc = simple(KCS_ME, NULL); break;
	case C_LOGOUT: rc = logout(); break;
	case C_ORDERS: rc = list(KCS_MY_ORDERS, "orders"); break;
	case C_JOBS: rc = list(KCS_MY_JOBS, "jobs"); break;
	case C_VERIFY_ADDRESS: rc = verify_address(arg); break;
	case C_FORGOT: rc = forgot(); break;
	default: rc = reset();
	}
	cJSON_Delete(in);
	kcs_client_close(&cl);
	return rc;
}

int
main(int argc, char **argv)
{
	kcs_setprog(argv[0]);
	return kcs_finish(run(argc, argv));
}
