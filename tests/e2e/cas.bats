#!/usr/bin/env bats
# CAS key slots with kcs-cas: the ten key numbers, lock and release, the
# lost-key procedure, activation of a coded key, personalization (seed 001).

load helper
bats_require_minimum_version 1.5.0

setup() {
	setup_kcsd
	add_operator
	active_locksmith g36d27a9 j@example.com
	add_vehicle "$VIN"
	"$B/kcs-kwemu" --new-key "$T/writer.key" > "$T/writer.pub"
	ship_writer KW5-0001 "$T/writer.pub"
	order_key "$(call)" > "$T/order.json"
}

cas() { "$B/kcs-cas" "$@" < /dev/null; }
hcas() { KCS_TOKEN_FILE=$T/operator.token "$B/kcs-cas" "$@" < /dev/null; }
states() { # VIN: "1:state 2:state ..." of the used positions
	cas show "$1" | jq -r '[.keys[] | select(.state != "free") | "\(.key_number):\(.state)"] | join(" ")'
}

@test "show: delivered keys 1 and 2 active with personalization 1 and 2, the order's position reserved" {
	run cas show "$VIN"
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.keys[] | select(.state != "free") | [.key_number, .state, .personalization, .source]]' <<< "$output")" = \
	  '[[1,"active",1,"delivered with the car"],[2,"active",2,"delivered with the car"],[3,"reserved",null,"order 2"]]' ]
	[ "$(jq -r '[.used, (.keys | length), .model] | join(" ")' <<< "$output")" = "3 10 328i Sedan" ]
	[ "$(jq -r .warning <<< "$output")" = null ]
	# the hotline sees any vehicle; another locksmith does not
	run hcas show "$VIN"
	[ "$status" -eq 0 ]
	"$B/kcs-login" logout > /dev/null
	active_locksmith x47b11c2 k@example.com
	run cas show "$VIN"
	[ "$status" -eq 4 ]
	[[ "$output" == *"you have no key order for $VIN"* ]]
	run cas lock "$VIN" --key 1 --reason lost --accept-disclaimer
	[ "$status" -eq 4 ]
	[ "$(sql "SELECT count(*) FROM keys WHERE locked_at IS NOT NULL")" = 0 ]
}

@test "lock and release; the last working key and a never-activated position cannot be locked" {
	run cas lock "$VIN" --key 2 --reason "stolen with the bag" --accept-disclaimer
	[ "$status" -eq 0 ]
	[ "$(jq -c '.keys[1] | [.state, .lock_reason, .changed_by]' <<< "$output")" = '["locked","stolen with the bag","account:1"]' ]
	run cas lock "$VIN" --key 1 --reason lost --accept-disclaimer
	[ "$status" -eq 1 ]
	[[ "$output" == *"key 1 is the vehicle's last working key"* ]]
	run cas lock "$VIN" --key 3 --reason lost --accept-disclaimer
	[ "$status" -eq 1 ]
	[[ "$output" == *"key 3 is reserved: only a key that has been activated can be locked"* ]]
	run cas lock "$VIN" --key 7 --reason lost --accept-disclaimer
	[ "$status" -eq 1 ]
	[[ "$output" == *"key 7 is free"* ]]
	run cas lock "$VIN" --key 2 --reason again --accept-disclaimer
	[ "$status" -eq 1 ]
	[[ "$output" == *"key 2 is locked already"* ]]
	run hcas release "$VIN" --key 2 --reason "found"
	[ "$status" -eq 0 ]
	[ "$(states "$VIN")" = "1:active 2:active 3:reserved" ]
	run hcas release "$VIN" --key 2 --reason "found"
	[ "$status" -eq 1 ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event IN ('cas.locked', 'cas.released')")" = 2 ]
	# a locksmith's change records the disclaimer's acceptance
	[ "$(sql "SELECT count(*) FROM acceptances WHERE kind = 'coding'")" -ge 1 ]
	run cas lock "$VIN" --key 2 --reason x
	[ "$status" -eq 4 ] # no terminal to accept the disclaimer on
	# malformed input changes nothing
	for key in 0 11 x; do
		run cas lock "$VIN" --key "$key" --reason r --accept-disclaimer
		[ "$status" -eq 3 ]
	done
	run cas lock "$VIN" --key 2 --reason "" --accept-disclaimer
	[ "$status" -eq 3 ]
	[[ "$output" == *"reason:"* ]]
	run cas lock WBA3A5C53CF256986 --key 2 --reason r --accept-disclaimer
	[ "$status" -eq 3 ]
	[ "$(states "$VIN")" = "1:active 2:active 3:reserved" ]
}

