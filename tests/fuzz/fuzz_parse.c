/* libFuzzer target (make fuzz): the parsers that take untrusted text.
 * Besides crashes and sanitizer findings, it checks round trips: what is
 * accepted once is accepted again, in the same canonical form. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kcs.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), vin[18], vin2[18], code[256], code2[256];
	cJSON *o;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	if ((o = kcs_json_parse(s, size))) {
		char *out = kcs_json_dump(o), *out2;
		cJSON *again;

		CHECK(out);
		/* the same text again (cJSON_Compare is exponential on nesting) */
		again = kcs_json_parse(out, strlen(out));
		CHECK(again);
		out2 = kcs_json_dump(again);
		CHECK(out2 && strcmp(out, out2) == 0);
		cJSON_Delete(again);
		free(out2);
		free(out);
		cJSON_Delete(o);
	}
	if (kcs_vin_parse(s, vin) == KCS_OK) {
		CHECK(strlen(vin) == 17);
		CHECK(kcs_vin_parse(vin, vin2) == KCS_OK && strcmp(vin, vin2) == 0);
	}
	if (kcs_code_parse(s, "code", code, sizeof code) == KCS_OK) {
		CHECK(kcs_code_parse(code, "code", code2, sizeof code2) == KCS_OK);
		CHECK(strcmp(code, code2) == 0);
	}
	if (kcs_utf8_len(s) != (size_t)-1)
		CHECK(kcs_utf8_len(s) <= strlen(s));
	(void)kcs_text_check(s);
	if (kcs_date_parse(s, "date") == KCS_OK)
		CHECK(strlen(s) == 10);
	free(s);
	return 0;
}
