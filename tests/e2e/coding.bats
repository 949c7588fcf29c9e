#!/usr/bin/env bats
# Coding a key with kcs-code: the order's VIN and Key Code, the writer's
# attestation, the sealed job, the signed receipt (seed 000 §8).

load helper
bats_require_minimum_version 1.5.0

setup() {
	setup_kcsd "keycode_failures = 3" "keycode_cooldown = 2"
	add_operator
	active_locksmith g36d27a9 j@example.com
	add_vehicle "$VIN"
	"$B/kcs-kwemu" --new-key "$T/writer.key" > "$T/writer.pub"
	ship_writer KW5-0001 "$T/writer.pub"
	order_key "$(call)" > "$T/order.json"
}

@test "the order's key is coded: attested writer, sealed job, signed receipt, the position coded once" {
	run --separate-stderr kcs_code --
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.vin, .key_position, .state, .serial] | join(" ")' <<< "$output")" = "$VIN 3 coded KW5-0001" ]
	[ "$(sql "SELECT count(*) FROM keys WHERE vin = '$VIN' AND position = 3 AND coded_at IS NOT NULL")" = 1 ]
	[ "$(executed "code commit")" -eq 1 ]
	[ "$(executed "attest")" -eq 1 ]
	[ "$(sql "SELECT state FROM jobs")" = done ]
	# audited, with the disclaimer's acceptance
	[ "$(sql "SELECT count(*) FROM audit WHERE event IN ('coding.started', 'coding.attested', 'key.coded')")" = 3 ]
	[ "$(sql "SELECT count(*) FROM acceptances WHERE kind = 'coding'")" = 1 ]
	# again: refused, the position is coded
	run kcs_code --
	[ "$status" -eq 1 ]
	[[ "$output" == *"key position 3 of $VIN was coded on $(date -u +%F)"* ]]
}

@test "what crosses the host never holds the transponder data in the clear; the store holds no Key Code or owner data" {
	run --separate-stderr kcs_code --
	[ "$status" -eq 0 ]
	# the sealed job crossed the wire; the writer opened it: the data it
	# wrote (16 bytes) is nowhere in what crossed, nor in kcsd's answers
	grep -q '^KW5-0001 > 4b57010.....0020' "$T/capture.txt"
	data=$(jq -r '.writers[0].job_data' "$T/report.json")
	[ "${#data}" -eq 32 ]
	refute grep -qi "$data" "$T/capture.txt"
	refute grep -qi "$data" "$T/kcsd.log"
	code=$(jq -r .key_code "$T/order.json")
	for s in "Jane Roe" 8ABC123 drivers_license "$code" "${code//-/}"; do
		refute grep -aqF "$s" <(store_bytes)
	done
}

@test "refused: a writer not registered to the locksmith, another device key under the registered serial" {
	run kcs_code "serial=KW5-0009,slot=blank" --
	[ "$status" -eq 4 ]
	[[ "$output" == *"key writer KW5-0009 is not registered to you"* ]]
	# the registered serial, with another device key
	"$B/kcs-kwemu" --new-key "$T/other.key" > "$T/other.pub"
	run kcs_code "$WRITER,key=$T/other.key" --
	[ "$status" -eq 4 ]
	[[ "$output" == *"the attestation does not verify under the writer's registered key"* ]]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'coding.refused'")" = 1 ]
	[ "$(executed "code begin")" -eq 0 ]
	[ "$(sql "SELECT count(*) FROM keys WHERE coded_at IS NOT NULL")" = 0 ]
}

@test "refused: a wrong Key Code, another VIN's, a missing owner's field; wrong codes lock out, then the cool-down ends it" {
	jq '.key_code = "2345-6789-ABCD-E"' "$T/order.json" > "$T/bad.json"
	run emu "$WRITER,key=$T/writer.key" -- "$B/kcs-code" --accept-disclaimer "${OWNER[@]}" < "$T/bad.json"
	[ "$status" -eq 3 ] # a mistyped code fails its check character
	[[ "$output" == *"key_code:"* ]]
	good=$(jq -r .key_code "$T/order.json")
	add_vehicle "$VIN2"
	for i in 1 2; do
		jq --arg v "$VIN2" '.vin = $v' "$T/order.json" > "$T/other.json"
		run emu "$WRITER,key=$T/writer.key" -- "$B/kcs-code" --accept-disclaimer "${OWNER[@]}" < "$T/other.json"
		[ "$status" -eq 1 ]
		[[ "$output" == *"no key order of yours for this VIN has this Key Code"* ]]
	done
	run emu "$WRITER,key=$T/writer.key" -- "$B/kcs-code" --accept-disclaimer "${OWNER[@]}" < "$T/other.json"
	[ "$status" -eq 1 ]
	# locked: even the right code waits for the cool-down
	run kcs_code --
	[ "$status" -eq 1 ]
	[[ "$output" == *"locked until"* ]]
	sleep 2.1 # the cool-down
	# a missing field of the owner's record is named, before anything else
	run emu "$WRITER,key=$T/writer.key" -- "$B/kcs-code" --accept-disclaimer --customer-name X < "$T/order.json"
	[ "$status" -eq 3 ]
	[[ "$output" == *"relation: is required"* ]]
	run kcs_code -- --relation cousin
	[ "$status" -eq 3 ]
	[[ "$output" == *"relation: must be owner or family"* ]]
	run kcs_code --
	[ "$status" -eq 0 ]
}

