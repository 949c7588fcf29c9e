/* gki.c: the legacy GKI key-read file (kcs-gki(5)): a header, then fixed
 * records, each with its CRC-32C. Every malformed file is refused with the
 * byte offset of what is wrong; nothing is read beyond the bytes given. */
#include <stdio.h>
#include <string.h>

#include "kcs.h"

static unsigned
get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int
bad(size_t off, const char *what)
{
	return kcs_fail(KCS_EINVALID, "file", "offset %zu: %s", off, what);
}

/* An ASCII field of n bytes, NUL-padded: printable characters from `allowed`
 * (or any printable one), then only NULs. */
static int
text(const uint8_t *p, size_t n, size_t off, const char *name, const char *allowed, char *out)
{
	size_t len = 0;
	char msg[96];

	while (len < n && p[len])
		len++;
	for (size_t i = 0; i < n; i++) {
		int ok = i < len ? p[i] >= 0x20 && p[i] < 0x7f && (!allowed || strchr(allowed, p[i])) : p[i] == 0;

		if (!ok) {
			snprintf(msg, sizeof msg, i < len ? "%s: byte 0x%02x is not allowed here" : "%s: not NUL-padded",
			    name, p[i]);
			return bad(off + i, msg);
		}
	}
	memcpy(out, p, len);
	out[len] = '\0';
	return KCS_OK;
}

int
kcs_gki_header(const uint8_t *p, size_t n, struct kcs_gki_header *h)
{
	static const char digits[] = "0123456789";
	uint64_t want;
	char msg[128];

	memset(h, 0, sizeof *h);
	if (n < 4 || memcmp(p, KCS_GKI_MAGIC, 4) != 0)
		return bad(0, n < 4 ? "truncated: not a GKI key-read file" : "not a GKI key-read file (no GKIR magic)");
	if (n < KCS_GKI_HEADER) {
		snprintf(msg, sizeof msg, "truncated: the header needs %d bytes, the file has %zu", KCS_GKI_HEADER, n);
		return bad(n, msg);
	}
	if ((h->version = get16(p + 4)) != KCS_GKI_VERSION) {
		snprintf(msg, sizeof msg, "version %u is not supported (this kcs reads version %d)", h->version,
		    KCS_GKI_VERSION);
		return bad(4, msg);
	}
	if (get16(p + 6) != KCS_GKI_HEADER)
		return bad(6, "the header length is not 48");
	if (get16(p + 8) != KCS_GKI_RECORD)
		return bad(8, "the record length is not 100");
	if (get32(p + 44) != kw_crc32c(p, 44))
		return bad(44, "the header's CRC-32C does not match: the file is damaged");
	if (get16(p + 10) || get16(p + 42))
		return bad(get16(p + 10) ? 10 : 42, "reserved bytes are not zero");
	h->count = get32(p + 12);
	if (h->count == 0)
		return bad(12, "the file holds no records");
	if (h->count > KCS_GKI_MAX) {
		snprintf(msg, sizeof msg, "oversized: %u records, more than the %d a file may hold", h->count, KCS_GKI_MAX);
		return bad(12, msg);
	}
	if (text(p + 16, 13, 16, "distribution product number", digits, h->dpn) != KCS_OK ||
	    text(p + 29, 13, 29, "outlet number", digits, h->outlet) != KCS_OK)
		return KCS_EINVALID;
	if (!h->dpn[0] || !h->outlet[0])
		return bad(h->dpn[0] ? 29 : 16, h->dpn[0] ? "the outlet number is empty"
		    : "the distribution product number is empty");
	want = KCS_GKI_HEADER + (uint64_t)h->count * KCS_GKI_RECORD;
	if (n < want) {
		size_t last = KCS_GKI_HEADER + (n - KCS_GKI_HEADER) / KCS_GKI_RECORD * KCS_GKI_RECORD;

		snprintf(msg, sizeof msg, "truncated: record %zu needs %d bytes, %zu remain (the header counts %u)",
		    (last - KCS_GKI_HEADER) / KCS_GKI_RECORD + 1, KCS_GKI_RECORD, n - last, h->count);
		return bad(last, msg);
	}
	if (n > want) {
		snprintf(msg, sizeof msg, "oversized: %zu bytes after the last of %u records", n - (size_t)want, h->count);
		return bad((size_t)want, msg);
	}
	return KCS_OK;
}

/* Record i (from 0) of a file whose header was checked. */
int
kcs_gki_record(const uint8_t *file, uint32_t i, struct kcs_gki_record *r)
{
	size_t off = KCS_GKI_HEADER + (size_t)i * KCS_GKI_RECORD;
	const uint8_t *p = file + off;
	char msg[96];

	memset(r, 0, sizeof *r);
	r->offset = off;
	if (get32(p + 96) != kw_crc32c(p, 96))
		return bad(off + 96, "the record's CRC-32C does not match: the record is damaged");
	if (text(p, 17, off, "VIN", "0123456789ABCDEFGHJKLMNPRSTUVWXYZ", r->vin) != KCS_OK)
		return KCS_EINVALID;
	if (strlen(r->vin) != 17)
		return bad(off, "VIN: shorter than 17 characters");
	r->key_number = p[17];
	r->read_at = get32(p + 18);
	r->mileage = get32(p + 22);
	r->unit = p[26];
	r->energy_kind = p[27];
	r->energy = p[28];
	r->nservice = p[29];
	if (r->key_number > 10)
		return bad(off + 17, "key number: more than 10");
	if (r->read_at == 0)
		return bad(off + 18, "read time: not set");
	if (r->unit > 1)
		return bad(off + 26, "mileage unit: neither 0 (km) nor 1 (mi)");
	if (r->energy_kind > 2)
		return bad(off + 27, "energy: neither 0 (none), 1 (fuel) nor 2 (battery)");
	if (r->energy > 100 || (r->energy_kind == 0 && r->energy))
		return bad(off + 28, r->energy > 100 ? "energy: more than 100 percent" : "energy: a level without a kind");
	if (r->nservice > 2)
		return bad(off + 29, "service items: more than 2");
	if (text(p + 30, 16, off + 30, "reader", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:",
	    r->device) != KCS_OK)
		return KCS_EINVALID;
	for (unsigned s = 0; s < 2; s++) {
		const uint8_t *q = p + 46 + 24 * s;
		size_t qo = off + 46 + 24 * s;

		if (s >= r->nservice) {
			for (int k = 0; k < 24; k++)
				if (q[k]) {
					snprintf(msg, sizeof msg, "service item %u: set, but the record counts %u", s + 1,
					    r->nservice);
					return bad(qo + k, msg);
				}
			continue;
		}
		if (text(q, 16, qo, "service name", NULL, r->service[s].name) != KCS_OK)
			return KCS_EINVALID;
		if (!r->service[s].name[0])
			return bad(qo, "service name: empty");
		r->service[s].due_day = get32(q + 16);
		r->service[s].remaining_km = (int32_t)get32(q + 20);
		if (r->service[s].due_day > 200000)
			return bad(qo + 16, "service due day: beyond the year 2500");
		if (r->service[s].remaining_km != KCS_GKI_NONE &&
		    (r->service[s].remaining_km < -1000000 || r->service[s].remaining_km > 1000000))
			return bad(qo + 20, "service remaining distance: beyond a million km");
		if (!r->service[s].due_day && r->service[s].remaining_km == KCS_GKI_NONE)
			return bad(qo + 16, "service item: neither a due day nor a remaining distance");
	}
	if (p[94] || p[95])
		return bad(off + (p[94] ? 94 : 95), "reserved bytes are not zero");
	return KCS_OK;
}
