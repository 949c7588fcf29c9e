/* conf.c: kcs.conf(5) and the server key file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kcsd.h"

struct num {
	const char *key;
	long *dst;
	long def, min, max;
};

int
kcsd_conf_load(struct kcsd_conf *cf, const char *path, int must_exist)
{
	struct kcs_conf c;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	long ops = crypto_pwhash_OPSLIMIT_INTERACTIVE, memkib = crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024;
	char self_approval[8] = "";
	const struct num nums[] = {
		{ "threads", &cf->threads, 16, 1, 256 },
		{ "group_commit_max", &cf->group_commit_max, 64, 1, 4096 },
		{ "group_commit_usec", &cf->group_commit_usec, 10000, 0, 1000000 },
		{ "hash_slots", &cf->hash_slots, cores > 2 ? cores - 1 : 1, 1, 64 },
		{ "request_timeout", &cf->request_timeout, 10, 1, 3600 },
		{ "max_body", &cf->max_body, 65536, 1024, 16 << 20 },
		{ "connection_timeout", &cf->connection_timeout, 30, 1, 3600 },
		{ "connection_limit", &cf->connection_limit, 256, 1, 65536 },
		{ "per_ip_connection_limit", &cf->per_ip_limit, 64, 1, 65536 },
		{ "session_idle", &cf->session_idle, 1800, 1, 86400 },
		{ "session_max", &cf->session_max, 43200, 1, 30 * 86400 },
		{ "session_touch", &cf->session_touch, 60, 0, 3600 },
		{ "email_link_lifetime", &cf->email_link_lifetime, 7 * 86400, 1, 90 * 86400 },
		{ "reset_lifetime", &cf->reset_lifetime, 900, 1, 86400 },
		{ "reset_interval", &cf->reset_interval, 60, 0, 86400 },
		{ "lockout_failures", &cf->lockout_failures, 10, 1, 1000 },
		{ "lockout_cooldown", &cf->lockout_cooldown, 900, 1, 7 * 86400 },
		{ "ticket_lifetime", &cf->ticket_lifetime, 1800, 1, 86400 },
		{ "call_lifetime", &cf->call_lifetime, 900, 1, 86400 },
		{ "redeem_failures", &cf->redeem_failures, 5, 1, 1000 },
		{ "redeem_cooldown", &cf->redeem_cooldown, 900, 1, 7 * 86400 },
		{ "keycode_failures", &cf->keycode_failures, 5, 1, 1000 },
		{ "keycode_cooldown", &cf->keycode_cooldown, 900, 1, 7 * 86400 },
		{ "coding_lifetime", &cf->coding_lifetime, 600, 60, 86400 },
		{ "keycode_grace", &cf->keycode_grace, 3 * 86400, 0, 90 * 86400 },
		{ "keypool_validity", &cf->keypool_validity, 3600, 1, 7 * 86400 },
		{ "keypool_retention", &cf->keypool_retention, 7 * 86400, 60, 366 * 86400 },
		{ "keypool_skew", &cf->keypool_skew, 300, 0, 3600 },
		{ "purge_after", &cf->purge_after, 86400, 0, 90 * 86400 },
		{ "letter_warn", &cf->letter_warn, 2 * 86400, 60, 90 * 86400 },
		{ "backup_every", &cf->backup_every, 86400, 60, 90 * 86400 },
		{ "backup_keep", &cf->backup_keep, 7, 1, 1000 },
		{ "request_lifetime", &cf->request_lifetime, 86400, 60, 30 * 86400 },
		{ "smtp_timeout", &cf->smtp_timeout, 30, 1, 600 },
		{ "smtp_retry", &cf->smtp_retry, 60, 1, 86400 },
		{ "smtp_retry_max", &cf->smtp_retry_max, 1800, 1, 7 * 86400 },
		{ "smtp_give_up", &cf->smtp_give_up, 4 * 86400, 60, 30 * 86400 },
		{ "argon2_opslimit", &ops, ops, crypto_pwhash_OPSLIMIT_MIN, 64 },
		{ "argon2_memlimit_kib", &memkib, memkib, 8, 4 << 20 },
	};
	const struct {
		const char *key;
		char *dst;
		size_t n;
	} strs[] = {
		{ "db", cf->db, sizeof cf->db },
		{ "key_file", cf->key_file, sizeof cf->key_file },
		{ "spool", cf->spool, sizeof cf->spool },
		{ "listen", cf->listen, sizeof cf->listen },
		{ "public_url", cf->public_url, sizeof cf->public_url },
		{ "tls_cert", cf->tls_cert, sizeof cf->tls_cert },
		{ "tls_key", cf->tls_key, sizeof cf->tls_key },
		{ "mail_from", cf->mail_from, sizeof cf->mail_from },
		{ "smtp_url", cf->smtp_url, sizeof cf->smtp_url },
		{ "smtp_user", cf->smtp_user, sizeof cf->smtp_user },
		{ "smtp_password_file", cf->smtp_password_file, sizeof cf->smtp_password_file },
		{ "smtp_ca_file", cf->smtp_ca_file, sizeof cf->smtp_ca_file },
		{ "admin_self_approval", self_approval, sizeof self_approval },
		{ "audit_origin", cf->audit_origin, sizeof cf->audit_origin },
		{ "backup_dir", cf->backup_dir, sizeof cf->backup_dir },
	};
	const char *v;

	memset(cf, 0, sizeof *cf);
	if (path && kcs_conf_load(&c, path, must_exist) != KCS_OK)
		return kcs_errcode();
	if (!path)
		memset(&c, 0, sizeof c);
	for (int i = 0; i < c.n; i++) {
		int known = 0;

		for (size_t j = 0; j < sizeof nums / sizeof *nums; j++)
			known |= strcmp(c.key[i], nums[j].key) == 0;
		for (size_t j = 0; j < sizeof strs / sizeof *strs; j++)
			known |= strcmp(c.key[i], strs[j].key) == 0;
		if (!known) {
			int rc = kcs_fail(KCS_EINVALID, c.key[i], "%s: unknown setting", path);

			kcs_conf_free(&c);
			return rc;
		}
	}
	for (size_t j = 0; j < sizeof nums / sizeof *nums; j++) {
		char *end;
		long n = nums[j].def;

		if ((v = kcs_conf_get(&c, nums[j].key))) {
			errno = 0;
			n = strtol(v, &end, 10);
			if (errno || end == v || *end || n < nums[j].min || n > nums[j].max) {
				int rc = kcs_fail(KCS_EINVALID, nums[j].key, "%s: must be a whole number from %ld to %ld",
				    path, nums[j].min, nums[j].max);

				kcs_conf_free(&c);
				return rc;
			}
		}
		*nums[j].dst = n;
	}
	for (size_t j = 0; j < sizeof strs / sizeof *strs; j++)
		if ((v = kcs_conf_get(&c, strs[j].key)) &&
		    snprintf(strs[j].dst, strs[j].n, "%s", v) >= (int)strs[j].n) {
			int rc = kcs_fail(KCS_EINVALID, strs[j].key, "%s: value too long", path);

			kcs_conf_free(&c);
			return rc;
		}
	if (strcmp(self_approval, "yes") != 0 && strcmp(self_approval, "no") != 0 && self_approval[0]) {
		int rc = kcs_fail(KCS_EINVALID, "admin_self_approval", "%s: must be yes or no", path);

		kcs_conf_free(&c);
		return rc;
	}
	cf->self_approval = strcmp(self_approval, "yes") == 0;
	if (!cf->audit_origin[0])
		snprintf(cf->audit_origin, sizeof cf->audit_origin, "kcs-audit");
	for (const char *p = cf->audit_origin; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '+') {
			int rc = kcs_fail(KCS_EINVALID, "audit_origin", "%s: no spaces or '+' in the log's name", path);

			kcs_conf_free(&c);
			return rc;
		}
	cf->argon2_ops = (unsigned long long)ops;
	cf->argon2_mem = (size_t)memkib * 1024;
	if (!cf->listen[0])
		snprintf(cf->listen, sizeof cf->listen, "127.0.0.1:8425");
	if (!cf->mail_from[0])
		snprintf(cf->mail_from, sizeof cf->mail_from, "Key Coding System <kcs@localhost>");
	kcs_conf_free(&c);
	return KCS_OK;
}

/* The key file: two 256-bit keys in hex, the pepper of keyed hashes and the
 * master key that seals secrets at rest. */
