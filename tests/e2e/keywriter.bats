#!/usr/bin/env bats
# The key writer: kcs-keywriter against emulated writers (tests/kwemu.c)
# under the real libusb code path (umockdev), with the faults of the wire.

load helper
bats_require_minimum_version 1.5.0

setup() {
	T=$BATS_TEST_TMPDIR
	export HOME=$T XDG_CONFIG_HOME=$T/config XDG_STATE_HOME=$T/state XDG_DATA_HOME=$T/data
	unset KCS_URL KCS_TOKEN KCS_TOKEN_FILE KCS_SESSION KCS_KEYWRITER_USB_ID
	"$B/kcs-kwemu" --new-key "$T/writer.key" > "$T/writer.pub"
}

kw() { "$B/kcs-keywriter" "$@"; }
CODED="slot=coded,vin=$VIN,number=3,mileage=48211,fuel=62,stored=1790000000"

@test "list: every writer, its serial, firmware, protocol, bus and address; a test ID is warned about" {
	run --separate-stderr emu serial=KW5-0001 serial=KW5-0002,firmware=5.3.1 -- "$B/kcs-keywriter" list
	[ "$status" -eq 0 ]
	[ "$(jq -sc 'sort_by(.serial) | map([.serial, .firmware, .protocol, .bus, .usable])' <<< "$output")" = \
	  '[["KW5-0001","5.1.0",1,1,true],["KW5-0002","5.3.1",1,1,true]]' ]
	[ "$(jq -s 'map(.address) | sort | . == [2,3]' <<< "$output")" = true ]
	[[ "$stderr" == *"1209:0001 is a pid.codes test ID"* ]]
	# the same USB ID, and only it
	run --separate-stderr emu serial=KW5-0001,usb=1209:0002 -- "$B/kcs-keywriter" list
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run --separate-stderr emu serial=KW5-0001,usb=1209:0002 -- "$B/kcs-keywriter" --usb-id 1209:0002 list
	[ "$(jq -r .serial <<< "$output")" = KW5-0001 ]
	run kw --usb-id 12:09 list
	[ "$status" -eq 3 ]
	[[ "$output" == *"usb_id: is VVVV:PPPP"* ]]
}

@test "no writer attached: a clear error, exit 5" {
	run emu -- "$B/kcs-keywriter" read
	[ "$status" -eq 5 ]
	[[ "$output" == *"no key writer is attached (USB ID 1209:0001)"* ]]
}

@test "info: the handshake and an attestation verified against the public key, refused against another" {
	pub=$(cat "$T/writer.pub")
	run --separate-stderr emu "serial=KW5-0001,key=$T/writer.key" -- "$B/kcs-keywriter" info --public-key "$pub"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.serial, .firmware, .protocol, .public_key, .attestation] | join(" ")' <<< "$output")" = \
	  "KW5-0001 5.1.0 1 $pub verified against --public-key" ]
	[ "$(jq -r '.commands | index("key read") != null and index("code commit") != null' <<< "$output")" = true ]
	[ "$(jq -r '.firmware_hash | length' <<< "$output")" = 64 ]
	# another writer's key: refused
	"$B/kcs-kwemu" --new-key "$T/other.key" > "$T/other.pub"
	run emu "serial=KW5-0001,key=$T/other.key" -- "$B/kcs-keywriter" info --public-key "$pub"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not hold the registered key: its attestation does not verify"* ]]
	run kw info --public-key xyz
	[ "$status" -eq 3 ]
	# each attestation signs a fresh nonce
	grep -c '^KW5-0001 > 4b57010.....0003' "$T/capture.txt" > /dev/null
	[ "$(grep '^KW5-0001 > 4b57010.....0003' "$T/capture.txt" | cut -c 40- | sort -u | wc -l)" -eq 2 ]
}

