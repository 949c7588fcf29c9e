/* kwmsg.c: the signed and sealed messages of kcs-keywriter-protocol(7), one
 * home for each format. kcsd seals coding jobs and verifies attestations and
 * receipts with these; the host and the writer build the same bytes. */
#include <string.h>

#include <sodium.h>

#include "kcs.h"

int
kw_hello_parse(const uint8_t *p, size_t n, struct kw_info *i)
{
	struct kw_get g = { p, n, 0, 0 };

	memset(i, 0, sizeof *i);
	i->proto = kw_get_u8(&g);
	i->fw[0] = kw_get_u8(&g);
	i->fw[1] = kw_get_u8(&g);
	i->fw[2] = kw_get_u8(&g);
	i->max_payload = kw_get_u16(&g);
	kw_get_str(&g, i->serial, sizeof i->serial);
	kw_get_str(&g, i->model, sizeof i->model);
	i->hw = kw_get_u8(&g);
	i->ncmds = kw_get_u8(&g);
	if (i->ncmds > sizeof i->cmds / sizeof i->cmds[0])
		g.bad = 1;
	for (size_t k = 0; !g.bad && k < i->ncmds; k++)
		i->cmds[k] = (uint16_t)kw_get_u16(&g);
	if (g.bad || g.off != g.n || !i->serial[0] || i->max_payload < 64 || i->max_payload > KW_MAX_PAYLOAD ||
	    strspn(i->serial, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") != strlen(i->serial)) {
		memset(i, 0, sizeof *i);
		return -1;
	}
	memcpy(i->raw, p, n);
	i->raw_n = n;
	return 0;
}

size_t
kw_attest_message(uint8_t *out, size_t cap, const uint8_t nonce[KW_NONCE], const uint8_t *hello, size_t hello_n,
    const uint8_t fw_hash[32])
{
	struct kw_put m = { out, 0, cap, 0 };

	kw_put_raw(&m, KW_ATTEST_CONTEXT, sizeof KW_ATTEST_CONTEXT);
	kw_put_raw(&m, nonce, KW_NONCE);
	kw_put_u16(&m, (unsigned)hello_n);
	kw_put_raw(&m, hello, hello_n);
	kw_put_raw(&m, fw_hash, 32);
	return m.bad ? 0 : m.n;
}

size_t
kw_job_seal(const struct kw_job *j, const uint8_t pk[32], uint8_t *out, size_t cap)
{
	uint8_t plain[KW_JOB_SEALED_MAX], xpk[32];
	struct kw_put p = { plain, 0, sizeof plain, 0 };

	kw_put_u64(&p, j->id);
	kw_put_bytes(&p, j->vin, strlen(j->vin));
	kw_put_u8(&p, j->number);
	kw_put_u32(&p, j->expires);
	kw_put_bytes(&p, j->data, j->n);
	if (p.bad || p.n + crypto_box_SEALBYTES > cap || crypto_sign_ed25519_pk_to_curve25519(xpk, pk) != 0 ||
	    crypto_box_seal(out, plain, p.n, xpk) != 0) {
		sodium_memzero(plain, sizeof plain);
		return 0;
	}
	sodium_memzero(plain, sizeof plain);
	return p.n + crypto_box_SEALBYTES;
}

int
kw_job_open(struct kw_job *j, const uint8_t *sealed, size_t n, const uint8_t pk[32], const uint8_t sk[64])
{
	uint8_t plain[KW_JOB_SEALED_MAX], xpk[32], xsk[32];
	struct kw_get g;
	int rc = -1;

	memset(j, 0, sizeof *j);
	if (n < crypto_box_SEALBYTES || n - crypto_box_SEALBYTES > sizeof plain)
		return -1;
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, pk) == 0 && crypto_sign_ed25519_sk_to_curve25519(xsk, sk) == 0 &&
	    crypto_box_seal_open(plain, sealed, n, xpk, xsk) == 0) {
		g = (struct kw_get){ plain, n - crypto_box_SEALBYTES, 0, 0 };
		j->id = kw_get_u64(&g);
		if (kw_get_str(&g, j->vin, sizeof j->vin) < 0 || strlen(j->vin) != 17)
			g.bad = 1;
		j->number = kw_get_u8(&g);
		j->expires = kw_get_u32(&g);
		j->n = kw_get_bytes(&g, j->data, sizeof j->data);
		rc = g.bad || g.off != g.n || j->number < 1 || j->number > 10 ? -1 : 0;
	}
	sodium_memzero(xsk, sizeof xsk);
	sodium_memzero(plain, sizeof plain);
	if (rc)
		sodium_memzero(j, sizeof *j);
	return rc;
}

size_t
kw_receipt_encode(const struct kw_receipt *r, uint8_t *out, size_t cap)
{
	struct kw_put w = { out, 0, cap, 0 };

	kw_put_u64(&w, r->job);
	kw_put_bytes(&w, r->vin, strlen(r->vin));
	kw_put_u8(&w, r->number);
	kw_put_bytes(&w, r->key_id, r->key_id_n);
	kw_put_u8(&w, r->result);
	kw_put_u32(&w, r->count);
	return w.bad ? 0 : w.n;
}

int
kw_receipt_parse(const uint8_t *p, size_t n, struct kw_receipt *r)
{
	struct kw_get g = { p, n, 0, 0 };

	memset(r, 0, sizeof *r);
	r->job = kw_get_u64(&g);
	if (kw_get_str(&g, r->vin, sizeof r->vin) < 0 || strlen(r->vin) != 17)
		g.bad = 1;
	r->number = kw_get_u8(&g);
	r->key_id_n = kw_get_bytes(&g, r->key_id, sizeof r->key_id);
	r->result = kw_get_u8(&g);
	r->count = kw_get_u32(&g);
	return g.bad || g.off != g.n || r->key_id_n < 4 || r->number < 1 || r->number > 10 ? -1 : 0;
}

size_t
kw_receipt_message(uint8_t *out, size_t cap, const uint8_t challenge[KW_NONCE], const uint8_t *receipt, size_t n)
{
	struct kw_put m = { out, 0, cap, 0 };

	kw_put_raw(&m, KW_RECEIPT_CONTEXT, sizeof KW_RECEIPT_CONTEXT);
	kw_put_raw(&m, challenge, KW_NONCE);
	kw_put_raw(&m, receipt, n);
	return m.bad ? 0 : m.n;
}
