/* kwhost.c: the host's side of kcs-keywriter-protocol(7).
 *
 * A request goes out with the next sequence number. A reply, or a keepalive,
 * is due within frame_ms; without one the same request (same seq) goes out
 * again, up to tries times: the writer answers a repeat from its cache and
 * does not execute it twice. A keepalive for the request extends the wait;
 * without reply or keepalive for txn_ms the request has failed. Frames for
 * another seq (late answers to an earlier request) are skipped. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kcs.h"

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
kw_host_init(struct kw_host *h, const struct kw_io *io, const char *where)
{
	memset(h, 0, sizeof *h);
	h->io = *io;
	h->where = where;
	h->frame_ms = KW_FRAME_MS;
	h->txn_ms = KW_TXN_MS;
	h->tries = KW_TRIES;
	randombytes_buf(&h->seq, sizeof h->seq);
}

static const char *
who(const struct kw_host *h)
{
	static _Thread_local char buf[80];

	if (h->info.serial[0])
		snprintf(buf, sizeof buf, "key writer %s", h->info.serial);
	else
		snprintf(buf, sizeof buf, "key writer at %s", h->where ? h->where : "?");
	return buf;
}

static const char *
name(uint16_t cmd)
{
	static _Thread_local char buf[16];
	const char *n = kw_cmd_name(cmd);

	if (n)
		return n;
	snprintf(buf, sizeof buf, "0x%04X", cmd);
	return buf;
}

static int
gone(const struct kw_host *h, uint16_t cmd)
{
	return kcs_fail(KCS_EUNREACHABLE, "device",
	    "the %s was unplugged during %s; plug it in again and run the command again", who(h), name(cmd));
}

static int
io_failed(const struct kw_host *h, uint16_t cmd)
{
	return kcs_fail(KCS_EUNREACHABLE, "device", "USB transfer to the %s failed during %s; "
	    "plug it in again and run the command again", who(h), name(cmd));
}

static int
supports(const struct kw_host *h, uint16_t cmd)
{
	if (cmd == KW_HELLO)
		return 1;
	for (size_t i = 0; i < h->info.ncmds; i++)
		if (h->info.cmds[i] == cmd)
			return 1;
	return 0;
}

int
kw_host_call(struct kw_host *h, uint16_t cmd, const void *data, size_t n, struct kw_frame *reply)
{
	struct kw_frame f = { .version = KW_VERSION, .cmd = cmd, .len = (uint16_t)n };
	uint8_t out[KW_MAX_FRAME], in[2048];
	size_t len;
	long long deadline, due;
	int sent = 0;

	if (h->ready && !supports(h, cmd))
		return kcs_fail(KCS_EREFUSED, "device", "this %s (firmware %u.%u.%u) does not support %s; "
		    "update its firmware", who(h), h->info.fw[0], h->info.fw[1], h->info.fw[2], name(cmd));
	if (n > KW_MAX_PAYLOAD || (h->ready && n > h->info.max_payload))
		return kcs_fail(KCS_EINTERNAL, NULL, "%s: %zu bytes are more than the %s accepts", name(cmd), n, who(h));
	f.seq = ++h->seq;
	if (n)
		memcpy(f.data, data, n);
	len = kw_encode(&f, out, sizeof out);
	deadline = now_ms() + h->txn_ms;
	due = 0;
	for (;;) {
		long long t = now_ms();
		size_t got;
		int rc, r;

		if (t >= deadline)
			return kcs_fail(KCS_EUNREACHABLE, "device", "the %s did not answer %s within %.1f s; "
			    "unplug it, plug it in again and run the command again", who(h), name(cmd), h->txn_ms / 1000.0);
		if (t >= due) {
			if (sent >= h->tries) {
				due = deadline;
				continue;
			}
			if (sent)
				h->resent++;
			sent++;
			rc = h->io.send(h->io.ctx, out, len, (int)(deadline - t));
			if (rc == KW_IO_GONE)
				return gone(h, cmd);
			if (rc == KW_IO_ERROR)
				return io_failed(h, cmd);
			due = now_ms() + h->frame_ms;
			continue;
		}
		while ((r = kw_rx_next(&h->rx, reply)) != KW_RX_NEED) {
			if (!(reply->flags & KW_F_RESPONSE) || reply->seq != f.seq || reply->cmd != cmd)
				continue; /* not for this request: a late answer to an earlier one */
			if (r == KW_RX_BAD_CRC ||
			    ((reply->flags & KW_F_ERROR) && reply->status == KW_S_BAD_CHECK)) {
				due = 0; /* damaged on the way: send it again */
				break;
			}
			if (r != KW_RX_FRAME)
				continue;
			if (reply->flags & KW_F_KEEPALIVE) {
				long long k = now_ms();

				if (h->progress && reply->len == 1)
					h->progress(h->pctx, cmd, reply->data[0]);
				due = k + h->frame_ms;
				if (k + h->txn_ms > deadline)
					deadline = k + h->txn_ms;
				sent = 1; /* the writer has it: a retry is due only if keepalives stop */
				continue;
			}
			if (reply->flags & KW_F_ERROR) {
				if (reply->status == KW_S_UNKNOWN_COMMAND)
					return kcs_fail(KCS_EREFUSED, "device", "this %s does not support %s; update its firmware",
					    who(h), name(cmd));
				if (reply->status == KW_S_BAD_VERSION)
					return kcs_fail(KCS_EREFUSED, "device", "the %s speaks protocol version %u to %u; "
					    "this kcs speaks %u: update the writer's firmware or kcs", who(h),
					    reply->len == 2 ? reply->data[0] : 0, reply->len == 2 ? reply->data[1] : 0, KW_VERSION);
				return kcs_fail(reply->status == KW_S_TOO_LONG || reply->status == KW_S_BAD_REQUEST ||
				    reply->status == KW_S_HELLO_FIRST ? KCS_EINTERNAL : KCS_EREFUSED, "device",
				    "%s: %s", name(cmd), kw_status_text(reply->status));
			}
			return KCS_OK;
		}
		if (due == 0)
			continue;
		t = now_ms();
		rc = h->io.recv(h->io.ctx, in, sizeof in, &got, (int)((due < deadline ? due : deadline) - t + 1));
		if (rc == KW_IO_GONE)
			return gone(h, cmd);
		if (rc == KW_IO_ERROR)
			return io_failed(h, cmd);
		if (rc == KW_IO_OK)
			kw_rx_feed(&h->rx, in, got);
	}
}