@test "activate the coded key: refused for a blank key, another vehicle's key, a locked or uncoded position" {
	printf 'Set B\n' > "$T/b.txt"
	admin download add activation-b --file "$T/b.txt" --title "Activation instructions, set B" > /dev/null
	admin activation add --model '*' --from 2008-01-01 --to 2013-12-31 --download activation-b > /dev/null
	# not coded yet
	run emu "serial=KW5-0001,slot=coded,vin=$VIN,number=3" -- "$B/kcs-cas" activate "$VIN" --accept-disclaimer
	[ "$status" -eq 1 ]
	[[ "$output" == *"key 3 of the vehicle is not coded (reserved)"* ]]
	run --separate-stderr kcs_code --
	[ "$status" -eq 0 ]
	key_id=$(jq -r .key_id <<< "$output")
	# a blank key, another vehicle's key, another key of this number
	run emu "serial=KW5-0001,slot=blank" -- "$B/kcs-cas" activate "$VIN" --key 3 --accept-disclaimer
	[ "$status" -eq 1 ]
	[[ "$output" == *"the key read is blank: code it first"* ]]
	run emu "serial=KW5-0001,slot=coded,vin=$VIN2,number=3,uid=$key_id" -- "$B/kcs-cas" activate "$VIN" --accept-disclaimer
	[ "$status" -eq 1 ]
	[[ "$output" == *"the key read is coded for $VIN2, not $VIN"* ]]
	run emu "serial=KW5-0001,slot=coded,vin=$VIN,number=3,uid=0badc0de" -- "$B/kcs-cas" activate "$VIN" --accept-disclaimer
	[ "$status" -eq 1 ]
	[[ "$output" == *"not the one kcsd's coding job wrote to key 3"* ]]
	# the key kcsd's job wrote
	run --separate-stderr emu "serial=KW5-0001,slot=coded,vin=$VIN,number=3,uid=$key_id" -- \
		"$B/kcs-cas" activate "$VIN" --accept-disclaimer
	[ "$status" -eq 0 ]
	[ "$(jq -c '.keys[2] | [.state, .personalization]' <<< "$output")" = '["active",3]' ]
	[ "$(jq -r .instructions.name <<< "$output")" = activation-b ]
	# from a read kept in a file; an active key is not activated twice
	emu "serial=KW5-0001,slot=coded,vin=$VIN,number=3,uid=$key_id" -- "$B/kcs-keywriter" read > "$T/read.json" 2>/dev/null
	run cas activate "$VIN" --read "$T/read.json" --accept-disclaimer
	[ "$status" -eq 1 ]
	[[ "$output" == *"key 3 is active already"* ]]
	# a locked position is not activated
	hcas lock "$VIN" --key 3 --reason test > /dev/null
	run cas activate "$VIN" --read "$T/read.json" --accept-disclaimer
	[ "$status" -eq 1 ]
	[[ "$output" == *"key 3 is locked"* ]]
}

@test "personalization: 1 to 4, an active unlocked key only" {
	run cas personalize "$VIN" --key 2 --personalization 4 --accept-disclaimer
	[ "$status" -eq 0 ]
	[ "$(jq -r '.keys[1].personalization' <<< "$output")" = 4 ]
	run cas personalize "$VIN" --key 2 --personalization 0 --accept-disclaimer
	[ "$status" -eq 3 ]
	run cas personalize "$VIN" --key 2 --personalization 5 --accept-disclaimer
	[ "$status" -eq 3 ]
	run api POST /v1/cas/personalize -H "Authorization: Bearer $(cat "$T/operator.token")" \
		-H 'Content-Type: application/json' -d "{\"vin\":\"$VIN\",\"key_number\":2,\"personalization\":5}"
	[ "$(tail -n 1 <<< "$output")" = 400 ]
	[[ "$output" == *'"field":"personalization"'* ]]
	run cas personalize "$VIN" --key 3 --personalization 2 --accept-disclaimer
	[ "$status" -eq 1 ]
	[[ "$output" == *"key 3 is reserved: only an active, unlocked key is personalized"* ]]
	[ "$(cas show "$VIN" | jq -r '.keys[1].personalization')" = 4 ]
}

