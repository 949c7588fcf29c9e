/* config.c: "key = value" configuration files, XDG paths, private files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kcs.h"

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]))
		*--e = '\0';
	return s;
}

int
kcs_conf_load(struct kcs_conf *c, const char *path, int must_exist)
{
	FILE *f;
	char line[2048];
	int lineno = 0;

	memset(c, 0, sizeof *c);
	if (!(f = fopen(path, "r"))) {
		if (errno == ENOENT && !must_exist)
			return KCS_OK;
		return kcs_fail(KCS_EINVALID, NULL, "%s: %s", path, strerror(errno));
	}
	while (fgets(line, sizeof line, f)) {
		char *k, *v, *eq, **nk, **nv;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fclose(f);
			return kcs_fail(KCS_EINVALID, NULL, "%s:%d: line too long", path, lineno);
		}
		k = trim(line);
		if (*k == '\0' || *k == '#')
			continue;
		if (!(eq = strchr(k, '='))) {
			fclose(f);
			return kcs_fail(KCS_EINVALID, NULL, "%s:%d: expected 'key = value'", path, lineno);
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		nk = realloc(c->key, (c->n + 1) * sizeof *nk);
		if (nk)
			c->key = nk;
		nv = realloc(c->val, (c->n + 1) * sizeof *nv);
		if (nv)
			c->val = nv;
		if (!nk || !nv || !(c->key[c->n] = strdup(k)) || !(c->val[c->n] = strdup(v))) {
			fclose(f);
			return kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
		}
		c->n++;
	}
	fclose(f);
	return KCS_OK;
}

const char *
kcs_conf_get(const struct kcs_conf *c, const char *key)
{
	/* the last setting of a key wins */
	for (int i = c->n - 1; i >= 0; i--)
		if (strcmp(c->key[i], key) == 0)
			return c->val[i];
	return NULL;
}

void
kcs_conf_free(struct kcs_conf *c)
{
	for (int i = 0; i < c->n; i++) {
		free(c->key[i]);
		free(c->val[i]);
	}
	free(c->key);
	free(c->val);
	memset(c, 0, sizeof *c);
}

static int
xdg(char *out, size_t n, const char *var, const char *fallback, const char *file)
{
	const char *base = getenv(var), *home = getenv("HOME");
	int r;

	if (base && *base == '/')
		r = snprintf(out, n, "%s/kcs/%s", base, file);
	else if (home && *home)
		r = snprintf(out, n, "%s/%s/kcs/%s", home, fallback, file);
	else
		return kcs_fail(KCS_EINTERNAL, NULL, "neither %s nor HOME is set", var);
	if (r < 0 || (size_t)r >= n)
		return kcs_fail(KCS_EINTERNAL, NULL, "path too long");
	return KCS_OK;
}

int
kcs_path_config(char *out, size_t n)
{
	const char *e = getenv("KCS_CONFIG");

	if (e && *e) {
		snprintf(out, n, "%s", e);
		return KCS_OK;
	}
	return xdg(out, n, "XDG_CONFIG_HOME", ".config", "config");
}

int
kcs_path_session(char *out, size_t n)
{
	const char *e = getenv("KCS_SESSION");

	if (e && *e) {
		snprintf(out, n, "%s", e);
		return KCS_OK;
	}
	return xdg(out, n, "XDG_STATE_HOME", ".local/state", "session");
}

int
kcs_mkdirs(const char *dir, int mode)
{
	char buf[1024], *p;

	if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
		return kcs_fail(KCS_EINTERNAL, NULL, "path too long");
	for (p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, mode) != 0 && errno != EEXIST)
				return kcs_fail(KCS_EINTERNAL, NULL, "mkdir %s: %s", buf, strerror(errno));
			if (!(*p = c))
				break;
		}
	}
	return KCS_OK;
}

/* Write a file only its owner can read, atomically (temp file + rename). */
int
kcs_write_private(const char *path, const char *data, size_t len)
{
	char tmp[1100], dir[1024], *slash;
	int fd;

	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		if (kcs_mkdirs(dir, 0700) != KCS_OK)
			return kcs_errcode();
	}
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return kcs_fail(KCS_EINTERNAL, NULL, "path too long");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return kcs_fail(KCS_EINTERNAL, NULL, "%s: %s", tmp, strerror(errno));
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			unlink(tmp);
			return kcs_fail(KCS_EINTERNAL, NULL, "%s: %s", tmp, strerror(errno));
		}
		off += (size_t)w;
	}
	int bad = fsync(fd) != 0, e = errno;

	if (close(fd) != 0 && !bad) {
		bad = 1;
		e = errno;
	}
	if (!bad && rename(tmp, path) != 0) {
		bad = 1;
		e = errno;
	}
	if (bad) {
		unlink(tmp);
		return kcs_fail(KCS_EINTERNAL, NULL, "%s: %s", path, strerror(e));
	}
	return KCS_OK;
}
