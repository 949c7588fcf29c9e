/* store_vehicles.c: the vehicle registry and its key positions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

/* vehicles and their key positions */

int
store_vehicle_add(struct dbtx *tx, const char *vin, const char *model, const char *date,
    const uint8_t *secret, size_t slen, const uint8_t *cut, size_t clen, long long now)
{
	int rc = run(tx, "INSERT INTO vehicles (vin, model, production_date, secret, cut_code, created_at)"
	    " VALUES (?, ?, ?, ?, ?, ?)", "sssbbi", vin, model, date, secret, slen, cut, clen, now);

	/* the two keys delivered with the car */
	if (rc >= 0)
		rc = run(tx, "INSERT INTO keys (vin, position, state, created_at, personalization, active_at)"
		    " VALUES (?, 1, 'delivered', ?, 1, ?), (?, 2, 'delivered', ?, 2, ?)", "siisii", vin, now, now, vin,
		    now, now);
	return rc < 0 ? rc : STORE_OK;
}

int
store_vehicle_get(struct dbtx *tx, const char *vin, cJSON **out)
{
	return row(tx, out, "SELECT vin, model, production_date, created_at FROM vehicles WHERE vin = ?",
	    "s", vin);
}

/* the vehicle's secret and cut code, sealed under the master key (hex) */
int
store_vehicle_secret(struct dbtx *tx, const char *vin, cJSON **out)
{
	return row(tx, out, "SELECT secret, cut_code FROM vehicles WHERE vin = ?", "s", vin);
}

int
store_vehicle_keys(struct dbtx *tx, const char *vin, cJSON **out)
{
	return rows(tx, out, "SELECT position, state, order_id, created_at FROM keys WHERE vin = ?"
	    " ORDER BY position", "s", vin);
}

int
store_key_positions(struct dbtx *tx, const char *vin, long long *next, long long *nfree)
{
	cJSON *o;
	int rc = row(tx, &o, "WITH RECURSIVE key_positions(n) AS"
	    " (SELECT 1 UNION ALL SELECT n + 1 FROM key_positions WHERE n < ?)"
	    " SELECT min(n) AS next, count(n) AS free FROM key_positions"
	    " WHERE n NOT IN (SELECT position FROM keys WHERE vin = ?)", "is", (long long)KEY_POSITIONS, vin);

	if (rc != STORE_OK)
		return rc;
	*next = 0;
	kcs_json_int(o, "next", next);
	kcs_json_int(o, "free", nfree);
	cJSON_Delete(o);
	return *nfree > 0 ? STORE_OK : STORE_NOTFOUND;
}

int
store_key_add(struct dbtx *tx, const char *vin, long long position, long long order_id, long long now)
{
	int rc = run(tx, "INSERT INTO keys (vin, position, state, order_id, created_at)"
	    " VALUES (?, ?, 'ordered', ?, ?)", "siii", vin, position, order_id, now);

	return rc < 0 ? rc : STORE_OK;
}
