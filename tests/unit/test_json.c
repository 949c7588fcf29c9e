/* Unit tests: the JSON writer and reader of lib/json.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kcs.h"

static char *
printed(const cJSON *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(kcs_json_print(f, o), KCS_OK);
	fclose(f);
	return buf;
}

static void
escapes_strings(void **state)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	(void)state;
	cJSON_AddStringToObject(o, "q", "say \"hi\"");
	cJSON_AddStringToObject(o, "b", "back\\slash");
	cJSON_AddStringToObject(o, "nl", "line1\nline2\r\t");
	cJSON_AddStringToObject(o, "ctl", "\x01\x1f");
	cJSON_AddStringToObject(o, "utf8", "J\xc3\xb6rn");
	s = printed(o);
	assert_string_equal(s,
	    "{\"q\":\"say \\\"hi\\\"\",\"b\":\"back\\\\slash\",\"nl\":\"line1\\nline2\\r\\t\","
	    "\"ctl\":\"\\u0001\\u001f\",\"utf8\":\"J\xc3\xb6rn\"}\n");
	free(s);
	cJSON_Delete(o);
}

static void
one_line_per_object(void **state)
{
	cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "a");
	char *s;

	(void)state;
	cJSON_AddItemToArray(a, cJSON_CreateNumber(1));
	cJSON_AddItemToArray(a, cJSON_CreateString("x\ny"));
	s = printed(o);
	assert_non_null(strchr(s, '\n'));
	assert_ptr_equal(strchr(s, '\n'), s + strlen(s) - 1);
	free(s);
	cJSON_Delete(o);
}

static void
parse_accepts_objects_only(void **state)
{
	cJSON *o;

	(void)state;
	o = kcs_json_parse("{\"a\":1}\n", 8);
	assert_non_null(o);
	cJSON_Delete(o);
	assert_null(kcs_json_parse("[1,2]", 5));
	assert_int_equal(kcs_errcode(), KCS_EINVALID);
	assert_null(kcs_json_parse("\"s\"", 3));
	assert_null(kcs_json_parse("", 0));
	assert_null(kcs_json_parse("{\"a\":1} x", 9));
	assert_non_null(strstr(kcs_errmsg(), "after the object"));
	assert_null(kcs_json_parse("{\"a\":", 5));
	assert_non_null(strstr(kcs_errmsg(), "malformed"));
	assert_null(kcs_json_parse("{\"a\":\"\0\"}", 9));
}

static void
parse_refuses_duplicate_keys(void **state)
{
	const char *top = "{\"email\":\"a@example.com\",\"x\":1,\"email\":\"b@example.com\"}";
	const char *deep = "{\"entries\":[{\"vin\":\"A\",\"vin\":\"B\"}]}";
	const char *fine = "{\"a\":{\"k\":1},\"b\":{\"k\":2},\"c\":[{\"k\":3},{\"k\":4}]}";
	cJSON *o;

	(void)state;
	assert_null(kcs_json_parse(top, strlen(top)));
	assert_int_equal(kcs_errcode(), KCS_EINVALID);
	assert_string_equal(kcs_errfield(), "email");
	assert_non_null(strstr(kcs_errmsg(), "appears twice"));
	assert_null(kcs_json_parse(deep, strlen(deep)));
	assert_string_equal(kcs_errfield(), "vin");
	/* the same key in different objects is fine */
	o = kcs_json_parse(fine, strlen(fine));
	assert_non_null(o);
	cJSON_Delete(o);
}

static void
typed_getters(void **state)
{
	cJSON *o = kcs_json_parse("{\"s\":\"v\",\"n\":42,\"f\":1.5,\"t\":true}", 33);
	long long n = 0;

	(void)state;
	assert_non_null(o);
	assert_string_equal(kcs_json_str(o, "s"), "v");
	assert_null(kcs_json_str(o, "n"));
	assert_null(kcs_json_str(o, "missing"));
	assert_int_equal(kcs_json_int(o, "n", &n), 0);
	assert_int_equal(n, 42);
	assert_int_equal(kcs_json_int(o, "f", &n), -2);
	assert_int_equal(kcs_json_int(o, "s", &n), -1);
	assert_int_equal(kcs_json_int(o, "missing", &n), -1);
	assert_true(kcs_json_bool(o, "t"));
	assert_false(kcs_json_bool(o, "s"));
	cJSON_Delete(o);
}

