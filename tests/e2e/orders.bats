#!/usr/bin/env bats
# Security tickets, the hotline's redemption, key and key writer orders.

load helper

setup() {
	setup_kcsd
}

ready() { # an Active, logged-in locksmith, an operator, a vehicle
	add_operator
	active_locksmith g36d27a9 j@example.com
	add_vehicle "$VIN"
}

@test "the full flow: ticket, redeem, key order, Key Code by e-mail, shipping, the locksmith's list" {
	ready
	run "$B/kcs-ticket" --accept-disclaimer < /dev/null
	[ "$status" -eq 0 ]
	tan=$(jq -r .tan <<< "$output")
	[[ "$tan" =~ ^[0-9]{8}$ ]]
	expires=$(jq -r .expires_at <<< "$output")
	[ $(( $(date -d "$expires" +%s) - $(date +%s) )) -ge 1790 ]
	run "$B/kcs-ticket" status < /dev/null
	[ "$(jq -r .ticket <<< "$output")" = live ]
	[ "$(jq -r .remaining_seconds <<< "$output")" -gt 1790 ]

	run redeem "$tan"
	[ "$status" -eq 0 ]
	[ "$(jq -r .name <<< "$output")" = "Joern Wellniak" ]
	[ "$(jq -r .status <<< "$output")" = Active ]
	[ "$(jq -r .delivery_address.city <<< "$output")" = Sacramento ]
	callrec=$output
	run "$B/kcs-ticket" status < /dev/null
	[ "$(jq -r .ticket <<< "$output")" = none ]

	# the redeem answer pipes into the order
	run bash -c "KCS_TOKEN_FILE='$T/operator.token' '$B/kcs-hotline' order-key --vin $VIN \
		--payment-ref PAY-1001 --address-confirmed <<< '$callrec'"
	[ "$status" -eq 0 ]
	[ "$(jq -r .key_position <<< "$output")" -eq 3 ]
	[ "$(jq -r .vin <<< "$output")" = "$VIN" ]
	code=$(jq -r .key_code <<< "$output")
	order=$(jq -r .order_id <<< "$output")
	[[ "$code" =~ ^[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]$ ]]
	message j@example.com | grep -qF "Key Code:     $code"
	message j@example.com | grep -qF "VIN:          $VIN"
	message "Joern Wellniak" | grep -qF "Blank key order ID: $order"

	run admin vehicle show "$VIN"
	[ "$(jq -r '.keys[2].state' <<< "$output")" = ordered ]
	[ "$(jq -r '.free_positions' <<< "$output")" -eq 7 ]
	refute grep -q secret <<< "$output"
	refute grep -q cut_code <<< "$output"

	run hotline ship "$order" --tracking 1Z999 < /dev/null
	[ "$status" -eq 0 ]
	[ "$(jq -r .state <<< "$output")" = shipped ]
	run klogin orders
	[ "$status" -eq 0 ]
	[ "$(jq -r .state <<< "$output")" = shipped ]
	[ "$(jq -r .vin <<< "$output")" = "$VIN" ]
	refute grep -q key_code <<< "$output"
	refute grep -q call_id <<< "$output"

	# the order links to the redemption and the disclaimer acceptance
	run sql "SELECT detail FROM audit WHERE event = 'order.key'"
	[ "$(jq -r .disclaimer_acceptance_id <<< "$output")" = \
	  "$(sql "SELECT max(id) FROM acceptances WHERE kind = 'ticket'")" ]
	[ "$(jq -r .ticket_id <<< "$output")" = "$(sql "SELECT max(id) FROM tickets")" ]
}

@test "each letter has its subject and the locksmith's name" {
	ready
	order_key "$(call)" > /dev/null
	hotline order-keywriter --call-id "$(call)" --payment-ref P --address-confirmed < /dev/null > /dev/null
	run admin outbox list
	[ "$(jq -sc '[.[] | select(.kind == "letter") | [.recipient, .subject]]' <<< "$output")" = \
	  '[["Joern Wellniak","Delivery address verification code"],["Joern Wellniak","Blank key packing slip"],["Joern Wellniak","Key writer packing slip"]]' ]
}

