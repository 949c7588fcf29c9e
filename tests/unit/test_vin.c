/* Unit tests: the VIN rules of lib/vin.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "kcs.h"

static void
valid(void **state)
{
	static const char *const good[] = {
		"1M8GDM9AXKP042788", /* check digit X */
		"11111111111111111",
		"1HGCM82633A004352",
		"5UXKR0C58JL074657",
	};
	char out[18];

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		assert_int_equal(kcs_vin_parse(good[i], out), KCS_OK);
		assert_string_equal(out, good[i]);
	}
}

static void
lowercase_is_normalised(void **state)
{
	char out[18];

	(void)state;
	assert_int_equal(kcs_vin_parse("5uxkr0c58jl074657", out), KCS_OK);
	assert_string_equal(out, "5UXKR0C58JL074657");
}

static void
wrong_length(void **state)
{
	char out[18];

	(void)state;
	assert_int_equal(kcs_vin_parse("5UXKR0C58JL07465", out), KCS_EINVALID);
	assert_string_equal(kcs_errfield(), "vin");
	assert_non_null(strstr(kcs_errmsg(), "17 characters, not 16"));
	assert_int_equal(kcs_vin_parse("5UXKR0C58JL0746570", out), KCS_EINVALID);
	assert_int_equal(kcs_vin_parse("", out), KCS_EINVALID);
}

static void
forbidden_letters(void **state)
{
	static const char *const bad[] = {
		"5UXKR0C58JL07465I", "5UXKR0C58JL07465O", "5UXKR0C58JL07465Q", "i1111111111111111",
	};
	char out[18];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(kcs_vin_parse(bad[i], out), KCS_EINVALID);
		assert_non_null(strstr(kcs_errmsg(), "never contains I, O or Q"));
	}
}

static void
not_alphanumeric(void **state)
{
	char out[18];

	(void)state;
	assert_int_equal(kcs_vin_parse("5UXKR0C58JL07465-", out), KCS_EINVALID);
	assert_non_null(strstr(kcs_errmsg(), "character 17"));
	assert_int_equal(kcs_vin_parse("5UXKR0C58JL07465\xc3", out), KCS_EINVALID);
}

static void
check_digit(void **state)
{
	char out[18];

	(void)state;
	/* one character changed: the check digit no longer matches */
	assert_int_equal(kcs_vin_parse("5UXKR0C58JL074658", out), KCS_EINVALID);
	assert_non_null(strstr(kcs_errmsg(), "check digit"));
	/* the manual's example VIN does not pass the check */
	assert_int_equal(kcs_vin_parse("0123456789C737102", out), KCS_EINVALID);
	assert_non_null(strstr(kcs_errmsg(), "computes 'X'"));
	/* a transposition of two characters */
	assert_int_equal(kcs_vin_parse("1HGCM82633A003452", out), KCS_EINVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid),
		cmocka_unit_test(lowercase_is_normalised),
		cmocka_unit_test(wrong_length),
		cmocka_unit_test(forbidden_letters),
		cmocka_unit_test(not_alphanumeric),
		cmocka_unit_test(check_digit),
	};

	return cmocka_run_group_tests_name("vin", tests, NULL, NULL);
}
