/* db_impl.h: what the engines share with db.c, not with the store. */
#ifndef KCS_DB_IMPL_H
#define KCS_DB_IMPL_H

#include <stdarg.h>

#include "db.h"

struct db_ops {
	int (*open)(struct db *db, const char *target, int create, int conns, char *err, size_t n);
	int (*migrate)(struct db *db, const char *const *migrations, char *err, size_t n);
	void (*close)(struct db *db);
	int (*begin)(struct db *db, int mode, struct dbtx **tx);
	int (*commit)(struct dbtx *tx);
	void (*rollback)(struct dbtx *tx);
	/* a statement: rows to fn if given; changed rows, or DB_* */
	int (*run)(struct dbtx *tx, db_row_fn fn, void *arg, const char *sql, const char *types, va_list ap);
	int (*backup)(struct db *db, const char *path, char *err, size_t n);
	int (*check)(struct db *db, int full, char *err, size_t n);
	/* group commit (NULL: the engine shares its flushes itself) */
	void (*group)(struct db *db, int max, long usec);
	void (*stats)(struct db *db, struct db_stats *s);
};

struct db {
	const struct db_ops *ops;
	const char *engine;
	void *impl;
};

struct dbtx {
	struct db *db;
	void *conn;
	int read;        /* a DB_READ transaction */
	int wants_write; /* it tried to write */
	char err[320];
};

extern const struct db_ops db_sqlite_ops;
extern const struct db_ops db_pg_ops;

#endif
