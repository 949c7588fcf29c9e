/* store_outbox.c: the outbox of e-mails and letters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

/* outbox */

int
store_outbox_add(struct dbtx *tx, const char *kind, const char *to, const char *subject,
    const uint8_t *sealed, size_t len, const char *spool, const char *file, long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO outbox (kind, recipient, subject, sealed, spool, file, created_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id", "sssbssi", kind, to, subject, sealed, len, spool, file, now);
}

/* The undelivered messages spooled to spool (or before spools were
 * recorded): those a node may have to write again at start. */
int
store_outbox_unspooled(struct dbtx *tx, const char *spool, cJSON **out)
{
	return rows(tx, out, "SELECT id, file FROM outbox WHERE delivered_at IS NULL"
	    " AND (spool IS NULL OR spool = ?) ORDER BY id", "s", spool);
}

int
store_outbox_list(struct dbtx *tx, cJSON **out)
{
	return rows(tx, out, "SELECT id, kind, recipient, subject, file, created_at, delivered_at"
	    " FROM outbox ORDER BY id", "");
}

int
store_outbox_get(struct dbtx *tx, long long id, cJSON **out)
{
	return row(tx, out, "SELECT id, kind, recipient, subject, file, created_at, delivered_at, sealed"
	    " FROM outbox WHERE id = ?", "i", id);
}