@test "the lost-key procedure locks exactly the keys not presented, at once" {
	# a third active key: the order's, coded and activated
	kcs_code -- > /dev/null 2>&1
	key_id=$(sql "SELECT key_id FROM jobs")
	emu "serial=KW5-0001,slot=coded,vin=$VIN,number=3,uid=$key_id" -- "$B/kcs-cas" activate "$VIN" --accept-disclaimer > /dev/null 2>&1
	[ "$(states "$VIN")" = "1:active 2:active 3:active" ]
	run hcas lost-key "$VIN" --keep 3 --reason "keys 1 and 2 stolen"
	[ "$status" -eq 0 ]
	[ "$(jq -r .locked_now <<< "$output")" = 2 ]
	[ "$(states "$VIN")" = "1:locked 2:locked 3:active" ]
	[ "$(sql "SELECT detail FROM audit WHERE event = 'cas.lost_key'" | jq -c .locked)" = '[1,2]' ]
	# keeping only locked or unknown keys would leave the car without one: refused, nothing changed
	hcas release "$VIN" --key 1 --reason found > /dev/null
	run hcas lost-key "$VIN" --keep 2,7 --reason x
	[ "$status" -eq 1 ]
	[[ "$output" == *"none of the keys kept is an active, unlocked key"* ]]
	[ "$(states "$VIN")" = "1:active 2:locked 3:active" ]
	run hcas lost-key "$VIN" --keep 11 --reason x
	[ "$status" -eq 3 ]
	run hcas lost-key "$VIN" --reason x
	[ "$status" -eq 2 ]
}

@test "all ten positions used: the next order is refused; the slots warn from eight on" {
	for i in 4 5 6 7 8 9 10; do
		order_key "$(call)" > /dev/null
	done
	run cas show "$VIN"
	[ "$(jq -r .used <<< "$output")" = 10 ]
	[ "$(jq -r .warning <<< "$output")" = "10 of 10 key positions are used: 0 more keys can be ordered" ]
	run order_key "$(call)"
	[ "$status" -eq 1 ]
	[[ "$output" == *"all 10 key positions"* ]]
}

@test "concurrent locks of the two working keys leave one working key" {
	for i in $(seq 6); do
		hcas lock "$VIN" --key 1 --reason a > /dev/null 2>&1 &
		a=$!
		hcas lock "$VIN" --key 2 --reason b > /dev/null 2>&1 &
		b=$!
		wait "$a" "$b" || true # one of the two is refused
		[ "$(sql "SELECT count(*) FROM keys WHERE active_at IS NOT NULL AND locked_at IS NULL")" = 1 ]
		hcas release "$VIN" --key 1 --reason r > /dev/null 2>&1 || true
		hcas release "$VIN" --key 2 --reason r > /dev/null 2>&1 || true
	done
}

@test "a model's personalization range; Key Memory per profile; the profile that applies after a change" {
	run admin model set "328i Sedan" --personalization-max 2
	[ "$status" -eq 0 ]
	[ "$(cas show "$VIN" | jq -c .personalization_range)" = '[1,2]' ]
	run cas personalize "$VIN" --key 1 --personalization 3 --accept-disclaimer
	[ "$status" -eq 3 ]
	[[ "$output" == *"personalization: a 328i Sedan has Key Memory profiles 1 to 2"* ]]
	run admin model set "328i Sedan" --personalization-max 5
	[ "$status" -eq 3 ]
	run hcas memory "$VIN" --personalization 2 --unit seat --set position=3 --set heating=on
	[ "$status" -eq 0 ]
	[ "$(jq -c .key_memory <<< "$output")" = '{"seat":{"heating":"on","position":"3"}}' ]
	hcas memory "$VIN" --personalization 1 --unit mirror --set fold=auto > /dev/null
	hcas memory "$VIN" --personalization 2 --unit seat --set position=4 > /dev/null
	[ "$(cas show "$VIN" | jq -c .key_memory)" = '{"1":{"mirror":{"fold":"auto"}},"2":{"seat":{"heating":"on","position":"4"}}}' ]
	run cas personalize "$VIN" --key 1 --personalization 2 --accept-disclaimer
	[ "$status" -eq 0 ]
	[ "$(jq -c .key_memory_applies <<< "$output")" = '{"seat":{"heating":"on","position":"4"}}' ]
	run hcas memory "$VIN" --personalization 3 --unit seat --set position=1
	[ "$status" -eq 3 ]
	run hcas memory "$VIN" --personalization 1 --unit seat --set =1
	[ "$status" -eq 2 ]
	run hcas memory "$VIN" --personalization 1 --unit "$(printf 'bad\001unit')" --set a=1
	[ "$status" -eq 3 ]
	[ "$(sql "SELECT count(*) FROM key_memory")" = 3 ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'cas.key_memory'")" = 3 ]
}

