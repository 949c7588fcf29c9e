/* vin.c: the North American VIN: 17 characters, no I, O or Q, and a check
 * digit at position 9 (49 CFR 565). */
#include <ctype.h>
#include <string.h>

#include "kcs.h"

static int
translit(int c)
{
	static const char *letters = "ABCDEFGHJKLMNPRSTUVWXYZ";
	static const int values[] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9,
		2, 3, 4, 5, 6, 7, 8, 9 };
	const char *p;

	if (c >= '0' && c <= '9')
		return c - '0';
	if (c && (p = strchr(letters, c)))
		return values[p - letters];
	return -1;
}

int
kcs_vin_parse(const char *in, char out[18])
{
	static const int weight[17] = { 8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2 };
	size_t len = strlen(in);
	int sum = 0, check;

	if (len != 17)
		return kcs_fail(KCS_EINVALID, "vin", "a VIN has 17 characters, not %zu", len);
	for (int i = 0; i < 17; i++) {
		int c = toupper((unsigned char)in[i]);

		if (c == 'I' || c == 'O' || c == 'Q')
			return kcs_fail(KCS_EINVALID, "vin",
			    "character %d is '%c': a VIN never contains I, O or Q", i + 1, c);
		if (translit(c) < 0)
			return kcs_fail(KCS_EINVALID, "vin",
			    "character %d is not a letter or a digit", i + 1);
		out[i] = (char)c;
		sum += translit(c) * weight[i];
	}
	out[17] = '\0';
	check = sum % 11 == 10 ? 'X' : '0' + sum % 11;
	if (out[8] != check)
		return kcs_fail(KCS_EINVALID, "vin",
		    "check digit (character 9) is '%c' but the VIN computes '%c': a character is mistyped",
		    out[8], check);
	return KCS_OK;
}
