/* cli.c: the pieces every client main shares: output, the session file,
 * prompts, flags over piped fields. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kcs.h"

int
kcs_print(const cJSON *o)
{
	return kcs_json_print(stdout, o);
}

int
kcs_print_each(const cJSON *arr)
{
	const cJSON *it;
	int rc = KCS_OK;

	cJSON_ArrayForEach(it, arr)
		if ((rc = kcs_json_print(stdout, it)) != KCS_OK)
			break;
	return rc;
}

int
kcs_session_save(const char *url, const char *token)
{
	char path[1024], *text;
	cJSON *o = cJSON_CreateObject();
	int rc;

	if (kcs_path_session(path, sizeof path) != KCS_OK) {
		cJSON_Delete(o);
		return kcs_errcode();
	}
	cJSON_AddStringToObject(o, "url", url);
	cJSON_AddStringToObject(o, "token", token);
	text = kcs_json_dump(o);
	cJSON_Delete(o);
	if (!text)
		return kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
	rc = kcs_write_private(path, text, strlen(text));
	sodium_memzero(text, strlen(text));
	free(text);
	return rc;
}

int
kcs_session_drop(void)
{
	char path[1024];

	if (kcs_path_session(path, sizeof path) != KCS_OK)
		return kcs_errcode();
	if (unlink(path) != 0 && errno != ENOENT)
		return kcs_fail(KCS_EINTERNAL, NULL, "%s: %s", path, strerror(errno));
	return KCS_OK;
}

int
kcs_tty_line(const char *prompt, const char *field, char *buf, size_t cap)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0 || !isatty(fd)) {
		if (fd >= 0)
			close(fd);
		return kcs_fail(KCS_EUSAGE, field, "is required (no terminal to ask on)");
	}
	if (write(fd, prompt, strlen(prompt)) < 0) {
		close(fd);
		return kcs_fail(KCS_EINTERNAL, field, "terminal: %s", strerror(errno));
	}
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || c == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = c;
	}
	close(fd);
	buf[n] = '\0';
	if (n == 0)
		return kcs_fail(KCS_EUSAGE, field, "is required");
	return KCS_OK;
}

int
kcs_parse_fd(const char *arg, const char *field, int *fd)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 0 || v > 1024)
		return kcs_fail(KCS_EUSAGE, field, "'%s' is not a file descriptor number", arg);
	*fd = (int)v;
	return KCS_OK;
}
