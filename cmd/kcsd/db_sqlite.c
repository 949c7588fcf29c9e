/* db_sqlite.c: the SQLite engine, in WAL mode. Writes: one connection,
 * one writer at a time (SQLite has one writer), taken under a lock. Reads:
 * connections of their own that may not write (query_only), as many as run
 * at once, each reading one snapshot while the writer goes on. A write
 * tried in a read transaction is DB_RETRY, and the transaction says it
 * wants to write (db_wants_write). Each connection keeps its prepared
 * statements.
 *
 * Group commit: the writers' transactions are savepoints of one SQLite
 * transaction, a batch, committed with one fsync for all of them. A writer
 * done with its work hands the connection on when others wait for it, and
 * waits until the batch that holds its work is committed; the writer after
 * which nobody waits (or that fills the batch to its size or age) commits
 * it and tells the others. So no writer hears "done" before its work is
 * durable, a writer that fails rolls back its own savepoint only, and a
 * lone writer commits at once. A batch the engine lost (an I/O error rolls
 * back the whole transaction) fails every writer in it. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db_impl.h"

/* prepared statements kept per connection, found by the address of their
 * SQL text (the store's SQL is constant) and checked against it */
#define CACHED 96

struct cached {
	const char *sql;
	sqlite3_stmt *s;
};

struct conn {
	sqlite3 *db;
	struct dbtx tx;
	struct cached cache[CACHED];
	struct conn *next, *all; /* idle readers; every reader */
};

/* a writer whose work is in the open batch, waiting for its commit */
struct waiter {
	int done, rc;
	struct waiter *next;
};

struct lite {
	char *path;
	pthread_mutex_t mu; /* the writer's */
	struct conn w;
	int wanted;         /* writers waiting for mu */
	int open, n;        /* a batch is open; the writers whose work it holds */
	struct timespec since; /* when the batch began */
	struct waiter *waiting;
	pthread_mutex_t wmu; /* the waiters' */
	pthread_cond_t durable;
	int max;            /* writers in a batch at most (1: no grouping) */
	long usec;          /* a batch's age at most */
	unsigned long long commits, writes;
	struct timespec taken;   /* when the writer's lock was taken */
	unsigned long long busy; /* microseconds it was held */
	pthread_mutex_t rmu; /* the readers' */
	struct conn *idle, *readers;
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

/* KCS_EXPLAIN set: each statement's plan is read when it is first
 * prepared on a connection, and a scan of a whole table (or of a whole
 * index) is told on stderr, "kcsd: plan: SCAN table | SQL": a statement
 * whose work grows with what is stored. */
static int explain;

static void
tell_scans(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	char *q;

	/* an INSERT of values: the plan lists the foreign keys' checks of
	 * child tables, which run only while a deferred violation is pending */
	if (!explain || (strncmp(sql, "SELECT", 6) != 0 && strncmp(sql, "UPDATE", 6) != 0 &&
	    strncmp(sql, "DELETE", 6) != 0 && strncmp(sql, "WITH", 4) != 0 &&
	    (strncmp(sql, "INSERT", 6) != 0 || !strstr(sql, "SELECT"))))
		return;
	if (!(q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql)))
		return;
	if (sqlite3_prepare_v2(db, q, -1, &s, NULL) == SQLITE_OK) {
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(s, 3);

			if (d && strncmp(d, "SCAN ", 5) == 0 && !strstr(d, "CONSTANT ROW") && strncmp(d, "SCAN (", 6) != 0)
				fprintf(stderr, "kcsd: plan: %s | %s\n", d, sql);
		}
		sqlite3_finalize(s);
	}
	sqlite3_free(q);
}

/* The statement for sql on c, prepared once; *kept: it stays with c
 * (reset after use), else it is finalized after use. */
