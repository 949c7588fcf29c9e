/* fields.c: validation of request fields; every error names its field. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
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

/* Text a person typed, given as a value: at most max characters (and 4 bytes
 * a character), by the rule of kcs_text_check, not blank if required. */
int
check_text(struct req *r, const char *field, const char *v, size_t max, int required)
{
	const char *why = kcs_text_check(v), *p;
	size_t n;

	if (why)
		return fail(r, 400, "invalid", field, "%s", why);
	if ((n = kcs_utf8_len(v)) > max || strlen(v) > 4 * max)
		return fail(r, 400, "invalid", field, "is too long (at most %zu characters, it has %zu)", max, n);
	for (p = v; *p == ' '; p++)
		;
	if (required && !*p)
		return fail(r, 400, "invalid", field, "must not be empty");
	return 0;
}

/* A text field of the request (see check_text). */
int
want_text(struct req *r, const char *name, size_t max, int required, const char **out)
{
	int rc = want_str(r, name, 0, 4 * max, required, out);

	if (rc || !*out)
		return rc;
	return check_text(r, name, *out, max, required);
}

/* A whole number field from min to max; absent and optional leaves *out. */
int
want_int(struct req *r, const char *name, long long min, long long max, int required, long long *out)
{
	const cJSON *v = r->in ? cJSON_GetObjectItemCaseSensitive(r->in, name) : NULL;
	long long n = 0;

	if (!v || cJSON_IsNull(v))
		return required ? fail(r, 400, "invalid", name, "is required") : 0;
	switch (kcs_json_int(r->in, name, &n)) {
	case -1:
		return fail(r, 400, "invalid", name, "must be a number");
	case -2:
		if (fabs(v->valuedouble) <= KCS_ID_MAX)
			return fail(r, 400, "invalid", name, "must be a whole number");
		n = v->valuedouble < 0 ? LLONG_MIN : LLONG_MAX;
	}
	if (n < min || n > max)
		return fail(r, 400, "invalid", name, "is out of range (%lld to %lld)", min, max);
	*out = n;
	return 0;
}

/* A character of s at p, for a message: itself if printable, else U+XXXX. */
static void
show_char(const char *p, char *out, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t len = *u < 0x80 ? 1 : *u < 0xe0 ? 2 : *u < 0xf0 ? 3 : 4;
	char one[8];

	snprintf(one, sizeof one, "%.*s", (int)len, p);
	if (*u < 0x80 && !isprint(*u))
		snprintf(out, n, "U+%04X", *u);
	else if (kcs_text_check(one))
		snprintf(out, n, "a control character");
	else
		snprintf(out, n, "'%s'", one);
}

/* A domain by the DNS label rules: letters, digits and hyphens; labels of
 * 1 to 63, not starting or ending with a hyphen; at least two labels, the
 * last not all digits; 253 at most. NULL if fine, else why. */
static const char *
bad_domain(const char *d)
{
	size_t len = strlen(d), label = 0;
	int labels = 1, digits_only = 1;

	if (len == 0 || len > 253)
		return "the domain must have 1 to 253 characters";
	for (const char *p = d;; p++) {
		if (*p == '.' || !*p) {
			if (label == 0)
				return "the domain has an empty label";
			if (p[-1] == '-')
				return "a domain label must not end with '-'";
			if (!*p)
				break;
			labels++;
			label = 0;
			digits_only = 1;
			continue;
		}
		if (label == 0 && *p == '-')
			return "a domain label must not start with '-'";
		if (!isalnum((unsigned char)*p) && *p != '-')
			return "a domain may hold only letters, digits, '-' and '.'";
		if (!isdigit((unsigned char)*p))
			digits_only = 0;
		if (++label > 63)
			return "a domain label has more than 63 characters";
	}
	if (labels < 2)
		return "expected name@domain.tld";
	if (digits_only)
		return "the top-level domain must not be all digits";
	return NULL;
}

