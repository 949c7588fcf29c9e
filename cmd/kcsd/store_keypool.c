/* store_keypool.c: the KeyPool's dealers, locations, readers and fleet
 * systems, key reads, settings and fleet units. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

int
store_dealer_add(struct dbtx *tx, const char *name, const char *dpn, const char *outlet, long long now,
    long long *id)
{
	return insert_id(tx, id, "INSERT INTO dealers (name, dpn, outlet, created_at) VALUES (?, ?, ?, ?) RETURNING id",
	    "sssi", name, dpn, outlet, now);
}

int
store_dealer_get(struct dbtx *tx, long long id, cJSON **out)
{
	return row(tx, out, "SELECT id, name, dpn AS distribution_product_number, outlet AS outlet_number, created_at"
	    " FROM dealers WHERE id = ?", "i", id);
}

int
store_dealers(struct dbtx *tx, cJSON **dealers, cJSON **locations, cJSON **clients)
{
	int rc = rows(tx, dealers, "SELECT id, name, dpn AS distribution_product_number, outlet AS outlet_number,"
	    " created_at FROM dealers ORDER BY id", "");

	if (rc == STORE_OK)
		rc = rows(tx, locations, "SELECT id, dealer_id, name, created_at FROM locations ORDER BY id", "");
	if (rc == STORE_OK)
		rc = rows(tx, clients, "SELECT id, dealer_id, role, name, created_at, revoked_at FROM keypool_clients"
		    " ORDER BY id", "");
	return rc;
}

int
store_location_add(struct dbtx *tx, long long dealer, const char *name, long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO locations (dealer_id, name, created_at) VALUES (?, ?, ?) RETURNING id",
	    "isi", dealer, name, now);
}

int
store_location_get(struct dbtx *tx, long long id, cJSON **out)
{
	return row(tx, out, "SELECT id, dealer_id, name FROM locations WHERE id = ?", "i", id);
}

int
store_client_add(struct dbtx *tx, long long dealer, const char *role, const char *name, const char *token_hash,
    long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO keypool_clients (dealer_id, role, name, token_hash, created_at)"
	    " VALUES (?, ?, ?, ?, ?) RETURNING id", "isssi", dealer, role, name, token_hash, now);
}

int
store_client_revoke(struct dbtx *tx, long long id, long long now)
{
	return changed(run(tx, "UPDATE keypool_clients SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", "ii",
	    now, id));
}

static int
client_fill(void *arg, int n, const char *const *names, const struct db_value *v)
{
	struct client_row *c = arg;

	(void)n;
	(void)names;
	c->id = v[0].i;
	c->dealer_id = v[1].i;
	copy_text(c->role, sizeof c->role, &v[2]);
	copy_text(c->name, sizeof c->name, &v[3]);
	return 1;
}

int
store_client_by_token(struct dbtx *tx, const char *token_hash, struct client_row *out)
{
	return typed_row(tx, client_fill, out, "SELECT id, dealer_id, role, name FROM keypool_clients"
	    " WHERE token_hash = ? AND revoked_at IS NULL", "s", token_hash);
}

/* A read; a duplicate (same client, VIN and read time) is STORE_CONFLICT. */
int
store_read_add(struct dbtx *tx, const struct store_read *k, long long now, long long *id)
{
	cJSON *o = NULL;
	int rc = row(tx, &o, "INSERT INTO key_reads (dealer_id, client_id, source, device, vin, read_at,"
	    " received_at, mileage, mileage_unit, mileage_km, fuel_percent, battery_percent, key_number, range_km,"
	    " service, raw_sha256, rollback_km, rollback_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
	    " ?, ?) ON CONFLICT (client_id, vin, read_at) DO NOTHING RETURNING id", "iisssiiisioooossoo",
	    k->dealer_id, k->client_id, k->source, k->device, k->vin, k->read_at, now, k->mileage, k->mileage_unit,
	    k->mileage_km, k->fuel, k->battery, k->key_number, k->range_km, k->service, k->raw_sha256,
	    k->rollback_km, k->rollback_at);

	if (rc == STORE_OK && kcs_json_int(o, "id", id) != 0)
		rc = STORE_ERROR;
	cJSON_Delete(o);
	/* no row: the same read was stored before */
	return rc == STORE_NOTFOUND ? STORE_CONFLICT : rc;
}

