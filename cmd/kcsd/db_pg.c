/* db_pg.c: the PostgreSQL engine (libpq). A pool of connections, one per
 * transaction that runs at once: several requests, and several kcsd
 * processes, work in parallel. Transactions are SERIALIZABLE: a rule that
 * reads and then writes holds as if transactions ran one at a time, and a
 * transaction the server cannot order with others fails with 40001, which
 * is DB_RETRY: the caller runs it again.
 *
 * Write transactions take turns, across all kcsd: each begins by locking
 * kcs_schema (a LOCK statement, which comes before the transaction's
 * snapshot), so that it sees what the one before it wrote. Every write
 * appends to the one audit chain, whose head row each would otherwise
 * take from the others and fail on; in turn, none fails and none runs
 * twice. Read transactions (READ ONLY) run beside them and each other. */
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <libpq-fe.h>

#include "db_impl.h"

#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700
#define MIGRATION_LOCK "4242420"

/* statements prepared on a connection, found by the address of their SQL
 * text (the store's SQL is constant) and checked against a copy */
#define CACHED 96

struct pgconn {
	PGconn *c;
	int failed; /* a statement asked for a retry: what follows is moot */
	struct timespec taken; /* a write transaction's turn began */
	struct dbtx tx;
	char *prepared[CACHED];
	const char *key[CACHED];
	char names[CACHED][8];
	int nprepared;
};

struct pg {
	char *url;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pgconn *conns;
	int n, *free, nfree;
	unsigned long long commits, busy; /* write transactions; microseconds of their turns */
};

static PGconn *
connect_to(const char *url, char *err, size_t n)
{
	PGconn *c = PQconnectdb(url);

	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(err, n, "%s", PQerrorMessage(c));
		err[strcspn(err, "\n")] = '\0';
		PQfinish(c);
		return NULL;
	}
	/* times are epoch seconds set by kcsd; nothing depends on the server's zone */
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	return c;
}