@test "a key writer order: window of 5 to 10 business days; shipping registers the device" {
	ready
	run hotline order-keywriter --call-id "$(call)" --payment-ref PAY-2 --address-confirmed < /dev/null
	[ "$status" -eq 0 ]
	from=$(jq -r .expected_from <<< "$output")
	to=$(jq -r .expected_to <<< "$output")
	order=$(jq -r .order_id <<< "$output")
	# both ends on weekdays, a week apart, 5 to 9 calendar days from today
	[ "$(date -ud "$from" +%u)" -le 5 ]
	[ "$(date -ud "$to" +%u)" -le 5 ]
	[ $(( ($(date -ud "$to" +%s) - $(date -ud "$from" +%s)) / 86400 )) -eq 7 ]
	days=$(( ($(date -ud "$from" +%s) - $(date -ud "$(date -u +%F)" +%s)) / 86400 ))
	[ "$days" -ge 5 ]
	[ "$days" -le 9 ]
	message j@example.com | grep -qF "arrives between $from and $to"

	pub=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	run hotline ship "$order" --tracking 1Z1 --public-key "$pub" < /dev/null
	[ "$status" -eq 3 ]
	[[ "$output" == *"serial: is required"* ]]
	run hotline ship "$order" --tracking 1Z1 --serial KW5-1 --public-key XYZ < /dev/null
	[ "$status" -eq 3 ]
	[[ "$output" == *"public_key:"* ]]
	run hotline ship "$order" --tracking 1Z1 --serial KW5-1 --public-key "$pub" < /dev/null
	[ "$status" -eq 0 ]
	[ "$(jq -r .keywriter_serial <<< "$output")" = KW5-1 ]
	[ "$(sql "SELECT public_key FROM keywriters WHERE serial = 'KW5-1'")" = "$pub" ]
	run hotline ship "$order" --tracking 1Z1 --serial KW5-1 --public-key "$pub" < /dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"shipped already"* ]]
	# a key order has no device
	o=$(order_key "$(call)" | jq -r .order_id)
	run hotline ship "$o" --tracking 1Z2 --serial KW5-2 < /dev/null
	[ "$status" -eq 3 ]
}

@test "no ticket without accepting the disclaimer" {
	ready
	run "$B/kcs-ticket" < /dev/null
	[ "$status" -eq 4 ]
	[[ "$output" == *"disclaimer must be accepted"* ]]
	[ "$(sql 'SELECT count(*) FROM tickets')" -eq 0 ]
	token=$(jq -r .token "$T/state/kcs/session")
	run api POST /v1/tickets -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d '{}'
	[ "$(tail -n 1 <<< "$output")" = 403 ]
	[ "$(sql 'SELECT count(*) FROM tickets')" -eq 0 ]
}

@test "on a terminal the ticket disclaimer is shown and asked" {
	ready
	{
		answer 'Do you accept the disclaimer? [y/N]' y
		answer '"tan"' ''
	} | script -qfec "$B/kcs-ticket" "$T/typescript" > /dev/null
	grep -qF 'I warrant and represent that I am a duly registered locksmith' "$T/typescript"
	grep -qF 'Call the hotline with this TAN' "$T/typescript"
	[ "$(sql 'SELECT count(*) FROM tickets')" -eq 1 ]
	rm "$T/typescript"
	{
		answer 'Do you accept the disclaimer? [y/N]' n
		answer 'not accepted' ''
	} | script -qfec "$B/kcs-ticket" "$T/typescript" > /dev/null || rc=$?
	[ "${rc:-0}" -eq 4 ]
	[ "$(sql 'SELECT count(*) FROM tickets')" -eq 1 ]
}

@test "an Inactive account (address not verified) gets no ticket" {
	add_operator
	verified_locksmith g36d27a9 j@example.com
	first_login g36d27a9 j@example.com > /dev/null
	run "$B/kcs-ticket" --accept-disclaimer < /dev/null
	[ "$status" -eq 4 ]
	[[ "$output" == *"Inactive"* ]]
	[ "$(sql 'SELECT count(*) FROM tickets')" -eq 0 ]
}

@test "a ticket needs a full login" {
	run "$B/kcs-ticket" --accept-disclaimer < /dev/null
	[ "$status" -eq 4 ]
	[[ "$output" == *"not logged in"* ]]
}

@test "an expired TAN is refused" {
	reconfigure "ticket_lifetime = 1"
	ready
	tan=$(ticket)
	sleep 1.2
	run redeem "$tan"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no live ticket"* ]]
}

