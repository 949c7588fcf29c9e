/* kcs-code: codes the blank key of an order with the locksmith's Key Writer
 * (seed 000 §8): kcsd checks the VIN and Key Code, the writer's attestation
 * and the owner's verification record, and answers a job sealed to the
 * writer, which writes the key and signs a receipt (kcs-code(1)). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kcs.h"

static const struct kcs_command commands[] = {
	{ "", "[--vin VIN] [--key-code-file FILE] [owner's record] [--accept-disclaimer]", 0,
	    "code the blank key in the writer's slot for the order of VIN and Key Code" },
	{ NULL, NULL, 0, NULL }
};

static void
usage(void)
{
	fputs("usage: kcs-code [--vin VIN] [--key-code-file FILE | --key-code-fd N] [--owner-file FILE]\n"
	    "                [--customer-name NAME --relation owner|family --id-kind KIND --id-state ST\n"
	    "                 --id-last4 XXXX --registration-state ST --plate PLATE]\n"
	    "                [--accept-disclaimer] [--device SERIAL] [--usb-id VVVV:PPPP] [--url URL]\n\n"
	    "Codes the blank key in the Key Writer's slot for an order placed for you. The VIN\n"
	    "and Key Code come from the options or from the order's JSON on standard input\n"
	    "(vin, key_code); the Key Code is asked on the terminal otherwise. The coding\n"
	    "disclaimer is shown and asked on a terminal (--accept-disclaimer for scripts).\n"
	    "The owner's verification record is required: from the options or --owner-file.\n"
	    "Prints the coded key position as JSON. An interrupted coding is resumed by\n"
	    "running the same command again: the position is coded once.\n"
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
	    "      --device SERIAL           the writer with this serial number\n"
	    "      --usb-id VVVV:PPPP        the writers' USB ID (default 1209:0001)\n"
	    "      --timeout SECONDS         how long the writer may stay silent (default 3)\n"
	    "      --url URL                 kcsd's URL (default: the session's)\n"
	    "  -h, --help                    show this help\n"
	    "  -V, --version                 show the version\n"
	    "\n"
	    "Exit status: 0 coded, 1 refused (no order of yours has this Key Code, coded\n"
	    "already, no key in the slot, firmware too old, locked after wrong Key Codes),\n"
	    "2 usage, 3 invalid input, 4 not permitted (not logged in, Inactive, disclaimer\n"
	    "not accepted, writer not registered to you), 5 kcsd or the writer unreachable,\n"
	    "6 internal failure (kcs(7)).\n", stdout);
}

static int
hexfield(cJSON *o, const char *name, const uint8_t *p, size_t n)
{
	char *hex = malloc(2 * n + 1);

	if (!hex)
		return kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
	kcs_hex_encode(p, n, hex);
	cJSON_AddStringToObject(o, name, hex);
	free(hex);
	return KCS_OK;
}

/* bytes from a hex field of kcsd's answer */
static int
unhex(const cJSON *o, const char *name, uint8_t *out, size_t cap, size_t *n)
{
	const char *s = kcs_json_str(o, name);

	if (!s || strlen(s) % 2 || strlen(s) / 2 > cap || kcs_hex_decode(s, out, strlen(s) / 2) != 0)
		return kcs_fail(KCS_EINTERNAL, name, "kcsd's answer lacks a valid %s", name);
	*n = strlen(s) / 2;
	return KCS_OK;
}

/* the writer's part: the job in, the receipt out, read back */
static int
write_key(struct kw_host *h, const cJSON *job, uint8_t *receipt, size_t *rn, uint8_t sig[64])
{
	uint8_t begin[KW_MAX_PAYLOAD], challenge[KW_NONCE];
	struct kw_put p = { begin, 0, sizeof begin, 0 };
	struct kw_frame r;
	long long now = 0;
	size_t n, cn;
	int rc;

	if ((rc = unhex(job, "sealed_job", begin + 4, sizeof begin - 4, &n)) != KCS_OK ||
	    (rc = unhex(job, "challenge", challenge, sizeof challenge, &cn)) != KCS_OK)
		return rc;
	if (cn != KW_NONCE)
		return kcs_fail(KCS_EINTERNAL, "challenge", "kcsd's challenge is not %d bytes", KW_NONCE);
	kcs_json_int(job, "now", &now);
	kw_put_u32(&p, (uint32_t)now);
	kw_progress_step("writer: the job goes in");
	if ((rc = kw_host_call(h, KW_CODE_BEGIN, begin, 4 + n, &r)) != KCS_OK)
		return rc;
	kw_progress_step("writer: coding the key");
	if ((rc = kw_host_call(h, KW_CODE_COMMIT, challenge, KW_NONCE, &r)) != KCS_OK)
		return rc;
	if (r.len <= 64)
		return kcs_fail(KCS_EINTERNAL, "device", "the writer's receipt is malformed");
	*rn = r.len - 64u;
	memcpy(receipt, r.data, *rn);
	memcpy(sig, r.data + *rn, 64);
	kw_progress_step("writer: reading the key back");
	return kw_host_call(h, KW_CODE_VERIFY, NULL, 0, &r);
}

