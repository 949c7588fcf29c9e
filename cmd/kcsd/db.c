/* db.c: the engine interface: chooses the engine by URL and hands each call
 * to it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"

int
db_open(struct db **out, const char *url, int create, int conns, const struct db_schema *schema,
    char *err, size_t n)
{
	struct db *db = calloc(1, sizeof *db);
	const char *target = url;
	const char *const *migrations;

	*out = NULL;
	if (!db) {
		snprintf(err, n, "out of memory");
		return DB_ERROR;
	}
	if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
		db->ops = &db_pg_ops;
		db->engine = "postgresql";
		migrations = schema->pg;
	} else {
		if (strncmp(url, "sqlite:", 7) == 0)
			target = url + 7;
		db->ops = &db_sqlite_ops;
		db->engine = "sqlite";
		migrations = schema->sqlite;
	}
	if (db->ops->open(db, target, create, conns, err, n) != DB_OK) {
		free(db);
		return DB_ERROR;
	}
	if (db->ops->migrate(db, migrations, err, n) != DB_OK) {
		db->ops->close(db);
		free(db);
		return DB_ERROR;
	}
	*out = db;
	return DB_OK;
}

void
db_close(struct db *db)
{
	if (db) {
		db->ops->close(db);
		free(db);
	}
}

int
db_begin(struct db *db, enum db_mode mode, struct dbtx **tx)
{
	return db->ops->begin(db, (int)mode, tx);
}

int
db_wants_write(const struct dbtx *tx)
{
	return tx->wants_write;
}

int
db_commit(struct dbtx *tx)
{
	return tx->db->ops->commit(tx);
}

void
db_rollback(struct dbtx *tx)
{
	tx->db->ops->rollback(tx);
}

int
db_vquery(struct dbtx *tx, db_row_fn fn, void *arg, const char *sql, const char *types, va_list ap)
{
	return tx->db->ops->run(tx, fn, arg, sql, types, ap);
}

int
db_exec(struct dbtx *tx, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = db_vquery(tx, NULL, NULL, sql, types, ap);
	va_end(ap);
	return rc;
}

int
db_query(struct dbtx *tx, db_row_fn fn, void *arg, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = db_vquery(tx, fn, arg, sql, types, ap);
	va_end(ap);
	return rc;
}

int
db_mark(struct dbtx *tx)
{
	return db_exec(tx, "SAVEPOINT handler", "") < 0 ? DB_ERROR : DB_OK;
}

int
db_undo(struct dbtx *tx)
{
	return db_exec(tx, "ROLLBACK TO SAVEPOINT handler", "") < 0 ? DB_ERROR : DB_OK;
}

void
db_group(struct db *db, int max, long usec)
{
	if (db->ops->group)
		db->ops->group(db, max, usec);
}

int
db_stats(struct db *db, struct db_stats *s)
{
	if (!db->ops->stats)
		return DB_ERROR;
	db->ops->stats(db, s);
	return DB_OK;
}

int
db_backup(struct db *db, const char *path, char *err, size_t n)
{
	return db->ops->backup(db, path, err, n);
}

int
db_check(struct db *db, int full, char *err, size_t n)
{
	return db->ops->check(db, full, err, n);
}
