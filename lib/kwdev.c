/* kwdev.c: the Key Writer's side of kcs-keywriter-protocol(7), as its
 * firmware runs it. The emulated writer presents it over USB; the rules a
 * firmware must keep are here in one place:
 *
 * - the handshake comes first; every other command before it is refused;
 * - a request that repeats the last one (same seq, command and data) gets
 *   the reply already sent, and is not executed again;
 * - a request whose data check fails, that is too long or that speaks another
 *   protocol version gets an error reply for its seq and is not executed;
 * - a coding job is opened only with the writer's own key, and committing
 *   the same job again returns its receipt without writing the key twice. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "kcs.h"

const char *
kw_chip_name(unsigned chip)
{
	return chip == KW_CHIP_PCF7945 ? "PCF7945" : chip == KW_CHIP_PCF7953 ? "PCF7953" : NULL;
}

static const uint16_t supported[] = { KW_HELLO, KW_PING, KW_ATTEST, KW_KEY_DETECT, KW_KEY_READ,
	KW_CODE_BEGIN, KW_CODE_PROGRESS, KW_CODE_COMMIT, KW_CODE_VERIFY, KW_CODE_CANCEL };

void
kw_dev_start(struct kw_dev *d)
{
	char image[64];

	crypto_sign_seed_keypair(d->pk, d->sk, d->seed);
	/* the emulated writer's "image": what a firmware hashes is its code */
	snprintf(image, sizeof image, "kcs emulated key writer %u.%u.%u", d->fw[0], d->fw[1], d->fw[2]);
	crypto_hash_sha256(d->fw_hash, (const uint8_t *)image, strlen(image));
	kw_dev_reset(d);
}

void
kw_dev_reset(struct kw_dev *d)
{
	memset(&d->rx, 0, sizeof d->rx);
	d->hello = 0;
	d->cached = 0;
	memset(&d->job, 0, sizeof d->job);
}

static void
send(struct kw_dev *d, uint16_t seq, uint16_t cmd, uint8_t flags, uint16_t status,
    const uint8_t *data, size_t n, int cache, uint32_t check)
{
	struct kw_frame f = { .version = KW_VERSION, .flags = flags, .seq = seq, .cmd = cmd,
		.status = status, .len = (uint16_t)n };
	uint8_t buf[KW_MAX_FRAME];
	size_t len;

	if (n)
		memcpy(f.data, data, n);
	len = kw_encode(&f, buf, sizeof buf);
	if (cache) {
		memcpy(d->reply, buf, len);
		d->reply_n = len;
		d->last_seq = seq;
		d->last_cmd = cmd;
		d->last_check = check;
		d->cached = 1;
	}
	d->out(d->ctx, buf, len);
}

static void
refuse(struct kw_dev *d, const struct kw_frame *f, uint16_t status)
{
	d->refused++;
	send(d, f->seq, f->cmd, KW_F_RESPONSE | KW_F_ERROR, status, NULL, 0, 0, 0);
}

void
kw_dev_keepalive(struct kw_dev *d, unsigned percent)
{
	uint8_t p = (uint8_t)(percent > 100 ? 100 : percent);

	send(d, d->cur_seq, d->cur_cmd, KW_F_RESPONSE | KW_F_KEEPALIVE, 0, &p, 1, 0, 0);
}

static void
hello(struct kw_dev *d, struct kw_get *in, struct kw_put *out)
{
	kw_put_u8(out, KW_VERSION);
	kw_put_u8(out, d->fw[0]);
	kw_put_u8(out, d->fw[1]);
	kw_put_u8(out, d->fw[2]);
	kw_put_u16(out, KW_MAX_PAYLOAD);
	kw_put_bytes(out, d->serial, strlen(d->serial));
	kw_put_bytes(out, d->model, strlen(d->model));
	kw_put_u8(out, d->hw);
	kw_put_u8(out, sizeof supported / sizeof supported[0]);
	for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++)
		kw_put_u16(out, supported[i]);
	(void)in;
	d->hello = 1;
	d->cached = 0; /* a new session: nothing before it is replayed */
	d->hello_n = out->n;
	memcpy(d->hello_data, out->p, out->n);
}

