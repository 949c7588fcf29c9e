/* cuttable.c: the cut-code mapping table (kcs-cut(1)): what makes a table
 * valid, and a cut code decoded with it. A cut code is two letters naming
 * the series, 000, and five digits naming the code within it; the series
 * gives the blade, the tracks, the cut positions per track, the depths and
 * the most two adjacent cuts may differ (MACS); the code gives the depth at
 * each position, tracks separated by '-'. Every rule is checked on the
 * whole table before it is used, and on each answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcs.h"

int
kcs_cut_code_parse(const char *in)
{
	if (strlen(in) != 10 || in[0] < 'A' || in[0] > 'Z' || in[1] < 'A' || in[1] > 'Z' || strncmp(in + 2, "000", 3) ||
	    strspn(in + 5, "0123456789") != 5)
		return kcs_fail(KCS_EINVALID, "cut_code", "a cut code is two letters, 000 and five digits, as HF00019315");
	return KCS_OK;
}

static int
num(const cJSON *s, const char *name, int lo, int hi, int *out, const char *series)
{
	long long v;

	if (kcs_json_int(s, name, &v) != 0 || v < lo || v > hi)
		return kcs_fail(KCS_EREFUSED, name, "series %s: %s must be a whole number from %d to %d", series, name,
		    lo, hi);
	*out = (int)v;
	return KCS_OK;
}

/* one code's bitting against its series' rules */
static int
bitting(const char *b, int tracks, int positions, int depths, int macs, const char *series, const char *code)
{
	int t = 0, p = 0, prev = 0;

	for (const char *c = b;; c++) {
		if (*c == '-' || !*c) {
			if (p != positions)
				return kcs_fail(KCS_EREFUSED, "positions", "series %s code %s: track %d has %d cuts, not %d",
				    series, code, t + 1, p, positions);
			t++;
			p = 0;
			if (!*c)
				break;
			continue;
		}
		if (*c < '1' || *c > '0' + depths)
			return kcs_fail(KCS_EREFUSED, "depths", "series %s code %s: depth '%c' is out of the range 1 to %d",
			    series, code, *c, depths);
		if (p && abs((*c - '0') - prev) > macs)
			return kcs_fail(KCS_EREFUSED, "macs", "series %s code %s: adjacent cuts %d and %d differ by more "
			    "than %d", series, code, prev, *c - '0', macs);
		prev = *c - '0';
		p++;
	}
	if (t != tracks)
		return kcs_fail(KCS_EREFUSED, "tracks", "series %s code %s: %d tracks, not %d", series, code, t, tracks);
	return KCS_OK;
}

int
kcs_cut_table_check(const cJSON *table, long long *ncodes)
{
	const cJSON *series = cJSON_GetObjectItem(table, "series"), *s;
	long long fv;
	int rc;

	*ncodes = 0;
	if (!kcs_json_str(table, "format") || strcmp(kcs_json_str(table, "format"), "kcs-cut-table") != 0 ||
	    kcs_json_int(table, "format_version", &fv) != 0)
		return kcs_fail(KCS_EREFUSED, "format", "this is not a kcs cut-code mapping table");
	if (fv != 1)
		return kcs_fail(KCS_EREFUSED, "format_version", "table format %lld: this kcs reads format 1", fv);
	if (!cJSON_IsArray(series) || !cJSON_GetArraySize(series))
		return kcs_fail(KCS_EREFUSED, "series", "the table has no series");
	cJSON_ArrayForEach(s, series) {
		const char *letters = kcs_json_str(s, "letters");
		const cJSON *codes = cJSON_GetObjectItem(s, "codes"), *c;
		int tracks = 0, positions = 0, depths = 0, macs = 0;

		if (!letters || strlen(letters) != 2 || letters[0] < 'A' || letters[0] > 'Z' || letters[1] < 'A' ||
		    letters[1] > 'Z')
			return kcs_fail(KCS_EREFUSED, "letters", "a series is named by two capital letters");
		for (const cJSON *o = series->child; o != s; o = o->next)
			if (strcmp(kcs_json_str(o, "letters"), letters) == 0)
				return kcs_fail(KCS_EREFUSED, "letters", "series %s is in the table twice", letters);
		if (!kcs_json_str(s, "blank") || !kcs_json_str(s, "name"))
			return kcs_fail(KCS_EREFUSED, "blank", "series %s names no blank", letters);
		if ((rc = num(s, "tracks", 1, 4, &tracks, letters)) || (rc = num(s, "positions", 1, 12, &positions, letters)) ||
		    (rc = num(s, "depths", 2, 9, &depths, letters)) || (rc = num(s, "macs", 1, depths - 1, &macs, letters)))
			return rc;
		if (!cJSON_IsObject(codes))
			return kcs_fail(KCS_EREFUSED, "codes", "series %s has no codes", letters);
		cJSON_ArrayForEach(c, codes) {
			if (strlen(c->string) != 5 || strspn(c->string, "0123456789") != 5 || !cJSON_IsString(c))
				return kcs_fail(KCS_EREFUSED, "codes", "series %s: code %.20s is not five digits with a "
				    "bitting", letters, c->string);
			if ((rc = bitting(c->valuestring, tracks, positions, depths, macs, letters, c->string)))
				return rc;
			(*ncodes)++;
		}
	}
	return KCS_OK;
}

int
kcs_cut_decode(const cJSON *table, const char *code, cJSON **out)
{
	const cJSON *s, *b = NULL;
	cJSON *o, *tracks, *t = NULL, *d = NULL;
	int rc, n = 0;

	*out = NULL;
	if ((rc = kcs_cut_code_parse(code)))
		return rc;
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(table, "series"))
		if (strncmp(kcs_json_str(s, "letters"), code, 2) == 0)
			break;
	if (!s)
		return kcs_fail(KCS_EREFUSED, "cut_code", "the table has no series %.2s", code);
	if (!(b = cJSON_GetObjectItem(cJSON_GetObjectItem(s, "codes"), code + 5)) || !cJSON_IsString(b))
		return kcs_fail(KCS_EREFUSED, "cut_code", "series %.2s has no code %s", code, code + 5);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "cut_code", code);
	cJSON_AddStringToObject(o, "series", kcs_json_str(s, "letters"));
	cJSON_AddStringToObject(o, "series_name", kcs_json_str(s, "name"));
	cJSON_AddStringToObject(o, "blank", kcs_json_str(s, "blank"));
	cJSON_AddBoolToObject(o, "synthetic", kcs_json_bool(s, "synthetic"));
	cJSON_AddNumberToObject(o, "macs", cJSON_GetObjectItem(s, "macs")->valuedouble);
	tracks = cJSON_AddArrayToObject(o, "tracks");
	for (const char *c = b->valuestring;; c++) {
		if (!t) {
			t = cJSON_CreateObject();
			cJSON_AddNumberToObject(t, "track", ++n);
			d = cJSON_AddArrayToObject(t, "depths");
			cJSON_AddItemToArray(tracks, t);
		}
		if (*c == '-' || !*c) {
			t = NULL;
			if (!*c)
				break;
			continue;
		}
		cJSON_AddItemToArray(d, cJSON_CreateNumber(*c - '0'));
	}
	cJSON_AddStringToObject(o, "bitting", b->valuestring);
	*out = o;
	return KCS_OK;
}
