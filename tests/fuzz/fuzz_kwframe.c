/* libFuzzer target (make fuzz): the key writer's frame receiver on any
 * bytes, fed in pieces of varying size. It never holds more than its
 * buffer, never yields data longer than the limit, and every frame it
 * accepts encodes again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kcs.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kw_rx rx;
	static struct kw_frame f;
	static uint8_t again[KW_MAX_FRAME];
	size_t at = 0;

	memset(&rx, 0, sizeof rx);
	while (at < size) {
		/* the first byte of each piece sets the next piece's length */
		size_t piece = 1 + data[at] % 97, took;
		int rc;

		if (piece > size - at)
			piece = size - at;
		took = kw_rx_feed(&rx, data + at, piece);
		at += took;
		CHECK(rx.n <= sizeof rx.buf);
		while ((rc = kw_rx_next(&rx, &f)) != KW_RX_NEED) {
			CHECK(f.len <= KW_MAX_PAYLOAD);
			if (rc == KW_RX_FRAME)
				CHECK(kw_encode(&f, again, sizeof again) == KW_HEADER + (size_t)f.len + KW_TRAILER);
		}
		if (!took)
			break;
	}
	return 0;
}
