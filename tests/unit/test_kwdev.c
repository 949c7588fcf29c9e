/* The key writer's protocol, host and writer side by side in memory: the
 * handshake first, the reply cache, refusals, attestation and a coding job
 * with its signed receipt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "kcs.h"

static struct kw_dev dev;
static uint8_t to_host[8 * KW_MAX_FRAME];
static size_t to_host_n;

static void
dev_out(void *ctx, const uint8_t *p, size_t n)
{
	(void)ctx;
	assert_true(to_host_n + n <= sizeof to_host);
	memcpy(to_host + to_host_n, p, n);
	to_host_n += n;
}

static int
mem_send(void *ctx, const uint8_t *p, size_t n, int ms)
{
	(void)ctx;
	(void)ms;
	kw_rx_feed(&dev.rx, p, n);
	while (kw_dev_step(&dev))
		;
	return KW_IO_OK;
}

static int
mem_recv(void *ctx, uint8_t *p, size_t cap, size_t *got, int ms)
{
	(void)ctx;
	(void)ms;
	if (!to_host_n)
		return KW_IO_TIMEOUT;
	*got = to_host_n < cap ? to_host_n : cap;
	memcpy(p, to_host, *got);
	memmove(to_host, to_host + *got, to_host_n - *got);
	to_host_n -= *got;
	return KW_IO_OK;
}

static const struct kw_io io = { NULL, mem_send, mem_recv };

static int
setup(void **state)
{
	(void)state;
	memset(&dev, 0, sizeof dev);
	strcpy(dev.serial, "KW5-0001");
	strcpy(dev.model, "KW-1");
	dev.fw[0] = 5, dev.fw[1] = 2;
	randombytes_buf(dev.seed, sizeof dev.seed);
	dev.key = (struct kw_key){ .present = 1, .chip = KW_CHIP_PCF7945, .uid = { 1, 2, 3, 4 }, .uid_len = 4 };
	dev.out = dev_out;
	kw_dev_start(&dev);
	to_host_n = 0;
	return 0;
}

/* one raw request: the writer's one reply */
static void
raw(uint8_t version, uint16_t seq, uint16_t cmd, const void *data, uint16_t len, struct kw_frame *reply)
{
	struct kw_frame f = { .version = version, .seq = seq, .cmd = cmd, .len = len };
	uint8_t wire[KW_MAX_FRAME];
	struct kw_rx rx = { 0 };

	if (len)
		memcpy(f.data, data, len);
	mem_send(NULL, wire, kw_encode(&f, wire, sizeof wire), 0);
	kw_rx_feed(&rx, to_host, to_host_n);
	to_host_n = 0;
	assert_int_equal(kw_rx_next(&rx, reply), KW_RX_FRAME);
	assert_int_equal(kw_rx_next(&rx, reply + 1), KW_RX_NEED);
}

static void
handshake_first(void **state)
{
	struct kw_host h;
	struct kw_frame r[2];
	uint8_t v[2] = { 1, 1 };

	(void)state;
	raw(KW_VERSION, 7, KW_KEY_READ, NULL, 0, r);
	assert_true(r[0].flags & KW_F_ERROR);
	assert_int_equal(r[0].status, KW_S_HELLO_FIRST);
	assert_int_equal(r[0].seq, 7);
	assert_int_equal(dev.executed[KW_KEY_READ], 0);
	/* another protocol version: refused, with the versions the writer speaks */
	raw(2, 8, KW_HELLO, v, 2, r);
	assert_int_equal(r[0].status, KW_S_BAD_VERSION);
	assert_int_equal(r[0].len, 2);
	v[0] = v[1] = 2;
	raw(KW_VERSION, 9, KW_HELLO, v, 2, r);
	assert_int_equal(r[0].status, KW_S_BAD_VERSION);
	assert_int_equal(dev.executed[KW_HELLO], 1);

	kw_host_init(&h, &io, "memory");
	assert_int_equal(kw_host_hello(&h), KCS_OK);
	assert_string_equal(h.info.serial, "KW5-0001");
	assert_string_equal(h.info.model, "KW-1");
	assert_int_equal(h.info.fw[0], 5);
	assert_int_equal(h.info.fw[1], 2);
	assert_int_equal(h.info.max_payload, KW_MAX_PAYLOAD);
	assert_int_equal(h.info.ncmds, 10);
	assert_int_equal(kw_host_usable(&h), KCS_OK);
	/* a command the writer did not list is not sent, and named */
	h.info.ncmds = 4; /* hello, ping, attest, key detect */
	assert_int_equal(kw_host_call(&h, KW_KEY_READ, NULL, 0, &r[0]), KCS_EREFUSED);
	assert_string_equal(kcs_errmsg(), "this key writer KW5-0001 (firmware 5.2.0) does not support key read; "
	    "update its firmware");
	assert_int_equal(dev.executed[KW_KEY_READ], 0);
	dev.fw[0] = 4;
	assert_int_equal(kw_host_hello(&h), KCS_OK);
	assert_int_equal(kw_host_usable(&h), KCS_EREFUSED);
	assert_non_null(strstr(kcs_errmsg(), "firmware 4.2, older than 5"));
}

