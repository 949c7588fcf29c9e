/* libFuzzer target (make fuzz): a cut-code mapping table's rules on any
 * bytes. A table the check takes decodes each of its codes into tracks of
 * the series' positions, every depth in range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kcs.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *t = kcs_json_parse((const char *)data, size), *s, *c;
	long long n = 0;

	if (!t)
		return 0;
	if (kcs_cut_table_check(t, &n) == KCS_OK) {
		cJSON_ArrayForEach(s, cJSON_GetObjectItem(t, "series"))
			cJSON_ArrayForEach(c, cJSON_GetObjectItem(s, "codes")) {
				char code[11];
				cJSON *o, *tr;

				snprintf(code, sizeof code, "%.2s000%.5s", kcs_json_str(s, "letters"), c->string);
				CHECK(kcs_cut_decode(t, code, &o) == KCS_OK);
				cJSON_ArrayForEach(tr, cJSON_GetObjectItem(o, "tracks"))
					CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(tr, "depths")) ==
					    cJSON_GetObjectItem(s, "positions")->valueint);
				cJSON_Delete(o);
			}
	}
	cJSON_Delete(t);
	return 0;
}