static sqlite3_stmt *
prepare(struct conn *c, const char *sql, int *kept)
{
	size_t h = ((uintptr_t)sql >> 4) % CACHED;
	sqlite3_stmt *s = NULL;

	*kept = 0;
	for (size_t i = 0; i < CACHED; i++) {
		struct cached *e = &c->cache[(h + i) % CACHED];

		if (!e->s) {
			if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
				return NULL;
			tell_scans(c->db, sql);
			e->sql = sql;
			e->s = s;
			*kept = 1;
			return s;
		}
		if (e->sql == sql && strcmp(sqlite3_sql(e->s), sql) == 0) {
			*kept = 1;
			return e->s;
		}
	}
	return sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) == SQLITE_OK ? s : NULL;
}

static void
done(sqlite3_stmt *s, int kept)
{
	if (kept) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	} else {
		sqlite3_finalize(s);
	}
}

/* A statement without values or rows (BEGIN, COMMIT, ...). */
static int
simple(struct conn *c, const char *sql)
{
	int kept, rc;
	sqlite3_stmt *s = prepare(c, sql, &kept);

	if (!s)
		return sqlite3_errcode(c->db);
	rc = sqlite3_step(s);
	done(s, kept);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int
connect_to(struct lite *l, struct conn *c, struct db *d, int create, int read)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);

	c->tx.db = d;
	c->tx.conn = c;
	c->tx.read = read;
	if (sqlite3_open_v2(l->path, &c->db, flags, NULL) != SQLITE_OK ||
	    sqlite3_exec(c->db, read ? "PRAGMA query_only = ON"
		: "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;",
		NULL, NULL, NULL) != SQLITE_OK)
		return DB_ERROR;
	sqlite3_busy_timeout(c->db, 5000);
	return DB_OK;
}

static void
disconnect(struct conn *c)
{
	for (int i = 0; i < CACHED; i++)
		sqlite3_finalize(c->cache[i].s);
	sqlite3_close(c->db);
}

static int
lite_open(struct db *d, const char *path, int create, int conns, char *err, size_t n)
{
	struct lite *l = calloc(1, sizeof *l);

	(void)conns;
	/* no process-wide lock around every allocation to count them (before
	 * SQLite's first use; later it is refused and changes nothing) */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	explain = getenv("KCS_EXPLAIN") != NULL;
	if (!l || !(l->path = strdup(path))) {
		snprintf(err, n, "out of memory");
		free(l);
		return DB_ERROR;
	}
	if (!create && access(path, F_OK) != 0) {
		snprintf(err, n, "%s: %s (create it with kcsd init)", path, strerror(errno));
		free(l->path);
		free(l);
		return DB_ERROR;
	}
	if (connect_to(l, &l->w, d, create, 0) != DB_OK) {
		snprintf(err, n, "%s: %s", path, l->w.db ? sqlite3_errmsg(l->w.db) : "cannot open");
		sqlite3_close(l->w.db);
		free(l->path);
		free(l);
		return DB_ERROR;
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_init(&l->wmu, NULL);
	pthread_cond_init(&l->durable, NULL);
	pthread_mutex_init(&l->rmu, NULL);
	l->max = 1;
	d->impl = l;
	return DB_OK;
}

static void
lite_close(struct db *d)
{
	struct lite *l = d->impl;

	for (struct conn *c = l->readers, *next; c; c = next) {
		next = c->all;
		disconnect(c);
		free(c);
	}
	disconnect(&l->w);
	pthread_mutex_destroy(&l->mu);
	pthread_mutex_destroy(&l->wmu);
	pthread_cond_destroy(&l->durable);
	pthread_mutex_destroy(&l->rmu);
	free(l->path);
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
	sqlite3 *db = l->w.db;
	sqlite3_stmt *s;
	int version = 0, known;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK) {
		snprintf(err, n, "user_version: %s", sqlite3_errmsg(db));
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
		if (sqlite3_exec(db, "PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, m[v], NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "PRAGMA foreign_key_check", count_rows, &bad, NULL) != SQLITE_OK || bad ||
		    sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			if (bad)
				snprintf(err, n, "migration %d: %d foreign key violations", v + 1, bad);
			else
				snprintf(err, n, "migration %d: %s", v + 1, sqlite3_errmsg(db));
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return DB_ERROR;
		}
	}
	if (sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, n, "foreign_keys: %s", sqlite3_errmsg(db));
		return DB_ERROR;
	}
	return DB_OK;
}