@test "another locksmith's order is refused as a wrong Key Code; another locksmith's writer too" {
	"$B/kcs-login" logout > /dev/null
	active_locksmith x47b11c2 k@example.com
	"$B/kcs-kwemu" --new-key "$T/w2.key" > "$T/w2.pub"
	c=$(redeem "$(ticket)" x47b11c2 | jq -r .call_id)
	order=$(hotline order-keywriter --call-id "$c" --payment-ref P --address-confirmed < /dev/null | jq -r .order_id)
	hotline ship "$order" --tracking 1Z2 --serial KW5-0002 --public-key "$(cat "$T/w2.pub")" < /dev/null > /dev/null
	run emu "serial=KW5-0002,slot=blank,key=$T/w2.key" -- "$B/kcs-code" --accept-disclaimer "${OWNER[@]}" < "$T/order.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no key order of yours for this VIN has this Key Code"* ]]
	# and the first locksmith cannot code with the second one's writer
	"$B/kcs-login" logout > /dev/null
	login g36d27a9 j@example.com > /dev/null
	run emu "serial=KW5-0002,slot=blank,key=$T/w2.key" -- "$B/kcs-code" --accept-disclaimer "${OWNER[@]}" < "$T/order.json"
	[ "$status" -eq 4 ]
	[[ "$output" == *"key writer KW5-0002 is not registered to you"* ]]
	[ "$(sql "SELECT count(*) FROM keys WHERE coded_at IS NOT NULL")" = 0 ]
}

@test "unplugged while the key is written: the same command again codes the position once" {
	run kcs_code "$WRITER,key=$T/writer.key,fault=unplug@code-commit" -- 
	[ "$status" -eq 5 ]
	[[ "$output" == *"unplugged during code commit"* ]]
	[ "$(sql "SELECT count(*) FROM keys WHERE coded_at IS NOT NULL")" = 0 ]
	[ "$(sql "SELECT state FROM jobs")" = attested ]
	run --separate-stderr kcs_code --
	[ "$status" -eq 0 ]
	[ "$(jq -r .state <<< "$output")" = coded ]
	[ "$(sql "SELECT count(*) FROM jobs")" = 1 ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'key.coded'")" = 1 ]
}

@test "a dropped receipt is asked for again and the key is not written twice" {
	run --separate-stderr kcs_code "$WRITER,key=$T/writer.key,fault=drop@code-commit" --
	[ "$status" -eq 0 ]
	[ "$(executed "code commit")" -eq 1 ]
	[ "$(jq -r '.writers[0].replayed' "$T/report.json")" -eq 1 ]
}

@test "a forged or replayed receipt is refused; the same receipt again gets the same answer" {
	run --separate-stderr kcs_code --
	[ "$status" -eq 0 ]
	job=$(sql "SELECT id FROM jobs")
	receipt=$(sql "SELECT receipt FROM jobs")
	tok="Authorization: Bearer $(jq -r .token "$T/state/kcs/session")"
	# the job is done: a receipt with any signature is not taken again
	run api POST /v1/coding/receipt -H "$tok" -H 'Content-Type: application/json' \
		-d "{\"job_id\":$job,\"receipt\":\"$receipt\",\"signature\":\"$(printf '%0128d' 0)\"}"
	[ "$(tail -n 1 <<< "$output")" = 200 ] # the stored receipt: an idempotent retry
	# a receipt for a job that is not under way
	sql "UPDATE jobs SET state = 'attested', done_at = NULL, challenge = '$(printf '%064d' 7)', expires_at = $(( $(date +%s) + 600 ))"
	run api POST /v1/coding/receipt -H "$tok" -H 'Content-Type: application/json' \
		-d "{\"job_id\":$job,\"receipt\":\"$receipt\",\"signature\":\"$(printf '%0128d' 0)\"}"
	[ "$(tail -n 1 <<< "$output")" = 403 ]
	[[ "$output" == *"receipt_invalid"* ]]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'coding.refused'")" = 1 ]
	# another locksmith's token does not see the job
	run api POST /v1/coding/receipt -H "Authorization: Bearer $(cat "$T/operator.token")" \
		-H 'Content-Type: application/json' -d "{\"job_id\":$job,\"receipt\":\"00\",\"signature\":\"00\"}"
	[ "$(tail -n 1 <<< "$output")" = 401 ]
	for body in '{"job_id":"1"}' '{"job_id":99999,"receipt":"00","signature":"00"}' \
	            "{\"job_id\":$job,\"receipt\":\"zz\",\"signature\":\"00\"}" "{\"job_id\":$job}"; do
		run api POST /v1/coding/receipt -H "$tok" -H 'Content-Type: application/json' -d "$body"
		code=$(tail -n 1 <<< "$output")
		[ "$code" -ge 400 ] && [ "$code" -lt 500 ]
	done
}