static void
a_repeat_is_answered_from_the_cache(void **state)
{
	struct kw_frame a[2], b[2], c[2];
	uint8_t v[2] = { 1, 1 };

	(void)state;
	raw(KW_VERSION, 1, KW_HELLO, v, 2, a);
	raw(KW_VERSION, 2, KW_KEY_READ, NULL, 0, a);
	raw(KW_VERSION, 2, KW_KEY_READ, NULL, 0, b);
	assert_int_equal(dev.executed[KW_KEY_READ], 1);
	assert_int_equal(dev.replayed, 1);
	assert_int_equal(a[0].len, b[0].len);
	assert_memory_equal(a[0].data, b[0].data, a[0].len);
	/* the same seq with other data is another request */
	raw(KW_VERSION, 2, KW_PING, "x", 1, c);
	assert_int_equal(dev.executed[KW_PING], 1);
	raw(KW_VERSION, 2, KW_PING, "y", 1, c);
	assert_int_equal(dev.executed[KW_PING], 2);
	assert_int_equal(c[0].data[0], 'y');
	/* a new handshake starts a new session: nothing is replayed across it */
	raw(KW_VERSION, 3, KW_HELLO, v, 2, a);
	raw(KW_VERSION, 2, KW_PING, "y", 1, c);
	assert_int_equal(dev.executed[KW_PING], 3);
}

static void
refusals(void **state)
{
	struct kw_frame r[2], f = { .version = KW_VERSION, .seq = 5, .cmd = KW_PING, .len = 3 };
	uint8_t v[2] = { 1, 1 }, wire[KW_MAX_FRAME];
	struct kw_rx rx = { 0 };
	size_t n;

	(void)state;
	raw(KW_VERSION, 1, KW_HELLO, v, 2, r);
	raw(KW_VERSION, 2, 0x0099, NULL, 0, r);
	assert_int_equal(r[0].status, KW_S_UNKNOWN_COMMAND);
	raw(KW_VERSION, 3, KW_KEY_READ, "x", 1, r);
	assert_int_equal(r[0].status, KW_S_BAD_REQUEST);
	raw(KW_VERSION, 4, KW_ATTEST, "short", 5, r);
	assert_int_equal(r[0].status, KW_S_BAD_REQUEST);
	/* a damaged request: BAD_CHECK for its seq, not executed */
	memcpy(f.data, "abc", 3);
	n = kw_encode(&f, wire, sizeof wire);
	wire[n - 1] ^= 1;
	mem_send(NULL, wire, n, 0);
	kw_rx_feed(&rx, to_host, to_host_n);
	to_host_n = 0;
	assert_int_equal(kw_rx_next(&rx, r), KW_RX_FRAME);
	assert_int_equal(r[0].status, KW_S_BAD_CHECK);
	assert_int_equal(r[0].seq, 5);
	assert_int_equal(dev.executed[KW_PING], 0);
	/* a length over 1024: TOO_LONG, before any of it is read */
	wire[10] = 0x08, wire[11] = 0x00;
	wire[12] = (uint8_t)(kw_crc16(wire, 12) >> 8), wire[13] = (uint8_t)kw_crc16(wire, 12);
	mem_send(NULL, wire, 14, 0);
	kw_rx_feed(&rx, to_host, to_host_n);
	to_host_n = 0;
	assert_int_equal(kw_rx_next(&rx, r), KW_RX_FRAME);
	assert_int_equal(r[0].status, KW_S_TOO_LONG);
	/* no key in the slot */
	dev.key.present = 0;
	raw(KW_VERSION, 6, KW_KEY_READ, NULL, 0, r);
	assert_int_equal(r[0].status, KW_S_NO_KEY);
	raw(KW_VERSION, 7, KW_KEY_DETECT, NULL, 0, r);
	assert_int_equal(r[0].status, KW_S_OK);
	assert_int_equal(r[0].len, 1);
	assert_int_equal(r[0].data[0], 0);
}

