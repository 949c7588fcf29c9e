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
 * number within the model's range (1 to pmax), else 1, unless one was set */
int
store_key_activate(struct dbtx *tx, const char *vin, long long pos, long long pmax, const char *who, long long now)
{
	return changed(run(tx, "UPDATE keys SET active_at = ?, personalization = COALESCE(personalization,"
	    " CASE WHEN position <= ? THEN position ELSE 1 END), changed_by = ?, changed_at = ?"
	    " WHERE vin = ? AND position = ? AND coded_at IS NOT NULL AND active_at IS NULL AND locked_at IS NULL",
	    "iisisi", now, pmax, who, now, vin, pos));
}

int
store_key_personalize(struct dbtx *tx, const char *vin, long long pos, long long p, const char *who, long long now)
{
	return changed(run(tx, "UPDATE keys SET personalization = ?, changed_by = ?, changed_at = ?"
	    " WHERE vin = ? AND position = ? AND active_at IS NOT NULL AND locked_at IS NULL", "isisi", p, who, now,
	    vin, pos));
}

/* the personalization numbers a model has (4 unless the registry says less) */
int
store_model_range(struct dbtx *tx, const char *model, long long *max)
{
	cJSON *o;
	int rc = row(tx, &o, "SELECT personalization_max FROM models WHERE model = ?", "s", model);

	*max = 4;
	if (rc == STORE_OK) {
		kcs_json_int(o, "personalization_max", max);
		cJSON_Delete(o);
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_model_set(struct dbtx *tx, const char *model, long long max, long long now)
{
	int rc = run(tx, "INSERT INTO models (model, personalization_max, changed_at) VALUES (?, ?, ?)"
	    " ON CONFLICT (model) DO UPDATE SET personalization_max = excluded.personalization_max,"
	    " changed_at = excluded.changed_at", "sii", model, max, now);

	return rc < 0 ? rc : STORE_OK;
}

int
store_memory_set(struct dbtx *tx, const char *vin, long long p, const char *unit, const char *name,
    const char *value, const char *who, long long now)
{
	int rc = run(tx, "INSERT INTO key_memory (vin, personalization, unit, name, value, changed_by, changed_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (vin, personalization, unit, name) DO UPDATE SET"
	    " value = excluded.value, changed_by = excluded.changed_by, changed_at = excluded.changed_at",
	    "sissssi", vin, p, unit, name, value, who, now);

	return rc < 0 ? rc : STORE_OK;
}

int
store_memory_of(struct dbtx *tx, const char *vin, cJSON **out)
{
	return rows(tx, out, "SELECT personalization, unit, name, value FROM key_memory WHERE vin = ?"
	    " ORDER BY personalization, unit, name", "s", vin);
}
