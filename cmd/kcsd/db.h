/* db.h: the store's engine interface. Two engines stand behind it: SQLite
 * (db_sqlite.c, the embedded default) and PostgreSQL (db_pg.c). Nothing
 * above it names either. SQL is written once with ? placeholders and
 * integer epoch seconds, and runs on both. */
#ifndef KCS_DB_H
#define KCS_DB_H

#include <stdarg.h>
#include <stddef.h>

/* Results: a count of changed rows (>= 0), or one of these. */
enum {
	DB_OK = 0,
	DB_ERROR = -1,    /* anything else: see db_errmsg */
	DB_CONFLICT = -2, /* a unique, check or foreign key constraint */
	DB_NOTFOUND = -3, /* no row (returned by the store, not the engines) */
	DB_RETRY = -4     /* serialization failure, deadlock, busy: run the transaction again */
};

enum db_type { DB_NULL, DB_INT, DB_REAL, DB_TEXT, DB_BLOB };

struct db_value {
	enum db_type type;
	long long i;   /* DB_INT */
	double d;      /* DB_REAL */
	const char *p; /* DB_TEXT (NUL-terminated), DB_BLOB */
	size_t n;      /* bytes of p */
};

struct db;
struct dbtx;

/* Called for each row; a non-zero return stops the query with it. */
typedef int (*db_row_fn)(void *arg, int ncols, const char *const *names, const struct db_value *v);

/* The numbered migrations of each engine: entry i takes the schema from
 * version i to i + 1; the two lists have the same length. */
struct db_schema {
	const char *const *sqlite;
	const char *const *pg;
};

/* url: a path or sqlite:PATH, or postgresql://... (also postgres://).
 * create: a SQLite file may be made (init). conns: connections to keep
 * (PostgreSQL: the requests that may run at once). */
int db_open(struct db **db, const char *url, int create, int conns, const struct db_schema *schema,
    char *err, size_t errlen);
void db_close(struct db *db);

/* A transaction on a connection of the pool, until commit or rollback.
 * DB_WRITE: read-write. DB_READ: reads only, several at once beside the
 * writers; a write in it fails with DB_RETRY and db_wants_write says so:
 * run the work again in a DB_WRITE transaction. Types of bound values: s (const char *, NULL binds NULL),
 * i (long long), n (long long, 0 binds NULL), o (long long, a negative one
 * binds NULL), b (const void *, size_t). */
enum db_mode { DB_WRITE, DB_READ };
int db_begin(struct db *db, enum db_mode mode, struct dbtx **tx);
int db_wants_write(const struct dbtx *tx);
int db_commit(struct dbtx *tx); /* the connection goes back in either case */
void db_rollback(struct dbtx *tx);
int db_mark(struct dbtx *tx);   /* a savepoint: db_undo goes back to it */
int db_undo(struct dbtx *tx);
int db_exec(struct dbtx *tx, const char *sql, const char *types, ...);
int db_query(struct dbtx *tx, db_row_fn fn, void *arg, const char *sql, const char *types, ...);
int db_vquery(struct dbtx *tx, db_row_fn fn, void *arg, const char *sql, const char *types, va_list ap);

/* Group commit: the write transactions of up to max writers at once, none
 * older than usec, share one commit (SQLite; PostgreSQL shares its WAL
 * flushes itself). db_stats, since db_open: the commits, the write
 * transactions they held, and the time write transactions held their turn
 * (writes take turns: SQLite's one writer connection, PostgreSQL's write
 * lock from a transaction's start to its end); DB_ERROR for an engine that
 * does not count them. */
struct db_stats {
	unsigned long long commits, writes, busy_usec;
};
void db_group(struct db *db, int max, long usec);
int db_stats(struct db *db, struct db_stats *s);

/* An online copy of the whole database to path (SQLite) or a dump
 * (PostgreSQL), consistent as of one moment, while others write. */
int db_backup(struct db *db, const char *path, char *err, size_t errlen);
/* The database's own check of its pages and indexes (SQLite's quick_check,
 * or with full its integrity_check); DB_ERROR with the first problem. */
int db_check(struct db *db, int full, char *err, size_t errlen);

#endif
