/* store_cas.c: a vehicle's CAS key slots. Every rule that decides a change
 * is in the condition of the UPDATE that makes it, so that it holds under
 * concurrent changes on several kcsd. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

int
store_cas_keys(struct dbtx *tx, const char *vin, cJSON **out)
{
	return rows(tx, out, "SELECT position, state, order_id, personalization, created_at, coded_at, active_at,"
	    " locked_at, lock_reason, changed_by, changed_at FROM keys WHERE vin = ? ORDER BY position", "s", vin);
}

/* has this account a key order for the vehicle? */
int
store_cas_orders_of(struct dbtx *tx, const char *vin, long long account)
{
	cJSON *o;
	int rc = row(tx, &o, "SELECT id FROM orders WHERE vin = ? AND account_id = ? AND kind = 'key' LIMIT 1", "si",
	    vin, account);

	cJSON_Delete(o);
	return rc;
}

/* the key id the writer's receipt gave for a coded position */
int
store_cas_coded_key(struct dbtx *tx, const char *vin, long long pos, cJSON **out)
{
	return row(tx, out, "SELECT j.key_id FROM jobs j JOIN keys k ON k.order_id = j.order_id"
	    " WHERE k.vin = ? AND k.position = ? AND j.kind = 'code' AND j.state = 'done'", "si", vin, pos);
}

/* locked: an active key, unlocked, while another active unlocked key remains */
int
store_key_lock(struct dbtx *tx, const char *vin, long long pos, const char *reason, const char *who, long long now)
{
	return changed(run(tx, "UPDATE keys SET locked_at = ?, lock_reason = ?, changed_by = ?, changed_at = ?"
	    " WHERE vin = ? AND position = ? AND active_at IS NOT NULL AND locked_at IS NULL"
	    " AND EXISTS (SELECT 1 FROM keys o WHERE o.vin = keys.vin AND o.position <> keys.position"
	    " AND o.active_at IS NOT NULL AND o.locked_at IS NULL)", "issisi", now, reason, who, now, vin, pos));
}

int
store_key_release(struct dbtx *tx, const char *vin, long long pos, const char *who, long long now)
{
	return changed(run(tx, "UPDATE keys SET locked_at = NULL, lock_reason = NULL, changed_by = ?, changed_at = ?"
	    " WHERE vin = ? AND position = ? AND locked_at IS NOT NULL", "sisi", who, now, vin, pos));
}

/* a coded position becomes active; its personalization number is its key
 * number up to 4, else 1, unless one was set */
int
store_key_activate(struct dbtx *tx, const char *vin, long long pos, const char *who, long long now)
{
	return changed(run(tx, "UPDATE keys SET active_at = ?, personalization = COALESCE(personalization,"
	    " CASE WHEN position <= 4 THEN position ELSE 1 END), changed_by = ?, changed_at = ?"
	    " WHERE vin = ? AND position = ? AND coded_at IS NOT NULL AND active_at IS NULL AND locked_at IS NULL",
	    "isisi", now, who, now, vin, pos));
}

int
store_key_personalize(struct dbtx *tx, const char *vin, long long pos, long long p, const char *who, long long now)
{
	return changed(run(tx, "UPDATE keys SET personalization = ?, changed_by = ?, changed_at = ?"
	    " WHERE vin = ? AND position = ? AND active_at IS NOT NULL AND locked_at IS NULL", "isisi", p, who, now,
	    vin, pos));
}