int
store_read_same(struct dbtx *tx, long long client, const char *vin, long long read_at, cJSON **out)
{
	return row(tx, out, "SELECT id, received_at FROM key_reads WHERE client_id = ? AND vin = ? AND read_at = ?",
	    "isi", client, vin, read_at);
}

#define READ_COLUMNS "id, source, device, vin, read_at, received_at, mileage, mileage_unit, mileage_km," \
	" fuel_percent, battery_percent, key_number, range_km, service, raw_sha256, rollback_km, rollback_at"

/* the newest read of the VIN at the dealer from source a or b */
int
store_read_latest(struct dbtx *tx, long long dealer, const char *vin, const char *a, const char *b, cJSON **out)
{
	return row(tx, out, "SELECT " READ_COLUMNS " FROM key_reads WHERE dealer_id = ? AND vin = ?"
	    " AND source IN (?, ?) ORDER BY read_at DESC, id DESC LIMIT 1", "isss", dealer, vin, a, b);
}

/* The highest mileage (km) recorded for the VIN at the dealer before a
 * time, by a read or a unit's event: what a plausible mileage is not
 * lower than. STORE_NOTFOUND if none. */
int
store_mileage_before(struct dbtx *tx, long long dealer, const char *vin, long long before, long long *km,
    long long *at)
{
	cJSON *o = NULL;
	int rc = row(tx, &o, "SELECT km, t FROM (SELECT mileage_km AS km, read_at AS t FROM key_reads"
	    " WHERE dealer_id = ? AND vin = ? AND read_at < ? UNION ALL SELECT mileage_km, at FROM unit_events"
	    " WHERE dealer_id = ? AND vin = ? AND at < ?) m ORDER BY km DESC, t LIMIT 1", "isiisi", dealer, vin,
	    before, dealer, vin, before);

	if (rc == STORE_OK && (kcs_json_int(o, "km", km) != 0 || kcs_json_int(o, "t", at) != 0))
		rc = STORE_ERROR;
	cJSON_Delete(o);
	return rc;
}

int
store_reads_purge(struct dbtx *tx, long long cutoff)
{
	return run(tx, "DELETE FROM key_reads WHERE read_at < ?", "i", cutoff);
}

/* settings: location 0 is the dealer level */
int
store_settings_of(struct dbtx *tx, long long dealer, long long location, cJSON **out)
{
	return rows(tx, out, "SELECT location_id, name, value, locked, set_by, set_at FROM keypool_settings"
	    " WHERE dealer_id = ? AND location_id IN (0, ?) ORDER BY location_id, name", "ii", dealer, location);
}

/* Sets a value; at a location, only while the dealer level has not
 * locked it (the rule is the statement's condition): STORE_CONFLICT
 * when it has. lock: 1 lock, 0 unlock, -1 keep (the dealer level). */
int
store_setting_set(struct dbtx *tx, long long dealer, long long location, const char *name, const char *value,
    int lock, const char *who, long long now)
{
	int rc;

	if (location == 0)
		return run(tx, "INSERT INTO keypool_settings (dealer_id, location_id, name, value, locked, set_by, set_at)"
		    " VALUES (?, 0, ?, ?, ?, ?, ?) ON CONFLICT (dealer_id, location_id, name) DO UPDATE SET"
		    " value = excluded.value, locked = CASE WHEN ? < 0 THEN keypool_settings.locked ELSE excluded.locked END,"
		    " set_by = excluded.set_by, set_at = excluded.set_at", "issisii", dealer, name, value,
		    lock > 0 ? 1LL : 0LL, who, now, (long long)lock) < 0 ? STORE_ERROR : STORE_OK;
	rc = run(tx, "INSERT INTO keypool_settings (dealer_id, location_id, name, value, set_by, set_at)"
	    " SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM keypool_settings WHERE dealer_id = ?"
	    " AND location_id = 0 AND name = ? AND locked = 1) ON CONFLICT (dealer_id, location_id, name) DO UPDATE SET"
	    " value = excluded.value, set_by = excluded.set_by, set_at = excluded.set_at",
	    "iisssiis", dealer, location, name, value, who, now, dealer, name);
	return rc < 0 ? rc : rc == 0 ? STORE_CONFLICT : STORE_OK;
}

