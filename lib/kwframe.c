/* kwframe.c: the key writer's frames (kcs-keywriter-protocol(7)).
 *
 *   0  u16 magic 0x4B57 ("KW"), the anchor a receiver resynchronises on
 *   2  u8  protocol version
 *   3  u8  flags: response, error, more, keepalive
 *   4  u16 seq     echoed in the reply
 *   6  u16 cmd
 *   8  u16 status  0 in requests
 *  10  u16 len     of the data, at most KW_MAX_PAYLOAD
 *  12  u16 CRC-16/CCITT-FALSE of bytes 0..11
 *  14  data[len]
 *  14+len u32 CRC-32C of bytes 0..13+len
 *
 * Integers are big-endian. The header's own check lets a receiver trust a
 * length before it reads that many bytes; a bad magic or header check
 * moves it on by one byte, so that garbage before a frame is skipped. */
#include <string.h>

#include "kcs.h"

uint16_t
kw_crc16(const uint8_t *p, size_t n)
{
	uint16_t c = 0xFFFF;

	while (n--) {
		c ^= (uint16_t)(*p++ << 8);
		for (int i = 0; i < 8; i++)
			c = (uint16_t)(c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1);
	}
	return c;
}

uint32_t
kw_crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	while (n--) {
		c ^= *p++;
		for (int i = 0; i < 8; i++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	return ~c;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

size_t
kw_encode(const struct kw_frame *f, uint8_t *out, size_t cap)
{
	size_t n = KW_HEADER + (size_t)f->len + KW_TRAILER;
	uint32_t crc;

	if (f->len > KW_MAX_PAYLOAD || n > cap)
		return 0;
	put16(out, KW_MAGIC);
	out[2] = f->version;
	out[3] = f->flags;
	put16(out + 4, f->seq);
	put16(out + 6, f->cmd);
	put16(out + 8, f->status);
	put16(out + 10, f->len);
	put16(out + 12, kw_crc16(out, 12));
	memcpy(out + KW_HEADER, f->data, f->len);
	crc = kw_crc32c(out, KW_HEADER + (size_t)f->len);
	put16(out + KW_HEADER + f->len, (uint16_t)(crc >> 16));
	put16(out + KW_HEADER + f->len + 2, (uint16_t)crc);
	return n;
}

size_t
kw_rx_feed(struct kw_rx *rx, const uint8_t *in, size_t n)
{
	size_t room = sizeof rx->buf - rx->n;

	if (n > room)
		n = room;
	memcpy(rx->buf + rx->n, in, n);
	rx->n += n;
	return n;
}

static void
drop(struct kw_rx *rx, size_t k)
{
	memmove(rx->buf, rx->buf + k, rx->n - k);
	rx->n -= k;
}

static void
header(const uint8_t *p, struct kw_frame *f)
{
	f->version = p[2];
	f->flags = p[3];
	f->seq = get16(p + 4);
	f->cmd = get16(p + 6);
	f->status = get16(p + 8);
	f->len = get16(p + 10);
}

int
kw_rx_next(struct kw_rx *rx, struct kw_frame *f)
{
	for (;;) {
		size_t total;
		uint32_t crc;

		if (rx->n < 2)
			return KW_RX_NEED;
		if (get16(rx->buf) != KW_MAGIC) {
			drop(rx, 1);
			rx->skipped++;
			continue;
		}
		if (rx->n < KW_HEADER)
			return KW_RX_NEED;
		if (get16(rx->buf + 12) != kw_crc16(rx->buf, 12)) {
			drop(rx, 1);
			rx->skipped++;
			continue;
		}
		header(rx->buf, f);
		if (f->len > KW_MAX_PAYLOAD) {
			/* refused before its data is read: what follows is skipped
			 * up to the next good header */
			drop(rx, KW_HEADER);
			f->len = 0;
			return KW_RX_OVERSIZED;
		}
		total = KW_HEADER + (size_t)f->len + KW_TRAILER;
		if (rx->n < total)
			return KW_RX_NEED;
		crc = (uint32_t)get16(rx->buf + KW_HEADER + f->len) << 16 | get16(rx->buf + KW_HEADER + f->len + 2);
		if (crc != kw_crc32c(rx->buf, KW_HEADER + (size_t)f->len)) {
			drop(rx, total);
			rx->bad_crc++;
			f->len = 0;
			return KW_RX_BAD_CRC;
		}
		memcpy(f->data, rx->buf + KW_HEADER, f->len);
		drop(rx, total);
		return KW_RX_FRAME;
	}
}
