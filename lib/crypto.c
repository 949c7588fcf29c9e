/* crypto.c: libsodium helpers: random tokens and codes, keyed hashes, hex. */
#include <string.h>

#include <sodium.h>

#include "kcs.h"

int
kcs_crypto_init(void)
{
	if (sodium_init() < 0)
		return kcs_fail(KCS_EINTERNAL, NULL, "libsodium failed to initialise");
	return KCS_OK;
}

void
kcs_hex_encode(const uint8_t *in, size_t n, char *out)
{
	sodium_bin2hex(out, 2 * n + 1, in, n);
}

int
kcs_hex_decode(const char *hex, uint8_t *out, size_t n)
{
	size_t got = 0;

	if (strlen(hex) != 2 * n ||
	    sodium_hex2bin(out, n, hex, 2 * n, NULL, &got, NULL) != 0 || got != n)
		return -1;
	return 0;
}

void
kcs_token_new(char *out, size_t n)
{
	uint8_t b[32];

	randombytes_buf(b, sizeof b);
	if (n >= 2 * sizeof b + 1)
		kcs_hex_encode(b, sizeof b, out);
	else if (n)
		out[0] = '\0';
	sodium_memzero(b, sizeof b);
}

void
kcs_digits_new(char *out, size_t ndigits)
{
	for (size_t i = 0; i < ndigits; i++)
		out[i] = (char)('0' + randombytes_uniform(10));
	out[ndigits] = '\0';
}

/* A keyed BLAKE2b hash: what the store keeps instead of a token or a code. */
void
kcs_keyed_hash(const uint8_t key[KCS_KEY_LEN], const char *in, char out[KCS_HASH_HEX])
{
	uint8_t h[32];

	crypto_generichash(h, sizeof h, (const unsigned char *)in, strlen(in), key, KCS_KEY_LEN);
	kcs_hex_encode(h, sizeof h, out);
	sodium_memzero(h, sizeof h);
}

void
kcs_seal(const uint8_t key[KCS_KEY_LEN], const void *in, size_t len, uint8_t *out)
{
	randombytes_buf(out, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, in, len, out, key);
}

/* Opens what kcs_seal made; out gets len - KCS_SEAL_OVERHEAD bytes. */
int
kcs_open(const uint8_t key[KCS_KEY_LEN], const uint8_t *in, size_t len, void *out)
{
	if (len < KCS_SEAL_OVERHEAD ||
	    crypto_secretbox_open_easy(out, in + crypto_secretbox_NONCEBYTES,
		len - crypto_secretbox_NONCEBYTES, in, key) != 0)
		return -1;
	return 0;
}
