/* libFuzzer target (make fuzz): the GKI key-read file parser (kcs-gki(5))
 * on any bytes, as they come and again with every CRC-32C made right (so
 * that the fields behind the checks are reached). A record the parser takes
 * holds what kcs-gki(5) allows. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kcs.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
parse(const uint8_t *p, size_t n)
{
	struct kcs_gki_header h;
	struct kcs_gki_record r;

	if (kcs_gki_header(p, n, &h) != KCS_OK) {
		CHECK(strncmp(kcs_errmsg(), "offset ", 7) == 0);
		return;
	}
	CHECK(h.count >= 1 && h.count <= KCS_GKI_MAX && n == KCS_GKI_HEADER + (size_t)h.count * KCS_GKI_RECORD);
	CHECK(h.dpn[0] && strlen(h.dpn) <= 13 && h.outlet[0] && strlen(h.outlet) <= 13);
	for (uint32_t i = 0; i < h.count; i++) {
		if (kcs_gki_record(p, i, &r) != KCS_OK) {
			CHECK(strncmp(kcs_errmsg(), "offset ", 7) == 0);
			continue;
		}
		CHECK(strlen(r.vin) == 17 && r.key_number <= 10 && r.unit <= 1 && r.energy_kind <= 2 &&
		    r.energy <= 100 && r.nservice <= 2 && strlen(r.device) <= 16);
		for (unsigned s = 0; s < r.nservice; s++)
			CHECK(r.service[s].name[0] && strlen(r.service[s].name) <= 16);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	parse(data, size);
	if (size < KCS_GKI_HEADER || !(fixed = malloc(size)))
		return 0;
	memcpy(fixed, data, size);
	put32(fixed + 44, kw_crc32c(fixed, 44));
	for (size_t off = KCS_GKI_HEADER; off + KCS_GKI_RECORD <= size; off += KCS_GKI_RECORD)
		put32(fixed + off + 96, kw_crc32c(fixed + off, 96));
	parse(fixed, size);
	free(fixed);
	return 0;
}