@test "a TAN is good for one call" {
	ready
	tan=$(ticket)
	redeem "$tan" > /dev/null
	run redeem "$tan"
	[ "$status" -eq 1 ]
	[[ "$output" == *"tan: this TAN was redeemed already"* ]]
}

@test "a retry with a TAN this SDRM ID already redeemed is not counted as a guess" {
	reconfigure "redeem_failures = 2" "redeem_cooldown = 600"
	ready
	tan=$(ticket)
	redeem "$tan" > /dev/null
	for i in 1 2 3; do
		run redeem "$tan"
		[ "$status" -eq 1 ]
		[[ "$output" == *"redeemed already"* ]]
	done
	# not locked: the next ticket redeems
	run redeem "$(ticket)"
	[ "$status" -eq 0 ]
	# a wrong TAN still counts
	run redeem 00000000
	run redeem 00000001
	run redeem "$(ticket)"
	[[ "$output" == *"too many failed attempts"* ]]
}

@test "the hotline checks a VIN before taking payment, and learns no secret" {
	ready
	run hotline check-vin --vin "$VIN2" < /dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a registered vehicle"* ]]
	run hotline check-vin --vin WBA3A5C54CF256985 < /dev/null
	[ "$status" -eq 3 ]
	run hotline check-vin --vin "$VIN" < /dev/null
	[ "$status" -eq 0 ]
	[ "$(jq -r .free_positions <<< "$output")" -eq 8 ]
	[ "$(jq -r .next_position <<< "$output")" -eq 3 ]
	[ "$(jq -r .model <<< "$output")" = "328i Sedan" ]
	[ "$(jq -r 'keys | join(",")' <<< "$output")" = "free_positions,model,next_position,production_date,vin" ]
	for pos in 3 4 5 6 7 8; do order_key "$(call)" > /dev/null; done
	run hotline check-vin --vin "$VIN" < /dev/null
	[ "$(jq -r .next_position <<< "${lines[-1]}")" -eq 9 ]
	[[ "$output" == *"warning: this key takes position 9 of 10"* ]]
	order_key "$(call)" > /dev/null 2>&1
	order_key "$(call)" > /dev/null 2>&1
	run hotline check-vin --vin "$VIN" < /dev/null
	[ "$status" -eq 0 ]
	[ "$(jq -r .free_positions <<< "${lines[-1]}")" -eq 0 ]
	[[ "$output" == *"all 10 key positions are used"* ]]
	# the locksmith's session cannot use it
	token=$(jq -r .token "$T/state/kcs/session")
	run api GET "/v1/hotline/vehicles/$VIN" -H "Authorization: Bearer $token"
	[ "$(tail -n 1 <<< "$output")" = 401 ]
}