@test "no key in the slot, an old firmware: refused before kcsd is asked" {
	run kcs_code "serial=KW5-0001,slot=none,key=$T/writer.key" --
	[ "$status" -eq 1 ]
	[[ "$output" == *"no key in the writer's slot"* ]]
	run kcs_code "serial=KW5-0001,slot=blank,firmware=4.9.0,key=$T/writer.key" --
	[ "$status" -eq 1 ]
	[[ "$output" == *"older than 5"* ]]
	[ "$(sql "SELECT count(*) FROM jobs")" = 0 ]
}

@test "the cut code: the manual's shape, the same for every key of the vehicle, each retrieval a job" {
	run --separate-stderr "$B/kcs-cut" --accept-disclaimer "${OWNER[@]}" < "$T/order.json"
	[ "$status" -eq 0 ]
	cut=$(jq -r .cut_code <<< "$output")
	[[ "$cut" =~ ^[A-Z]{2}000[0-9]{5}$ ]]
	[ "$(jq -r .vin <<< "$output")" = "$VIN" ]
	# another order for the same car: another Key Code, the same cut code
	order_key "$(call)" > "$T/order2.json"
	run --separate-stderr "$B/kcs-cut" --accept-disclaimer --owner-file <(jq -n '{customer_name: "Jane Roe",
		relation: "family", id_kind: "passport", id_state: "NY", id_last4: "X9Z1", registration_state: "CA",
		plate: "8ABC123"}') < "$T/order2.json"
	[ "$status" -eq 0 ]
	[ "$(jq -r .cut_code <<< "$output")" = "$cut" ]
	[ "$(sql "SELECT count(*) FROM jobs WHERE kind = 'cut' AND state = 'done'")" = 2 ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'cut.retrieved'")" = 2 ]
	refute grep -aqF "$cut" <(store_bytes)
	# a Key Code from a file; a wrong one refused and counted
	jq -r .key_code "$T/order.json" > "$T/kc"
	run --separate-stderr "$B/kcs-cut" --accept-disclaimer "${OWNER[@]}" --vin "$VIN" --key-code-file "$T/kc" < /dev/null
	[ "$status" -eq 0 ]
	jq -r .key_code "$T/order2.json" > "$T/kc"
	run "$B/kcs-cut" --accept-disclaimer "${OWNER[@]}" --vin "$VIN2" --key-code-file "$T/kc" < /dev/null
	[ "$status" -eq 1 ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'keycode.failed'")" = 1 ]
	# the owner's file names a field it should not have
	run "$B/kcs-cut" --accept-disclaimer --owner-file <(echo '{"customer_name":"J","ssn":"1"}') < "$T/order.json"
	[ "$status" -eq 3 ]
	[[ "$output" == *"ssn: is not a field of the owner's record"* ]]
}

@test "a Key Code spent (key coded, cut code retrieved) is destroyed after the grace period, and a refusal says so" {
	reconfigure "keycode_grace = 1"
	run --separate-stderr kcs_code --
	[ "$status" -eq 0 ]
	# coded, not yet cut: the code still works, for the cut code
	[ "$(sql "SELECT count(*) FROM orders WHERE kind = 'key' AND key_code_spent_at IS NULL")" = 1 ]
	run --separate-stderr "$B/kcs-cut" --accept-disclaimer "${OWNER[@]}" < "$T/order.json"
	[ "$status" -eq 0 ]
	[ "$(sql "SELECT count(*) FROM orders WHERE kind = 'key' AND key_code_spent_at IS NOT NULL")" = 1 ]
	# within the grace period: the cut code again
	run --separate-stderr "$B/kcs-cut" --accept-disclaimer "${OWNER[@]}" < "$T/order.json"
	[ "$status" -eq 0 ]
	hash=$(sql "SELECT key_code_hash FROM orders WHERE kind = 'key'")
	sleep 2.1
	run "$B/kcs-cut" --accept-disclaimer "${OWNER[@]}" < "$T/order.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"this Key Code was used on $(date -u +%F) and has been destroyed"* ]]
	# the hash that verified it is gone; refusals of a destroyed code are not counted as guesses
	[ "$(sql "SELECT count(*) FROM orders WHERE key_code_hash = '$hash'")" = 0 ]
	[ "$(sql "SELECT count(*) FROM orders WHERE kind = 'key' AND key_code_destroyed_at IS NOT NULL")" = 1 ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'keycode.destroyed'")" = 1 ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'keycode.failed'")" = 0 ]
	run kcs_code --
	[ "$status" -eq 1 ]
	[[ "$output" == *"has been destroyed"* ]]
}