/* back to the level above (or the default); at a location, not while locked */
int
store_setting_reset(struct dbtx *tx, long long dealer, long long location, const char *name)
{
	int rc = run(tx, "DELETE FROM keypool_settings WHERE dealer_id = ? AND location_id = ? AND name = ?"
	    " AND NOT EXISTS (SELECT 1 FROM keypool_settings d WHERE d.dealer_id = ? AND d.location_id = 0"
	    " AND d.name = ? AND d.locked = 1 AND ? <> 0)", "iisisi", dealer, location, name, dealer, name, location);

	return rc < 0 ? rc : STORE_OK;
}

int
store_unit_get(struct dbtx *tx, long long dealer, const char *number, cJSON **out)
{
	return row(tx, out, "SELECT u.id, u.number, u.vin, u.status, u.agreement, u.location_id, l.name AS location,"
	    " u.created_at, u.changed_at FROM fleet_units u JOIN locations l ON l.id = u.location_id"
	    " WHERE u.dealer_id = ? AND u.number = ?", "is", dealer, number);
}

int
store_unit_add(struct dbtx *tx, long long dealer, long long location, const char *number, const char *vin,
    long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO fleet_units (dealer_id, location_id, number, vin, status, created_at,"
	    " changed_at) VALUES (?, ?, ?, ?, 'available', ?, ?) RETURNING id", "iissii", dealer, location, number,
	    vin, now, now);
}

/* A unit moves from status `from` (one of a list "a,b") to `to`; the
 * agreement, when the move needs one, must be the unit's (or is set, on
 * assignment). STORE_NOTFOUND when the unit is not in a `from` status. */
int
store_unit_move(struct dbtx *tx, long long id, const char *from, const char *to, const char *agreement,
    int assign, long long location, long long now)
{
	char a[24], b[24];
	const char *comma = strchr(from, ',');

	snprintf(a, sizeof a, "%.*s", comma ? (int)(comma - from) : (int)strlen(from), from);
	snprintf(b, sizeof b, "%s", comma ? comma + 1 : a);
	return changed(run(tx, "UPDATE fleet_units SET status = ?, agreement = CASE WHEN ? IN ('on_rent',"
	    " 'close_pending') THEN ? ELSE NULL END, location_id = CASE WHEN ? > 0 THEN ? ELSE location_id END,"
	    " changed_at = ? WHERE id = ? AND status IN (?, ?) AND (? = 1 OR ? IS NULL OR agreement = ?)",
	    "sssiiiississ", to, to, agreement, location, location, now, id, a, b, (long long)assign, agreement,
	    agreement));
}

int
store_unit_event(struct dbtx *tx, const struct store_event *e, long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO unit_events (unit_id, dealer_id, vin, event, location_id, agreement,"
	    " source, read_id, mileage, mileage_unit, mileage_km, fuel_percent, battery_percent, resolution,"
	    " rollback_km, rollback_at, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	    " RETURNING id", "iississnisioosoosi", e->unit_id, e->dealer_id, e->vin, e->event, e->location_id,
	    e->agreement, e->source, e->read_id, e->mileage, e->mileage_unit, e->mileage_km, e->fuel, e->battery,
	    e->resolution, e->rollback_km, e->rollback_at, e->actor, now);
}

int
store_unit_events(struct dbtx *tx, long long unit, cJSON **out)
{
	return rows(tx, out, "SELECT e.id, e.event, e.location_id, e.agreement, e.source, e.read_id, e.mileage,"
	    " e.mileage_unit, e.fuel_percent, e.battery_percent, e.resolution, e.rollback_km, e.rollback_at, e.actor,"
	    " e.at AS recorded_at FROM unit_events e WHERE e.unit_id = ? ORDER BY e.id", "i", unit);
}
