#!/usr/bin/env bats
# The work of a request does not grow with what is stored: every statement
# that the manual's flow runs (login, the locksmith's reads, tickets and
# their cancel, redemption, an order, the car's key positions, the mail
# room, the KeyPool) finds its rows through an index. SQLite: kcsd with
# KCS_EXPLAIN tells each statement that scans a whole table or index;
# PostgreSQL: auto_explain logs every plan, sequential scans off, so that a
# "Seq Scan" is a statement no index can serve.

load helper
bats_require_minimum_version 1.5.0

# Tables whose rows do not grow with use (settings, reference data, the
# staff): a scan of them is bounded by what an administrator configures;
# key_positions: the ten positions of a car, counted in SQL.
SMALL='disclaimers|kcs_schema|models|keypool_settings|activation_rules|operators|key_positions'

flow() {
	add_operator
	active_locksmith g36d27a9 j@example.com
	login g36d27a9 j@example.com > /dev/null
	add_vehicle "$VIN"
	"$B/kcs-login" status > /dev/null
	ticket > /dev/null
	id=$(call)
	order_key "$id" > "$T/order.json"
	"$B/kcs-cas" show "$VIN" < /dev/null > /dev/null
	"$B/kcs-login" jobs < /dev/null > /dev/null
	"$B/kcs-login" orders < /dev/null > /dev/null
	mailroom list > /dev/null
	admin dealer add "Munich Motors" --dpn 12345 --outlet 67 > /dev/null
	admin location add Airport --dealer 1 > /dev/null
	admin keypool client add desk --dealer 1 --role reader | jq -r .token > "$T/reader.token"
	admin keypool client add atms --dealer 1 --role fleet | jq -r .token > "$T/fleet.token"
	KCS_TOKEN_FILE=$T/reader.token "$B/kcs-keypool" push --vin "$VIN" --mileage 100 < /dev/null > /dev/null
	KCS_TOKEN_FILE=$T/fleet.token "$B/kcs-keypool" latest "$VIN" < /dev/null > /dev/null
	KCS_TOKEN_FILE=$T/fleet.token "$B/kcs-keypool" resolve "$VIN" --location 1 < /dev/null > /dev/null || true
	"$B/kcs-login" logout < /dev/null > /dev/null
}

@test "the flow's statements find their rows through indexes" {
	if [ "$ENGINE" = pg ]; then
		setup_kcsd
		db=${DB%%\?*}
		db=${db##*/}
		for s in "session_preload_libraries = 'auto_explain'" "auto_explain.log_min_duration = 0" \
			"enable_seqscan = off"; do
			psql -X -q "$DB" -c "ALTER DATABASE \"$db\" SET $s"
		done
		mark=$(wc -c < "$KCS_PG/log")
		reconfigure
		flow
		tail -c +"$((mark + 1))" "$KCS_PG/log" > "$T/plans"
		grep -o 'Seq Scan on [a-z_]*' "$T/plans" | sed 's/^Seq //' | sort -u > "$T/scans" || true
	else
		export KCS_EXPLAIN=1
		setup_kcsd
		flow
		# the administrators' listing of the whole outbox is how the
		# helpers read the mail, not a request of the flow
		grep 'kcsd: plan: SCAN' "$T/kcsd.log" | grep -v 'FROM outbox ORDER BY id$' | sort -u > "$T/plans" || true
		# a scan of a partial index of live rows (NAME_live, NAME_open) is
		# bounded by what is live
		grep -vE 'USING (COVERING )?INDEX [a-z]+_(live|open)( |$)' "$T/plans" |
			sed 's/kcsd: plan: SCAN \([a-z_]*\).*/Scan on \1/' | sort -u > "$T/scans"
	fi
	# the check itself sees scans: the flow ran with plans on
	[ -s "$T/scans" ]
	grep -vE " ($SMALL)\$" "$T/scans" > "$T/unbounded" || true
	if [ -s "$T/unbounded" ]; then
		cat "$T/unbounded" "$T/plans" >&2
		return 1
	fi
}
