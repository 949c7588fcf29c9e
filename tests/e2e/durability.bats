#!/usr/bin/env bats
# Durability under concurrent writers (group commit on SQLite, concurrent
# commits on PostgreSQL): kcsd killed with SIGKILL in the middle of a write
# load loses no write it acknowledged; the store passes its checks and the
# audit chain verifies after the restart.

load helper
bats_require_minimum_version 1.5.0

setup() {
	setup_kcsd
	add_operator
	# one locksmith orders keys (its session in $T/state1), another
	# issues tickets (which cancel the first one's open calls if shared)
	active_locksmith g36d27a9 j@example.com
	cp -r "$T/state" "$T/state1"
	active_locksmith h36d27a9 k@example.com
	add_vehicle "$VIN"
	add_vehicle "$VIN2"
}

# writers: each loops until kcsd cannot be reached (exit 5), and notes
# what kcsd acknowledged only after its answer came
tickets() { # N
	local s
	s=$(jq -r .token "$XDG_STATE_HOME/kcs/session")
	while :; do
		out=$(curl -sS -X POST -H "Authorization: Bearer $s" -H 'Content-Type: application/json' \
			-d '{"accept_disclaimer":true}' -w '\n%{http_code}' "$KCS_URL/v1/tickets" 2> /dev/null) || break
		[ "$(tail -n 1 <<< "$out")" = 201 ] && echo "$1" >> "$T/acked.tickets"
	done
}
dealers() { # N
	local i=0 rc
	while :; do
		i=$((i + 1))
		admin dealer add "D$1-$i" --dpn "$1" --outlet "$i" > /dev/null 2>&1 && rc=0 || rc=$?
		[ "$rc" = 5 ] && break
		[ "$rc" = 0 ] && echo "D$1-$i" >> "$T/acked.dealers"
	done
}
orders() {
	local i=0 tan id rc
	export XDG_STATE_HOME=$T/state1
	while :; do
		i=$((i + 1))
		tan=$("$B/kcs-ticket" --accept-disclaimer < /dev/null 2> /dev/null | jq -r .tan) || true
		id=$(redeem "$tan" 2> /dev/null | jq -r .call_id) || true
		out=$(order_key "$id" "$([ $((i % 2)) = 0 ] && echo "$VIN" || echo "$VIN2")" 2> /dev/null) && rc=0 || rc=$?
		[ "$rc" = 5 ] && break
		[ "$rc" = 0 ] && jq -r .order_id <<< "$out" >> "$T/acked.orders"
		curl -s -o /dev/null "$KCS_URL/v1/health" || break
	done
}
lines() { wc -l < "$1" 2> /dev/null || echo 0; }

@test "kill -9 under concurrent writers: every acknowledged ticket, dealer and order is stored after the restart; the store and the audit chain check out" {
	: > "$T/acked.tickets"
	: > "$T/acked.dealers"
	: > "$T/acked.orders"
	pids=()
	for n in 1 2 3 4; do tickets "$n" & pids+=($!); done
	for n in 1 2; do dealers "$n" & pids+=($!); done
	orders & pids+=($!)
	for _ in $(seq 600); do
		[ "$(lines "$T/acked.tickets")" -ge 60 ] && [ "$(lines "$T/acked.dealers")" -ge 10 ] &&
			[ "$(lines "$T/acked.orders")" -ge 2 ] && break
		sleep 0.05
	done
	kill -9 "$KCSD_PID"
	wait "$KCSD_PID" 2> /dev/null || true
	KCSD_PID=
	for p in "${pids[@]}"; do wait "$p" || true; done
	[ "$(lines "$T/acked.tickets")" -ge 60 ]
	[ "$(lines "$T/acked.dealers")" -ge 10 ]
	[ "$(lines "$T/acked.orders")" -ge 2 ]
	if [ "$ENGINE" = sqlite ]; then
		[ "$(sql 'PRAGMA integrity_check')" = ok ]
	fi
	start_kcsd
	# every acknowledged write is there (more may be: committed, not yet answered)
	[ "$(sql "SELECT count(*) FROM tickets")" -ge "$(lines "$T/acked.tickets")" ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'ticket.issued'")" -ge "$(lines "$T/acked.tickets")" ]
	sql "SELECT name FROM dealers" | sort > "$T/stored.dealers"
	[ -z "$(sort "$T/acked.dealers" | comm -23 - "$T/stored.dealers")" ]
	sql "SELECT id FROM orders" | sort > "$T/stored.orders"
	[ -z "$(sort "$T/acked.orders" | comm -23 - "$T/stored.orders")" ]
	run admin audit verify
	[ "$status" -eq 0 ]
	[ "$(jq -r .intact <<< "$output")" = true ]
	# and it goes on
	run admin dealer add After --dpn 9 --outlet 1
	[ "$status" -eq 0 ]
}