static int
run(int argc, char **argv)
{
	enum { O_DEVICE = 256, O_USB, O_TIMEOUT, O_URL };
	static const struct option base[] = {
		{ "device", required_argument, NULL, O_DEVICE }, { "usb-id", required_argument, NULL, O_USB },
		{ "timeout", required_argument, NULL, O_TIMEOUT }, { "url", required_argument, NULL, O_URL },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' },
	};
	struct option opts[sizeof base / sizeof base[0] + KCS_JOB_NOPTS + 1] = { { NULL, 0, NULL, 0 } };
	const char *url = NULL, *usb = NULL, *arg = NULL;
	struct kcs_job_opts jo = { .key_code = { NULL, -1 } };
	struct kw_pick pick = { 0 };
	struct kcs_client cl = { 0 };
	struct kw_usb u = { 0 };
	struct kw_host h;
	struct kw_frame r;
	uint8_t nonce[KW_NONCE], pk[32], fw_hash[32], sig[64], receipt[KW_MAX_PAYLOAD], rsig[64];
	cJSON *body = NULL, *res = NULL, *job = NULL, *key = NULL;
	long long id = 0;
	size_t n, rn = 0;
	int c, rc;

	memcpy(opts, base, sizeof base);
	kcs_job_options(opts + sizeof base / sizeof base[0]);
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case O_DEVICE: pick.device = optarg; break;
		case O_USB: usb = optarg; break;
		case O_URL: url = optarg; break;
		case O_TIMEOUT:
			if ((rc = kw_pick_timeout(&pick, optarg)) != KCS_OK)
				return rc;
			break;
		case 'h': usage(); return KCS_OK;
		case 'V': puts("kcs-code " KCS_VERSION); return KCS_OK;
		default:
			if ((rc = kcs_job_option(&jo, c, optarg)) < 0)
				return kcs_usage_error("unknown option");
			if (rc)
				return rc;
		}
	}
	if (!kcs_command(commands, argc - optind, argv + optind, &arg))
		return KCS_EUSAGE;
	if ((rc = kw_pick_serial(pick.device)) != KCS_OK)
		return rc;
	if (kcs_is_tty(2))
		pick.progress = kw_progress;
	if ((rc = kcs_crypto_init()) != KCS_OK || (rc = kw_pick_id(&pick, usb)) != KCS_OK)
		return rc;
	/* the request, before the writer is touched */
	if ((rc = kcs_client_open(&cl, url)) != KCS_OK || (rc = kcs_client_session(&cl)) != KCS_OK ||
	    (rc = kcs_job_body(&cl, &jo, &body)) != KCS_OK)
		goto out;
	/* the writer, with a key in its slot */
	if ((rc = kw_pick_open(&pick, &u, &h)) != KCS_OK || (rc = kw_host_usable(&h)) != KCS_OK ||
	    (rc = kw_host_call(&h, KW_KEY_DETECT, NULL, 0, &r)) != KCS_OK)
		goto out;
	if (!(key = kw_key_json(&r))) {
		rc = kcs_errcode();
		goto out;
	}
	if (!kcs_json_bool(key, "present")) {
		rc = kcs_fail(KCS_EREFUSED, "device", "there is no key in the writer's slot: put the blank key in");
		goto out;
	}
	cJSON_AddStringToObject(body, "serial", h.info.serial);
	kw_progress_step("kcsd: checking the order");
	if ((rc = kcs_call(&cl, KCS_CODING_START, NULL, body, &res)) != KCS_OK)
		goto out;
	kcs_json_int(res, "job_id", &id);
	if ((rc = unhex(res, "nonce", nonce, sizeof nonce, &n)) != KCS_OK)
		goto out;
	kw_progress_step("writer: attesting");
	if ((rc = kw_host_attest(&h, nonce, NULL, pk, fw_hash, sig)) != KCS_OK)
		goto out;
	kcs_body_wipe(body); /* it held the Key Code */
	body = cJSON_CreateObject();
	cJSON_AddNumberToObject(body, "job_id", (double)id);
	if ((rc = hexfield(body, "hello", h.info.raw, h.info.raw_n)) != KCS_OK ||
	    (rc = hexfield(body, "firmware_hash", fw_hash, 32)) != KCS_OK ||
	    (rc = hexfield(body, "signature", sig, 64)) != KCS_OK)
		goto out;
	kw_progress_step("kcsd: verifying the writer");
	if ((rc = kcs_call(&cl, KCS_CODING_ATTEST, NULL, body, &job)) != KCS_OK ||
	    (rc = write_key(&h, job, receipt, &rn, rsig)) != KCS_OK)
		goto out;
	cJSON_Delete(body);
	body = cJSON_CreateObject();
	cJSON_AddNumberToObject(body, "job_id", (double)id);
	if ((rc = hexfield(body, "receipt", receipt, rn)) != KCS_OK || (rc = hexfield(body, "signature", rsig, 64)))
		goto out;
	cJSON_Delete(res);
	res = NULL;
	kw_progress_step("kcsd: recording the receipt");
	if ((rc = kcs_call(&cl, KCS_CODING_RECEIPT, NULL, body, &res)) != KCS_OK)
		goto out;
	kw_progress_done();
	rc = kcs_print(res);
out:
	kw_progress_done();
	kcs_body_wipe(body);
	cJSON_Delete(res);
	cJSON_Delete(job);
	cJSON_Delete(key);
	kw_usb_close(&u);
	kw_usb_exit();
	kcs_client_close(&cl);
	return rc;
}

int
main(int argc, char **argv)
{
	kcs_setprog(argv[0]);
	return kcs_finish(run(argc, argv));
}