/* An idle reader, or a new one. */
static struct conn *
reader(struct db *d)
{
	struct lite *l = d->impl;
	struct conn *c;

	pthread_mutex_lock(&l->rmu);
	if ((c = l->idle))
		l->idle = c->next;
	pthread_mutex_unlock(&l->rmu);
	if (c)
		return c;
	if (!(c = calloc(1, sizeof *c)))
		return NULL;
	if (connect_to(l, c, d, 0, 1) != DB_OK) {
		fprintf(stderr, "kcsd: store: a reader: %s\n", c->db ? sqlite3_errmsg(c->db) : "cannot open");
		sqlite3_close(c->db);
		free(c);
		return NULL;
	}
	pthread_mutex_lock(&l->rmu);
	c->all = l->readers;
	l->readers = c;
	pthread_mutex_unlock(&l->rmu);
	return c;
}

static void
release(struct conn *c)
{
	struct lite *l = c->tx.db->impl;

	pthread_mutex_lock(&l->rmu);
	c->next = l->idle;
	l->idle = c;
	pthread_mutex_unlock(&l->rmu);
}

/* The writer's lock, and the time it is held (the writer's utilization:
 * near all of the time, writes queue for it). */
static void
writer_lock(struct lite *l)
{
	pthread_mutex_lock(&l->mu);
	clock_gettime(CLOCK_MONOTONIC, &l->taken);
}

static void
writer_unlock(struct lite *l)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	__atomic_add_fetch(&l->busy, (unsigned long long)((now.tv_sec - l->taken.tv_sec) * 1000000L +
	    (now.tv_nsec - l->taken.tv_nsec) / 1000), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&l->mu);
}

/* The open batch ends with rc: each writer in it is told (under mu). */
static void
settle(struct lite *l, int rc)
{
	pthread_mutex_lock(&l->wmu);
	for (struct waiter *w = l->waiting; w; w = w->next) {
		w->done = 1;
		w->rc = rc;
	}
	l->waiting = NULL;
	pthread_cond_broadcast(&l->durable);
	pthread_mutex_unlock(&l->wmu);
	l->open = l->n = 0;
}

/* The open batch committed, one fsync for every writer in it (under mu). */
static int
commit_batch(struct lite *l)
{
	int e, rc = DB_OK;

	if (sqlite3_get_autocommit(l->w.db)) {
		/* rolled back by the engine: the work in it is lost */
		snprintf(l->w.tx.err, sizeof l->w.tx.err, "commit: the transaction was rolled back by an error");
		fprintf(stderr, "kcsd: store: %s\n", l->w.tx.err);
		rc = DB_ERROR;
	} else if ((e = simple(&l->w, "COMMIT")) != SQLITE_OK) {
		seterr(&l->w.tx, l->w.db, "commit");
		simple(&l->w, "ROLLBACK");
		rc = code(e) == DB_RETRY ? DB_RETRY : DB_ERROR;
	}
	__atomic_add_fetch(&l->commits, 1, __ATOMIC_RELAXED);
	if (rc == DB_OK)
		__atomic_add_fetch(&l->writes, (unsigned long long)l->n, __ATOMIC_RELAXED);
	settle(l, rc);
	return rc;
}

/* Whether a writer done with its work leaves the batch open for the next:
 * others wait for the writer, and the batch is neither full nor old. */
static int
keep_open(struct lite *l)
{
	struct timespec now;

	if (l->n >= l->max || !__atomic_load_n(&l->wanted, __ATOMIC_ACQUIRE))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - l->since.tv_sec) * 1000000L + (now.tv_nsec - l->since.tv_nsec) / 1000 < l->usec;
}

