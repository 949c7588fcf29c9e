/* json.c: the one JSON writer and reader of kcs, on cJSON. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kcs.h"

#define STDIN_MAX (1 << 20)

static int
by_name(const void *a, const void *b)
{
	return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* An object with a key twice means different things to different parsers:
 * refused, at every depth. Returns the duplicated key, or NULL. */
static const char *
duplicate_key(const cJSON *o, int *oom)
{
	const cJSON *it, **names;
	const char *dup = NULL;
	int n = 0;

	cJSON_ArrayForEach(it, o)
		if ((cJSON_IsObject(it) || cJSON_IsArray(it)) && (dup = duplicate_key(it, oom)))
			return dup;
	if (!cJSON_IsObject(o) || *oom)
		return NULL;
	n = cJSON_GetArraySize(o);
	if (n < 2)
		return NULL;
	if (!(names = malloc((size_t)n * sizeof *names))) {
		*oom = 1;
		return NULL;
	}
	n = 0;
	cJSON_ArrayForEach(it, o)
		names[n++] = it;
	qsort(names, (size_t)n, sizeof *names, by_name);
	for (int i = 1; i < n && !dup; i++)
		if (strcmp(names[i - 1]->string, names[i]->string) == 0)
			dup = names[i]->string;
	free(names);
	return dup;
}

/* cJSON decodes \u0000 into a NUL that cuts a string short, so that the
 * value acted on is not the value sent: such a string is refused. Scans
 * text cJSON accepted; names the member (or the key) holding it. */
static int
nul_escape(const char *p, const char *end, char *field, size_t n)
{
	char key[64] = "";

	while (p < end) {
		const char *s, *q;
		int nul = 0;

		if (*p++ != '"')
			continue;
		for (s = p; p < end && *p != '"'; p++) {
			if (*p == '\\') {
				if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0)
					nul = 1;
				p++;
			}
		}
		for (q = p + 1; q < end && strchr(" \t\r\n", *q); q++)
			;
		if (q < end && *q == ':')
			snprintf(key, sizeof key, "%.*s", (int)(p - s), s);
		if (nul) {
			snprintf(field, n, "%s", key);
			return 1;
		}
		p++;
	}
	return 0;
}

cJSON *
kcs_json_parse(const char *buf, size_t len)
{
	const char *end = NULL;
	cJSON *o;

	if (len == 0) {
		kcs_fail(KCS_EINVALID, NULL, "empty input: a JSON object was expected");
		return NULL;
	}
	if (memchr(buf, '\0', len)) {
		kcs_fail(KCS_EINVALID, NULL, "malformed JSON: NUL byte");
		return NULL;
	}
	o = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!o) {
		kcs_fail(KCS_EINVALID, NULL, "malformed JSON near byte %zu",
		    end ? (size_t)(end - buf) : 0);
		return NULL;
	}
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		kcs_fail(KCS_EINVALID, NULL, "a JSON object was expected");
		return NULL;
	}
	/* only white space may follow the object */
	for (; end && end < buf + len; end++) {
		if (!strchr(" \t\r\n", *end)) {
			cJSON_Delete(o);
			kcs_fail(KCS_EINVALID, NULL, "malformed JSON: data after the object");
			return NULL;
		}
	}
	{
		char field[64];

		if (nul_escape(buf, buf + len, field, sizeof field)) {
			cJSON_Delete(o);
			kcs_fail(KCS_EINVALID, field, "must not contain a NUL character (\\u0000)");
			return NULL;
		}
	}
	{
		int oom = 0;
		const char *dup = duplicate_key(o, &oom);

		if (dup || oom) {
			if (oom)
				kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
			else
				kcs_fail(KCS_EINVALID, dup, "malformed JSON: the key appears twice in one object");
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

char *
kcs_json_dump(const cJSON *o)
{
	return cJSON_PrintUnformatted(o);
}

int
kcs_json_print(FILE *f, const cJSON *o)
{
	char *s = kcs_json_dump(o);

	if (!s)
		return kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
	fputs(s, f);
	fputc('\n', f);
	free(s);
	return KCS_OK;
}

const char *
kcs_json_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int
kcs_json_int(const cJSON *o, const char *name, long long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v))
		return -1;
	if (v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > KCS_ID_MAX)
		return -2;
	*out = (long long)v->valuedouble;
	return 0;
}

/* A whole number from lo to hi, as an option gives it. */
int
kcs_number_parse(const char *s, const char *field, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end || errno || v < lo || v > hi)
		return kcs_fail(KCS_EINVALID, field, "is a whole number from %lld to %lld", lo, hi);
	*out = v;
	return KCS_OK;
}