int
kw_host_hello(struct kw_host *h)
{
	uint8_t req[2] = { KW_VERSION, KW_VERSION };
	struct kw_frame r;
	int rc;

	h->ready = 0;
	memset(&h->info, 0, sizeof h->info);
	if ((rc = kw_host_call(h, KW_HELLO, req, sizeof req, &r)) != KCS_OK)
		return rc;
	if (kw_hello_parse(r.data, r.len, &h->info) != 0)
		return kcs_fail(KCS_EINTERNAL, "device", "the %s answered the handshake with malformed data", who(h));
	h->ready = 1;
	return KCS_OK;
}

int
kw_host_usable(struct kw_host *h)
{
	const struct kw_info *i = &h->info;

	if (i->proto != KW_VERSION)
		return kcs_fail(KCS_EREFUSED, "firmware", "the %s speaks protocol version %u; this kcs speaks %u: "
		    "update the writer's firmware or kcs", who(h), i->proto, KW_VERSION);
	if (i->fw[0] < KW_FIRMWARE_MIN)
		return kcs_fail(KCS_EREFUSED, "firmware", "the %s has firmware %u.%u, older than %d, the oldest "
		    "this version of kcs supports; update its firmware", who(h), i->fw[0], i->fw[1], KW_FIRMWARE_MIN);
	return KCS_OK;
}

