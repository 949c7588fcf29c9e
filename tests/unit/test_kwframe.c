/* The key writer's frame codec: round trips, and every way a frame can
 * arrive broken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kcs.h"

static struct kw_frame f, g;
static struct kw_rx rx;
static uint8_t wire[2 * KW_MAX_FRAME];

static size_t
frame(uint16_t seq, uint16_t cmd, const char *data)
{
	memset(&f, 0, sizeof f);
	f.version = KW_VERSION;
	f.seq = seq;
	f.cmd = cmd;
	f.len = (uint16_t)strlen(data);
	memcpy(f.data, data, f.len);
	return kw_encode(&f, wire, sizeof wire);
}

static void
checks(void **state)
{
	(void)state;
	/* the catalogue's check values */
	assert_int_equal(kw_crc16((const uint8_t *)"123456789", 9), 0x29B1);
	assert_int_equal(kw_crc32c((const uint8_t *)"123456789", 9), 0xE3069283u);
}

static void
round_trip_and_layout(void **state)
{
	size_t n = frame(0x0102, 0x0001, "hello");

	(void)state;
	assert_int_equal(n, KW_HEADER + 5 + KW_TRAILER);
	assert_int_equal(wire[0], 0x4B);
	assert_int_equal(wire[1], 0x57);
	assert_int_equal(wire[2], KW_VERSION);
	assert_int_equal(wire[4], 0x01);
	assert_int_equal(wire[5], 0x02);
	assert_int_equal(wire[11], 5);
	assert_memory_equal(wire + KW_HEADER, "hello", 5);
	memset(&rx, 0, sizeof rx);
	assert_int_equal(kw_rx_feed(&rx, wire, n), n);
	assert_int_equal(kw_rx_next(&rx, &g), KW_RX_FRAME);
	assert_int_equal(g.seq, 0x0102);
	assert_int_equal(g.cmd, 1);
	assert_int_equal(g.len, 5);
	assert_memory_equal(g.data, "hello", 5);
	assert_int_equal(kw_rx_next(&rx, &g), KW_RX_NEED);
	assert_int_equal(rx.n, 0);
}

static void
truncated_then_whole(void **state)
{
	size_t n = frame(7, 2, "ping");

	(void)state;
	memset(&rx, 0, sizeof rx);
	/* one byte at a time: nothing until the last */
	for (size_t i = 0; i < n - 1; i++) {
		kw_rx_feed(&rx, wire + i, 1);
		assert_int_equal(kw_rx_next(&rx, &g), KW_RX_NEED);
	}
	kw_rx_feed(&rx, wire + n - 1, 1);
	assert_int_equal(kw_rx_next(&rx, &g), KW_RX_FRAME);
	assert_int_equal(g.seq, 7);
}

static void
oversized(void **state)
{
	uint8_t h[KW_HEADER] = { 0x4B, 0x57, KW_VERSION, 0, 0, 9, 0, 1, 0, 0, 0x04, 0x01 };
	uint16_t c = kw_crc16(h, 12);

	(void)state;
	/* the encoder refuses it */
	memset(&f, 0, sizeof f);
	f.len = KW_MAX_PAYLOAD + 1;
	assert_int_equal(kw_encode(&f, wire, sizeof wire), 0);
	/* a header announcing 1025 bytes: refused before its data arrives */
	h[12] = (uint8_t)(c >> 8);
	h[13] = (uint8_t)c;
	memset(&rx, 0, sizeof rx);
	kw_rx_feed(&rx, h, sizeof h);
	assert_int_equal(kw_rx_next(&rx, &g), KW_RX_OVERSIZED);
	assert_int_equal(g.seq, 9);
	assert_int_equal(rx.n, 0);
}

static void
garbage_before_a_frame(void **state)
{
	const uint8_t junk[] = { 0x00, 0x4B, 0x4B, 0x57, 0x01, 0xFF, 0x4B, 0x57, 0x4B };
	size_t n = frame(3, 0x10, "detect");

	(void)state;
	memset(&rx, 0, sizeof rx);
	kw_rx_feed(&rx, junk, sizeof junk);
	kw_rx_feed(&rx, wire, n);
	assert_int_equal(kw_rx_next(&rx, &g), KW_RX_FRAME);
	assert_int_equal(g.cmd, 0x10);
	assert_int_equal(rx.skipped, sizeof junk);
}

static void
wrong_magic_and_header_check(void **state)
{
	size_t n = frame(4, 2, "x");

	(void)state;
	/* a wrong magic: the frame is never seen */
	wire[0] = 0x4C;
	memset(&rx, 0, sizeof rx);
	kw_rx_feed(&rx, wire, n);
	assert_int_equal(kw_rx_next(&rx, &g), KW_RX_NEED);
	/* a damaged length: the header check catches it, the next frame is found */
	n = frame(4, 2, "x");
	wire[11] ^= 0x40;
	memset(&rx, 0, sizeof rx);
	kw_rx_feed(&rx, wire, n);
	n = frame(5, 2, "y");
	kw_rx_feed(&rx, wire, n);
	assert_int_equal(kw_rx_next(&rx, &g), KW_RX_FRAME);
	assert_int_equal(g.seq, 5);
	assert_true(rx.skipped > 0);
}

static void
wrong_data_check(void **state)
{
	size_t n = frame(6, 0x20, "sealed job");

	(void)state;
	wire[KW_HEADER + 3] ^= 1;
	memset(&rx, 0, sizeof rx);
	kw_rx_feed(&rx, wire, n);
	/* the header is good: the receiver can answer that seq with an error */
	assert_int_equal(kw_rx_next(&rx, &g), KW_RX_BAD_CRC);
	assert_int_equal(g.seq, 6);
	assert_int_equal(rx.bad_crc, 1);
	assert_int_equal(rx.n, 0);
	/* the trailer itself damaged */
	n = frame(6, 0x20, "sealed job");
	wire[n - 1] ^= 0x80;
	kw_rx_feed(&rx, wire, n);
	assert_int_equal(kw_rx_next(&rx, &g), KW_RX_BAD_CRC);
}

static void
a_full_buffer_takes_what_fits(void **state)
{
	static uint8_t big[3 * KW_MAX_FRAME];

	(void)state;
	memset(&rx, 0, sizeof rx);
	memset(big, 0xAA, sizeof big);
	assert_int_equal(kw_rx_feed(&rx, big, sizeof big), sizeof rx.buf);
	assert_int_equal(kw_rx_next(&rx, &g), KW_RX_NEED);
	assert_int_equal(rx.n, 1); /* all but the last byte, which could start a magic */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(checks),
		cmocka_unit_test(round_trip_and_layout),
		cmocka_unit_test(truncated_then_whole),
		cmocka_unit_test(oversized),
		cmocka_unit_test(garbage_before_a_frame),
		cmocka_unit_test(wrong_magic_and_header_check),
		cmocka_unit_test(wrong_data_check),
		cmocka_unit_test(a_full_buffer_takes_what_fits),
	};

	return cmocka_run_group_tests_name("kwframe", tests, NULL, NULL);
}