int
kcs_id_parse(const char *s, const char *field, long long *out)
{
	size_t n = strspn(s, "0123456789");

	if (!*s || s[n])
		return kcs_fail(KCS_EINVALID, field, "'%s' is not a positive whole number", s);
	while (*s == '0' && s[1])
		s++, n--;
	if (n > 16 || strtoll(s, NULL, 10) > KCS_ID_MAX)
		return kcs_fail(KCS_EINVALID, field, "%s is out of range (at most %lld)", s, (long long)KCS_ID_MAX);
	if ((*out = strtoll(s, NULL, 10)) <= 0)
		return kcs_fail(KCS_EINVALID, field, "'%s' is not a positive whole number", s);
	return KCS_OK;
}

int
kcs_json_id(const cJSON *o, const char *name, long long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	int rc = kcs_json_int(o, name, out);

	if (!v)
		return kcs_fail(KCS_EINVALID, name, "is required");
	if (rc == -2 && fabs(v->valuedouble) > KCS_ID_MAX)
		return kcs_fail(KCS_EINVALID, name, "is out of range (at most %lld)", KCS_ID_MAX);
	if (rc != 0 || *out <= 0)
		return kcs_fail(KCS_EINVALID, name, "must be a positive whole number");
	return KCS_OK;
}

int
kcs_json_text(const cJSON *o, const char *name, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return KCS_OK;
	if (!cJSON_IsString(v))
		return kcs_fail(KCS_EINVALID, name, "must be a string");
	*out = v->valuestring;
	return KCS_OK;
}

int
kcs_json_bool(const cJSON *o, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name));
}

int
kcs_read_file(const char *path, const char *field, char **buf, size_t *len, size_t max)
{
	FILE *f = fopen(path, "rb");
	int rc;

	*buf = NULL;
	if (!f)
		return kcs_fail(KCS_EINVALID, field, "cannot open %s: %s", path, strerror(errno));
	rc = kcs_read_all(f, buf, len, max);
	fclose(f);
	return rc == KCS_OK ? rc : kcs_fail(rc, field, "%s: %s", path, kcs_errmsg());
}

int
kcs_read_all(FILE *f, char **buf, size_t *len, size_t max)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap + 1);

	if (!b)
		return kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
	for (;;) {
		size_t r;

		if (n == cap) {
			char *nb;

			if (cap >= max) {
				free(b);
				return kcs_fail(KCS_EINVALID, NULL, "input larger than %zu bytes", max);
			}
			cap *= 2;
			if (!(nb = realloc(b, cap + 1))) {
				free(b);
				return kcs_fail(KCS_EINTERNAL, NULL, "out of memory");
			}
			b = nb;
		}
		r = fread(b + n, 1, cap - n, f);
		n += r;
		if (r == 0) {
			if (ferror(f)) {
				free(b);
				return kcs_fail(KCS_EINTERNAL, NULL, "read: %s", strerror(errno));
			}
			break;
		}
	}
	if (n > max) {
		free(b);
		return kcs_fail(KCS_EINVALID, NULL, "input larger than %zu bytes", max);
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return KCS_OK;
}

/* The previous command's object, when stdin is a pipe or a file; a terminal
 * or /dev/null gives an empty object, so flags alone are enough. More than
 * one object is an error. */
cJSON *
kcs_json_stdin(void)
{
	struct stat st;
	char *buf;
	size_t len, i;
	cJSON *o;

	if (fstat(STDIN_FILENO, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode)))
		return cJSON_CreateObject();
	if (kcs_read_all(stdin, &buf, &len, STDIN_MAX) != KCS_OK)
		return NULL;
	for (i = 0; i < len && strchr(" \t\r\n", buf[i]); i++)
		;
	if (i == len) {
		free(buf);
		return cJSON_CreateObject();
	}
	if (!(o = kcs_json_parse(buf, len))) {
		char why[256], *nl = memchr(buf, '\n', len);
		cJSON *first;

		snprintf(why, sizeof why, "%s", kcs_errmsg());
		/* several answers piped in: which one was meant is not for us to guess */
		if (nl && (first = kcs_json_parse(buf, (size_t)(nl - buf)))) {
			cJSON_Delete(first);
			kcs_fail(KCS_EINVALID, NULL, "standard input holds more than one JSON object: pipe one");
		} else {
			kcs_fail(KCS_EINVALID, kcs_errfield(), "standard input: %s", why);
		}
	}
	free(buf);
	return o;
}
