#!/usr/bin/env bats
# Two kcsd on one PostgreSQL database, with the same key file: every rule
# holds across them. (Several kcsd share a store only on PostgreSQL.)

load helper

KCSD2_PID=
URL2=

# the second node: the same configuration, store and key; a spool of its own
start_second() {
	rm -f "$T/url2"
	"$B/kcsd" -c "$T/kcs.conf" --db "$DB" --key "$T/kcs.key" --spool "$T/spool2" \
		--listen 127.0.0.1:0 --url-file "$T/url2" 2>> "$T/kcsd2.log" 3>&- &
	KCSD2_PID=$!
	for _ in $(seq 100); do [ -s "$T/url2" ] && break; sleep 0.05; done
	URL2=$(cat "$T/url2")
}

stop_second() {
	if [ -n "$KCSD2_PID" ]; then
		kill "$KCSD2_PID" 2> /dev/null || true
		wait "$KCSD2_PID" 2> /dev/null || true
		KCSD2_PID=
	fi
}

setup() {
	[ "$ENGINE" = pg ] || skip "several kcsd share a store only on PostgreSQL (make check DB=pg)"
	setup_kcsd "redeem_failures = 1000" "threads = 8"
	start_second
	add_operator
}

teardown() {
	stop_kcsd
	stop_second
}

# on the second node
hotline2() { KCS_URL=$URL2 KCS_TOKEN_FILE=$T/operator.token "$B/kcs-hotline" "$@"; }

@test "a session and a ticket from one node work on the other" {
	active_locksmith g36d27a9 j@example.com
	token=$(jq -r .token "$T/state/kcs/session")
	run curl -sS -w '\n%{http_code}' "$URL2/v1/me" -H "Authorization: Bearer $token"
	[ "$(tail -n 1 <<< "$output")" = 200 ]
	tan=$(ticket)
	run hotline2 redeem --tan "$tan" --sdrm-id g36d27a9 < /dev/null
	[ "$status" -eq 0 ]
	run redeem "$tan"
	[ "$status" -eq 1 ]
}

@test "64 concurrent redemptions of one TAN over both nodes: exactly one succeeds (5 rounds)" {
	active_locksmith g36d27a9 j@example.com
	for round in 1 2 3 4 5; do
		tan=$(ticket)
		rm -rf "$T/r"
		mkdir "$T/r"
		pids=()
		for i in $(seq 64); do
			url=$KCS_URL
			[ $((i % 2)) -eq 0 ] && url=$URL2
			( rc=0
			  KCS_URL=$url KCS_TOKEN_FILE=$T/operator.token "$B/kcs-hotline" redeem --tan "$tan" \
				--sdrm-id g36d27a9 < /dev/null > "$T/r/$i.out" 2>&1 || rc=$?
			  echo "$rc" > "$T/r/$i.rc" ) &
			pids+=($!)
		done
		wait "${pids[@]}"
		[ "$(cat "$T"/r/*.rc | grep -c '^0$')" -eq 1 ]
		[ "$(cat "$T"/r/*.rc | grep -c '^0$\|^1$')" -eq 64 ]
	done
	[ "$(sql 'SELECT count(*) FROM calls')" -eq 5 ]
}

@test "orders racing for a vehicle's last key positions over both nodes: never an 11th key" {
	active_locksmith g36d27a9 j@example.com
	add_vehicle "$VIN"
	for _ in 3 4 5 6 7 8; do order_key "$(call)" > /dev/null; done
	calls=()
	for i in $(seq 8); do calls+=("$(call)"); done
	mkdir "$T/o"
	pids=()
	for i in $(seq 8); do
		url=$KCS_URL
		[ $((i % 2)) -eq 0 ] && url=$URL2
		( rc=0
		  KCS_URL=$url KCS_TOKEN_FILE=$T/operator.token "$B/kcs-hotline" order-key --call-id "${calls[$((i - 1))]}" \
			--vin "$VIN" --payment-ref P --address-confirmed < /dev/null > "$T/o/$i.out" 2>&1 || rc=$?
		  echo "$rc" > "$T/o/$i.rc" ) &
		pids+=($!)
	done
	wait "${pids[@]}"
	[ "$(cat "$T"/o/*.rc | grep -c '^0$')" -eq 2 ]
	[ "$(sql "SELECT count(*) FROM keys WHERE vin = '$VIN'")" -eq 10 ]
	[ "$(sql "SELECT count(DISTINCT position) FROM keys WHERE vin = '$VIN'")" -eq 10 ]
	grep -l 'all 10 key positions' "$T"/o/*.out | wc -l | grep -qx 6
}

@test "a login lockout is reached with failures spread over both nodes" {
	reconfigure "lockout_failures = 4" "lockout_cooldown = 600"
	stop_second
	start_second
	active_locksmith g36d27a9 j@example.com
	for url in "$KCS_URL" "$URL2" "$KCS_URL" "$URL2"; do
		curl -s -o /dev/null -X POST -H 'Content-Type: application/json' "$url/v1/login" \
			-d '{"email":"j@example.com","password":"wrong password 1","accept_disclaimer":true}'
	done
	for url in "$KCS_URL" "$URL2"; do
		run curl -sS -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' "$url/v1/login" \
			-d '{"email":"j@example.com","password":"correct horse battery staple","accept_disclaimer":true}'
		[ "$(tail -n 1 <<< "$output")" = 429 ]
	done
}

@test "the audit chain stays one chain under concurrent writes through both nodes" {
	before=$(admin operator list | jq -s length)
	pids=()
	for i in $(seq 40); do
		url=$KCS_URL
		[ $((i % 2)) -eq 0 ] && url=$URL2
		KCS_URL=$url KCS_TOKEN_FILE=$T/admin.token "$B/kcs-admin" operator add "op-$i" > /dev/null < /dev/null &
		pids+=($!)
	done
	wait "${pids[@]}"
	[ "$(admin operator list | jq -s length)" -eq $((before + 40)) ]
	run admin audit verify
	[ "$status" -eq 0 ]
	[ "$(jq -r .entries <<< "$output")" -ge 41 ]
	KCS_URL=$URL2 run admin audit verify
	[ "$status" -eq 0 ]
}

@test "a password in the store's URL is not logged" {
	stop_second
	DB=${DB/kcs@/kcs:not-for-the-log@}
	start_second
	grep -q 'store postgresql://kcs:\*\*\*@' "$T/kcsd2.log"
	refute grep -q not-for-the-log "$T/kcsd2.log"
}

@test "each node mends only its own spool at start" {
	stop_second
	add_sdrm g36d27a9
	register g36d27a9 j@example.com > /dev/null
	[ "$(ls "$T/spool" | wc -l)" -eq 1 ]
	start_second
	# the second node does not write the first node's messages
	[ -z "$(ls "$T/spool2" 2> /dev/null)" ]
	refute grep -q 'wrote .* missing' "$T/kcsd2.log"
}