static int
attest(struct kw_dev *d, struct kw_get *in, struct kw_put *out)
{
	const uint8_t *nonce = kw_get_raw(in, KW_NONCE);
	uint8_t msg[64 + KW_MAX_PAYLOAD], sig[64];
	size_t n;

	if (!nonce || in->off != in->n)
		return KW_S_BAD_REQUEST;
	n = kw_attest_message(msg, sizeof msg, nonce, d->hello_data, d->hello_n, d->fw_hash);
	crypto_sign_detached(sig, NULL, msg, n, d->sk);
	kw_put_raw(out, d->pk, 32);
	kw_put_raw(out, d->fw_hash, 32);
	kw_put_raw(out, sig, 64);
	return KW_S_OK;
}

static int
key(struct kw_dev *d, int full, struct kw_put *out)
{
	const struct kw_key *k = &d->key;

	if (!k->present) {
		if (full)
			return KW_S_NO_KEY;
		kw_put_u8(out, 0);
		return KW_S_OK;
	}
	kw_put_u8(out, 1);
	kw_put_u8(out, k->chip);
	kw_put_bytes(out, k->uid, k->uid_len);
	kw_put_u8(out, k->coded);
	if (!full || !k->coded)
		return KW_S_OK;
	kw_put_bytes(out, k->vin, strlen(k->vin));
	kw_put_u8(out, k->number);
	kw_put_u8(out, k->personalization);
	kw_put_u32(out, k->mileage);
	kw_put_u8(out, k->unit);
	kw_put_u8(out, k->energy_kind);
	kw_put_u8(out, k->energy);
	kw_put_u32(out, k->stored_at);
	return KW_S_OK;
}

/* CODE_BEGIN: u32 host time, then the job sealed to this writer's key */
static int
code_begin(struct kw_dev *d, struct kw_get *in, struct kw_put *out)
{
	uint32_t now = kw_get_u32(in);
	size_t n = in->n - in->off;
	const uint8_t *sealed = kw_get_raw(in, n);
	struct kw_job job;

	if (in->bad)
		return KW_S_BAD_REQUEST;
	if (kw_job_open(&job, sealed, n, d->pk, d->sk) != 0)
		return KW_S_JOB_REFUSED;
	kw_put_u64(out, job.id);
	if (d->job.state == KW_JOB_CODED && d->job.id == job.id)
		goto done; /* the same job again: nothing to start */
	if (job.expires <= now) {
		sodium_memzero(&job, sizeof job);
		return KW_S_JOB_EXPIRED;
	}
	memset(&d->job, 0, sizeof d->job);
	d->job.state = KW_JOB_READY;
	d->job.id = job.id;
	memcpy(d->job.vin, job.vin, sizeof job.vin);
	d->job.number = job.number;
	memcpy(d->job.data, job.data, job.n);
	d->job.n = job.n;
done:
	sodium_memzero(&job, sizeof job);
	return KW_S_OK;
}

/* CODE_COMMIT: writes the key once, answers the signed receipt */
static int
code_commit(struct kw_dev *d, struct kw_get *in, struct kw_put *out)
{
	const uint8_t *challenge = kw_get_raw(in, KW_NONCE);
	uint8_t msg[64 + KW_MAX_PAYLOAD], sig[64];
	struct kw_receipt r = { 0 };
	size_t n;

	if (!challenge || in->off != in->n)
		return KW_S_BAD_REQUEST;
	if (d->job.state != KW_JOB_READY && d->job.state != KW_JOB_CODED)
		return KW_S_NO_JOB;
	if (!d->key.present)
		return KW_S_NO_KEY;
	if (d->job.state == KW_JOB_READY) {
		struct kw_key *k = &d->key;

		k->coded = 1;
		memcpy(k->vin, d->job.vin, sizeof k->vin);
		k->number = d->job.number;
		k->personalization = d->job.number <= 4 ? d->job.number : 1;
		k->mileage = 0;
		k->energy_kind = KW_ENERGY_NONE;
		k->energy = 0;
		k->stored_at = 0;
		d->counter++;
		d->job.state = KW_JOB_CODED;
	}
	r.job = d->job.id;
	memcpy(r.vin, d->job.vin, sizeof r.vin);
	r.number = d->job.number;
	memcpy(r.key_id, d->key.uid, d->key.uid_len);
	r.key_id_n = d->key.uid_len;
	r.result = 0; /* written and read back */
	r.count = d->counter;
	d->job.receipt_n = kw_receipt_encode(&r, d->job.receipt, sizeof d->job.receipt);
	n = kw_receipt_message(msg, sizeof msg, challenge, d->job.receipt, d->job.receipt_n);
	crypto_sign_detached(sig, NULL, msg, n, d->sk);
	kw_put_raw(out, d->job.receipt, d->job.receipt_n);
	kw_put_raw(out, sig, 64);
	return KW_S_OK;
}