@test "info: whether kcsd has the writer registered to the logged-in locksmith" {
	setup_kcsd
	add_operator
	active_locksmith g36d27a9 j@example.com
	order=$(hotline order-keywriter --call-id "$(call)" --payment-ref P --address-confirmed < /dev/null | jq -r .order_id)
	hotline ship "$order" --tracking 1Z1 --serial KW5-0001 --public-key "$(cat "$T/writer.pub")" < /dev/null > /dev/null
	run --separate-stderr emu "serial=KW5-0001,key=$T/writer.key" -- "$B/kcs-keywriter" info
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.registered, .attestation] | join(" ")' <<< "$output")" = "true verified against the registered key" ]
	# the same serial holding another key: refused
	"$B/kcs-kwemu" --new-key "$T/other.key" > /dev/null
	run emu "serial=KW5-0001,key=$T/other.key" -- "$B/kcs-keywriter" info
	[ "$status" -eq 1 ]
	[[ "$output" == *"KW5-0001 does not hold the registered key"* ]]
	# a writer not shipped to this locksmith
	run --separate-stderr emu "serial=KW5-0009,key=$T/other.key" -- "$B/kcs-keywriter" info
	[ "$status" -eq 0 ]
	[ "$(jq -r .registered <<< "$output")" = false ]
	# the list is the locksmith's own, and for a locksmith's session only
	run api GET /v1/me/keywriters -H "Authorization: Bearer $(jq -r .token "$T/state/kcs/session")"
	[ "$(head -n 1 <<< "$output" | jq -c '.keywriters | map([.serial, .public_key])')" = \
	  "[[\"KW5-0001\",\"$(cat "$T/writer.pub")\"]]" ]
	run api GET /v1/me/keywriters -H "Authorization: Bearer $(cat "$T/operator.token")"
	[ "$(tail -n 1 <<< "$output")" = 401 ]
	run api GET /v1/me/keywriters
	[ "$(tail -n 1 <<< "$output")" = 401 ]
	"$B/kcs-login" logout > /dev/null
	active_locksmith x47b11c2 k@example.com
	run --separate-stderr emu "serial=KW5-0001,key=$T/writer.key" -- "$B/kcs-keywriter" info
	[ "$status" -eq 0 ]
	[ "$(jq -r .registered <<< "$output")" = false ]
	# not logged in: unknown, and said why
	"$B/kcs-login" logout > /dev/null
	run --separate-stderr emu "serial=KW5-0001,key=$T/writer.key" -- "$B/kcs-keywriter" info
	[ "$status" -eq 0 ]
	[ "$(jq -r .registered <<< "$output")" = null ]
	[[ "$(jq -r .registration <<< "$output")" == *"not logged in"* ]]
}

@test "read: a blank key, a coded key, no key" {
	run --separate-stderr emu serial=KW5-0001,slot=blank,chip=PCF7953,uid=0a1b2c3d4e -- "$B/kcs-keywriter" read
	[ "$status" -eq 0 ]
	[ "$(jq -c 'del(.read_at)' <<< "$output")" = \
	  '{"present":true,"chip":"PCF7953","key_id":"0a1b2c3d4e","state":"blank","writer":"KW5-0001"}' ]
	[ "$(date -ud "$(jq -r .read_at <<< "$output")" +%s)" -ge $(( $(date +%s) - 60 )) ]
	run --separate-stderr emu "serial=KW5-0001,$CODED,uid=01020304" -- "$B/kcs-keywriter" read
	[ "$status" -eq 0 ]
	[ "$(jq -c 'del(.read_at)' <<< "$output")" = \
	  "{\"present\":true,\"chip\":\"PCF7945\",\"key_id\":\"01020304\",\"state\":\"coded\",\"vin\":\"$VIN\",\"key_number\":3,\"personalization\":3,\"mileage\":48211,\"mileage_unit\":\"km\",\"fuel_percent\":62,\"stored_at\":\"2026-09-21T14:13:20Z\",\"writer\":\"KW5-0001\"}" ]
	run --separate-stderr emu "serial=KW5-0001,slot=coded,vin=$VIN,number=1,mileage=900,unit=mi,battery=80" -- \
		"$B/kcs-keywriter" read
	[ "$(jq -c '[.mileage, .mileage_unit, .battery_percent, .fuel_percent]' <<< "$output")" = '[900,"mi",80,null]' ]
	run emu serial=KW5-0001,slot=none -- "$B/kcs-keywriter" read
	[ "$status" -eq 1 ]
	[[ "$output" == *"there is no key in the writer's slot"* ]]
	# a key whose memory does not hold a valid VIN is not passed on
	run emu serial=KW5-0001,slot=coded,vin=WBA3A5C53CF256986,number=3 -- "$B/kcs-keywriter" read
	[ "$status" -eq 6 ]
	[[ "$output" == *"answered key read with malformed data"* ]]
}