static int
pg_open(struct db *d, const char *url, int create, int conns, char *err, size_t n)
{
	struct pg *p = calloc(1, sizeof *p);
	PGconn *c;

	(void)create;
	if (conns < 1)
		conns = 1;
	if (!p || !(p->url = strdup(url)) || !(p->conns = calloc((size_t)conns, sizeof *p->conns)) ||
	    !(p->free = calloc((size_t)conns, sizeof *p->free))) {
		snprintf(err, n, "out of memory");
		goto bad;
	}
	/* the first connection now, so that a wrong URL is said at start */
	if (!(c = connect_to(url, err, n)))
		goto bad;
	p->conns[0].c = c;
	p->n = conns;
	for (int i = 0; i < conns; i++) {
		p->conns[i].tx.db = d;
		p->conns[i].tx.conn = &p->conns[i];
		p->free[p->nfree++] = conns - 1 - i;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	d->impl = p;
	return DB_OK;
bad:
	if (p) {
		free(p->url);
		free(p->conns);
		free(p->free);
		free(p);
	}
	return DB_ERROR;
}

/* The server forgets prepared statements with the session. */
static void
forget(struct pgconn *pc)
{
	for (int i = 0; i < pc->nprepared; i++)
		free(pc->prepared[i]);
	pc->nprepared = 0;
}

static void
pg_close(struct db *d)
{
	struct pg *p = d->impl;

	for (int i = 0; i < p->n; i++) {
		forget(&p->conns[i]);
		if (p->conns[i].c)
			PQfinish(p->conns[i].c);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->url);
	free(p->conns);
	free(p->free);
	free(p);
}

static int
code(const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (!state)
		return DB_ERROR;
	if (strncmp(state, "23", 2) == 0)
		return DB_CONFLICT;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return DB_RETRY;
	return DB_ERROR;
}

/* ? placeholders become $1, $2, ... outside quoted text. */
static char *
numbered(const char *sql)
{
	size_t n = strlen(sql), k = 0;
	char *out = malloc(n * 4 + 1);
	int quoted = 0, i = 0;

	if (!out)
		return NULL;
	for (const char *s = sql; *s; s++) {
		if (*s == '\'')
			quoted = !quoted;
		if (*s == '?' && !quoted)
			k += (size_t)sprintf(out + k, "$%d", ++i);
		else
			out[k++] = *s;
	}
	out[k] = '\0';
	return out;
}

static int
simple(struct dbtx *tx, const char *sql)
{
	struct pgconn *pc = tx->conn;
	PGresult *res = PQexec(pc->c, sql);
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? DB_OK : code(res);

	if (rc != DB_OK)
		snprintf(tx->err, sizeof tx->err, "%s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
	return rc;
}

static int
pg_migrate(struct db *d, const char *const *m, char *err, size_t n)
{
	struct pg *p = d->impl;
	PGconn *c = p->conns[0].c;
	PGresult *res;
	int version = 0, known, rc = DB_OK;

	for (known = 0; m[known]; known++)
		;
	/* two kcsd starting at once: one migrates, the other waits, then sees it done */
	res = PQexec(c, "SELECT pg_advisory_lock(" MIGRATION_LOCK ")");
	PQclear(res);
	res = PQexec(c, "CREATE TABLE IF NOT EXISTS kcs_schema (version integer NOT NULL);"
	    " INSERT INTO kcs_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM kcs_schema)");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, n, "schema version: %s", PQresultErrorMessage(res));
		rc = DB_ERROR;
	}
	PQclear(res);
	res = rc == DB_OK ? PQexec(c, "SELECT version FROM kcs_schema") : NULL;
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (rc == DB_OK && (version < 0 || version > known)) {
		snprintf(err, n, "the store has schema version %d; this program knows up to %d: use a newer kcs",
		    version, known);
		rc = DB_ERROR;
	}
	for (int v = version; rc == DB_OK && m[v]; v++) {
		char sql[64];

		snprintf(sql, sizeof sql, "UPDATE kcs_schema SET version = %d", v + 1);
		PQclear(PQexec(c, "BEGIN"));
		res = PQexec(c, m[v]);
		if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK) {
			PQclear(res);
			res = PQexec(c, sql);
		}
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			snprintf(err, n, "migration %d: %s", v + 1, PQresultErrorMessage(res));
			err[strcspn(err, "\n")] = '\0';
			rc = DB_ERROR;
			PQclear(res);
			PQclear(PQexec(c, "ROLLBACK"));
			break;
		}
		PQclear(res);
		res = PQexec(c, "COMMIT");
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			snprintf(err, n, "migration %d: %s", v + 1, PQresultErrorMessage(res));
			rc = DB_ERROR;
		}
		PQclear(res);
	}
	PQclear(PQexec(c, "SELECT pg_advisory_unlock(" MIGRATION_LOCK ")"));
	return rc;
}

static int
pg_begin(struct db *d, int mode, struct dbtx **tx)
{
	struct pg *p = d->impl;
	struct pgconn *pc;
	int rc;

	pthread_mutex_lock(&p->mu);
	while (!p->nfree)
		pthread_cond_wait(&p->cv, &p->mu);
	pc = &p->conns[p->free[--p->nfree]];
	pthread_mutex_unlock(&p->mu);
	pc->failed = 0;
	pc->tx.err[0] = '\0';
	pc->tx.read = mode == DB_READ;
	pc->tx.wants_write = 0;
	if (!pc->c) {
		pc->c = connect_to(p->url, pc->tx.err, sizeof pc->tx.err);
	} else if (PQstatus(pc->c) != CONNECTION_OK) {
		forget(pc);
		PQreset(pc->c);
	}
	*tx = &pc->tx;
	if (!pc->c || (rc = simple(&pc->tx, mode == DB_READ ? "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY"
	    : "BEGIN ISOLATION LEVEL SERIALIZABLE; LOCK TABLE kcs_schema IN EXCLUSIVE MODE")) != DB_OK) {
		rc = DB_RETRY; /* the server is away: say busy, try again */
		if (pc->c && PQstatus(pc->c) != CONNECTION_OK) {
			forget(pc);
			PQreset(pc->c);
		}
		fprintf(stderr, "kcsd: store: begin: %s\n", pc->tx.err);
		pthread_mutex_lock(&p->mu);
		p->free[p->nfree++] = (int)(pc - p->conns);
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
		*tx = NULL;
		return rc;
	}
	if (mode != DB_READ)
		clock_gettime(CLOCK_MONOTONIC, &pc->taken);
	return DB_OK;
}

/* The connection back to the pool; a write transaction's turn (from its
 * lock to its end) counted. */