static int
lite_begin(struct db *d, int mode, struct dbtx **tx)
{
	struct lite *l = d->impl;
	struct conn *c;
	int rc;

	if (mode == DB_READ) {
		if (!(c = reader(d)))
			return DB_ERROR;
		c->tx.err[0] = '\0';
		c->tx.wants_write = 0;
		if ((rc = simple(c, "BEGIN")) != SQLITE_OK) {
			seterr(&c->tx, c->db, "begin");
			release(c);
			return code(rc) == DB_RETRY ? DB_RETRY : DB_ERROR;
		}
		*tx = &c->tx;
		return DB_OK;
	}
	__atomic_add_fetch(&l->wanted, 1, __ATOMIC_ACQ_REL);
	writer_lock(l);
	__atomic_sub_fetch(&l->wanted, 1, __ATOMIC_ACQ_REL);
	c = &l->w;
	c->tx.err[0] = '\0';
	c->tx.wants_write = 0;
	if (l->open && sqlite3_get_autocommit(c->db))
		commit_batch(l); /* lost: its writers fail */
	if (!l->open) {
		if ((rc = simple(c, "BEGIN IMMEDIATE")) != SQLITE_OK) {
			seterr(&c->tx, c->db, "begin");
			writer_unlock(l);
			return code(rc) == DB_RETRY ? DB_RETRY : DB_ERROR;
		}
		l->open = 1;
		clock_gettime(CLOCK_MONOTONIC, &l->since);
	}
	if ((rc = simple(c, "SAVEPOINT writer")) != SQLITE_OK) {
		seterr(&c->tx, c->db, "begin");
		if (l->n)
			commit_batch(l);
		else
			simple(c, "ROLLBACK");
		l->open = 0;
		writer_unlock(l);
		return DB_ERROR;
	}
	*tx = &c->tx;
	return DB_OK;
}

/* A writer's end: its savepoint released (kept) or rolled back; then the
 * batch is committed, or left open for the next writer while this one
 * waits for it. */
static int
end_writer(struct lite *l, int keep)
{
	struct waiter me = { 0, DB_OK, NULL };
	int rc = DB_OK;

	if (sqlite3_get_autocommit(l->w.db)) {
		commit_batch(l);
		writer_unlock(l);
		return keep ? DB_ERROR : DB_OK;
	}
	if (keep && simple(&l->w, "RELEASE writer") != SQLITE_OK) {
		seterr(&l->w.tx, l->w.db, "commit");
		keep = 0;
		rc = DB_ERROR;
	}
	if (!keep && (simple(&l->w, "ROLLBACK TO writer") != SQLITE_OK || simple(&l->w, "RELEASE writer") !=
	    SQLITE_OK)) {
		/* the batch cannot be trusted: it fails whole */
		seterr(&l->w.tx, l->w.db, "rollback");
		simple(&l->w, "ROLLBACK");
		settle(l, DB_ERROR);
		writer_unlock(l);
		return DB_ERROR;
	}
	if (keep) {
		me.next = l->waiting;
		l->waiting = &me;
		l->n++;
	}
	if (keep_open(l)) {
		writer_unlock(l);
		if (!keep)
			return rc;
		pthread_mutex_lock(&l->wmu);
		while (!me.done)
			pthread_cond_wait(&l->durable, &l->wmu);
		pthread_mutex_unlock(&l->wmu);
		return me.rc;
	}
	if (l->n)
		commit_batch(l);
	else if (l->open) {
		simple(&l->w, "ROLLBACK");
		l->open = 0;
	}
	writer_unlock(l);
	return keep ? me.rc : rc;
}

static int
lite_commit(struct dbtx *tx)
{
	struct conn *c = tx->conn;
	int rc = DB_OK, e;

	if (!tx->read)
		return end_writer(c->tx.db->impl, 1);
	if ((e = simple(c, "COMMIT")) != SQLITE_OK) {
		seterr(tx, c->db, "commit");
		simple(c, "ROLLBACK");
		rc = code(e) == DB_RETRY ? DB_RETRY : DB_ERROR;
	}
	release(c);
	return rc;
}

static void
lite_rollback(struct dbtx *tx)
{
	struct conn *c = tx->conn;

	if (!tx->read) {
		end_writer(c->tx.db->impl, 0);
		return;
	}
	simple(c, "ROLLBACK");
	release(c);
}

static void
lite_group(struct db *d, int max, long usec)
{
	struct lite *l = d->impl;

	l->max = max < 1 ? 1 : max;
	l->usec = usec;
}