@test "firmware older than 5 is refused with a message that says so" {
	run emu serial=KW4-0001,firmware=4.2.0,slot=blank -- "$B/kcs-keywriter" read
	[ "$status" -eq 1 ]
	[[ "$output" == *"firmware 4.2, older than 5, the oldest this version of kcs supports"* ]]
	[ "$(executed "key read")" -eq 0 ]
	run --separate-stderr emu serial=KW4-0001,firmware=4.2.0 -- "$B/kcs-keywriter" list
	[ "$(jq -r '[.usable, .problem] | join(" ")' <<< "$output")" = \
	  "false the key writer KW4-0001 has firmware 4.2, older than 5, the oldest this version of kcs supports; update its firmware" ]
}

@test "two writers: --device chooses one; without it the tool asks" {
	run emu serial=KW5-0001 "serial=KW5-0002,$CODED" -- "$B/kcs-keywriter" read
	[ "$status" -eq 2 ]
	[[ "$output" == *"2 key writers are attached: choose one with --device SERIAL"* ]]
	run --separate-stderr emu serial=KW5-0001 "serial=KW5-0002,$CODED" -- "$B/kcs-keywriter" --device KW5-0002 read
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.writer, .vin] | join(" ")' <<< "$output")" = "KW5-0002 $VIN" ]
	run emu serial=KW5-0001 serial=KW5-0002 -- "$B/kcs-keywriter" --device KW5-0003 read
	[ "$status" -eq 5 ]
	[[ "$output" == *"no attached key writer has serial KW5-0003"* ]]
	run kw --device 'KW5;rm' read
	[ "$status" -eq 2 ]
}

@test "a dropped reply is recovered by sending the same request again; the writer does not execute it twice" {
	run --separate-stderr emu serial=KW5-0001,slot=blank,fault=drop@key-read -- "$B/kcs-keywriter" read
	[ "$status" -eq 0 ]
	[ "$(jq -r .state <<< "$output")" = blank ]
	[ "$(jq -r '.writers[0] | [.fault_fired, .executed["key read"], .replayed] | join(" ")' "$T/report.json")" = "true 1 1" ]
	# the same request, byte for byte, went out twice
	[ "$(grep '^KW5-0001 > 4b57010.....0011' "$T/capture.txt" | sort -u | wc -l)" -eq 1 ]
	[ "$(grep -c '^KW5-0001 > 4b57010.....0011' "$T/capture.txt")" -eq 2 ]
}

@test "a corrupted reply is refused by its check and asked for again, without a second execution" {
	run --separate-stderr emu "serial=KW5-0001,$CODED,fault=corrupt@key-read" -- "$B/kcs-keywriter" read
	[ "$status" -eq 0 ]
	[ "$(jq -r .vin <<< "$output")" = "$VIN" ]
	[ "$(jq -r '.writers[0] | [.fault_fired, .executed["key read"], .replayed] | join(" ")' "$T/report.json")" = "true 1 1" ]
	# two different replies crossed the wire: the damaged one, then the good one
	[ "$(grep '^KW5-0001 < 4b57010.....0011' "$T/capture.txt" | sort -u | wc -l)" -eq 2 ]
}

@test "a writer silent past the timeout: a clear timeout error; keepalives extend the wait" {
	run emu serial=KW5-0001,slot=blank,fault=delay@key-read,delay=8000 -- "$B/kcs-keywriter" --timeout 1.5 read
	[ "$status" -eq 5 ]
	[[ "$output" == *"the key writer KW5-0001 did not answer key read within 1.5 s"* ]]
	[ "$(executed "key read")" -eq 1 ]
	# long work with keepalives: 2.5 s, past the 1.5 s timeout, and done
	run --separate-stderr emu serial=KW5-0001,slot=blank,busy=2500 -- "$B/kcs-keywriter" --timeout 1.5 read
	[ "$status" -eq 0 ]
	[ "$(jq -r .state <<< "$output")" = blank ]
	[ "$(executed "key read")" -eq 1 ]
	grep -q '^KW5-0001 < 4b570109' "$T/capture.txt" # a keepalive (flags response|keepalive)
	run kw --timeout 0 read
	[ "$status" -eq 2 ]
}

