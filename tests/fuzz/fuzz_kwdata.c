/* libFuzzer target (make fuzz): what each side of the key writer protocol
 * parses from the other. The writer's side takes any bytes as requests
 * after a handshake (its replies must be whole frames); the host's side
 * takes any data as a handshake reply and as a key read reply. Neither may
 * crash, read out of bounds or accept a field out of its range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kcs.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kw_dev dev;
static struct kw_rx out;
static const uint8_t *reply;
static size_t reply_n;

static void
dev_out(void *ctx, const uint8_t *p, size_t n)
{
	struct kw_frame f;

	(void)ctx;
	memset(&out, 0, sizeof out);
	CHECK(kw_rx_feed(&out, p, n) == n);
	CHECK(kw_rx_next(&out, &f) == KW_RX_FRAME);
	CHECK(f.flags & KW_F_RESPONSE);
	CHECK(kw_rx_next(&out, &f) == KW_RX_NEED);
}

/* a transport whose writer answers every request with the fuzzer's data */
static uint16_t last_seq, last_cmd;

static int
fake_send(void *ctx, const uint8_t *p, size_t n, int ms)
{
	(void)ctx;
	(void)ms;
	CHECK(n >= KW_HEADER);
	last_seq = (uint16_t)(p[4] << 8 | p[5]);
	last_cmd = (uint16_t)(p[6] << 8 | p[7]);
	return KW_IO_OK;
}

static int
fake_recv(void *ctx, uint8_t *p, size_t cap, size_t *got, int ms)
{
	struct kw_frame f = { .version = KW_VERSION, .flags = KW_F_RESPONSE, .seq = last_seq, .cmd = last_cmd };

	(void)ctx;
	(void)ms;
	f.len = (uint16_t)(reply_n > KW_MAX_PAYLOAD ? KW_MAX_PAYLOAD : reply_n);
	if (f.len)
		memcpy(f.data, reply, f.len);
	*got = kw_encode(&f, p, cap);
	return KW_IO_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct kw_io io = { NULL, fake_send, fake_recv };
	static int started;
	struct kw_frame f = { .version = KW_VERSION, .seq = 1, .cmd = KW_HELLO, .len = 2, .data = { 1, 1 } };
	uint8_t wire[KW_MAX_FRAME];
	struct kw_host h;
	cJSON *o;

	if (!started) {
		if (sodium_init() < 0)
			abort();
		strcpy(dev.serial, "KW5-0001");
		strcpy(dev.model, "KW-1");
		dev.fw[0] = 5;
		dev.key = (struct kw_key){ .present = 1, .chip = KW_CHIP_PCF7945, .uid = { 1, 2, 3, 4 }, .uid_len = 4 };
		dev.out = dev_out;
		kw_dev_start(&dev);
		started = 1;
	}
	/* the writer: a handshake, then the bytes as they come */
	kw_dev_reset(&dev);
	kw_rx_feed(&dev.rx, wire, kw_encode(&f, wire, sizeof wire));
	CHECK(kw_dev_step(&dev) == 1);
	for (size_t at = 0; at < size;) {
		size_t took = kw_rx_feed(&dev.rx, data + at, size - at);

		at += took;
		while (kw_dev_step(&dev))
			;
		if (!took)
			break;
	}
	/* the host: the data as a handshake reply, then as a key read */
	reply = data;
	reply_n = size;
	kw_host_init(&h, &io, "fuzz");
	h.tries = 1;
	if (kw_host_hello(&h) == KCS_OK) {
		CHECK(h.info.serial[0] && strlen(h.info.serial) < sizeof h.info.serial);
		CHECK(h.info.max_payload >= 64 && h.info.max_payload <= KW_MAX_PAYLOAD);
	}
	f = (struct kw_frame){ .version = KW_VERSION, .flags = KW_F_RESPONSE, .cmd = KW_KEY_READ };
	f.len = (uint16_t)(size > KW_MAX_PAYLOAD ? KW_MAX_PAYLOAD : size);
	if (f.len)
		memcpy(f.data, data, f.len);
	if ((o = kw_key_json(&f))) {
		cJSON *n = cJSON_GetObjectItem(o, "key_number");

		CHECK(!n || (n->valueint >= 1 && n->valueint <= 10));
		cJSON_Delete(o);
	}
	return 0;
}
