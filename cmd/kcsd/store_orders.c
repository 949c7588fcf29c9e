/* store_orders.c: security tickets, hotline calls, orders and key writers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

/* security tickets (TAN) */

int
store_ticket_cancel_live(struct dbtx *tx, long long account, long long now, long long *n)
{
	int rc = run(tx, "UPDATE tickets SET cancelled_at = ? WHERE account_id = ?"
	    " AND redeemed_at IS NULL AND cancelled_at IS NULL AND expires_at > ?", "iii", now, account, now);

	if (n && rc >= 0)
		*n = rc;
	return rc < 0 ? rc : STORE_OK;
}

int
store_keywriter_list(struct dbtx *tx, long long account, cJSON **out)
{
	return rows(tx, out, "SELECT serial, public_key, order_id, registered_at FROM keywriters"
	    " WHERE account_id = ? ORDER BY registered_at, serial", "i", account);
}

/* The calls on an account's tickets that could still place an order:
 * found among the open calls (calls_open), not among all the account's
 * tickets ("+" keeps the planner off the account's index). */
int
store_call_cancel_open(struct dbtx *tx, long long account, long long now, long long *n)
{
	int rc = run(tx, "UPDATE calls SET cancelled_at = ? WHERE id IN (SELECT c.id FROM calls c"
	    " JOIN tickets t ON t.id = c.ticket_id WHERE c.used_at IS NULL AND c.cancelled_at IS NULL"
	    " AND c.expires_at > ? AND +t.account_id = ?)", "iii", now, now, account);

	if (n && rc >= 0)
		*n = rc;
	return rc < 0 ? rc : STORE_OK;
}

/* A ticket by its hash, whatever its state. */
int
store_ticket_by_hash(struct dbtx *tx, const char *hash, cJSON **out)
{
	return row(tx, out, "SELECT id, account_id, redeemed_at, cancelled_at, expires_at FROM tickets"
	    " WHERE hash = ?", "s", hash);
}

int
store_ticket_add(struct dbtx *tx, long long account, const char *hash, long long acceptance,
    long long now, long long expires, long long *id)
{
	return insert_id(tx, id, "INSERT INTO tickets (account_id, hash, acceptance_id, created_at, expires_at)"
	    " VALUES (?, ?, ?, ?, ?) RETURNING id", "isiii", account, hash, acceptance, now, expires);

}

int
store_ticket_current(struct dbtx *tx, long long account, long long now, cJSON **out)
{
	return row(tx, out, "SELECT id, created_at, expires_at FROM tickets WHERE account_id = ?"
	    " AND redeemed_at IS NULL AND cancelled_at IS NULL AND expires_at > ?"
	    " ORDER BY id DESC LIMIT 1", "ii", account, now);
}

int
store_ticket_find(struct dbtx *tx, const char *hash, long long now, cJSON **out)
{
	return row(tx, out, "SELECT id, account_id, acceptance_id FROM tickets WHERE hash = ?"
	    " AND redeemed_at IS NULL AND cancelled_at IS NULL AND expires_at > ?", "si", hash, now);
}

int
store_ticket_redeem(struct dbtx *tx, long long id, long long now)
{
	return changed(run(tx, "UPDATE tickets SET redeemed_at = ? WHERE id = ? AND redeemed_at IS NULL"
	    " AND cancelled_at IS NULL", "ii", now, id));
}

/* hotline calls: one redeemed ticket allows one order */

int
store_call_add(struct dbtx *tx, const char *id, long long ticket, long long op, long long now,
    long long expires)
{
	int rc = run(tx, "INSERT INTO calls (id, ticket_id, operator_id, created_at, expires_at)"
	    " VALUES (?, ?, ?, ?, ?)", "siiii", id, ticket, op, now, expires);

	return rc < 0 ? rc : STORE_OK;
}

int
store_call_get(struct dbtx *tx, const char *id, cJSON **out)
{
	return row(tx, out, "SELECT c.id, c.ticket_id, c.operator_id, c.created_at, c.expires_at,"
	    " c.used_at, c.cancelled_at, t.account_id, t.acceptance_id FROM calls c JOIN tickets t ON t.id = c.ticket_id"
	    " WHERE c.id = ?", "s", id);
}