@test "job records: the locksmith exports their own, an administrator those of a period; both audited" {
	run --separate-stderr kcs_code --
	[ "$status" -eq 0 ]
	"$B/kcs-cut" --accept-disclaimer --owner-file <(jq -n '{customer_name: "John Roe", relation: "family",
		id_kind: "state_id", id_state: "NV", id_last4: "7777", registration_state: "CA", plate: "8ABC123"}') \
		< "$T/order.json" > /dev/null
	run "$B/kcs-login" jobs
	[ "$status" -eq 0 ]
	[ "$(wc -l <<< "$output")" -eq 2 ]
	[ "$(jq -sc 'map([.kind, .vin, .key_position, .state, .owner.customer_name, .owner.relation, .disclaimer, .disclaimer_version])' <<< "$output")" = \
	  "[[\"code\",\"$VIN\",3,\"done\",\"Jane Roe\",\"owner\",\"coding\",1],[\"cut\",\"$VIN\",3,\"done\",\"John Roe\",\"family\",\"coding\",1]]" ]
	[ "$(head -n 1 <<< "$output" | jq -r '[.serial, (.receipt | length > 0), .key_id != null] | join(" ")')" = "KW5-0001 true true" ]
	[ "$(head -n 1 <<< "$output" | jq -r .owner.id_state)" = CA ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'jobs.listed'")" = 1 ]
	# another locksmith sees none of them
	"$B/kcs-login" logout > /dev/null
	active_locksmith x47b11c2 k@example.com
	run "$B/kcs-login" jobs
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# the administrator's export of a period
	today=$(date -u +%F)
	run admin jobs export --from "$today" --to "$today"
	[ "$status" -eq 0 ]
	[ "$(jq -sc 'map(.sdrm_id) | unique' <<< "$output")" = '["g36d27a9"]' ]
	[ "$(wc -l <<< "$output")" -eq 2 ]
	run admin jobs export --from 2020-01-01 --to 2020-12-31
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'jobs.exported'")" = 2 ]
	run admin jobs export --from "$today"
	[ "$status" -eq 2 ]
	run admin jobs export --from 2026-02-30 --to "$today"
	[ "$status" -eq 3 ]
	run api GET "/v1/admin/jobs?from=$today&to=2020-01-01" -H "Authorization: Bearer $(cat "$T/admin.token")"
	[ "$(tail -n 1 <<< "$output")" = 400 ]
	# a locksmith's session cannot export everyone's
	run api GET "/v1/admin/jobs?from=$today&to=$today" -H "Authorization: Bearer $(jq -r .token "$T/state/kcs/session")"
	[ "$(tail -n 1 <<< "$output")" = 401 ]
}

@test "the whole path: order, code, cut, decode offline, activation instructions" {
	admin download add cut-table --file "$TOP/share/cut-table-synthetic.json" --title "Cut code mapping table" > /dev/null
	printf 'Set B: insert the key, switch the ignition on for 30 s.\n' > "$T/b.txt"
	admin download add activation-b --file "$T/b.txt" --title "Activation instructions, set B" > /dev/null
	admin activation add --model "328i Sedan" --from 2008-01-01 --to 2013-12-31 --download activation-b > /dev/null
	run --separate-stderr kcs_code --
	[ "$status" -eq 0 ]
	cut=$("$B/kcs-cut" --accept-disclaimer "${OWNER[@]}" < "$T/order.json" | jq -r .cut_code)
	"$B/kcs-cut" table > /dev/null
	run "$B/kcs-cut" decode "$cut"
	[ "$status" -eq 0 ]
	[ "$(jq -r .bitting <<< "$output")" = "$(jq -r --arg c "${cut:5}" '.series[0].codes[$c]' "$TOP/share/cut-table-synthetic.json")" ]
	name=$("$B/kcs-download" activation "$VIN" | jq -r .instructions.name)
	[ "$name" = activation-b ]
	[ "$("$B/kcs-download" get "$name")" = "$(cat "$T/b.txt")" ]
	run "$B/kcs-login" jobs
	[ "$(jq -sc 'map(.kind)' <<< "$output")" = '["code","cut"]' ]
}
