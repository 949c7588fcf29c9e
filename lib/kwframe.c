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

static const struct {
	uint16_t cmd;
	const char *name;
} cmds[] = {
	{ KW_HELLO, "hello" }, { KW_PING, "ping" }, { KW_ATTEST, "attest" },
	{ KW_KEY_DETECT, "key detect" }, { KW_KEY_READ, "key read" },
	{ KW_CODE_BEGIN, "code begin" }, { KW_CODE_PROGRESS, "code progress" },
	{ KW_CODE_COMMIT, "code commit" }, { KW_CODE_VERIFY, "code verify" },
	{ KW_CODE_CANCEL, "code cancel" },
};

const char *
kw_cmd_name(uint16_t cmd)
{
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (cmds[i].cmd == cmd)
			return cmds[i].name;
	return NULL;
}

static const char *const statuses[KW_S_COUNT] = {
	[KW_S_OK] = "done",
	[KW_S_BAD_CHECK] = "the request reached the writer damaged (its data check failed)",
	[KW_S_TOO_LONG] = "the request is longer than the writer accepts",
	[KW_S_BAD_VERSION] = "the writer does not speak this protocol version",
	[KW_S_UNKNOWN_COMMAND] = "the writer does not support this command",
	[KW_S_BAD_REQUEST] = "the writer refused the request's data as malformed",
	[KW_S_HELLO_FIRST] = "the writer expects the handshake first",
	[KW_S_BUSY] = "the writer is busy with another request",
	[KW_S_NO_KEY] = "there is no key in the writer's slot",
	[KW_S_KEY_ERROR] = "the key in the slot could not be read or written: seat it again",
	[KW_S_NO_JOB] = "the writer holds no coding job",
	[KW_S_JOB_REFUSED] = "the writer refused the coding job: it is not sealed to this writer or is malformed",
	[KW_S_JOB_EXPIRED] = "the coding job has expired",
	[KW_S_VERIFY_FAILED] = "the key does not hold what was written",
	[KW_S_WRONG_STATE] = "the writer is not in a state to do this now",
};

const char *
kw_status_text(uint16_t status)
{
	return status < KW_S_COUNT ? statuses[status] : "the writer reported an error this kcs does not know";
}

static uint8_t *
room(struct kw_put *w, size_t n)
{
	uint8_t *p;

	if (w->bad || n > w->cap - w->n) {
		w->bad = 1;
		return NULL;
	}
	p = w->p + w->n;
	w->n += n;
	return p;
}

void
kw_put_u8(struct kw_put *w, unsigned v)
{
	uint8_t *p = room(w, 1);

	if (p)
		p[0] = (uint8_t)v;
}

void
kw_put_u16(struct kw_put *w, unsigned v)
{
	uint8_t *p = room(w, 2);

	if (p)
		put16(p, (uint16_t)v);
}

void
kw_put_u32(struct kw_put *w, uint32_t v)
{
	kw_put_u16(w, v >> 16);
	kw_put_u16(w, v & 0xFFFF);
}

void
kw_put_u64(struct kw_put *w, uint64_t v)
{
	kw_put_u32(w, (uint32_t)(v >> 32));
	kw_put_u32(w, (uint32_t)v);
}

void
kw_put_raw(struct kw_put *w, const void *src, size_t n)
{
	uint8_t *p = room(w, n);

	if (p && n)
		memcpy(p, src, n);
}

void
kw_put_bytes(struct kw_put *w, const void *src, size_t n)
{
	if (n > 255) {
		w->bad = 1;
		return;
	}
	kw_put_u8(w, (unsigned)n);
	kw_put_raw(w, src, n);
}

const uint8_t *
kw_get_raw(struct kw_get *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || n > r->n - r->off) {
		r->bad = 1;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

unsigned
kw_get_u8(struct kw_get *r)
{
	const uint8_t *p = kw_get_raw(r, 1);

	return p ? p[0] : 0;
}

unsigned
kw_get_u16(struct kw_get *r)
{
	const uint8_t *p = kw_get_raw(r, 2);

	return p ? get16(p) : 0;
}

uint32_t
kw_get_u32(struct kw_get *r)
{
	uint32_t hi = kw_get_u16(r);

	return hi << 16 | kw_get_u16(r);
}

uint64_t
kw_get_u64(struct kw_get *r)
{
	uint64_t hi = kw_get_u32(r);

	return hi << 32 | kw_get_u32(r);
}

size_t
kw_get_bytes(struct kw_get *r, uint8_t *out, size_t cap)
{
	size_t n = kw_get_u8(r);
	const uint8_t *p;

	if (n > cap) {
		r->bad = 1;
		return 0;
	}
	if (!(p = kw_get_raw(r, n)))
		return 0;
	memcpy(out, p, n);
	return n;
}

int
kw_get_str(struct kw_get *r, char *out, size_t cap)
{
	size_t n = kw_get_bytes(r, (uint8_t *)out, cap ? cap - 1 : 0);

	if (r->bad)
		return -1;
	out[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (out[i] < 0x20 || out[i] > 0x7E) {
			r->bad = 1;
			return -1;
		}
	return 0;
}
