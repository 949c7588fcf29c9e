/* Unit tests: reading secrets (lib/secret.c) and the code codec (lib/code.c). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kcs.h"

static char dir[64];

static const char *
file_with(const char *name, const char *data, size_t len)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	return path;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/kcs-unit.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static void
from_file(void **state)
{
	struct kcs_secret_src src = { NULL, -1 };
	char buf[KCS_SECRET_MAX + 1];

	(void)state;
	src.file = file_with("a", "hunter2 with spaces\n", 20);
	assert_int_equal(kcs_secret_read(&src, "", "password", buf, sizeof buf), KCS_OK);
	assert_string_equal(buf, "hunter2 with spaces");
	src.file = file_with("b", "no newline", 10);
	assert_int_equal(kcs_secret_read(&src, "", "password", buf, sizeof buf), KCS_OK);
	assert_string_equal(buf, "no newline");
	src.file = file_with("c", "crlf\r\n", 6);
	assert_int_equal(kcs_secret_read(&src, "", "password", buf, sizeof buf), KCS_OK);
	assert_string_equal(buf, "crlf");
}

static void
file_errors(void **state)
{
	struct kcs_secret_src src = { NULL, -1 };
	char buf[KCS_SECRET_MAX + 1], big[KCS_SECRET_MAX + 10];

	(void)state;
	src.file = file_with("empty", "", 0);
	assert_int_equal(kcs_secret_read(&src, "", "password", buf, sizeof buf), KCS_EINVALID);
	assert_string_equal(kcs_errfield(), "password");
	src.file = file_with("two", "one\ntwo\n", 8);
	assert_int_equal(kcs_secret_read(&src, "", "password", buf, sizeof buf), KCS_EINVALID);
	assert_non_null(strstr(kcs_errmsg(), "more than one line"));
	/* too long is an error, never a silent truncation */
	memset(big, 'x', sizeof big);
	src.file = file_with("big", big, sizeof big);
	assert_int_equal(kcs_secret_read(&src, "", "password", buf, sizeof buf), KCS_EINVALID);
	assert_non_null(strstr(kcs_errmsg(), "longer than"));
	src.file = "/nonexistent/secret";
	assert_int_equal(kcs_secret_read(&src, "", "password", buf, sizeof buf), KCS_EINVALID);
}

static void
long_secret_is_whole(void **state)
{
	struct kcs_secret_src src = { NULL, -1 };
	char buf[KCS_SECRET_MAX + 1], pw[300];

	(void)state;
	memset(pw, 'p', sizeof pw - 1);
	pw[sizeof pw - 1] = '\n';
	src.file = file_with("long", pw, sizeof pw);
	assert_int_equal(kcs_secret_read(&src, "", "password", buf, sizeof buf), KCS_OK);
	assert_int_equal(strlen(buf), sizeof pw - 1);
}

static void
from_fd_one_line_each(void **state)
{
	struct kcs_secret_src src = { NULL, -1 };
	char buf[KCS_SECRET_MAX + 1];
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "first secret\nsecond\n", 20), 20);
	close(p[1]);
	src.fd = p[0];
	assert_int_equal(kcs_secret_read(&src, "", "a", buf, sizeof buf), KCS_OK);
	assert_string_equal(buf, "first secret");
	assert_int_equal(kcs_secret_read(&src, "", "b", buf, sizeof buf), KCS_OK);
	assert_string_equal(buf, "second");
	assert_int_equal(kcs_secret_read(&src, "", "c", buf, sizeof buf), KCS_EINVALID);
	close(p[0]);
}

static void
no_terminal(void **state)
{
	struct kcs_secret_src src = { NULL, -1 };
	char buf[64];
	pid_t pid;
	int status;

	(void)state;
	/* a child without a controlling terminal cannot be prompted */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setsid();
		_exit(kcs_secret_read(&src, "Password: ", "password", buf, sizeof buf));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), KCS_EUSAGE);
}

static void
codes_round_trip(void **state)
{
	char code[32], out[32];

	(void)state;
	assert_int_equal(kcs_crypto_init(), KCS_OK);
	for (int i = 0; i < 200; i++) {
		kcs_code_new(code, sizeof code, 9);
		assert_int_equal(strlen(code), 12); /* XXXX-XXXX-XX */
		assert_int_equal(kcs_code_parse(code, "code", out, sizeof out), KCS_OK);
		assert_string_equal(out, code);
	}
	/* lower case and no dashes are the same code */
	kcs_code_new(code, sizeof code, 9);
	{
		char loose[32];
		int k = 0;

		for (const char *p = code; *p; p++)
			if (*p != '-')
				loose[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		loose[k] = '\0';
		assert_int_equal(kcs_code_parse(loose, "code", out, sizeof out), KCS_OK);
		assert_string_equal(out, code);
	}
}

static void
codes_catch_typos(void **state)
{
	char code[32], bad[32], out[32];
	const char *alpha = KCS_CODE_ALPHABET;

	(void)state;
	kcs_code_new(code, sizeof code, 9);
	/* every single-symbol substitution is caught */
	for (size_t pos = 0; code[pos]; pos++) {
		if (code[pos] == '-')
			continue;
		for (const char *a = alpha; *a; a++) {
			if (*a == code[pos])
				continue;
			strcpy(bad, code);
			bad[pos] = *a;
			assert_int_equal(kcs_code_parse(bad, "code", out, sizeof out), KCS_EINVALID);
		}
	}
	assert_int_equal(kcs_code_parse("0OIL-1111-11", "code", out, sizeof out), KCS_EINVALID);
	assert_non_null(strstr(kcs_errmsg(), "not a code character"));
	assert_int_equal(kcs_code_parse("", "code", out, sizeof out), KCS_EINVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(from_file),
		cmocka_unit_test(file_errors),
		cmocka_unit_test(long_secret_is_whole),
		cmocka_unit_test(from_fd_one_line_each),
		cmocka_unit_test(no_terminal),
		cmocka_unit_test(codes_round_trip),
		cmocka_unit_test(codes_catch_typos),
	};

	return cmocka_run_group_tests_name("secret", tests, setup, teardown);
}
