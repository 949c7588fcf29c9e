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

/* How many of its words name matches at the start of argv; -1 if not all. */
static int
words_match(const char *name, int argc, char **argv)
{
	int n = 0;

	while (*name) {
		size_t len = strcspn(name, " ");

		if (n >= argc || strlen(argv[n]) != len || strncmp(argv[n], name, len) != 0)
			return -1;
		n++;
		name += len;
		name += *name == ' ';
	}
	return n;
}

const struct kcs_command *
kcs_command(const struct kcs_command *t, int argc, char **argv, const char **operand)
{
	const struct kcs_command *best = NULL;
	int used = -1, ops, max;

	*operand = NULL;
	for (const struct kcs_command *c = t; c->name; c++) {
		int n = words_match(c->name, argc, argv);

		if (n > used) {
			used = n;
			best = c;
		}
	}
	/* the default command takes no words */
	if (best && !best->name[0] && argc > 0)
		best = NULL;
	if (!best) {
		char group[64] = "";

		/* a first word that starts commands, without the second */
		for (const struct kcs_command *c = t; argc && c->name; c++)
			if (strncmp(c->name, argv[0], strlen(argv[0])) == 0 && c->name[strlen(argv[0])] == ' ') {
				snprintf(group, sizeof group, "%s", argv[0]);
				break;
			}
		if (group[0] && argc == 1)
			return kcs_usage_error("'%s' needs a subcommand", group), NULL;
		return argc ? (kcs_usage_error("unknown command '%s%s%s'", argv[0], group[0] ? " " : "",
		    group[0] ? argv[1] : ""), NULL) : (kcs_usage_error("a command is required"), NULL);
	}
	ops = argc - used;
	max = best->nargs < 0 ? 1 : best->nargs;
	if (ops > max || ops < best->nargs) {
		kcs_usage_error("'%s' %s", best->name[0] ? best->name : kcs_prog(),
		    ops < best->nargs ? "needs an argument" : max ? "takes one argument" : "takes no argument");
		return NULL;
	}
	if (ops)
		*operand = argv[used];
	return best;
}

void
kcs_command_help(FILE *f, const struct kcs_command *t)
{
	for (const struct kcs_command *c = t; c->name; c++) {
		char left[160];
		const char *h = c->help;
		int n = snprintf(left, sizeof left, "%s%s%s", c->name[0] ? c->name : kcs_prog(),
		    c->args ? " " : "", c->args ? c->args : "");

		if (n > 28)
			fprintf(f, "  %s\n  %-28s ", left, "");
		else
			fprintf(f, "  %-28s ", left);
		for (;;) {
			size_t len = strcspn(h, "\n");

			fprintf(f, "%.*s\n", (int)len, h);
			if (!h[len])
				break;
			h += len + 1;
			fprintf(f, "  %-28s ", "");
		}
	}
}
