/* backup.c: kcsd backup and kcsd restore (kcs-admin backup and restore) of
 * a SQLite store. A backup is an online copy (one pass while kcsd goes on
 * writing), checked (quick_check and the audit chain), then encrypted and
 * authenticated with the backup key, derived from the master key: libsodium
 * secretstream in chunks of 64 KiB, the last one marked final, so that a
 * stolen backup reveals nothing and a changed, reordered or cut one is
 * refused. A restore decrypts beside the store, runs integrity_check and
 * the audit chain, and only then renames the copy over the store, never
 * while a kcsd holds it. A PostgreSQL store is backed up with
 * PostgreSQL's own tools (kcsd(8)). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kcsd.h"

#define MAGIC "KCSB1\n"
#define CHUNK 65536
#define AD "kcs-backup/1"
#define SS(x) crypto_secretstream_xchacha20poly1305_##x

static void
backup_key(uint8_t k[SS(KEYBYTES)])
{
	crypto_generichash(k, SS(KEYBYTES), (const uint8_t *)"backup", 6, K.master, sizeof K.master);
}

/* the SQLite file of the store, or NULL (PostgreSQL) */
static const char *
store_path(void)
{
	if (strncmp(K.cf.db, "postgres", 8) == 0)
		return NULL;
	return strncmp(K.cf.db, "sqlite:", 7) == 0 ? K.cf.db + 7 : K.cf.db;
}

static int
postgres(void)
{
	return kcs_fail(KCS_EREFUSED, "db", "a PostgreSQL store is backed up with PostgreSQL's tools: pg_dump, or "
	    "base backups with WAL archiving (kcsd(8))");
}

/* a file of its own beside path, "DIR/.kcs-WHAT-XXXXXX": its descriptor,
 * or -1 with the error set */
static int
temp_beside(const char *path, const char *what, char *out, size_t n)
{
	char dir[1024];
	int fd;

	snprintf(dir, sizeof dir, "%s", path);
	snprintf(out, n, "%s/.kcs-%s-XXXXXX", dirname(dir), what);
	if ((fd = mkstemp(out)) < 0)
		kcs_fail(KCS_EINTERNAL, "file", "%s: %s", out, strerror(errno));
	return fd;
}

