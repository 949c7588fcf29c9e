/* secret.c: secrets never come from argv: a terminal without echo, a file, or
 * a file descriptor (one line per read, so one pipe can carry several). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "kcs.h"

int
kcs_is_tty(int fd)
{
	return isatty(fd);
}

/* Reads one line from fd into buf; 1 if a line (or EOF after data), 0 on EOF. */
static int
read_line(int fd, char *buf, size_t cap, const char *field, size_t *len)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kcs_fail(KCS_EINTERNAL, field, "read: %s", strerror(errno));
		if (r == 0 || c == '\n')
			break;
		if (n + 1 >= cap) {
			/* drain the rest of the line; never truncate a secret */
			while ((r = read(fd, &c, 1)) > 0 && c != '\n')
				;
			sodium_memzero(buf, cap);
			return kcs_fail(KCS_EINVALID, field, "secret is longer than %zu bytes", cap - 1);
		}
		buf[n++] = c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len = n;
	return KCS_OK;
}

static int
from_tty(const char *prompt, const char *field, char *buf, size_t cap, size_t *len)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC), rc;

	if (fd < 0)
		return kcs_fail(KCS_EUSAGE, field,
		    "no terminal to read it from: give it with a --*-file or --*-fd option");
	if (tcgetattr(fd, &old) != 0) {
		close(fd);
		return kcs_fail(KCS_EUSAGE, field, "no terminal to read it from");
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	/* echo goes off before the prompt shows; typed-ahead input is kept */
	if (tcsetattr(fd, TCSANOW, &quiet) != 0 || write(fd, prompt, strlen(prompt)) < 0) {
		tcsetattr(fd, TCSANOW, &old);
		close(fd);
		return kcs_fail(KCS_EINTERNAL, field, "terminal: %s", strerror(errno));
	}
	rc = read_line(fd, buf, cap, field, len);
	tcsetattr(fd, TCSANOW, &old);
	close(fd);
	return rc;
}

int
kcs_secret_read(const struct kcs_secret_src *src, const char *prompt,
    const char *field, char *buf, size_t cap)
{
	size_t len = 0;
	int rc;

	if (src && src->file) {
		int fd = open(src->file, O_RDONLY | O_CLOEXEC);
		char extra[2];
		ssize_t more;

		if (fd < 0)
			return kcs_fail(KCS_EINVALID, field, "%s: %s", src->file, strerror(errno));
		rc = read_line(fd, buf, cap, field, &len);
		/* a secret file holds one line: anything after it is a mistake */
		more = rc == KCS_OK ? read(fd, extra, sizeof extra) : 0;
		close(fd);
		if (rc != KCS_OK)
			return rc;
		if (more > 0) {
			sodium_memzero(buf, cap);
			return kcs_fail(KCS_EINVALID, field, "%s: more than one line", src->file);
		}
	} else if (src && src->fd >= 0) {
		if ((rc = read_line(src->fd, buf, cap, field, &len)) != KCS_OK)
			return rc;
	} else if ((rc = from_tty(prompt, field, buf, cap, &len)) != KCS_OK) {
		return rc;
	}
	if (len == 0)
		return kcs_fail(KCS_EINVALID, field, "secret is empty");
	if (memchr(buf, '\0', len))
		return kcs_fail(KCS_EINVALID, field, "secret contains a NUL byte");
	return KCS_OK;
}

int
kcs_tty_confirm(const char *text, const char *question)
{
	char ans[16];
	size_t len = 0;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC), ok;

	if (fd < 0)
		return -1;
	if ((text && (write(fd, text, strlen(text)) < 0 || write(fd, "\n\n", 2) < 0)) ||
	    write(fd, question, strlen(question)) < 0 || write(fd, " [y/N] ", 7) < 0) {
		close(fd);
		return -1;
	}
	ok = read_line(fd, ans, sizeof ans, NULL, &len) == KCS_OK &&
	    (strcmp(ans, "y") == 0 || strcmp(ans, "Y") == 0 || strcmp(ans, "yes") == 0);
	close(fd);
	return ok;
}

int
kcs_body_secret(cJSON *body, const struct kcs_secret_src *src, const char *prompt, const char *name)
{
	char buf[KCS_SECRET_MAX + 1];
	int rc = kcs_secret_read(src, prompt, name, buf, sizeof buf);

	if (rc == KCS_OK)
		cJSON_AddStringToObject(body, name, buf);
	sodium_memzero(buf, sizeof buf);
	return rc;
}

void
kcs_body_wipe(cJSON *body)
{
	for (cJSON *it = body ? body->child : NULL; it; it = it->next)
		if (cJSON_IsString(it) && (strstr(it->string, "password") || strcmp(it->string, "key_code") == 0))
			sodium_memzero(it->valuestring, strlen(it->valuestring));
	cJSON_Delete(body);
}