static void
attestation(void **state)
{
	struct kw_host h;
	uint8_t nonce[KW_NONCE], pk[32], hash[32], other[32], sk[64], sig[64];

	(void)state;
	kw_host_init(&h, &io, "memory");
	assert_int_equal(kw_host_hello(&h), KCS_OK);
	randombytes_buf(nonce, sizeof nonce);
	assert_int_equal(kw_host_attest(&h, nonce, dev.pk, pk, hash, sig), KCS_OK);
	assert_memory_equal(pk, dev.pk, 32);
	assert_memory_equal(hash, dev.fw_hash, 32);
	crypto_sign_keypair(other, sk);
	assert_int_equal(kw_host_attest(&h, nonce, other, pk, hash, sig), KCS_EREFUSED);
	/* the signature covers the handshake the host saw */
	h.info.raw[0] ^= 1;
	assert_int_equal(kw_host_attest(&h, nonce, dev.pk, pk, hash, sig), KCS_EREFUSED);
}

/* a job sealed to the writer: id, VIN, key number, expiry, transponder data */
static size_t
job(uint8_t *out, const uint8_t ed_pk[32], uint64_t id, uint32_t now, uint32_t expires)
{
	struct kw_job j = { .id = id, .vin = "WBA3A5C53CF256985", .number = 3, .expires = expires,
		.data = { 0x10, 0x20, 0x30, 0x40 }, .n = 4 };
	struct kw_put o = { out, 0, 4, 0 };
	size_t n;

	kw_put_u32(&o, now);
	n = kw_job_seal(&j, ed_pk, out + 4, KW_MAX_PAYLOAD - 4);
	assert_true(n > 0);
	return 4 + n;
}