int
valid_email(struct req *r, const char *field, const char *in, char *out, size_t n)
{
	const char *at = strrchr(in, '@'), *why;
	size_t len = strlen(in);
	char c[32];

	if (kcs_utf8_len(in) == (size_t)-1)
		return fail(r, 400, "invalid", field, "is not valid UTF-8");
	for (const char *p = in; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || strchr("<>()[]\\,;:\"", *p) ||
		    (at && p > at && !isalnum((unsigned char)*p) && !strchr(".-", *p))) {
			show_char(p, c, sizeof c);
			return fail(r, 400, "invalid", field, "is not a valid e-mail address (character %s)", c);
		}
	if (len < 3 || len > 254 || len >= n)
		return fail(r, 400, "invalid", field, "is not a valid e-mail address (length)");
	if (!at || at == in || strchr(in, '@') != at || at - in > 64)
		return fail(r, 400, "invalid", field, "is not a valid e-mail address (expected name@domain.tld)");
	if (in[0] == '.' || at[-1] == '.' || strstr(in, ".."))
		return fail(r, 400, "invalid", field, "is not a valid e-mail address (a dot at the wrong place)");
	if ((why = bad_domain(at + 1)))
		return fail(r, 400, "invalid", field, "is not a valid e-mail address (%s)", why);
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

/* Password hashing (Argon2id) takes long on purpose. The routes that hash
 * run in the password pool (http.c: hash_slots threads, so that many run
 * at once at most), and hash with the store released, so that other
 * requests go on. Writes a handler made before hashing are committed by
 * it: a handler hashes before it writes. */

/* Commits what the request's transaction holds and lets the store go,
 * for slow work outside any transaction (a hash, a backup). */
int
req_release(struct req *r)
{
	int rc = store_commit(r->tx);

	r->tx = NULL;
	return rc == STORE_OK ? 0 : store_fail(r, rc);
}

/* After req_release: a new transaction with a new mark; without one, the
 * request fails and the dispatcher has nothing to end. */
int
req_retake(struct req *r)
{
	int rc = store_begin(&K.st, DB_WRITE, &r->tx);

	if (rc == STORE_OK && (rc = store_mark(r->tx)) != STORE_OK) {
		store_rollback(r->tx);
		r->tx = NULL;
	}
	return rc == STORE_OK ? 0 : store_fail(r, rc);
}

/* Hashes n passwords in one release of the store (an import). */
int
hash_passwords(struct req *r, int n, const char *const *pws, char (*out)[128])
{
	int rc, bad = 0;

	if ((rc = req_release(r)))
		return rc;
	for (int i = 0; i < n && !bad; i++)
		bad = crypto_pwhash_str(out[i], pws[i], strlen(pws[i]), K.cf.argon2_ops, K.cf.argon2_mem) != 0;
	if ((rc = req_retake(r)))
		return rc;
	return bad ? fail(r, 500, "internal", NULL, "out of memory hashing a password") : 0;
}

int
hash_password(struct req *r, const char *pw_, char out[128])
{
	return hash_passwords(r, 1, &pw_, (char (*)[128])out);
}

/* Verifies pw against hash, or against a dummy hash of today's cost when
 * there is no account, so that an unknown name costs the same time. A hash
 * made at another cost (before a cost change) takes its own time; the wait
 * is made up to what one at today's cost takes, so that a dormant account
 * does not answer faster than an unknown one. */
int
verify_password(struct req *r, const char *hash, const char *pw_, int *ok)
{
	char copy[128];
	int rc, current;

	snprintf(copy, sizeof copy, "%s", hash ? hash : K.dummy_hash);
	current = crypto_pwhash_str_needs_rehash(copy, K.cf.argon2_ops, K.cf.argon2_mem) == 0;
	if ((rc = req_release(r)))
		return rc;
	*ok = crypto_pwhash_str_verify(copy, pw_, strlen(pw_)) == 0 && hash;
	/* a hash made at an older cost (a dormant account) takes as long as
	 * an unknown address's: the work at today's cost is done too, as
	 * work, not as a pause, so that it takes what an unknown address's
	 * takes whatever else the machine does */
	if (!current) {
		int nobody = crypto_pwhash_str_verify(K.dummy_hash, pw_, strlen(pw_));

		(void)nobody;
	}
	sodium_memzero(copy, sizeof copy);
	return req_retake(r);
}

/* The dummy hash an unknown name is verified against, at today's cost. */
int
password_init(void)
{
	char pw_[32];

	randombytes_buf(pw_, sizeof pw_);
	if (crypto_pwhash_str(K.dummy_hash, pw_, sizeof pw_, K.cf.argon2_ops, K.cf.argon2_mem) != 0)
		return -1;
	sodium_memzero(pw_, sizeof pw_);
	return 0;
}

static const char *const us_states[] = {
	"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN",
	"IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV",
	"NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN",
	"TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC", "PR", "GU", "VI", "AS", "MP", NULL
};

/* a US state or territory code, upper-cased into out */
int
valid_us_state(struct req *r, const char *field, const char *in, char out[3])
{
	size_t i;

	if (strlen(in) == 2) {
		out[0] = (char)toupper((unsigned char)in[0]);
		out[1] = (char)toupper((unsigned char)in[1]);
		out[2] = '\0';
		for (i = 0; us_states[i]; i++)
			if (strcmp(us_states[i], out) == 0)
				return 0;
	}
	return fail(r, 400, "invalid", field, "must be a US state or territory code, such as CA");
}