@test "a TAN with another locksmith's SDRM ID is refused, and says no more than a wrong TAN" {
	ready
	add_sdrm h11
	register h11 other@example.com > /dev/null
	tan=$(ticket)
	run redeem "$tan" h11
	[ "$status" -eq 1 ]
	other=$output
	wrong=$(( (10#$tan + 1) % 100000000 ))
	run redeem "$(printf '%08d' "$wrong")"
	[ "$status" -eq 1 ]
	[ "$output" = "$other" ]
	run redeem "$tan" nosuchsdrm
	[ "$output" = "$other" ]
	# the ticket is still good for its own locksmith
	run redeem "$tan"
	[ "$status" -eq 0 ]
}

@test "a second TAN cancels the first" {
	ready
	first=$(ticket)
	second=$(ticket)
	run redeem "$first"
	[ "$status" -eq 1 ]
	run redeem "$second"
	[ "$status" -eq 0 ]
}

@test "many concurrent redemptions of one TAN: exactly one succeeds (5 rounds of 40)" {
	reconfigure "redeem_failures = 1000" "threads = 4"
	ready
	for round in 1 2 3 4 5; do
		tan=$(ticket)
		rm -rf "$T/r"
		mkdir "$T/r"
		pids=()
		for i in $(seq 40); do
			( rc=0
			  KCS_TOKEN_FILE=$T/operator.token "$B/kcs-hotline" redeem --tan "$tan" --sdrm-id g36d27a9 \
				< /dev/null > "$T/r/$i.out" 2>&1 || rc=$?
			  echo "$rc" > "$T/r/$i.rc" ) &
			pids+=($!)
		done
		wait "${pids[@]}"
		[ "$(cat "$T"/r/*.rc | grep -c '^0$')" -eq 1 ]
		[ "$(cat "$T"/r/*.rc | grep -c '^1$')" -eq 39 ]
	done
	[ "$(sql 'SELECT count(*) FROM calls')" -eq 5 ]
}

@test "redemption lockout per SDRM ID and its cool-down" {
	reconfigure "redeem_failures = 3" "redeem_cooldown = 4"
	ready
	tan=$(ticket)
	for i in 1 2 3; do
		run redeem 00000000
		[ "$status" -eq 1 ]
	done
	run redeem "$tan"
	[ "$status" -eq 1 ]
	[[ "$output" == *"too many failed attempts"* ]]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'redeem.locked'")" -eq 1 ]
	sleep 4.2
	run redeem "$tan"
	[ "$status" -eq 0 ]
}

@test "orders need a live call: none, unknown, used, expired, another operator's" {
	ready
	run order_key 0123456789abcdef
	[ "$status" -eq 1 ]
	[[ "$output" == *"no such call"* ]]
	run order_key nonsense
	[ "$status" -eq 3 ]
	run hotline order-key --vin "$VIN" --payment-ref P --address-confirmed < /dev/null
	[ "$status" -eq 3 ]
	[[ "$output" == *"call_id: is required"* ]]
	c=$(call)
	order_key "$c" > /dev/null
	run order_key "$c"
	[ "$status" -eq 1 ]
	[[ "$output" == *"placed its order already"* ]]
	run hotline order-keywriter --call-id "$c" --payment-ref P --address-confirmed < /dev/null
	[ "$status" -eq 1 ]
	reconfigure "call_lifetime = 1"
	c=$(call)
	sleep 1.2
	run order_key "$c"
	[ "$status" -eq 1 ]
	[[ "$output" == *"call has expired"* ]]
	# another operator cannot take over a call
	grant hotline-2 > "$T/op2.token"
	c=$(call)
	KCS_TOKEN_FILE=$T/op2.token run "$B/kcs-hotline" order-key --call-id "$c" --vin "$VIN" \
		--payment-ref P --address-confirmed < /dev/null
	[ "$status" -eq 4 ]
	[[ "$output" == *"taken by another operator"* ]]
	[ "$(sql 'SELECT count(*) FROM orders')" -eq 1 ]
}

@test "piped input is one object: several, or malformed JSON, are refused" {
	ready
	c1=$(call)
	c2=$(call)
	run bash -c "printf '{\"call_id\":\"$c1\"}\n{\"call_id\":\"$c2\"}\n' |
		KCS_TOKEN_FILE='$T/operator.token' '$B/kcs-hotline' order-key --vin $VIN --payment-ref P --address-confirmed"
	[ "$status" -eq 3 ]
	[[ "$output" == *"more than one JSON object"* ]]
	run bash -c "printf '{\"call_id\": ' |
		KCS_TOKEN_FILE='$T/operator.token' '$B/kcs-hotline' order-key --vin $VIN --payment-ref P --address-confirmed"
	[ "$status" -eq 3 ]
	[[ "$output" == *"standard input: malformed JSON"* ]]
	[ "$(sql 'SELECT count(*) FROM orders')" -eq 0 ]
}

@test "an order needs the delivery address confirmed and a payment reference" {
	ready
	c=$(call)
	run hotline order-key --call-id "$c" --vin "$VIN" --payment-ref P < /dev/null
	[ "$status" -eq 3 ]
	[[ "$output" == *"address_confirmed:"* ]]
	run hotline order-key --call-id "$c" --vin "$VIN" --address-confirmed < /dev/null
	[ "$status" -eq 3 ]
	[[ "$output" == *"payment_ref: is required"* ]]
	# the failed attempts did not use up the call
	run order_key "$c"
	[ "$status" -eq 0 ]
}

@test "invalid VINs are refused by rule, an unknown VIN too, and the call survives" {
	ready
	c=$(call)
	run order_key "$c" WBA3A5C53CF25698
	[ "$status" -eq 3 ]
	[[ "$output" == *"vin: a VIN has 17 characters, not 16"* ]]
	run order_key "$c" WBA3A5C53CF25698O
	[ "$status" -eq 3 ]
	[[ "$output" == *"never contains I, O or Q"* ]]
	run order_key "$c" WBA3A5C54CF256985
	[ "$status" -eq 3 ]
	[[ "$output" == *"check digit"* ]]
	run order_key "$c" 'WBA3A5C53CF25698*'
	[ "$status" -eq 3 ]
	run order_key "$c" "$VIN2"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a registered vehicle"* ]]
	[ "$(sql 'SELECT count(*) FROM orders')" -eq 0 ]
	run order_key "$c" "$(tr A-Z a-z <<< "$VIN")"
	[ "$status" -eq 0 ]
}

@test "ten keys at most: warnings at positions 9 and 10, the 11th refused" {
	ready
	for pos in 3 4 5 6 7 8; do
		run order_key "$(call)"
		[ "$(jq -r .key_position <<< "$output")" -eq "$pos" ]
		[[ "$output" != *warning* ]]
	done
	run order_key "$(call)"
	[ "$(jq -r .key_position <<< "${lines[-1]}")" -eq 9 ]
	[[ "$output" == *"warning: this key takes position 9 of 10"* ]]
	run order_key "$(call)"
	[ "$(jq -r .key_position <<< "${lines[-1]}")" -eq 10 ]
	[[ "$output" == *"position 10 of 10: no further key"* ]]
	c=$(call)
	run order_key "$c"
	[ "$status" -eq 1 ]
	[[ "$output" == *"all 10 key positions of $VIN are used"* ]]
	[ "$(sql "SELECT count(*) FROM keys WHERE vin = '$VIN'")" -eq 10 ]
	# the call was not used up: it can still order a key writer
	run hotline order-keywriter --call-id "$c" --payment-ref P --address-confirmed < /dev/null
	[ "$status" -eq 0 ]
}

@test "no plaintext TAN or Key Code in the database" {
	ready
	tan=$(ticket)
	code=$(redeem "$tan" | jq -r .call_id | xargs -I{} bash -c \
		"KCS_TOKEN_FILE='$T/operator.token' '$B/kcs-hotline' order-key --call-id {} --vin $VIN \
		--payment-ref P --address-confirmed < /dev/null" | jq -r .key_code)
	[ ${#code} -eq 16 ]
	tan2=$(ticket)
	stop_kcsd
	for s in "$tan" "$tan2" "$code" "${code//-/}"; do
		refute grep -aqF -- "$s" <(store_bytes)
	done
}

@test "the hotline lists and filters orders as JSON lines" {
	ready
	add_vehicle "$VIN2"
	order_key "$(call)" > /dev/null
	order_key "$(call)" "$VIN2" > /dev/null
	hotline order-keywriter --call-id "$(call)" --payment-ref P --address-confirmed < /dev/null > /dev/null
	hotline ship 1 --tracking T1 < /dev/null > /dev/null
	run hotline orders < /dev/null
	[ "$(wc -l <<< "$output")" -eq 3 ]
	run hotline orders --vin "$VIN2" < /dev/null
	[ "$(wc -l <<< "$output")" -eq 1 ]
	[ "$(jq -r .vin <<< "$output")" = "$VIN2" ]
	run hotline orders --state placed < /dev/null
	[ "$(wc -l <<< "$output")" -eq 2 ]
	run hotline orders --sdrm-id g36d27a9 --state shipped < /dev/null
	[ "$(jq -r .order_id <<< "$output")" -eq 1 ]
	run hotline orders --sdrm-id nobody < /dev/null
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run hotline orders --state lost < /dev/null
	[ "$status" -eq 3 ]
	run hotline orders --vin BAD < /dev/null
	[ "$status" -eq 3 ]
}

@test "vehicle import: bad lines named by number, all or none unless skipped" {
	printf '%s\n' "{\"vin\":\"$VIN\",\"model\":\"328i\",\"production_date\":\"2012-03-14\"}" \
		'{"vin":"WBA3A5C54CF256985","model":"328i","production_date":"2012-03-14"}' \
		'' \
		'not json' \
		"{\"vin\":\"$VIN2\",\"model\":\"X\",\"production_date\":\"2019-02-30\"}" \
		'{"vin":"5UXCR6C07L9B12345","model":"X5","production_date":"2020-06-01"}' > "$T/v.jsonl"
	run admin vehicle import "$T/v.jsonl"
	[ "$status" -eq 3 ]
	[[ "$output" == *"v.jsonl:4: malformed JSON"* ]]
	[ "$(sql 'SELECT count(*) FROM vehicles')" -eq 0 ]
	grep -v 'not json' "$T/v.jsonl" > "$T/v2.jsonl"
	run admin vehicle import "$T/v2.jsonl"
	[ "$status" -eq 3 ]
	[[ "$output" == *"v2.jsonl:2: vin: check digit"* ]]
	[[ "$output" == *"v2.jsonl:4: production_date: 2019-02-30 is not a day of the calendar"* ]]
	[[ "$output" == *"nothing was imported"* ]]
	[ "$(sql 'SELECT count(*) FROM vehicles')" -eq 0 ]
	run admin vehicle import "$T/v.jsonl" --skip-invalid
	[ "$status" -eq 0 ]
	[ "$(jq -r .imported <<< "${lines[-1]}")" -eq 2 ]
	[ "$(jq -r .skipped <<< "${lines[-1]}")" -eq 2 ]
	[ "$(sql 'SELECT count(*) FROM keys')" -eq 4 ]
	# a VIN registered already is refused
	run admin vehicle add "$VIN" --model 328i --production-date 2012-03-14
	[ "$status" -eq 1 ]
	[[ "$output" == *"registered already"* ]]
	run admin vehicle add "$VIN2" --model 328i
	[ "$status" -eq 3 ]
	[[ "$output" == *"production_date: is required"* ]]
}

@test "malformed input on every new route changes nothing" {
	ready
	c=$(call)
	snapshot() {
		sql "SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM calls),
			(SELECT count(*) FROM orders), (SELECT count(*) FROM keys), (SELECT count(*) FROM vehicles),
			(SELECT count(*) FROM outbox), (SELECT count(*) FROM keywriters),
			(SELECT count(*) FROM calls WHERE used_at IS NULL)"
	}
	before=$(snapshot)
	op="Authorization: Bearer $(cat "$T/operator.token")"
	ad="Authorization: Bearer $(cat "$T/admin.token")"
	ls="Authorization: Bearer $(jq -r .token "$T/state/kcs/session")"
	for route in "$op|/v1/hotline/redeem" "$op|/v1/hotline/orders/key" "$op|/v1/hotline/orders/keywriter" \
	             "$op|/v1/hotline/ship" "$ad|/v1/admin/vehicles" "$ls|/v1/tickets"; do
		auth=${route%%|*}
		path=${route#*|}
		for body in '{' '[]' '"x"' '{"call_id":5}' '{"unknown":1}' "{\"call_id\":\"$c\",\"vin\":7}" \
		            '{"entries":"x"}' '{"order_id":"1","tracking":"t"}' '{"tan":"1234","sdrm_id":"g36d27a9"}' \
		            '{"accept_disclaimer":"yes"}'; do
			run api POST "$path" -H "$auth" -H 'Content-Type: application/json' -d "$body"
			code=$(tail -n 1 <<< "$output")
			[ "$code" -ge 400 ] && [ "$code" -lt 500 ] || { echo "$path $body -> $output"; false; }
		done
	done
	[ "$(snapshot)" = "$before" ]
	run api GET "/v1/hotline/orders?state=lost%0A" -H "$op"
	[ "$(tail -n 1 <<< "$output")" = 400 ]
}

@test "a change that fails half-way is undone whole; the session's last use stands" {
	reconfigure "session_touch = 0"
	ready
	first=$(ticket)
	accepted=$(sql 'SELECT count(*) FROM acceptances')
	used=$(sql 'SELECT last_used_at FROM sessions ORDER BY id DESC LIMIT 1')
	sleep 1.1
	# the new ticket's row cannot be written: the request fails after it
	# recorded the acceptance and cancelled the first ticket
	fail_inserts tickets
	run "$B/kcs-ticket" --accept-disclaimer < /dev/null
	[ "$status" -ne 0 ]
	allow_inserts tickets
	[ "$(sql 'SELECT count(*) FROM acceptances')" -eq "$accepted" ]
	[ "$(sql 'SELECT last_used_at FROM sessions ORDER BY id DESC LIMIT 1')" -gt "$used" ]
	run redeem "$first"
	[ "$status" -eq 0 ]
}