int
kcsd_key_create(const char *path)
{
	uint8_t k[2 * KCS_KEY_LEN];
	char text[256], hp[2 * KCS_KEY_LEN + 1], hm[2 * KCS_KEY_LEN + 1];
	int fd, n, rc = KCS_OK;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return kcs_fail(errno == EEXIST ? KCS_EREFUSED : KCS_EINTERNAL, "key_file", "%s: %s",
		    path, errno == EEXIST ? "exists already; refusing to overwrite a key" : strerror(errno));
	randombytes_buf(k, sizeof k);
	kcs_hex_encode(k, KCS_KEY_LEN, hp);
	kcs_hex_encode(k + KCS_KEY_LEN, KCS_KEY_LEN, hm);
	n = snprintf(text, sizeof text, "# kcsd server key: keep it secret and backed up\npepper = %s\nmaster = %s\n", hp, hm);
	if (write(fd, text, (size_t)n) != n || fsync(fd) != 0)
		rc = kcs_fail(KCS_EINTERNAL, "key_file", "%s: %s", path, strerror(errno));
	close(fd);
	sodium_memzero(k, sizeof k);
	sodium_memzero(text, sizeof text);
	sodium_memzero(hp, sizeof hp);
	sodium_memzero(hm, sizeof hm);
	if (rc != KCS_OK)
		unlink(path);
	return rc;
}

int
kcsd_key_load(const char *path, uint8_t pepper[KCS_KEY_LEN], uint8_t master[KCS_KEY_LEN])
{
	struct kcs_conf c;
	const char *p, *m;
	int rc = KCS_OK;

	if (kcs_conf_load(&c, path, 1) != KCS_OK) {
		char why[512];

		snprintf(why, sizeof why, "%s", kcs_errmsg());
		return kcs_fail(KCS_EINVALID, "key_file", "%s", why);
	}
	p = kcs_conf_get(&c, "pepper");
	m = kcs_conf_get(&c, "master");
	if (!p || !m || kcs_hex_decode(p, pepper, KCS_KEY_LEN) != 0 ||
	    kcs_hex_decode(m, master, KCS_KEY_LEN) != 0)
		rc = kcs_fail(KCS_EINVALID, "key_file", "%s: not a kcsd key file", path);
	for (int i = 0; i < c.n; i++)
		sodium_memzero(c.val[i], strlen(c.val[i]));
	kcs_conf_free(&c);
	return rc;
}

/* An Ed25519 key pair of the store for one purpose ("download-signing",
 * "audit-signing"), derived from its master key. */
void
kcsd_sign_keys(const char *purpose, uint8_t pk[32], uint8_t sk[64])
{
	uint8_t seed[32];

	crypto_generichash(seed, sizeof seed, (const uint8_t *)purpose, strlen(purpose), K.master, sizeof K.master);
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof seed);
}