@test "unplugged mid-command: a clear error, and the next try works" {
	run emu serial=KW5-0001,slot=blank,fault=unplug@key-read -- sh -c \
		'"$0" read; echo "first: $?"; "$0" read 2>/dev/null' "$B/kcs-keywriter"
	[ "$status" -eq 0 ]
	[[ "$output" == *"the key writer KW5-0001 was unplugged during key read; plug it in again and run the command again"* ]]
	[[ "$output" == *"first: 5"* ]]
	[ "$(tail -n 1 <<< "$output" | jq -r .state)" = blank ]
}

@test "doctor: the udev rule, the writers, old firmware; each problem with its fix" {
	export KCS_UDEV_RULES_DIRS=$T/rules
	mkdir "$T/rules"
	run --separate-stderr emu serial=KW5-0001 -- "$B/kcs-keywriter" doctor
	[ "$status" -eq 1 ]
	[ "$(jq -sc 'map(select(.check != "ModemManager") | [.check, .ok])' <<< "$output")" = \
	  '[["udev rule",false],["attached",true],["writer at bus 1 address 2",true]]' ]
	[[ "$(jq -sr '.[0].fix' <<< "$output")" == *"udevadm trigger"* ]]
	# the rule make install puts in place
	cp "$TOP/scripts/70-kcs-keywriter.rules" "$T/rules/"
	run --separate-stderr emu serial=KW5-0001 -- "$B/kcs-keywriter" doctor
	[ "$status" -eq 0 ]
	[ "$(jq -s 'map(select(.check != "ModemManager")) | all(.ok)' <<< "$output")" = true ]
	# a rule numbered 73 or above sets uaccess too late
	mv "$T/rules/70-kcs-keywriter.rules" "$T/rules/80-kcs-keywriter.rules"
	run --separate-stderr emu serial=KW5-0001 -- "$B/kcs-keywriter" doctor
	[ "$status" -eq 1 ]
	[[ "$(jq -sr '.[0].detail' <<< "$output")" == *"must start with a number below 73"* ]]
	mv "$T/rules/80-kcs-keywriter.rules" "$T/rules/70-kcs-keywriter.rules"
	# no writer; old firmware
	run --separate-stderr emu -- "$B/kcs-keywriter" doctor
	[ "$status" -eq 1 ]
	[[ "$(jq -sr 'map(select(.check == "attached"))[0].fix' <<< "$output")" == *"lsusb -d 1209:0001"* ]]
	run --separate-stderr emu serial=KW4-0001,firmware=4.0.3 -- "$B/kcs-keywriter" doctor
	[ "$status" -eq 1 ]
	[[ "$(jq -sr '.[3].fix' <<< "$output")" == *"update the writer's firmware"* ]]
}

@test "a writer another program holds: read and doctor say so" {
	# the first read holds the writer while it waits for a slow answer
	run --separate-stderr emu serial=KW5-0001,slot=blank,busy=2000 -- sh -c \
		'"$0" read > "$1" & sleep 1; "$0" read; echo "second: $?"; "$0" doctor; echo "doctor: $?"; wait' \
		"$B/kcs-keywriter" "$T/first.json"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"another program holds the key writer at bus 1 address 2"* ]]
	[[ "$output" == *"second: 1"* ]]
	[ "$(grep '^{' <<< "$output" | jq -sr 'map(select(.check == "writer at bus 1 address 2"))[0] | [.ok, .fix] | join(" ")')" = \
	  "false close the program that uses the writer: another kcs-keywriter, the maker's tool, a virtual machine with USB passed through" ]
	[[ "$output" == *"doctor: 1"* ]]
	[ "$(jq -r .state "$T/first.json")" = blank ]
}