static void
lite_stats(struct db *d, struct db_stats *s)
{
	struct lite *l = d->impl;

	s->commits = __atomic_load_n(&l->commits, __ATOMIC_RELAXED);
	s->writes = __atomic_load_n(&l->writes, __ATOMIC_RELAXED);
	s->busy_usec = __atomic_load_n(&l->busy, __ATOMIC_RELAXED);
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
		case 'o': {
			long long v = va_arg(ap, long long);

			rc = v >= 0 ? sqlite3_bind_int64(s, i + 1, v) : sqlite3_bind_null(s, i + 1);
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
	struct conn *c = tx->conn;
	sqlite3_stmt *s;
	struct db_value v[32];
	const char *names[32];
	int rc, ncols, kept, stop = 0;

	if (!(s = prepare(c, sql, &kept))) {
		seterr(tx, c->db, "prepare");
		return DB_ERROR;
	}
	if (bind(s, types, ap) != SQLITE_OK) {
		seterr(tx, c->db, "bind");
		done(s, kept);
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
		int e = code(rc);

		snprintf(tx->err, sizeof tx->err, "%s", sqlite3_errmsg(c->db));
		done(s, kept);
		if ((rc & 0xff) == SQLITE_READONLY && tx->read) {
			/* a write in a read transaction: run it again as a write */
			tx->wants_write = 1;
			return DB_RETRY;
		}
		if (e == DB_ERROR)
			fprintf(stderr, "kcsd: store: step: %s\n", tx->err);
		return e;
	}
	done(s, kept);
	return stop ? stop : sqlite3_changes(c->db);
}

/* SQLite's online backup, from a connection of its own (never the one a
 * transaction is open on, whose uncommitted pages it would copy), in one
 * pass: one read transaction on the WAL database, so that writers go on
 * meanwhile and the copy is consistent as of its start. (Copied a few pages
 * at a time, each write by another connection would start it over, and
 * under a steady write load it would never end.) */
static int
lite_backup(struct db *d, const char *path, char *err, size_t n)
{
	struct lite *l = d->impl;
	sqlite3 *from = NULL, *to = NULL;
	sqlite3_backup *b;
	int rc;

	if (sqlite3_open_v2(l->path, &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_open_v2(path, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
	    !(b = sqlite3_backup_init(to, "main", from, "main"))) {
		snprintf(err, n, "%s: %s", path, to ? sqlite3_errmsg(to) : from ? sqlite3_errmsg(from) : "cannot open");
		sqlite3_close(from);
		sqlite3_close(to);
		return DB_ERROR;
	}
	/* busy, as during a checkpoint: tried again for ten seconds at most */
	for (int busy = 0; (rc = sqlite3_backup_step(b, -1)) == SQLITE_OK ||
	    ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && busy++ < 2000);)
		sqlite3_sleep(5);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		snprintf(err, n, "%s: %s", path, sqlite3_errstr(rc));
	sqlite3_close(from);
	sqlite3_close(to);
	return rc == SQLITE_DONE ? DB_OK : DB_ERROR;
}

/* quick_check or integrity_check, on a connection of its own */
static int
lite_check(struct db *d, int full, char *err, size_t n)
{
	struct lite *l = d->impl;
	sqlite3 *c = NULL;
	sqlite3_stmt *s = NULL;
	int rc = DB_ERROR;

	if (sqlite3_open_v2(l->path, &c, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c, full ? "PRAGMA integrity_check" : "PRAGMA quick_check", -1, &s, NULL) != SQLITE_OK) {
		snprintf(err, n, "%s", c ? sqlite3_errmsg(c) : "cannot open");
	} else if (sqlite3_step(s) != SQLITE_ROW) {
		snprintf(err, n, "%s", sqlite3_errmsg(c));
	} else if (strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0) {
		snprintf(err, n, "%s", (const char *)sqlite3_column_text(s, 0));
	} else {
		rc = DB_OK;
	}
	sqlite3_finalize(s);
	sqlite3_close(c);
	return rc;
}

const struct db_ops db_sqlite_ops = {
	lite_open, lite_migrate, lite_close, lite_begin, lite_commit, lite_rollback, lite_run, lite_backup, lite_check,
	lite_group, lite_stats
};