static void
give_back(struct dbtx *tx)
{
	struct pg *p = tx->db->impl;
	struct pgconn *pc = tx->conn;

	if (!tx->read) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		__atomic_add_fetch(&p->busy, (unsigned long long)((now.tv_sec - pc->taken.tv_sec) * 1000000L +
		    (now.tv_nsec - pc->taken.tv_nsec) / 1000), __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(&p->mu);
	p->free[p->nfree++] = (int)(pc - p->conns);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static int
pg_commit(struct dbtx *tx)
{
	int rc = simple(tx, "COMMIT");

	if (rc != DB_OK) {
		fprintf(stderr, "kcsd: store: %s\n", tx->err);
		PQclear(PQexec(((struct pgconn *)tx->conn)->c, "ROLLBACK"));
	} else if (!tx->read) {
		__atomic_add_fetch(&((struct pg *)tx->db->impl)->commits, 1, __ATOMIC_RELAXED);
	}
	give_back(tx);
	return rc;
}

/* Each write transaction commits alone (PostgreSQL shares WAL flushes
 * between concurrent commits itself); its turn runs from its lock to its
 * end. */
static void
pg_stats(struct db *d, struct db_stats *s)
{
	struct pg *p = d->impl;

	s->commits = s->writes = __atomic_load_n(&p->commits, __ATOMIC_RELAXED);
	s->busy_usec = __atomic_load_n(&p->busy, __ATOMIC_RELAXED);
}

static void
pg_rollback(struct dbtx *tx)
{
	PQclear(PQexec(((struct pgconn *)tx->conn)->c, "ROLLBACK"));
	give_back(tx);
}

/* The name of sql's statement prepared on pc (prepared now if it is new),
 * or NULL: run it unprepared. */
static const char *
prepared(struct pgconn *pc, const char *sql, const char *text, int np, const Oid *types)
{
	PGresult *res;
	char *name;
	int ok;

	for (int i = 0; i < pc->nprepared; i++)
		if (pc->key[i] == sql && strcmp(pc->prepared[i], sql) == 0)
			return pc->names[i];
	if (pc->nprepared == CACHED)
		return NULL;
	name = pc->names[pc->nprepared];
	snprintf(name, sizeof pc->names[0], "k%d", pc->nprepared);
	res = PQprepare(pc->c, name, text, np, types);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok || !(pc->prepared[pc->nprepared] = strdup(sql)))
		return NULL;
	pc->key[pc->nprepared] = sql;
	pc->nprepared++;
	return name;
}

static int
pg_run(struct dbtx *tx, db_row_fn fn, void *arg, const char *sql, const char *types, va_list ap)
{
	struct pgconn *pc = tx->conn;
	int np = (int)strlen(types), rc = 0, stop = 0, writes;
	const char *name, *state;
	Oid ptypes[32];
	const char *vals[32];
	int lens[32], fmts[32];
	char nums[32][24];
	char *text = numbered(sql);
	PGresult *res;

	if (!text || np > 32) {
		free(text);
		snprintf(tx->err, sizeof tx->err, "out of memory");
		return DB_ERROR;
	}
	for (int i = 0; i < np; i++) {
		lens[i] = fmts[i] = 0;
		switch (types[i]) {
		case 's':
			ptypes[i] = OID_TEXT;
			vals[i] = va_arg(ap, const char *);
			break;
		case 'i':
		case 'n':
		case 'o': {
			long long v = va_arg(ap, long long);

			ptypes[i] = OID_INT8;
			snprintf(nums[i], sizeof nums[i], "%lld", v);
			vals[i] = (types[i] == 'n' && v == 0) || (types[i] == 'o' && v < 0) ? NULL : nums[i];
			break;
		}
		case 'b':
			ptypes[i] = OID_BYTEA;
			vals[i] = va_arg(ap, const char *);
			lens[i] = (int)va_arg(ap, size_t);
			fmts[i] = 1;
			break;
		default:
			free(text);
			snprintf(tx->err, sizeof tx->err, "bad type '%c'", types[i]);
			return DB_ERROR;
		}
	}
	/* a statement that fails must not end the transaction, as in SQLite:
	 * a write runs under a savepoint of its own, taken back if it fails
	 * (in a read transaction, a write ends it: it runs again as a write) */
	writes = !tx->read && (strncmp(sql, "INSERT", 6) == 0 || strncmp(sql, "UPDATE", 6) == 0 ||
	    strncmp(sql, "DELETE", 6) == 0);
	if (writes && !pc->failed)
		PQclear(PQexec(pc->c, "SAVEPOINT statement"));
	if ((name = pc->failed ? NULL : prepared(pc, sql, text, np, ptypes)))
		res = PQexecPrepared(pc->c, name, np, vals, lens, fmts, 0);
	else
		res = PQexecParams(pc->c, text, np, ptypes, vals, lens, fmts, 0);
	free(text);
	if (writes && !pc->failed)
		PQclear(PQexec(pc->c, PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK
		    ? "RELEASE SAVEPOINT statement" : "ROLLBACK TO SAVEPOINT statement"));
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
		rc = atoi(PQcmdTuples(res));
		break;
	case PGRES_TUPLES_OK: {
		int rows = PQntuples(res), cols = PQnfields(res);
		struct db_value v[32];
		const char *names[32];
		unsigned char *blobs[32];

		if (cols > 32)
			cols = 32;
		for (int c = 0; c < cols; c++)
			names[c] = PQfname(res, c);
		for (int r = 0; r < rows && fn && !stop; r++) {
			for (int c = 0; c < cols; c++) {
				const char *s = PQgetvalue(res, r, c);

				memset(&v[c], 0, sizeof v[c]);
				blobs[c] = NULL;
				if (PQgetisnull(res, r, c))
					continue;
				switch (PQftype(res, c)) {
				case OID_INT2: case OID_INT4: case OID_INT8:
					v[c].type = DB_INT;
					v[c].i = strtoll(s, NULL, 10);
					break;
				case OID_FLOAT4: case OID_FLOAT8: case OID_NUMERIC:
					v[c].type = DB_REAL;
					v[c].d = strtod(s, NULL);
					break;
				case OID_BYTEA:
					v[c].type = DB_BLOB;
					blobs[c] = PQunescapeBytea((const unsigned char *)s, &v[c].n);
					v[c].p = (const char *)blobs[c];
					break;
				default:
					v[c].type = DB_TEXT;
					v[c].p = s;
					v[c].n = (size_t)PQgetlength(res, r, c);
				}
			}
			stop = fn(arg, cols, names, v);
			for (int c = 0; c < cols; c++)
				if (blobs[c])
					PQfreemem(blobs[c]);
		}
		rc = stop ? stop : atoi(PQcmdTuples(res));
		break;
	}
	default:
		rc = code(res);
		if (tx->read && (state = PQresultErrorField(res, PG_DIAG_SQLSTATE)) && strcmp(state, "25006") == 0) {
			/* a write in a READ ONLY transaction */
			tx->wants_write = 1;
			rc = DB_RETRY;
		}
		/* after a serialization failure the transaction is lost: what
		 * fails after it fails for that reason */
		if (rc == DB_RETRY)
			pc->failed = 1;
		else if (pc->failed)
			rc = DB_RETRY;
		snprintf(tx->err, sizeof tx->err, "%s", PQresultErrorMessage(res));
		tx->err[strcspn(tx->err, "\n")] = '\0';
		if (rc == DB_ERROR)
			fprintf(stderr, "kcsd: store: %s\n", tx->err);
	}
	PQclear(res);
	return rc;
}

/* pg_dump of the whole database, in its custom format: consistent as of
 * its start (one repeatable-read snapshot), while others write. */
static int
pg_backup(struct db *d, const char *path, char *err, size_t n)
{
	struct pg *p = d->impl;
	char *argv[] = { "pg_dump", "--format=custom", "--file", (char *)path, p->url, NULL };
	extern char **environ;
	pid_t pid;
	int st;

	if (posix_spawnp(&pid, "pg_dump", NULL, NULL, argv, environ) != 0) {
		snprintf(err, n, "cannot run pg_dump");
		return DB_ERROR;
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(err, n, "pg_dump failed");
		return DB_ERROR;
	}
	return DB_OK;
}

/* PostgreSQL checks its own pages (data checksums, amcheck): nothing here */
static int
pg_check(struct db *d, int full, char *err, size_t n)
{
	(void)d;
	(void)full;
	(void)err;
	(void)n;
	return DB_OK;
}

const struct db_ops db_pg_ops = {
	pg_open, pg_migrate, pg_close, pg_begin, pg_commit, pg_rollback, pg_run, pg_backup, pg_check, NULL, pg_stats
};
