/* Unit tests: dates (lib/util.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kcs.h"

static time_t
at(int y, int m, int d, int hour)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = hour };

	return timegm(&tm);
}

static void
business_days_skip_weekends(void **state)
{
	char out[11];

	(void)state;
	/* Friday 2026-11-27: five business days later is Friday 2026-12-04 */
	kcs_business_day(at(2026, 11, 27, 9), 5, out);
	assert_string_equal(out, "2026-12-04");
	kcs_business_day(at(2026, 11, 27, 9), 10, out);
	assert_string_equal(out, "2026-12-11");
	/* ordered on a Saturday or a Sunday: counting starts on Monday */
	kcs_business_day(at(2026, 11, 28, 23), 5, out);
	assert_string_equal(out, "2026-12-04");
	kcs_business_day(at(2026, 11, 29, 0), 1, out);
	assert_string_equal(out, "2026-11-30");
	/* Wednesday: the window crosses one weekend, then two */
	kcs_business_day(at(2026, 11, 25, 16), 5, out);
	assert_string_equal(out, "2026-12-02");
	kcs_business_day(at(2026, 11, 25, 16), 10, out);
	assert_string_equal(out, "2026-12-09");
	/* across a month and a year */
	kcs_business_day(at(2026, 12, 28, 12), 5, out);
	assert_string_equal(out, "2027-01-04");
}

static void
dates(void **state)
{
	(void)state;
	assert_int_equal(kcs_date_parse("2012-03-14", "d"), KCS_OK);
	assert_int_equal(kcs_date_parse("2024-02-29", "d"), KCS_OK);
	assert_int_equal(kcs_date_parse("2023-02-29", "d"), KCS_EINVALID);
	assert_non_null(strstr(kcs_errmsg(), "not a day"));
	assert_int_equal(kcs_date_parse("2012-13-01", "d"), KCS_EINVALID);
	assert_int_equal(kcs_date_parse("2012-3-14", "d"), KCS_EINVALID);
	assert_int_equal(kcs_date_parse("14.03.2012", "d"), KCS_EINVALID);
	assert_int_equal(kcs_date_parse("2012-03-14x", "d"), KCS_EINVALID);
	assert_int_equal(kcs_date_parse("", "d"), KCS_EINVALID);
	assert_string_equal(kcs_errfield(), "d");
}

static void
text_rule(void **state)
{
	(void)state;
	assert_null(kcs_text_check("Joern Wellniak"));
	assert_null(kcs_text_check("\xe5\xbc\xa0\xe4\xbc\x9f")); /* CJK */
	assert_null(kcs_text_check("Stra\xc3\x9f" "e \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d")); /* Latin, Hebrew */
	assert_non_null(kcs_text_check("a\tb"));
	assert_non_null(kcs_text_check("a\x7f"));
	assert_non_null(kcs_text_check("a\xc2\x9b" "31m")); /* U+009B, C1 CSI */
	assert_non_null(kcs_text_check("a\xc2\x85")); /* U+0085, NEL */
	assert_non_null(kcs_text_check("a\xe2\x80\xa8" "b")); /* U+2028 */
	assert_non_null(kcs_text_check("a\xe2\x80\xa9" "b")); /* U+2029 */
	assert_non_null(strstr(kcs_text_check("1 Main St\xe2\x80\xae" "evA"), "bidirectional"));
	assert_non_null(kcs_text_check("\xe2\x81\xa6" "x\xe2\x81\xa9")); /* U+2066 .. U+2069 */
	assert_non_null(kcs_text_check("\xe2\x80\xaa")); /* U+202A */
	assert_non_null(kcs_text_check("\x80\xa9")); /* not valid UTF-8 */
}

static void
utf8_lengths(void **state)
{
	(void)state;
	assert_int_equal(kcs_utf8_len("abc"), 3);
	assert_int_equal(kcs_utf8_len("\xe5\xbc\xa0\xe4\xbc\x9f"), 2);
	assert_int_equal(kcs_utf8_len("\xc0\xaf"), (size_t)-1); /* overlong */
	assert_int_equal(kcs_utf8_len("\xed\xa0\x80"), (size_t)-1); /* a surrogate */
}

static void
loopback_urls(void **state)
{
	(void)state;
	assert_true(kcs_url_loopback("http://127.0.0.1:8425/v1"));
	assert_true(kcs_url_loopback("smtp://127.9.8.7/kcs.test"));
	assert_true(kcs_url_loopback("smtp://LOCALHOST:2525"));
	assert_true(kcs_url_loopback("http://[::1]:80/"));
	assert_false(kcs_url_loopback("smtp://mail.example.com/kcs"));
	assert_false(kcs_url_loopback("smtp://128.0.0.1/"));
	assert_false(kcs_url_loopback("smtp://localhost.example.com/"));
	assert_false(kcs_url_loopback("http://127.0.0.1@evil.example/"));
	assert_false(kcs_url_loopback("http://127.0.0.1.evil.example/"));
	assert_false(kcs_url_loopback("127.0.0.1"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(business_days_skip_weekends),
		cmocka_unit_test(dates),
		cmocka_unit_test(text_rule),
		cmocka_unit_test(utf8_lengths),
		cmocka_unit_test(loopback_urls),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
