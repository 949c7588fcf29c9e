/* job.c: what kcs-code and kcs-cut both ask of the locksmith: the VIN and
 * Key Code of the order (options, the order's JSON piped in, the terminal),
 * the owner's verification record (options, a JSON file) and the coding
 * disclaimer. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kcs.h"

const char *const kcs_owner_fields[KCS_OWNER_FIELDS][2] = {
	{ "customer-name", "customer_name" }, { "relation", "relation" }, { "id-kind", "id_kind" },
	{ "id-state", "id_state" }, { "id-last4", "id_last4" }, { "registration-state", "registration_state" },
	{ "plate", "plate" },
};

enum { O_VIN = KCS_JOB_OPT, O_KCFILE, O_KCFD, O_OWNER, O_ACCEPT, O_FIELD };

void
kcs_job_options(struct option *out)
{
	static const struct option base[] = {
		{ "vin", required_argument, NULL, O_VIN }, { "key-code-file", required_argument, NULL, O_KCFILE },
		{ "key-code-fd", required_argument, NULL, O_KCFD }, { "owner-file", required_argument, NULL, O_OWNER },
		{ "accept-disclaimer", no_argument, NULL, O_ACCEPT },
	};

	memcpy(out, base, sizeof base);
	for (size_t i = 0; i < KCS_OWNER_FIELDS; i++)
		out[sizeof base / sizeof base[0] + i] =
		    (struct option){ kcs_owner_fields[i][0], required_argument, NULL, O_FIELD + (int)i };
}

int
kcs_job_option(struct kcs_job_opts *o, int c, const char *arg)
{
	switch (c) {
	case O_VIN: o->vin = arg; return 0;
	case O_KCFILE: o->key_code.file = arg; return 0;
	case O_KCFD: return kcs_parse_fd(arg, "key_code_fd", &o->key_code.fd);
	case O_OWNER: o->owner_file = arg; return 0;
	case O_ACCEPT: o->accept = 1; return 0;
	}
	if (c >= O_FIELD && c < O_FIELD + KCS_OWNER_FIELDS) {
		o->owner[c - O_FIELD] = arg;
		return 0;
	}
	return -1;
}

/* the owner's record file: an object of the record's fields, strings */
static int
owner_file(const char *path, cJSON *body)
{
	char *buf = NULL;
	size_t len;
	cJSON *o, *it;
	int rc = kcs_read_file(path, "owner_file", &buf, &len, 65536);

	if (rc != KCS_OK)
		return rc;
	o = kcs_json_parse(buf, len);
	sodium_memzero(buf, len);
	free(buf);
	if (!o)
		return kcs_errcode();
	cJSON_ArrayForEach(it, o) {
		size_t i;

		for (i = 0; i < KCS_OWNER_FIELDS && strcmp(kcs_owner_fields[i][1], it->string); i++)
			;
		if (i == KCS_OWNER_FIELDS || !cJSON_IsString(it)) {
			rc = kcs_fail(KCS_EINVALID, it->string, i == KCS_OWNER_FIELDS
			    ? "is not a field of the owner's record" : "must be a string");
			break;
		}
		if (!cJSON_GetObjectItem(body, it->string))
			cJSON_AddStringToObject(body, it->string, it->valuestring);
	}
	cJSON_Delete(o);
	return rc;
}

int
kcs_job_body(struct kcs_client *cl, const struct kcs_job_opts *o, cJSON **out)
{
	struct kcs_secret_src kc = o->key_code;
	const char *vin = o->vin;
	cJSON *body = cJSON_CreateObject(), *in = NULL;
	char code[64] = "";
	long long version = 0;
	int rc = KCS_OK;

	for (size_t i = 0; i < KCS_OWNER_FIELDS; i++)
		if (o->owner[i])
			cJSON_AddStringToObject(body, kcs_owner_fields[i][1], o->owner[i]);
	if (o->owner_file && (rc = owner_file(o->owner_file, body)) != KCS_OK)
		goto out;
	for (size_t i = 0; i < KCS_OWNER_FIELDS; i++)
		if (!cJSON_GetObjectItem(body, kcs_owner_fields[i][1])) {
			rc = kcs_fail(KCS_EINVALID, kcs_owner_fields[i][1], "is required: the owner's verification "
			    "record (--%s, or --owner-file)", kcs_owner_fields[i][0]);
			goto out;
		}
	if ((!vin || (!kc.file && kc.fd < 0)) && !(in = kcs_json_stdin())) {
		rc = kcs_errcode();
		goto out;
	}
	if (!vin && (rc = kcs_json_text(in, "vin", &vin)) != KCS_OK)
		goto out;
	if (!vin) {
		rc = kcs_fail(KCS_EINVALID, "vin", "is required (--vin, or the order's JSON on standard input)");
		goto out;
	}
	cJSON_AddStringToObject(body, "vin", vin);
	if (kc.file || kc.fd >= 0 || !kcs_json_str(in, "key_code")) {
		if ((rc = kcs_secret_read(&kc, "Key Code: ", "key_code", code, sizeof code)) != KCS_OK)
			goto out;
	} else
		snprintf(code, sizeof code, "%s", kcs_json_str(in, "key_code"));
	cJSON_AddStringToObject(body, "key_code", code);
	sodium_memzero(code, sizeof code);
	if ((rc = kcs_disclaimer(cl, "coding", o->accept, &version)) != KCS_OK)
		goto out;
	cJSON_AddNumberToObject(body, "accept_disclaimer", (double)version);
out:
	if (in) {
		const cJSON *k = cJSON_GetObjectItem(in, "key_code");

		if (cJSON_IsString(k))
			sodium_memzero(k->valuestring, strlen(k->valuestring));
		cJSON_Delete(in);
	}
	if (rc != KCS_OK) {
		kcs_body_wipe(body);
		body = NULL;
	}
	*out = body;
	return rc;
}
