/* util.c: time and text helpers. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>

#include "kcs.h"

void
kcs_time_iso(time_t t, char out[21])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

size_t
kcs_utf8_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p) {
		unsigned c = *p, need, cp;

		if (c < 0x80) { p++; n++; continue; }
		if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; }
		else return (size_t)-1;
		p++;
		for (unsigned i = 0; i < need; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return (size_t)-1;
			cp = (cp << 6) | (*p & 0x3f);
		}
		/* overlong forms, surrogates and values past U+10FFFF */
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return (size_t)-1;
		n++;
	}
	return n;
}

/* Decodes one UTF-8 sequence at p (valid input assumed); returns its length. */
static size_t
utf8_next(const unsigned char *p, unsigned *cp)
{
	if (*p < 0x80) { *cp = *p; return 1; }
	if (*p < 0xe0) { *cp = ((unsigned)(p[0] & 0x1f) << 6) | (p[1] & 0x3f); return 2; }
	if (*p < 0xf0) {
		*cp = ((unsigned)(p[0] & 0x0f) << 12) | ((unsigned)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
		return 3;
	}
	*cp = ((unsigned)(p[0] & 0x07) << 18) | ((unsigned)(p[1] & 0x3f) << 12) |
	    ((unsigned)(p[2] & 0x3f) << 6) | (p[3] & 0x3f);
	return 4;
}

/* The rule for text a person typed (names, addresses, comments, models):
 * valid UTF-8 without control characters (C0, DEL, C1: U+009B is a terminal
 * escape), line or paragraph separators (U+2028, U+2029), or bidirectional
 * overrides and isolates (U+202A-U+202E, U+2066-U+2069), which make text
 * read back differently from what is stored. NULL if s is fine, else why. */
const char *
kcs_text_check(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (kcs_utf8_len(s) == (size_t)-1)
		return "is not valid UTF-8";
	while (*p) {
		unsigned cp;

		p += utf8_next(p, &cp);
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029)
			return "must not contain control characters or line breaks";
		if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
			return "must not contain bidirectional text controls (U+202A-U+202E, U+2066-U+2069)";
	}
	return NULL;
}

/* The date days business days after start's day (Saturdays and Sundays
 * skipped; public holidays are not known). */
void
kcs_business_day(time_t start, int days, char out[11])
{
	struct tm tm;
	time_t t = start;

	gmtime_r(&t, &tm);
	while (days > 0) {
		t += 86400;
		gmtime_r(&t, &tm);
		if (tm.tm_wday != 0 && tm.tm_wday != 6)
			days--;
	}
	strftime(out, 11, "%Y-%m-%d", &tm);
}

int
kcs_date_parse(const char *in, const char *field)
{
	struct tm tm = { 0 }, back;
	int y, m, d, n = 0;
	time_t t;

	if (strlen(in) != 10 || sscanf(in, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 ||
	    in[4] != '-' || in[7] != '-' || strspn(in, "0123456789-") != 10)
		return kcs_fail(KCS_EINVALID, field, "must be a date written YYYY-MM-DD");
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = 12;
	t = timegm(&tm);
	gmtime_r(&t, &back);
	/* timegm normalises: 2023-02-29 comes back as March 1st */
	if (y < 1900 || back.tm_year != y - 1900 || back.tm_mon != m - 1 || back.tm_mday != d)
		return kcs_fail(KCS_EINVALID, field, "%s is not a day of the calendar", in);
	return KCS_OK;
}

/* A time as kcs_time_iso writes it: YYYY-MM-DDTHH:MM:SSZ, in UTC. */
int
kcs_time_parse(const char *in, const char *field, long long *out)
{
	char day[11];
	int h, mi, sec, n = 0;

	if (strlen(in) != 20 || in[10] != 'T' || in[19] != 'Z' || in[13] != ':' || in[16] != ':' ||
	    strspn(in + 11, "0123456789:") != 8 || sscanf(in + 11, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8)
		return kcs_fail(KCS_EINVALID, field, "must be a time written YYYY-MM-DDTHH:MM:SSZ (UTC)");
	memcpy(day, in, 10);
	day[10] = '\0';
	if (kcs_date_parse(day, field) != KCS_OK)
		return KCS_EINVALID;
	if (h > 23 || mi > 59 || sec > 59)
		return kcs_fail(KCS_EINVALID, field, "%s is not a time of the day", in + 11);
	{
		struct tm tm = { 0 };

		sscanf(day, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = sec;
		*out = (long long)timegm(&tm);
	}
	return KCS_OK;
}

/* The host of a URL (scheme://host...) is a loopback address: 127.0.0.0/8,
 * [::1] or localhost (a name is not resolved: it could resolve anywhere). */
int
kcs_url_loopback(const char *url)
{
	const char *h = strstr(url, "://");
	char host[256];
	size_t n;
	struct in_addr a;

	if (!h)
		return 0;
	h += 3;
	n = h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/?#");
	if (n >= sizeof host || memchr(h, '@', strcspn(h, "/?#")))
		return 0; /* user@host: not for a loopback exception */
	memcpy(host, h, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return 1;
	return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}
