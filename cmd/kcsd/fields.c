/* fields.c: validation of request fields; every error names its field. */
#include <ctype.h>
#include <string.h>

#include <sodium.h>

#include "kcsd.h"

int
only_fields(struct req *r, const char *const *allowed)
{
	const cJSON *it;

	if (!r->in)
		return fail(r, 400, "invalid", NULL, "a JSON object is required");
	cJSON_ArrayForEach(it, r->in) {
		int ok = 0;

		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, it->string) == 0;
		if (!ok)
			return fail(r, 400, "invalid", it->string, "unknown field");
	}
	return 0;
}

/* A string field of min..max bytes; absent and optional gives *out = NULL. */
int
want_str(struct req *r, const char *name, size_t min, size_t max, int required, const char **out)
{
	const cJSON *v = r->in ? cJSON_GetObjectItemCaseSensitive(r->in, name) : NULL;
	size_t len;

	*out = NULL;
	if (!v || cJSON_IsNull(v)) {
		if (required)
			return fail(r, 400, "invalid", name, "is required");
		return 0;
	}
	if (!cJSON_IsString(v))
		return fail(r, 400, "invalid", name, "must be a string");
	len = strlen(v->valuestring);
	if (len < min)
		return fail(r, 400, "invalid", name, min <= 1 ? "must not be empty" : "is too short (at least %zu bytes)", min);
	if (len > max)
		return fail(r, 400, "invalid", name, "is too long (at most %zu bytes)", max);
	*out = v->valuestring;
	return 0;
}

/* Text a person typed: valid UTF-8, no control characters, not blank. */
int
want_text(struct req *r, const char *name, size_t max, int required, const char **out)
{
	int rc = want_str(r, name, 0, max, required, out);
	const char *p;

	if (rc || !*out)
		return rc;
	if (kcs_utf8_len(*out) == (size_t)-1)
		return fail(r, 400, "invalid", name, "is not valid UTF-8");
	if (kcs_has_ctrl(*out))
		return fail(r, 400, "invalid", name, "must not contain control characters or line breaks");
	for (p = *out; *p == ' '; p++)
		;
	if (required && !*p)
		return fail(r, 400, "invalid", name, "must not be empty");
	return 0;
}

int
valid_email(struct req *r, const char *field, const char *in, char *out, size_t n)
{
	const char *at = strchr(in, '@'), *dot;
	size_t len = strlen(in);

	if (len < 3 || len > 254 || len >= n)
		return fail(r, 400, "invalid", field, "is not a valid e-mail address (length)");
	for (const char *p = in; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || strchr("<>()[]\\,;:\"", *p))
			return fail(r, 400, "invalid", field, "is not a valid e-mail address (character '%c')",
			    isprint((unsigned char)*p) ? *p : '?');
	if (!at || at == in || strchr(at + 1, '@') || !(dot = strrchr(at, '.')) || dot == at + 1 ||
	    !dot[1] || at[1] == '.' || in[len - 1] == '.' || at - in > 64)
		return fail(r, 400, "invalid", field, "is not a valid e-mail address (expected name@domain.tld)");
	for (size_t i = 0; i <= len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	return 0;
}

int
valid_sdrm_id(struct req *r, const char *field, const char *in)
{
	size_t len = strlen(in);

	if (len < 1 || len > 32)
		return fail(r, 400, "invalid", field, "must have 1 to 32 characters");
	for (const char *p = in; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
			return fail(r, 400, "invalid", field, "may hold only letters, digits, '-', '_' and '.'");
	return 0;
}

/* The password policy: at least 12 characters, no upper bound short of the
 * request size, never truncated. */
int
valid_password(struct req *r, const char *field, const char *pw)
{
	size_t n = kcs_utf8_len(pw);

	if (n == (size_t)-1)
		return fail(r, 400, "invalid", field, "is not valid UTF-8");
	if (n < 12)
		return fail(r, 400, "invalid", field, "must have at least 12 characters (it has %zu)", n);
	if (strlen(pw) > KCS_SECRET_MAX)
		return fail(r, 400, "invalid", field, "must have at most %d bytes", KCS_SECRET_MAX);
	return 0;
}

int
hash_password(struct req *r, const char *pw, char out[128])
{
	if (crypto_pwhash_str(out, pw, strlen(pw), K.cf.argon2_ops, K.cf.argon2_mem) != 0)
		return fail(r, 500, "internal", NULL, "out of memory hashing a password");
	return 0;
}

/* Argon2id verification takes long on purpose: the store is released
 * meanwhile, so that other requests are not held up. Only reads (and a
 * session's last use) may precede it in a request: they are committed. */
int
verify_password(struct req *r, const char *hash, const char *pw, int *ok)
{
	char copy[128];

	snprintf(copy, sizeof copy, "%s", hash ? hash : K.dummy_hash);
	if (store_suspend(&K.st) != STORE_OK)
		return fail(r, 500, "internal", NULL, "the store failed");
	*ok = crypto_pwhash_str_verify(copy, pw, strlen(pw)) == 0 && hash;
	if (store_resume(&K.st) != STORE_OK) {
		/* the dispatcher ends the transaction it believes it holds */
		pthread_mutex_lock(&K.st.mu);
		return fail(r, 503, "unavailable", NULL, "the store is busy; try again");
	}
	return 0;
}