static void
coding_job(void **state)
{
	struct kw_host h;
	struct kw_frame r;
	uint8_t blob[KW_MAX_PAYLOAD], challenge[KW_NONCE], msg[64 + KW_MAX_PAYLOAD], other[32], sk[64];
	struct kw_receipt rc;
	size_t n, m;

	(void)state;
	kw_host_init(&h, &io, "memory");
	assert_int_equal(kw_host_hello(&h), KCS_OK);
	/* sealed to another writer, or expired: refused */
	crypto_sign_keypair(other, sk);
	n = job(blob, other, 42, 1000, 2000);
	assert_int_equal(kw_host_call(&h, KW_CODE_BEGIN, blob, n, &r), KCS_EREFUSED);
	assert_non_null(strstr(kcs_errmsg(), "not sealed to this writer"));
	n = job(blob, dev.pk, 42, 3000, 2000);
	assert_int_equal(kw_host_call(&h, KW_CODE_BEGIN, blob, n, &r), KCS_EREFUSED);
	assert_non_null(strstr(kcs_errmsg(), "expired"));
	assert_int_equal(kw_host_call(&h, KW_CODE_COMMIT, challenge, KW_NONCE, &r), KCS_EREFUSED);

	n = job(blob, dev.pk, 42, 1000, 2000);
	assert_int_equal(kw_host_call(&h, KW_CODE_BEGIN, blob, n, &r), KCS_OK);
	assert_int_equal(r.len, 8);
	assert_int_equal(r.data[7], 42);
	assert_int_equal(dev.job.n, 4);
	assert_false(dev.key.coded);
	randombytes_buf(challenge, sizeof challenge);
	assert_int_equal(kw_host_call(&h, KW_CODE_COMMIT, challenge, KW_NONCE, &r), KCS_OK);
	assert_true(dev.key.coded);
	assert_string_equal(dev.key.vin, "WBA3A5C53CF256985");
	assert_int_equal(dev.key.number, 3);
	assert_int_equal(dev.counter, 1);
	/* the receipt: signed by the writer's key over its context, the challenge and the receipt */
	m = kw_receipt_message(msg, sizeof msg, challenge, r.data, r.len - 64u);
	assert_int_equal(crypto_sign_verify_detached(r.data + r.len - 64, msg, m, dev.pk), 0);
	assert_int_equal(kw_receipt_parse(r.data, r.len - 64u, &rc), 0);
	assert_int_equal(rc.job, 42);
	assert_string_equal(rc.vin, "WBA3A5C53CF256985");
	assert_int_equal(rc.number, 3);
	assert_int_equal(rc.count, 1);
	assert_int_equal(rc.key_id_n, 4);
	/* committed again (a new request, not a retry): the receipt, no second write */
	assert_int_equal(kw_host_call(&h, KW_CODE_COMMIT, challenge, KW_NONCE, &r), KCS_OK);
	assert_int_equal(dev.counter, 1);
	assert_int_equal(kw_host_call(&h, KW_CODE_BEGIN, blob, n, &r), KCS_OK);
	assert_int_equal(dev.job.state, KW_JOB_CODED);
	assert_int_equal(kw_host_call(&h, KW_CODE_VERIFY, NULL, 0, &r), KCS_OK);
	assert_int_equal(kw_host_call(&h, KW_CODE_PROGRESS, NULL, 0, &r), KCS_OK);
	assert_int_equal(r.data[0], KW_JOB_CODED);
	assert_int_equal(r.data[1], 100);
	assert_int_equal(kw_host_call(&h, KW_CODE_CANCEL, NULL, 0, &r), KCS_EREFUSED);
	assert_non_null(strstr(kcs_errmsg(), "not in a state"));
	/* the key changed under the writer: verify says so */
	dev.key.number = 4;
	assert_int_equal(kw_host_call(&h, KW_CODE_VERIFY, NULL, 0, &r), KCS_EREFUSED);
	assert_non_null(strstr(kcs_errmsg(), "does not hold what was written"));
	/* a new job can be cancelled before its commit */
	n = job(blob, dev.pk, 43, 1000, 2000);
	assert_int_equal(kw_host_call(&h, KW_CODE_BEGIN, blob, n, &r), KCS_OK);
	assert_int_equal(kw_host_call(&h, KW_CODE_CANCEL, NULL, 0, &r), KCS_OK);
	assert_int_equal(kw_host_call(&h, KW_CODE_COMMIT, challenge, KW_NONCE, &r), KCS_EREFUSED);
	assert_int_equal(dev.counter, 1);
}

static void
key_json(void **state)
{
	struct kw_host h;
	struct kw_frame r;
	cJSON *o;

	(void)state;
	kw_host_init(&h, &io, "memory");
	assert_int_equal(kw_host_hello(&h), KCS_OK);
	assert_int_equal(kw_host_call(&h, KW_KEY_DETECT, NULL, 0, &r), KCS_OK);
	assert_non_null(o = kw_key_json(&r));
	assert_string_equal(kcs_json_str(o, "state"), "blank");
	assert_string_equal(kcs_json_str(o, "key_id"), "01020304");
	cJSON_Delete(o);
	/* a coded key's memory with values out of range is refused, not passed on */
	dev.key.coded = 1;
	strcpy(dev.key.vin, "WBA3A5C53CF256985");
	dev.key.number = 11;
	dev.key.personalization = 1;
	assert_int_equal(kw_host_call(&h, KW_KEY_READ, NULL, 0, &r), KCS_OK);
	assert_null(kw_key_json(&r));
	dev.key.number = 10;
	dev.key.energy_kind = KW_ENERGY_FUEL;
	dev.key.energy = 101;
	assert_int_equal(kw_host_call(&h, KW_KEY_READ, NULL, 0, &r), KCS_OK);
	assert_null(kw_key_json(&r));
	dev.key.energy = 100;
	assert_int_equal(kw_host_call(&h, KW_KEY_READ, NULL, 0, &r), KCS_OK);
	assert_non_null(o = kw_key_json(&r));
	assert_int_equal(cJSON_GetObjectItem(o, "key_number")->valueint, 10);
	cJSON_Delete(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(handshake_first, setup),
		cmocka_unit_test_setup(a_repeat_is_answered_from_the_cache, setup),
		cmocka_unit_test_setup(refusals, setup),
		cmocka_unit_test_setup(attestation, setup),
		cmocka_unit_test_setup(coding_job, setup),
		cmocka_unit_test_setup(key_json, setup),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("kwdev", tests, NULL, NULL);
}