/* \u0000 would cut a string short: refused, naming the member */
static void
parse_refuses_nul_escapes(void **state)
{
	const char *value = "{\"tan\":\"12345678\\u0000x\",\"sdrm_id\":\"a\"}";
	const char *deep = "{\"a\":{\"role\":[\"admin\\u0000junk\"]}}";
	const char *key = "{\"ro\\u0000le\":\"admin\"}";
	const char *escaped = "{\"path\":\"C:\\\\u0000\"}"; /* a backslash, then u0000 */
	cJSON *o;

	(void)state;
	assert_null(kcs_json_parse(value, strlen(value)));
	assert_int_equal(kcs_errcode(), KCS_EINVALID);
	assert_string_equal(kcs_errfield(), "tan");
	assert_non_null(strstr(kcs_errmsg(), "NUL"));
	assert_null(kcs_json_parse(deep, strlen(deep)));
	assert_string_equal(kcs_errfield(), "role");
	assert_null(kcs_json_parse(key, strlen(key)));
	o = kcs_json_parse(escaped, strlen(escaped));
	assert_non_null(o);
	assert_string_equal(kcs_json_str(o, "path"), "C:\\u0000");
	cJSON_Delete(o);
}

static void
ids(void **state)
{
	const char *text = "{\"a\":7,\"big\":1e300,\"neg\":-1,\"s\":\"7\",\"f\":1.5}";
	cJSON *o = kcs_json_parse(text, strlen(text));
	long long n = 0;

	(void)state;
	assert_non_null(o);
	assert_int_equal(kcs_id_parse("42", "id", &n), KCS_OK);
	assert_int_equal(n, 42);
	assert_int_equal(kcs_id_parse("9007199254740991", "id", &n), KCS_OK);
	assert_int_equal(kcs_id_parse("9007199254740992", "id", &n), KCS_EINVALID);
	assert_non_null(strstr(kcs_errmsg(), "out of range"));
	assert_int_equal(kcs_id_parse("99999999999999999999999", "id", &n), KCS_EINVALID);
	assert_non_null(strstr(kcs_errmsg(), "out of range"));
	assert_string_equal(kcs_errfield(), "id");
	assert_int_equal(kcs_id_parse("0", "id", &n), KCS_EINVALID);
	assert_int_equal(kcs_id_parse("abc", "id", &n), KCS_EINVALID);
	assert_int_equal(kcs_id_parse("", "id", &n), KCS_EINVALID);
	assert_int_equal(kcs_id_parse("-3", "id", &n), KCS_EINVALID);
	assert_int_equal(kcs_json_id(o, "a", &n), KCS_OK);
	assert_int_equal(n, 7);
	assert_int_equal(kcs_json_id(o, "big", &n), KCS_EINVALID);
	assert_non_null(strstr(kcs_errmsg(), "out of range"));
	assert_string_equal(kcs_errfield(), "big");
	assert_int_equal(kcs_json_id(o, "neg", &n), KCS_EINVALID);
	assert_int_equal(kcs_json_id(o, "s", &n), KCS_EINVALID);
	assert_int_equal(kcs_json_id(o, "f", &n), KCS_EINVALID);
	assert_int_equal(kcs_json_id(o, "missing", &n), KCS_EINVALID);
	cJSON_Delete(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escapes_strings),
		cmocka_unit_test(one_line_per_object),
		cmocka_unit_test(parse_accepts_objects_only),
		cmocka_unit_test(parse_refuses_duplicate_keys),
		cmocka_unit_test(typed_getters),
		cmocka_unit_test(parse_refuses_nul_escapes),
		cmocka_unit_test(ids),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