@test "reconcile reports each kind of difference and changes nothing" {
	echo '{"keys":[1,2]}' > "$T/car.json"
	run cas reconcile "$VIN" --car "$T/car.json"
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.in_step, .activated, (.differences | length)]' <<< "$output")" = '[true,0,0]' ]
	echo '{"keys":[1,4]}' > "$T/car.json"
	before=$(sql "SELECT count(*) FROM audit")
	run cas reconcile "$VIN" --car "$T/car.json"
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.differences[] | [.key_number, .kcsd, .car_knows]]' <<< "$output")" = '[[2,"active",false],[4,"free",true]]' ]
	[ "$(jq -r '.differences[0].difference' <<< "$output")" = "kcsd holds this key as activated; the car never learnt it" ]
	[ "$(states "$VIN")" = "1:active 2:active 3:reserved" ]
	[ "$(sql "SELECT count(*) FROM audit")" = "$before" ]
	echo '{"keys":[0]}' > "$T/car.json"
	run cas reconcile "$VIN" --car "$T/car.json"
	[ "$status" -eq 3 ]
	echo '[1]' > "$T/car.json"
	run cas reconcile "$VIN" --car "$T/car.json"
	[ "$status" -eq 3 ]
}

@test "the ten-key rule is one with ordering: a cancelled order frees its position; a coded key's order cannot be cancelled" {
	order=$(jq -r .order_id "$T/order.json")
	second=$(order_key "$(call)" | jq -r .order_id)
	[ "$(states "$VIN")" = "1:active 2:active 3:reserved 4:reserved" ]
	run hotline cancel "$second" --reason "customer found the key" < /dev/null
	[ "$status" -eq 0 ]
	[ "$(jq -r .state <<< "$output")" = cancelled ]
	[ "$(states "$VIN")" = "1:active 2:active 3:reserved" ]
	run hotline cancel "$second" --reason again < /dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"was cancelled already"* ]]
	run hotline ship "$second" --tracking 1Z9 < /dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"order $second was cancelled"* ]]
	# the next order takes the freed position
	[ "$(order_key "$(call)" | jq -r .key_position)" = 4 ]
	[ "$(hotline orders --state cancelled < /dev/null | jq -r .order_id)" = "$second" ]
	# a coded key's order cannot be cancelled
	kcs_code -- > /dev/null 2>&1
	run hotline cancel "$order" --reason x < /dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"key is coded: it can no longer be cancelled"* ]]
	run hotline cancel "$order" < /dev/null
	[ "$status" -eq 3 ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'order.cancelled'")" = 1 ]
}

@test "the lost-key procedure from the keys read with the writer" {
	emu "serial=KW5-0001,slot=coded,vin=$VIN,number=2" -- "$B/kcs-keywriter" read > "$T/k2.json" 2>/dev/null
	emu "serial=KW5-0001,slot=coded,vin=$VIN2,number=1" -- "$B/kcs-keywriter" read > "$T/other.json" 2>/dev/null
	run hcas lost-key "$VIN" --read "$T/other.json" --reason x
	[ "$status" -eq 3 ]
	[[ "$output" == *"is not a key coded for $VIN"* ]]
	run hcas lost-key "$VIN" --read "$T/k2.json" --reason "key 1 lost"
	[ "$status" -eq 0 ]
	[ "$(states "$VIN")" = "1:locked 2:active 3:reserved" ]
}

@test "reconcile --apply activates the coded keys the car has learnt, and only those" {
	kcs_code -- > /dev/null 2>&1
	echo '{"keys":[1,2,3,5]}' > "$T/car.json"
	run cas reconcile "$VIN" --car "$T/car.json"
	[ "$(jq -c '[.differences[] | [.key_number, .kcsd, .car_knows]]' <<< "$output")" = '[[3,"coded",true],[5,"free",true]]' ]
	[ "$(states "$VIN")" = "1:active 2:active 3:coded" ]
	run cas reconcile "$VIN" --car "$T/car.json" --apply --accept-disclaimer
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.activated, [.differences[] | .key_number]]' <<< "$output")" = '[1,[5]]' ]
	[ "$(states "$VIN")" = "1:active 2:active 3:active" ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'cas.activated'")" = 1 ]
}