static int
sync_dir(const char *path)
{
	char dir[1024];
	int fd, rc;

	snprintf(dir, sizeof dir, "%s", path);
	if ((fd = open(dirname(dir), O_RDONLY | O_DIRECTORY)) < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* A copy's checks: SQLite's (quick, or full) and the audit chain. */
static int
check_copy(const char *path, int full, long long *entries)
{
	struct store c;
	struct dbtx *tx = NULL;
	char err[256] = "";
	cJSON *bad = cJSON_CreateArray();
	int rc = KCS_OK;

	if (store_open(&c, path, 0, 1) != STORE_OK) {
		cJSON_Delete(bad);
		return kcs_fail(KCS_EREFUSED, "backup", "the copy is not a kcs store: %s", c.errmsg);
	}
	if (db_check(c.db, full, err, sizeof err) != DB_OK)
		rc = kcs_fail(KCS_EREFUSED, "backup", "the copy fails SQLite's %s: %s", full ? "integrity_check"
		    : "quick_check", err);
	else if (store_begin(&c, DB_READ, &tx) != STORE_OK || store_audit_verify(tx, entries, bad) != STORE_OK)
		rc = kcs_fail(KCS_EINTERNAL, "backup", "the copy's audit log could not be read");
	else if (*entries == 0 || cJSON_GetArraySize(bad))
		rc = kcs_fail(KCS_EREFUSED, "backup", "the copy's audit chain is broken");
	if (tx)
		store_rollback(tx);
	store_close(&c);
	cJSON_Delete(bad);
	return rc;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* the chunks' buffers: a backup can run in a kcsd thread (maintain) */
struct bufs {
	uint8_t plain[CHUNK], ahead[CHUNK], sealed[CHUNK + SS(ABYTES)];
};

static int
encrypt_file(int in, int out)
{
	struct bufs *b = malloc(sizeof *b);
	uint8_t key[SS(KEYBYTES)], header[SS(HEADERBYTES)];
	SS(state) st;
	ssize_t n, next;
	int rc = -1;

	if (!b)
		return -1;
	backup_key(key);
	SS(init_push)(&st, header, key);
	sodium_memzero(key, sizeof key);
	/* a chunk is final when nothing follows it */
	n = write_all(out, (const uint8_t *)MAGIC, 6) || write_all(out, header, sizeof header) ? -1
	    : read(in, b->plain, CHUNK);
	while (n >= 0) {
		unsigned long long len;
		uint8_t lenb[4];

		next = n == CHUNK ? read(in, b->ahead, CHUNK) : 0;
		if (next < 0)
			break;
		SS(push)(&st, b->sealed, &len, b->plain, (size_t)n, (const uint8_t *)AD, sizeof AD - 1,
		    next == 0 ? SS(TAG_FINAL) : 0);
		lenb[0] = (uint8_t)(len >> 24);
		lenb[1] = (uint8_t)(len >> 16);
		lenb[2] = (uint8_t)(len >> 8);
		lenb[3] = (uint8_t)len;
		if (write_all(out, lenb, 4) || write_all(out, b->sealed, (size_t)len))
			break;
		if (next == 0) {
			rc = 0;
			break;
		}
		memcpy(b->plain, b->ahead, (size_t)next);
		n = next;
	}
	sodium_memzero(b, sizeof *b);
	free(b);
	return rc;
}

static int
read_all(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return (int)(got == n ? 1 : got == 0 ? 0 : -1);
}

/* KCS_OK, or the error naming what is wrong with the backup */
static int
decrypt_file(int in, int out)
{
	static uint8_t sealed[CHUNK + SS(ABYTES)], plain[CHUNK];
	uint8_t key[SS(KEYBYTES)], header[SS(HEADERBYTES)], magic[6], lenb[4], tag = 0;
	SS(state) st;
	unsigned long long len;
	long long chunk = 0;

	if (read_all(in, magic, 6) != 1 || memcmp(magic, MAGIC, 6) != 0)
		return kcs_fail(KCS_EINVALID, "backup", "not a kcs backup");
	backup_key(key);
	if (read_all(in, header, sizeof header) != 1 || SS(init_pull)(&st, header, key) != 0) {
		sodium_memzero(key, sizeof key);
		return kcs_fail(KCS_EINVALID, "backup", "the backup's header is damaged");
	}
	sodium_memzero(key, sizeof key);
	while (tag != SS(TAG_FINAL)) {
		size_t n;
		int r = read_all(in, lenb, 4);

		if (r == 0)
			return kcs_fail(KCS_EREFUSED, "backup", "the backup is cut short after %lld chunks", chunk);
		n = (size_t)lenb[0] << 24 | (size_t)lenb[1] << 16 | (size_t)lenb[2] << 8 | lenb[3];
		if (r < 0 || n < SS(ABYTES) || n > sizeof sealed || read_all(in, sealed, n) != 1)
			return kcs_fail(KCS_EREFUSED, "backup", "the backup is cut short or damaged at chunk %lld", chunk);
		if (SS(pull)(&st, plain, &len, &tag, sealed, n, (const uint8_t *)AD, sizeof AD - 1) != 0)
			return kcs_fail(KCS_EREFUSED, "backup", "chunk %lld does not authenticate: the backup was changed, "
			    "or made with another key file", chunk);
		if (write_all(out, plain, (size_t)len))
			return kcs_fail(KCS_EINTERNAL, "backup", "writing the copy: %s", strerror(errno));
		chunk++;
	}
	sodium_memzero(plain, sizeof plain);
	if (read_all(in, lenb, 1) != 0)
		return kcs_fail(KCS_EREFUSED, "backup", "bytes follow the backup's last chunk: it was changed");
	return KCS_OK;
}

/* The backup of the open store st into file: copied beside the store,
 * checked, encrypted into a file of its own beside file, fsynced, renamed
 * into place. Run by kcsd backup, and in kcsd by maintain. */
int
backup_seal(struct store *st, const char *file, long long *bytes, long long *entries)
{
	const char *db = store_path();
	char plain[1100], sealed[1100], err[256];
	int pfd = -1, sfd = -1, rc;

	if (!db)
		return postgres();
	if ((pfd = temp_beside(db, "backup", plain, sizeof plain)) < 0)
		return KCS_EINTERNAL;
	close(pfd);
	pfd = -1;
	rc = db_backup(st->db, plain, err, sizeof err) == DB_OK ? KCS_OK
	    : kcs_fail(KCS_EINTERNAL, "db", "the copy failed: %s", err);
	if (rc == KCS_OK)
		rc = check_copy(plain, 0, entries);
	if (rc == KCS_OK && (pfd = open(plain, O_RDONLY)) < 0)
		rc = kcs_fail(KCS_EINTERNAL, "db", "%s: %s", plain, strerror(errno));
	if (rc == KCS_OK && (sfd = temp_beside(file, "sealed", sealed, sizeof sealed)) < 0)
		rc = KCS_EINTERNAL;
	if (rc == KCS_OK && (encrypt_file(pfd, sfd) != 0 || fsync(sfd) != 0))
		rc = kcs_fail(KCS_EINTERNAL, "file", "writing %s: %s", file, strerror(errno));
	*bytes = rc == KCS_OK ? (long long)lseek(sfd, 0, SEEK_END) : 0;
	if (pfd >= 0)
		close(pfd);
	if (sfd >= 0 && close(sfd) != 0 && rc == KCS_OK)
		rc = kcs_fail(KCS_EINTERNAL, "file", "writing %s: %s", file, strerror(errno));
	unlink(plain);
	if (rc == KCS_OK && (rename(sealed, file) != 0 || sync_dir(file) != 0))
		rc = kcs_fail(KCS_EINTERNAL, "file", "%s: %s", file, strerror(errno));
	if (rc != KCS_OK && sfd >= 0)
		unlink(sealed);
	return rc;
}

int
kcsd_backup(const char *file)
{
	long long entries = 0, size = 0;
	int rc;
	cJSON *o;

	if (!store_path())
		return postgres();
	if ((rc = store_open(&K.st, K.cf.db, 0, 2)) != STORE_OK)
		return kcs_fail(KCS_EINVALID, "db", "%s", K.st.errmsg);
	rc = backup_seal(&K.st, file, &size, &entries);
	store_close(&K.st);
	if (rc != KCS_OK)
		return rc;
	/* told to monitoring (GET /metrics) */
	if (store_open(&K.st, K.cf.db, 0, 1) == STORE_OK) {
		struct dbtx *tx = NULL;
		int done = store_begin(&K.st, DB_WRITE, &tx) == STORE_OK;

		if (done && store_backup_done(tx, 0, file, size, (long long)time(NULL)) != STORE_OK) {
			store_rollback(tx);
			done = 0;
		} else if (done) {
			done = store_commit(tx) == STORE_OK;
		}
		if (!done)
			fprintf(stderr, "kcsd: backup: written, but not recorded in the store\n");
		store_close(&K.st);
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "file", file);
	cJSON_AddNumberToObject(o, "bytes", (double)size);
	cJSON_AddNumberToObject(o, "audit_entries", (double)entries);
	cJSON_AddStringToObject(o, "quick_check", "ok");
	rc = kcs_print(o);
	cJSON_Delete(o);
	return rc;
}

/* kcsd holds its SQLite store with a shared lock; a restore takes it
 * exclusively, so that neither runs while the other does. */
int
kcsd_hold_store(int exclusive)
{
	const char *db = store_path();
	int fd;

	if (!db || (fd = open(db, O_RDONLY | O_CLOEXEC)) < 0)
		return -2; /* nothing to hold */
	if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
kcsd_restore(const char *file, int verify_only)
{
	const char *db = store_path();
	char plain[1100], wal[1100];
	long long entries = 0;
	int in, pfd, rc, hold = -2;
	cJSON *o;

	if (!db)
		return postgres();
	if ((in = open(file, O_RDONLY)) < 0)
		return kcs_fail(KCS_EINVALID, "file", "%s: %s", file, strerror(errno));
	if ((pfd = temp_beside(db, "restore", plain, sizeof plain)) < 0) {
		close(in);
		return KCS_EINTERNAL;
	}
	rc = decrypt_file(in, pfd);
	close(in);
	if (rc == KCS_OK && fsync(pfd) != 0)
		rc = kcs_fail(KCS_EINTERNAL, "db", "%s: %s", plain, strerror(errno));
	close(pfd);
	if (rc == KCS_OK)
		rc = check_copy(plain, 1, &entries);
	if (rc == KCS_OK && !verify_only && (hold = kcsd_hold_store(1)) == -1)
		rc = kcs_fail(KCS_EREFUSED, "db", "a kcsd is serving %s: stop it before restoring", db);
	if (rc == KCS_OK && !verify_only) {
		/* the old store's WAL must not meet the new store */
		snprintf(wal, sizeof wal, "%s-wal", db);
		unlink(wal);
		snprintf(wal, sizeof wal, "%s-shm", db);
		unlink(wal);
		if (rename(plain, db) != 0 || sync_dir(db) != 0)
			rc = kcs_fail(KCS_EINTERNAL, "db", "%s: %s", db, strerror(errno));
	}
	if (hold >= 0)
		close(hold);
	if (rc != KCS_OK || verify_only)
		unlink(plain);
	if (rc != KCS_OK)
		return rc;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "file", file);
	cJSON_AddBoolToObject(o, "valid", 1);
	cJSON_AddNumberToObject(o, "audit_entries", (double)entries);
	cJSON_AddStringToObject(o, "integrity_check", "ok");
	if (!verify_only)
		cJSON_AddStringToObject(o, "restored", db);
	rc = kcs_print(o);
	cJSON_Delete(o);
	return rc;
}