int
store_call_use(struct dbtx *tx, const char *id, long long now)
{
	return changed(run(tx, "UPDATE calls SET used_at = ? WHERE id = ? AND used_at IS NULL"
	    " AND cancelled_at IS NULL", "is", now, id));
}

/* orders */

int
store_order_add(struct dbtx *tx, const struct store_order *o, long long now, long long *id)
{
	return insert_id(tx, id, "INSERT INTO orders (kind, account_id, call_id, operator_id, vin, key_position,"
	    " key_code_hash, payment_ref, ship_to, expected_from, expected_to, created_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id", "sisisnsssssi", o->kind, o->account_id,
	    o->call_id, o->operator_id, o->vin, o->key_position, o->key_code_hash, o->payment_ref,
	    o->ship_to, o->expected_from, o->expected_to, now);

}

#define ORDER_COLUMNS "o.id AS order_id, o.kind, a.sdrm_id, o.vin, o.key_position, o.payment_ref," \
	" o.ship_to, o.expected_from, o.expected_to," \
	" CASE WHEN o.cancelled_at IS NOT NULL THEN 'cancelled' ELSE o.state END AS state," \
	" o.tracking, o.created_at, o.shipped_at, o.cancelled_at, o.cancel_reason," \
	" o.call_id, (SELECT serial FROM keywriters k WHERE k.order_id = o.id) AS keywriter_serial"

int
store_order_get(struct dbtx *tx, long long id, cJSON **out)
{
	return row(tx, out, "SELECT " ORDER_COLUMNS ", o.account_id FROM orders o"
	    " JOIN accounts a ON a.id = o.account_id WHERE o.id = ?", "i", id);
}

int
store_order_list(struct dbtx *tx, long long account, const char *sdrm_id, const char *vin,
    const char *state, cJSON **out)
{
	/* a locksmith's own: through the account's index */
	if (account)
		return rows(tx, out, "SELECT " ORDER_COLUMNS " FROM orders o JOIN accounts a ON a.id = o.account_id"
		    " WHERE o.account_id = ? AND (? IS NULL OR o.vin = ?) AND (? IS NULL OR"
		    " (CASE WHEN o.cancelled_at IS NOT NULL THEN 'cancelled' ELSE o.state END) = ?) ORDER BY o.id",
		    "issss", account, vin, vin, state, state);
	return rows(tx, out, "SELECT " ORDER_COLUMNS " FROM orders o JOIN accounts a ON a.id = o.account_id"
	    " WHERE (? IS NULL OR a.sdrm_id = ?) AND (? IS NULL OR o.vin = ?) AND (? IS NULL OR"
	    " (CASE WHEN o.cancelled_at IS NOT NULL THEN 'cancelled' ELSE o.state END) = ?) ORDER BY o.id",
	    "ssssss", sdrm_id, sdrm_id, vin, vin, state, state);
}

int
store_order_ship(struct dbtx *tx, long long id, const char *tracking, long long now)
{
	return changed(run(tx, "UPDATE orders SET state = 'shipped', tracking = ?, shipped_at = ?"
	    " WHERE id = ? AND state = 'placed' AND cancelled_at IS NULL", "sii", tracking, now, id));
}

int
store_keywriter_add(struct dbtx *tx, const char *serial, long long account, long long order,
    const char *public_key, long long now)
{
	int rc = run(tx, "INSERT INTO keywriters (serial, account_id, order_id, public_key, registered_at)"
	    " VALUES (?, ?, ?, ?, ?)", "siisi", serial, account, order, public_key, now);

	return rc < 0 ? rc : STORE_OK;
}

/* an order not shipped is cancelled; a key order's position, not coded,
 * is free again */
int
store_order_cancel(struct dbtx *tx, long long id, const char *reason, long long now)
{
	int rc = changed(run(tx, "UPDATE orders SET cancelled_at = ?, cancel_reason = ? WHERE id = ?"
	    " AND state = 'placed' AND cancelled_at IS NULL AND NOT EXISTS (SELECT 1 FROM keys"
	    " WHERE order_id = orders.id AND coded_at IS NOT NULL)", "isi", now, reason, id));

	if (rc == STORE_OK) {
		int d = run(tx, "DELETE FROM keys WHERE order_id = ?", "i", id);

		rc = d < 0 ? d : STORE_OK;
	}
	return rc;
}