int
kw_host_attest(struct kw_host *h, const uint8_t nonce[KW_NONCE], const uint8_t *want_pk,
    uint8_t pk[32], uint8_t fw_hash[32], uint8_t sig_out[64])
{
	uint8_t msg[64 + KW_MAX_PAYLOAD];
	struct kw_frame r;
	size_t n;
	const uint8_t *sig;
	int rc;

	if ((rc = kw_host_call(h, KW_ATTEST, nonce, KW_NONCE, &r)) != KCS_OK)
		return rc;
	if (r.len != 32 + 32 + 64)
		return kcs_fail(KCS_EINTERNAL, "device", "the %s answered attest with malformed data", who(h));
	memcpy(pk, r.data, 32);
	memcpy(fw_hash, r.data + 32, 32);
	sig = r.data + 64;
	memcpy(sig_out, sig, 64);
	n = kw_attest_message(msg, sizeof msg, nonce, h->info.raw, h->info.raw_n, fw_hash);
	if (!n || crypto_sign_verify_detached(sig, msg, n, want_pk ? want_pk : pk) != 0)
		return kcs_fail(KCS_EREFUSED, "public_key", want_pk
		    ? "the %s does not hold the registered key: its attestation does not verify"
		    : "the %s's attestation does not verify under its own key", who(h));
	return KCS_OK;
}

cJSON *
kw_key_json(const struct kw_frame *r)
{
	struct kw_get g = { r->data, r->len, 0, 0 };
	cJSON *o = cJSON_CreateObject();
	uint8_t uid[8];
	char hex[17], raw[18], vin[18];
	unsigned chip, n, pers, unit, kind, energy;
	size_t uid_n;
	uint32_t km, stored;

	if (!kw_get_u8(&g)) {
		cJSON_AddBoolToObject(o, "present", 0);
		goto end;
	}
	cJSON_AddBoolToObject(o, "present", 1);
	chip = kw_get_u8(&g);
	uid_n = kw_get_bytes(&g, uid, sizeof uid);
	n = kw_get_u8(&g);
	if (g.bad || !kw_chip_name(chip) || uid_n < 4 || n > 1)
		goto bad;
	kcs_hex_encode(uid, uid_n, hex);
	cJSON_AddStringToObject(o, "chip", kw_chip_name(chip));
	cJSON_AddStringToObject(o, "key_id", hex);
	cJSON_AddStringToObject(o, "state", n ? "coded" : "blank");
	if (g.off == g.n)
		goto end;
	if (!n || kw_get_str(&g, raw, sizeof raw) < 0 || kcs_vin_parse(raw, vin) != KCS_OK)
		goto bad;
	n = kw_get_u8(&g);
	pers = kw_get_u8(&g);
	km = kw_get_u32(&g);
	unit = kw_get_u8(&g);
	kind = kw_get_u8(&g);
	energy = kw_get_u8(&g);
	stored = kw_get_u32(&g);
	if (g.bad || n < 1 || n > 10 || pers < 1 || pers > 4 || unit > KW_UNIT_MI || kind > KW_ENERGY_BATTERY ||
	    energy > 100)
		goto bad;
	cJSON_AddStringToObject(o, "vin", vin);
	cJSON_AddNumberToObject(o, "key_number", n);
	cJSON_AddNumberToObject(o, "personalization", pers);
	cJSON_AddNumberToObject(o, "mileage", km);
	cJSON_AddStringToObject(o, "mileage_unit", unit == KW_UNIT_MI ? "mi" : "km");
	if (kind == KW_ENERGY_FUEL)
		cJSON_AddNumberToObject(o, "fuel_percent", energy);
	else if (kind == KW_ENERGY_BATTERY)
		cJSON_AddNumberToObject(o, "battery_percent", energy);
	if (stored) {
		char iso[21];

		kcs_time_iso((time_t)stored, iso);
		cJSON_AddStringToObject(o, "stored_at", iso);
	}
end:
	if (g.off == g.n)
		return o;
bad:
	cJSON_Delete(o);
	kcs_fail(KCS_EINTERNAL, "device", "the key writer answered %s with malformed data", name(r->cmd));
	return NULL;
}