static int
exec(struct kw_dev *d, const struct kw_frame *f, struct kw_put *out)
{
	struct kw_get in = { f->data, f->len, 0, 0 };

	switch (f->cmd) {
	case KW_HELLO:
		if (kw_get_u8(&in) > KW_VERSION || kw_get_u8(&in) < KW_VERSION)
			return in.bad ? KW_S_BAD_REQUEST : KW_S_BAD_VERSION;
		hello(d, &in, out);
		return KW_S_OK;
	case KW_PING:
		kw_put_raw(out, f->data, f->len);
		return KW_S_OK;
	case KW_ATTEST:
		return attest(d, &in, out);
	case KW_KEY_DETECT:
	case KW_KEY_READ:
		return f->len ? KW_S_BAD_REQUEST : key(d, f->cmd == KW_KEY_READ, out);
	case KW_CODE_BEGIN:
		return code_begin(d, &in, out);
	case KW_CODE_PROGRESS:
		kw_put_u8(out, (unsigned)d->job.state);
		kw_put_u8(out, d->job.state == KW_JOB_CODED ? 100 : 0);
		return KW_S_OK;
	case KW_CODE_COMMIT:
		return code_commit(d, &in, out);
	case KW_CODE_VERIFY:
		if (d->job.state != KW_JOB_CODED)
			return KW_S_NO_JOB;
		if (!d->key.present)
			return KW_S_NO_KEY;
		if (!d->key.coded || strcmp(d->key.vin, d->job.vin) != 0 || d->key.number != d->job.number)
			return KW_S_VERIFY_FAILED;
		kw_put_u8(out, 1);
		return KW_S_OK;
	case KW_CODE_CANCEL:
		if (d->job.state == KW_JOB_NONE || d->job.state == KW_JOB_CANCELLED)
			return KW_S_NO_JOB;
		if (d->job.state == KW_JOB_CODED)
			return KW_S_WRONG_STATE;
		d->job.state = KW_JOB_CANCELLED;
		return KW_S_OK;
	}
	return KW_S_UNKNOWN_COMMAND;
}

int
kw_dev_step(struct kw_dev *d)
{
	struct kw_frame f;
	uint8_t data[KW_MAX_PAYLOAD];
	struct kw_put out = { data, 0, sizeof data, 0 };
	uint32_t check;
	int rc, st;

	switch (kw_rx_next(&d->rx, &f)) {
	case KW_RX_NEED:
		return 0;
	case KW_RX_BAD_CRC:
		refuse(d, &f, KW_S_BAD_CHECK);
		return 1;
	case KW_RX_OVERSIZED:
		refuse(d, &f, KW_S_TOO_LONG);
		return 1;
	}
	d->cur_seq = f.seq;
	d->cur_cmd = f.cmd;
	if (f.flags & KW_F_RESPONSE)
		return 1; /* not a request: ignored */
	if (f.version != KW_VERSION) {
		uint8_t v[2] = { KW_VERSION, KW_VERSION };

		d->refused++;
		send(d, f.seq, f.cmd, KW_F_RESPONSE | KW_F_ERROR, KW_S_BAD_VERSION, v, 2, 0, 0);
		return 1;
	}
	check = kw_crc32c(f.data, f.len);
	if (d->cached && f.cmd != KW_HELLO && f.seq == d->last_seq && f.cmd == d->last_cmd &&
	    check == d->last_check) {
		d->replayed++;
		d->out(d->ctx, d->reply, d->reply_n);
		return 1;
	}
	if (f.cmd != KW_HELLO && !d->hello) {
		refuse(d, &f, KW_S_HELLO_FIRST);
		return 1;
	}
	if (f.cmd < sizeof d->executed / sizeof d->executed[0] && kw_cmd_name(f.cmd))
		d->executed[f.cmd]++;
	st = exec(d, &f, &out);
	if (out.bad)
		st = KW_S_BAD_REQUEST;
	rc = st == KW_S_OK;
	send(d, f.seq, f.cmd, (uint8_t)(KW_F_RESPONSE | (rc ? 0 : KW_F_ERROR)), (uint16_t)st,
	    data, rc ? out.n : 0, f.cmd != KW_HELLO, check);
	return 1;
}
