/* store_impl.h: what the store's domain files share, not the handlers. */
#ifndef KCS_STORE_IMPL_H
#define KCS_STORE_IMPL_H

#include "kcsd.h"

/* a statement without rows: the number of changed rows, or STORE_* */
#define run db_exec
/* the first row as an object (STORE_NOTFOUND if none) */
int row(struct dbtx *tx, cJSON **out, const char *sql, const char *types, ...);
/* the first row, given to fill to copy into a typed row (STORE_NOTFOUND if none) */
int typed_row(struct dbtx *tx, db_row_fn fill, void *out, const char *sql, const char *types, ...);
/* a text column into a fixed buffer ("" for NULL) */
void copy_text(char *to, size_t n, const struct db_value *v);
/* every row, an array of objects */
int rows(struct dbtx *tx, cJSON **out, const char *sql, const char *types, ...);
/* an INSERT ... RETURNING id: the new row's id */
int insert_id(struct dbtx *tx, long long *id, const char *sql, const char *types, ...);
/* a count of changed rows as STORE_OK, or STORE_NOTFOUND for none */
int changed(int rc);
/* the key of the audit chain's hashes */
extern uint8_t audit_key[KCS_KEY_LEN];

#endif
