/* code.c: codes a person reads and types (letters, phone calls): symbols from
 * an alphabet without 0/O or 1/I, grouped by four, ending in a check
 * character so a mistyped code is caught before it is sent. */
#include <ctype.h>
#include <string.h>

#include <sodium.h>

#include "kcs.h"

#define NSYM 32

static int
symval(int c)
{
	const char *p = strchr(KCS_CODE_ALPHABET, c);

	return (c && p) ? (int)(p - KCS_CODE_ALPHABET) : -1;
}

/* Luhn mod N: catches every single-symbol error and most transpositions. */
static int
check_symbol(const int *v, int n)
{
	int sum = 0, factor = 2;

	for (int i = n - 1; i >= 0; i--) {
		int a = factor * v[i];

		sum += a / NSYM + a % NSYM;
		factor = factor == 2 ? 1 : 2;
	}
	return (NSYM - sum % NSYM) % NSYM;
}

static void
format(const int *v, int n, char *out)
{
	int o = 0;

	for (int i = 0; i < n; i++) {
		if (i && i % 4 == 0)
			out[o++] = '-';
		out[o++] = KCS_CODE_ALPHABET[v[i]];
	}
	out[o] = '\0';
}

/* symbols random symbols plus one check symbol; out needs symbols*5/4+3 bytes */
void
kcs_code_new(char *out, size_t n, int symbols)
{
	int v[64];

	if (symbols < 1 || symbols > 62 || n < (size_t)(symbols + 1) * 5 / 4 + 2) {
		if (n)
			out[0] = '\0';
		return;
	}
	for (int i = 0; i < symbols; i++)
		v[i] = (int)randombytes_uniform(NSYM);
	v[symbols] = check_symbol(v, symbols);
	format(v, symbols + 1, out);
	sodium_memzero(v, sizeof v);
}

/* Accepts any case, spaces and dashes; writes the canonical form. */
int
kcs_code_parse(const char *in, const char *field, char *out, size_t n)
{
	int v[64], k = 0;

	for (const char *p = in; *p; p++) {
		int c = toupper((unsigned char)*p), s;

		if (c == ' ' || c == '-')
			continue;
		if ((s = symval(c)) < 0)
			return kcs_fail(KCS_EINVALID, field,
			    "'%c' is not a code character (codes use %s)", isprint((unsigned char)*p) ? *p : '?',
			    KCS_CODE_ALPHABET);
		if (k == 64)
			return kcs_fail(KCS_EINVALID, field, "code is too long");
		v[k++] = s;
	}
	if (k < 2)
		return kcs_fail(KCS_EINVALID, field, "code is too short");
	if (check_symbol(v, k - 1) != v[k - 1])
		return kcs_fail(KCS_EINVALID, field, "code is mistyped (check character does not match)");
	if (n < (size_t)k * 5 / 4 + 2)
		return kcs_fail(KCS_EINVALID, field, "code is too long");
	format(v, k, out);
	return KCS_OK;
}
