/* db_sqlite.c: the SQLite engine. One connection, one transaction at a
 * time (SQLite has one writer): begin takes the connection's lock, commit
 * or rollback gives it back. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db_impl.h"

struct lite {
	sqlite3 *db;
	pthread_mutex_t mu;
	struct dbtx tx;
};

static void
seterr(struct dbtx *tx, sqlite3 *db, const char *what)
{
	snprintf(tx->err, sizeof tx->err, "%s: %s", what, sqlite3_errmsg(db));
	fprintf(stderr, "kcsd: store: %s\n", tx->err);
}

static int
code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT: return DB_CONFLICT;
	case SQLITE_BUSY: case SQLITE_LOCKED: return DB_RETRY;
	default: return DB_ERROR;
	}
}

static int
lite_open(struct db *d, const char *path, int create, int conns, char *err, size_t n)
{
	struct lite *l = calloc(1, sizeof *l);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (create ? SQLITE_OPEN_CREATE : 0);

	(void)conns;
	if (!l) {
		snprintf(err, n, "out of memory");
		return DB_ERROR;
	}
	if (!create && access(path, F_OK) != 0) {
		snprintf(err, n, "%s: %s (create it with kcsd init)", path, strerror(errno));
		free(l);
		return DB_ERROR;
	}
	if (sqlite3_open_v2(path, &l->db, flags, NULL) != SQLITE_OK ||
	    sqlite3_exec(l->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
		" PRAGMA secure_delete = ON;", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, n, "%s: %s", path, l->db ? sqlite3_errmsg(l->db) : "cannot open");
		sqlite3_close(l->db);
		free(l);
		return DB_ERROR;
	}
	sqlite3_busy_timeout(l->db, 5000);
	pthread_mutex_init(&l->mu, NULL);
	l->tx.db = d;
	l->tx.conn = l;
	d->impl = l;
	return DB_OK;
}

static void
lite_close(struct db *d)
{
	struct lite *l = d->impl;

	sqlite3_close(l->db);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

static int
count_rows(void *arg, int n, char **v, char **names)
{
	(void)n;
	(void)v;
	(void)names;
	(*(int *)arg)++;
	return 0;
}

/* The schema version is the database's user_version. A migration may
 * rebuild a table that others refer to: foreign keys are off meanwhile,
 * and checked before each migration commits. */
static int
lite_migrate(struct db *d, const char *const *m, char *err, size_t n)
{
	struct lite *l = d->impl;
	sqlite3_stmt *s;
	int version = 0, known;

	if (sqlite3_prepare_v2(l->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK) {
		snprintf(err, n, "user_version: %s", sqlite3_errmsg(l->db));
		return DB_ERROR;
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	for (known = 0; m[known]; known++)
		;
	if (version < 0 || version > known) {
		snprintf(err, n, "the store has schema version %d; this program knows up to %d: use a newer kcs",
		    version, known);
		return DB_ERROR;
	}
	for (int v = version; m[v]; v++) {
		char sql[64];
		int bad = 0;

		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
		if (sqlite3_exec(l->db, "PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(l->db, m[v], NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(l->db, "PRAGMA foreign_key_check", count_rows, &bad, NULL) != SQLITE_OK || bad ||
		    sqlite3_exec(l->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			if (bad)
				snprintf(err, n, "migration %d: %d foreign key violations", v + 1, bad);
			else
				snprintf(err, n, "migration %d: %s", v + 1, sqlite3_errmsg(l->db));
			sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
			return DB_ERROR;
		}
	}
	if (sqlite3_exec(l->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, n, "foreign_keys: %s", sqlite3_errmsg(l->db));
		return DB_ERROR;
	}
	return DB_OK;
}

static int
lite_begin(struct db *d, struct dbtx **tx)
{
	struct lite *l = d->impl;
	int rc;

	pthread_mutex_lock(&l->mu);
	l->tx.err[0] = '\0';
	if ((rc = sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK) {
		seterr(&l->tx, l->db, "begin");
		pthread_mutex_unlock(&l->mu);
		return code(rc) == DB_RETRY ? DB_RETRY : DB_ERROR;
	}
	*tx = &l->tx;
	return DB_OK;
}

static int
lite_commit(struct dbtx *tx)
{
	struct lite *l = tx->conn;
	int rc = DB_OK, e;

	if ((e = sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
		seterr(tx, l->db, "commit");
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
		rc = code(e) == DB_RETRY ? DB_RETRY : DB_ERROR;
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

static void
lite_rollback(struct dbtx *tx)
{
	struct lite *l = tx->conn;

	sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&l->mu);
}

static int
bind(sqlite3_stmt *s, const char *types, va_list ap)
{
	for (int i = 0; types[i]; i++) {
		int rc;

		switch (types[i]) {
		case 's': {
			const char *v = va_arg(ap, const char *);

			rc = v ? sqlite3_bind_text(s, i + 1, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i + 1);
			break;
		}
		case 'i':
			rc = sqlite3_bind_int64(s, i + 1, va_arg(ap, long long));
			break;
		case 'n': {
			long long v = va_arg(ap, long long);

			rc = v ? sqlite3_bind_int64(s, i + 1, v) : sqlite3_bind_null(s, i + 1);
			break;
		}
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);

			rc = sqlite3_bind_blob(s, i + 1, p, (int)n, SQLITE_TRANSIENT);
			break;
		}
		default:
			rc = SQLITE_MISUSE;
		}
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int
lite_run(struct dbtx *tx, db_row_fn fn, void *arg, const char *sql, const char *types, va_list ap)
{
	struct lite *l = tx->conn;
	sqlite3_stmt *s;
	struct db_value v[32];
	const char *names[32];
	int rc, ncols, stop = 0;

	if (sqlite3_prepare_v2(l->db, sql, -1, &s, NULL) != SQLITE_OK) {
		seterr(tx, l->db, "prepare");
		return DB_ERROR;
	}
	if (bind(s, types, ap) != SQLITE_OK) {
		seterr(tx, l->db, "bind");
		sqlite3_finalize(s);
		return DB_ERROR;
	}
	ncols = sqlite3_column_count(s);
	if (ncols > 32)
		ncols = 32;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (!fn || stop)
			continue;
		for (int i = 0; i < ncols; i++) {
			names[i] = sqlite3_column_name(s, i);
			memset(&v[i], 0, sizeof v[i]);
			switch (sqlite3_column_type(s, i)) {
			case SQLITE_INTEGER:
				v[i].type = DB_INT;
				v[i].i = sqlite3_column_int64(s, i);
				break;
			case SQLITE_FLOAT:
				v[i].type = DB_REAL;
				v[i].d = sqlite3_column_double(s, i);
				break;
			case SQLITE_TEXT:
				v[i].type = DB_TEXT;
				v[i].p = (const char *)sqlite3_column_text(s, i);
				v[i].n = (size_t)sqlite3_column_bytes(s, i);
				break;
			case SQLITE_BLOB:
				v[i].type = DB_BLOB;
				v[i].p = sqlite3_column_blob(s, i);
				v[i].n = (size_t)sqlite3_column_bytes(s, i);
				break;
			default:
				v[i].type = DB_NULL;
			}
		}
		stop = fn(arg, ncols, names, v);
	}
	if (rc != SQLITE_DONE) {
		int c = code(rc);

		snprintf(tx->err, sizeof tx->err, "%s", sqlite3_errmsg(l->db));
		if (c == DB_ERROR)
			fprintf(stderr, "kcsd: store: step: %s\n", tx->err);
		sqlite3_finalize(s);
		return c;
	}
	sqlite3_finalize(s);
	return stop ? stop : sqlite3_changes(l->db);
}

/* SQLite's online backup, from a connection of its own (never the one a
 * transaction is open on, whose uncommitted pages it would copy): pages are
 * copied a few at a time, the lock given back in between, so that writers
 * go on; a page they change meanwhile is copied again. The copy is
 * consistent as of its end. */
static int
lite_backup(struct db *d, const char *path, char *err, size_t n)
{
	struct lite *l = d->impl;
	sqlite3 *from = NULL, *to = NULL;
	sqlite3_backup *b;
	int rc;

	if (sqlite3_open_v2(sqlite3_db_filename(l->db, "main"), &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_open_v2(path, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
	    !(b = sqlite3_backup_init(to, "main", from, "main"))) {
		snprintf(err, n, "%s: %s", path, to ? sqlite3_errmsg(to) : from ? sqlite3_errmsg(from) : "cannot open");
		sqlite3_close(from);
		sqlite3_close(to);
		return DB_ERROR;
	}
	/* busy, as during a checkpoint: tried again for ten seconds at most */
	for (int busy = 0; (rc = sqlite3_backup_step(b, 64)) == SQLITE_OK ||
	    ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && busy++ < 2000);)
		sqlite3_sleep(5);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		snprintf(err, n, "%s: %s", path, sqlite3_errstr(rc));
	sqlite3_close(from);
	sqlite3_close(to);
	return rc == SQLITE_DONE ? DB_OK : DB_ERROR;
}

const struct db_ops db_sqlite_ops = {
	lite_open, lite_migrate, lite_close, lite_begin, lite_commit, lite_rollback, lite_run, lite_backup
};
