#!/usr/bin/env bats
# The KeyPool with kcs-keypool (seed 002): key reads and telematics, the
# latest valid read, settings locked from dealer to location, the source of
# a unit's mileage and fuel, legacy GKI .BIN files.

load helper
bats_require_minimum_version 1.5.0

V3=1M8GDM9AXKP042788

setup() {
	setup_kcsd
	admin dealer add "Munich Motors" --dpn 12345 --outlet 67 > /dev/null
	admin dealer add "Other Motors" --dpn 99999 --outlet 1 > /dev/null
	admin location add Airport --dealer 1 > /dev/null
	admin location add Downtown --dealer 1 > /dev/null
	admin location add Elsewhere --dealer 2 > /dev/null
	token reader desk1 1 reader
	token fleet atms 1 fleet
	token reader2 desk2 2 reader
	token fleet2 atms2 2 fleet
}

token() { # FILE NAME DEALER ROLE
	admin keypool client add "$2" --dealer "$3" --role "$4" | jq -r .token > "$T/$1.token"
}
kp() { # TOKEN ARGS...: kcs-keypool with that token, stdin closed
	local who=$1
	shift
	KCS_TOKEN_FILE=$T/$who.token "$B/kcs-keypool" "$@" < /dev/null
}
kpin() { local who=$1; shift; KCS_TOKEN_FILE=$T/$who.token "$B/kcs-keypool" "$@"; }
ago() { date -u -d "-$1" +%FT%TZ; }
reads() { sql "SELECT count(*) FROM key_reads"; }
# integration on, reads by KAI at location 1
integrate() { kp admin settings set integration=on --dealer 1 > /dev/null; }

@test "push: a key read from the key writer, by options; latest answers it with its age and source" {
	emu "serial=KW5-0001,slot=coded,vin=$VIN,number=3,mileage=23456,fuel=61" -- "$B/kcs-keywriter" read > "$T/key.json"
	run kpin reader push < "$T/key.json"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.status, .source, .vin] | join(" ")' <<< "$output")" = "stored key_reader $VIN" ]
	run kp fleet latest "$VIN"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.valid, .read.mileage, .read.mileage_unit, .read.fuel_percent, .read.key_number, .read.device, .read.source] | join(" ")' <<< "$output")" = \
	  "true 23456 km 61 3 KW5-0001 key_reader" ]
	[ "$(jq -r .age_seconds <<< "$output")" -lt 60 ]
	# by options, in miles, with a battery and service data
	run kp reader push --vin "$V3" --read-at "$(ago '5 min')" --mileage 1000 --mileage-unit mi --battery 80 \
		--key-number 2 --range-km 300 --service "Oil,2027-03-01," --service "Brakes,,12000" --device KR-7
	[ "$status" -eq 0 ]
	run kp fleet latest "$V3"
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.read.mileage, .read.mileage_unit, .read.battery_percent, .read.range_km, .read.service]' <<< "$output")" = \
	  '[1000,"mi",80,300,[{"name":"Oil","due":"2027-03-01"},{"name":"Brakes","remaining_km":12000}]]' ]
	[ "$(jq -r .age_seconds <<< "$output")" -ge 300 ]
	# the time it was received is kcsd's
	[ "$(jq -r '.read.received_at > .read.read_at' <<< "$output")" = true ]
}

@test "latest: a read of 59 minutes is valid, of 61 refused with the seed's message and its age; the validity is configurable" {
	kp reader push --vin "$VIN" --read-at "$(ago '59 min')" --mileage 100 > /dev/null
	kp reader push --vin "$VIN2" --read-at "$(ago '61 min')" --mileage 100 > /dev/null
	run kp fleet latest "$VIN"
	[ "$status" -eq 0 ]
	run kp fleet latest "$VIN2"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Key data was not retrieved or is invalid: the newest key read of $VIN2 is 61 minutes old"* ]]
	line=$(head -1 <<< "$output")
	[ "$(jq -r '[.valid, .reason] | join(" ")' <<< "$line")" = "false stale" ]
	[ "$(jq -r .age_seconds <<< "$line")" -ge 3660 ]
	# no read at all; a VIN that is not valid
	run kp fleet latest "$V3"
	[ "$status" -eq 1 ]
	[ "$(head -1 <<< "$output" | jq -r .reason)" = not_found ]
	run kp fleet latest WBA3A5C53CF25698X
	[ "$status" -eq 1 ]
	[ "$(head -1 <<< "$output" | jq -r .reason)" = vin_invalid ]
	[[ "$output" == *"Key data was not retrieved or is invalid: check digit"* ]]
	# over HTTP, the same answer
	run api GET "/v1/keypool/latest?vin=$VIN2" -H "Authorization: Bearer $(cat "$T/fleet.token")"
	[ "$(tail -1 <<< "$output")" = 404 ]
	[ "$(head -1 <<< "$output" | jq -r '[.error.code, .error.reason] | join(" ")')" = "key_data_invalid stale" ]
	# two minutes of validity: the read of 59 minutes is too old now
	reconfigure "keypool_validity = 120"
	run kp fleet latest "$VIN"
	[ "$status" -eq 1 ]
	[[ "$output" == *"only reads younger than 2 minutes are valid"* ]]
}

@test "push: every field checked, a read from the future or beyond the retention refused, a duplicate stored once; nothing changes on bad input" {
	at=$(ago '10 min')
	run kp reader push --vin "$VIN" --read-at "$at" --mileage 500 --fuel 40
	[ "$(jq -r .status <<< "$output")" = stored ]
	id=$(jq -r .id <<< "$output")
	run kp reader push --vin "$VIN" --read-at "$at" --mileage 500 --fuel 40
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.status, .id] | join(" ")' <<< "$output")" = "duplicate $id" ]
	[ "$(reads)" = 1 ]
	run kp reader push --vin "$VIN" --read-at "$(date -u -d '+10 min' +%FT%TZ)" --mileage 1
	[ "$status" -eq 3 ]
	[[ "$output" == *"minutes in the future: the reader's clock is wrong"* ]]
	run kp reader push --vin "$VIN" --read-at "$(ago '8 days')" --mileage 1
	[ "$status" -eq 3 ]
	[[ "$output" == *"read_at: is 8 days ago: the KeyPool keeps reads for 7 days"* ]]
	bad() { # FIELD JSON
		run kpin reader push <<< "$2"
		[ "$status" -eq 3 ] || { echo "$2: $output"; return 1; }
		[[ "$output" == *"kcs-keypool: $1: "* ]] || { echo "$2: $output"; return 1; }
	}
	now=$(ago '1 min')
	bad vin '{"vin":"WBA3A5C53CF25698X","mileage":1}'
	bad mileage "{\"vin\":\"$VIN\",\"read_at\":\"$now\",\"mileage\":-1}"
	bad mileage "{\"vin\":\"$VIN\",\"read_at\":\"$now\",\"mileage\":2000001}"
	bad mileage_unit "{\"vin\":\"$VIN\",\"read_at\":\"$now\",\"mileage\":1,\"mileage_unit\":\"furlong\"}"
	bad fuel_percent "{\"vin\":\"$VIN\",\"read_at\":\"$now\",\"mileage\":1,\"fuel_percent\":101}"
	bad battery_percent "{\"vin\":\"$VIN\",\"read_at\":\"$now\",\"mileage\":1,\"fuel_percent\":1,\"battery_percent\":1}"
	bad key_number "{\"vin\":\"$VIN\",\"read_at\":\"$now\",\"mileage\":1,\"key_number\":11}"
	bad read_at "{\"vin\":\"$VIN\",\"read_at\":\"2026-02-30T10:00:00Z\",\"mileage\":1}"
	bad read_at "{\"vin\":\"$VIN\",\"read_at\":\"yesterday\",\"mileage\":1}"
	bad 'service[0].due' "{\"vin\":\"$VIN\",\"read_at\":\"$now\",\"mileage\":1,\"service\":[{\"name\":\"Oil\",\"due\":\"2027-13-01\"}]}"
	bad service "{\"vin\":\"$VIN\",\"read_at\":\"$now\",\"mileage\":1,\"service\":[{\"name\":\"Oil\"}]}"
	bad device "{\"vin\":\"$VIN\",\"read_at\":\"$now\",\"mileage\":1,\"device\":\"a b\"}"
	bad color "{\"vin\":\"$VIN\",\"read_at\":\"$now\",\"mileage\":1,\"color\":\"red\"}"
	bad present '{"present":false}'
	bad state '{"present":true,"state":"blank","chip":"ID46","key_id":"0a0b0c0d"}'
	[ "$(reads)" = 1 ]
	# a key reader posts key reads, a fleet system telematics
	run kpin reader push <<< "{\"vin\":\"$VIN\",\"read_at\":\"$now\",\"mileage\":1,\"source\":\"telematics\"}"
	[ "$status" -eq 4 ]
	run kp fleet push --vin "$VIN" --mileage 600 --fuel 30
	[ "$(jq -r .source <<< "$output")" = telematics ]
	[ "$(reads)" = 2 ]
}

@test "purge: reads older than the retention go, fresh ones stay; audited" {
	kp reader push --vin "$VIN" --read-at "$(ago '3 min')" --mileage 1 > /dev/null
	kp reader push --vin "$VIN2" --read-at "$(ago '10 sec')" --mileage 1 > /dev/null
	run admin keypool purge
	[ "$(jq -r .purged <<< "$output")" = 0 ]
	reconfigure "keypool_retention = 120"
	run admin keypool purge
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.purged, .retention_seconds] | join(" ")' <<< "$output")" = "1 120" ]
	[ "$(sql "SELECT vin FROM key_reads")" = "$VIN2" ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'keypool.purged'")" = 2 ]
	run kp fleet keypool purge
	[ "$status" -eq 2 ]
	run env KCS_TOKEN_FILE="$T/fleet.token" "$B/kcs-admin" keypool purge
	[ "$status" -eq 4 ]
}

@test "least privilege: a reader posts for its own dealer only, a fleet system reads and records its own dealer's, a revoked token is refused" {
	now=$(ago '1 min')
	run kpin reader push <<< "{\"vin\":\"$VIN\",\"read_at\":\"$now\",\"mileage\":1,\"distribution_product_number\":\"99999\",\"outlet_number\":\"1\"}"
	[ "$status" -eq 4 ]
	[[ "$output" == *"reader:desk1 may only post reads for its own dealer (12345/67)"* ]]
	[ "$(reads)" = 0 ]
	kp reader2 push --vin "$VIN" --mileage 100 > /dev/null
	# another dealer's read is not this dealer's fleet's to see
	run kp fleet latest "$VIN"
	[ "$status" -eq 1 ]
	[ "$(head -1 <<< "$output" | jq -r .reason)" = not_found ]
	run kp fleet2 latest "$VIN"
	[ "$status" -eq 0 ]
	# roles
	run kp reader latest "$VIN"
	[ "$status" -eq 4 ]
	gki "{\"dpn\":\"12345\",\"outlet\":\"67\",\"records\":[$(gki_records 1)]}" "$T/one.bin"
	run kp fleet import "$T/one.bin"
	[ "$status" -eq 4 ]
	run kp admin push --vin "$VIN" --mileage 1
	[ "$status" -eq 4 ]
	# units: another dealer's location, another dealer's unit
	kp fleet settings set allow_add_manually=on --location 1 > /dev/null
	run kp fleet unit add U1 --vin "$VIN" --location 3 --mileage 10
	[ "$status" -eq 4 ]
	[[ "$output" == *"location 3 is not one of your dealer's"* ]]
	kp fleet unit add U1 --vin "$VIN" --location 1 --mileage 10 > /dev/null
	run kp fleet2 unit show U1
	[ "$status" -eq 1 ]
	[[ "$output" == *"your dealer has no unit U1"* ]]
	run kp fleet2 unit remove U1
	[ "$status" -eq 1 ]
	run kp fleet2 settings show --location 1
	[ "$status" -eq 4 ]
	run kp fleet2 resolve "$VIN" --location 1
	[ "$status" -eq 4 ]
	# revoked
	id=$(admin dealer list | jq -r 'select(.id == 1) | .clients[] | select(.name == "desk1") | .id')
	admin keypool client revoke "$id" > /dev/null
	run kp reader push --vin "$VIN" --mileage 1
	[ "$status" -eq 4 ]
	[[ "$output" == *"the token is not valid"* ]]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'keypool.client_revoked'")" = 1 ]
}

# gki SPEC-JSON OUT: a GKI file
gki() { python3 "$TOP/tests/gki.py" "$2" <<< "$1"; }
gki_records() { # N: N good records of VIN and VIN2, read minutes ago
	local now recs=() i
	now=$(date +%s)
	for i in $(seq "$1"); do
		recs+=("{\"vin\":\"$([ $((i % 2)) = 1 ] && echo "$VIN" || echo "$VIN2")\",\"key\":1,\"read_at\":$((now - 600 + i)),\"mileage\":$((1000 + i)),\"energy_kind\":1,\"energy\":50,\"device\":\"GKI-1\",\"service\":[{\"name\":\"Oil\",\"due_day\":21000,\"remaining\":9000}]}")
	done
	local IFS=,
	echo "${recs[*]}"
}

@test "import: a GKI file's records stored, one line each, duplicates once; a damaged record refused by offset, the others stored" {
	gki "{\"dpn\":\"12345\",\"outlet\":\"67\",\"records\":[$(gki_records 3)]}" "$T/good.bin"
	run kp reader import "$T/good.bin"
	[ "$status" -eq 0 ]
	[ "$(head -3 <<< "$output" | jq -r '[.record, .offset, .status] | join(" ")' | tr '\n' '|')" = "1 48 stored|2 148 stored|3 248 stored|" ]
	[ "$(tail -1 <<< "$output" | jq -r '[.records, .stored, .duplicates, .refused] | join(" ")')" = "3 3 0 0" ]
	[ "$(sql "SELECT count(*) FROM key_reads WHERE source = 'gki_import' AND raw_sha256 IS NOT NULL AND device = 'GKI-1'")" = 3 ]
	run kp reader import "$T/good.bin"
	[ "$(tail -1 <<< "$output" | jq -r '[.stored, .duplicates] | join(" ")')" = "0 3" ]
	[ "$(reads)" = 3 ]
	# a record with a bad CRC-32C: refused by its offset; the rest stored
	recs=$(gki_records 4 | sed 's/"mileage":1001/"mileage":1001,"bad_crc":true/')
	gki "{\"dpn\":\"12345\",\"outlet\":\"67\",\"records\":[$recs]}" "$T/bad.bin"
	sql "DELETE FROM key_reads"
	run kp reader import "$T/bad.bin"
	[ "$status" -eq 1 ]
	[[ "$(head -1 <<< "$output")" == *'"record":1,"offset":48,"status":"refused","field":"file","message":"offset 144: the record'"'"'s CRC-32C does not match'* ]]
	[ "$(grep -c '"status":"stored"' <<< "$output")" = 3 ]
	[[ "$output" == *"1 of 4 records were refused"* ]]
	[ "$(reads)" = 3 ]
	# with the GKI provider, these are the key reads
	kp admin settings set integration=on --dealer 1 > /dev/null
	kp admin settings set provider=gki --dealer 1 > /dev/null
	run kp fleet resolve "$VIN" --location 1
	[ "$(jq -r '[.source, .mileage] | join(" ")' <<< "$output")" = "gki_import 1003" ]
}

@test "import: truncated, oversized, bad-checksum, wrong-version and another dealer's files refused whole, naming the offset" {
	gki "{\"dpn\":\"12345\",\"outlet\":\"67\",\"records\":[$(gki_records 2)]}" "$T/good.bin"
	refused() { # FILE MESSAGE [STATUS]
		run kp reader import "$1"
		[ "$status" -eq "${3:-3}" ] || { echo "$output"; return 1; }
		[[ "$output" == *"$2"* ]] || { echo "$output"; return 1; }
		[ "$(reads)" = 0 ]
	}
	head -c 200 "$T/good.bin" > "$T/truncated.bin"
	refused "$T/truncated.bin" "offset 148: truncated: record 2 needs 100 bytes, 52 remain"
	head -c 20 "$T/good.bin" > "$T/short.bin"
	refused "$T/short.bin" "offset 20: truncated: the header needs 48 bytes"
	{ cat "$T/good.bin"; printf 'extra'; } > "$T/oversized.bin"
	refused "$T/oversized.bin" "offset 248: oversized: 5 bytes after the last of 2 records"
	cp "$T/good.bin" "$T/crc.bin"
	printf 'X' | dd of="$T/crc.bin" bs=1 seek=20 conv=notrunc 2> /dev/null
	refused "$T/crc.bin" "offset 44: the header's CRC-32C does not match"
	gki "{\"dpn\":\"12345\",\"outlet\":\"67\",\"version\":2,\"records\":[$(gki_records 1)]}" "$T/v2.bin"
	refused "$T/v2.bin" "offset 4: version 2 is not supported (this kcs reads version 1)"
	printf 'PK\003\004 not a key read file at all, not at all.......' > "$T/zip.bin"
	refused "$T/zip.bin" "offset 0: not a GKI key-read file"
	gki "{\"dpn\":\"99999\",\"outlet\":\"1\",\"records\":[$(gki_records 1)]}" "$T/other.bin"
	refused "$T/other.bin" "may only post reads for its own dealer" 4
	# a header that claims more records than a file may hold
	gki "{\"dpn\":\"12345\",\"outlet\":\"67\",\"count\":100001,\"records\":[$(gki_records 1)]}" "$T/huge.bin"
	refused "$T/huge.bin" "offset 12: oversized: 100001 records"
}

@test "settings: a value locked at the dealer level cannot be changed at a location; every answer says where a value comes from and who locked it" {
	run kp fleet settings show --location 1
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.settings.integration.value, .settings.integration.from, .settings.outlet_number.value, .settings.outlet_number.from]' <<< "$output")" = \
	  '["off","default","67","dealer registration"]' ]
	kp fleet settings set prioritize_key_reader=off --location 1 > /dev/null
	run kp admin settings set integration=on --dealer 1 --lock
	[ "$(jq -c '.settings.integration | [.value, .from, .locked, .locked_by]' <<< "$output")" = '["on","dealer",true,"admin:admin-1"]' ]
	run kp fleet settings set integration=off --location 2
	[ "$status" -eq 1 ]
	[[ "$output" == *"integration is locked at the dealer level (by admin:admin-1, "* ]]
	run kp fleet settings reset integration --location 2
	[ "$status" -eq 1 ]
	run kp fleet settings show --location 2
	[ "$(jq -c '.settings.integration | [.value, .from, .locked, .locked_by]' <<< "$output")" = '["on","dealer",true,"admin:admin-1"]' ]
	[ "$(jq -c '.settings.prioritize_key_reader | [.value, .from]' <<< "$output")" = '["on","default"]' ]
	run kp fleet settings show --location 1
	[ "$(jq -c '.settings.prioritize_key_reader | [.value, .from, .set_by]' <<< "$output")" = '["off","location","fleet:atms"]' ]
	# a fleet system sets its locations, not the dealer level, and locks nothing
	run kp fleet settings set provider=gki
	[ "$status" -eq 4 ]
	run kp fleet settings set provider=gki --location 1 --lock
	[ "$status" -eq 3 ]
	# unlocked, the location decides again
	kp admin settings set integration=on --dealer 1 --unlock > /dev/null
	run kp fleet settings set integration=off --location 2
	[ "$(jq -c '.settings.integration | [.value, .from]' <<< "$output")" = '["off","location"]' ]
	kp fleet settings reset integration --location 2 > /dev/null
	[ "$(kp fleet settings show --location 2 | jq -r .settings.integration.from)" = dealer ]
	# bad names and values change nothing
	run kp fleet settings set colour=red --location 1
	[ "$status" -eq 3 ]
	run kp fleet settings set integration=maybe --location 1
	[ "$status" -eq 3 ]
	run kp fleet settings set outlet_number=12a --location 1
	[ "$status" -eq 3 ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'keypool.setting'")" = 5 ]
}

@test "resolve: the key read when prioritized and valid, else telematics, else the other, else by hand; the answer says why" {
	integrate
	kp reader push --vin "$VIN" --mileage 1000 --fuel 50 > /dev/null
	kp fleet push --vin "$VIN" --mileage 990 --fuel 45 --read-at "$(ago '2 min')" > /dev/null
	run kp fleet resolve "$VIN" --location 1
	[ "$(jq -r '[.source, .mileage, .fuel_percent, .sources.key_reader.used, .sources.telematics.reason] | join(" ")' <<< "$output")" = \
	  "key_reader 1000 50 true not_needed" ]
	# not prioritized: telematics first
	kp fleet settings set prioritize_key_reader=off --location 1 > /dev/null
	run kp fleet resolve "$VIN" --location 1
	[ "$(jq -r '[.source, .mileage] | join(" ")' <<< "$output")" = "telematics 990" ]
	kp fleet settings reset prioritize_key_reader --location 1 > /dev/null
	# the key read too old: telematics, saying why
	kp reader push --vin "$VIN2" --mileage 2000 --fuel 20 --read-at "$(ago '2 hours')" > /dev/null
	kp fleet push --vin "$VIN2" --mileage 2100 --fuel 25 > /dev/null
	run kp fleet resolve "$VIN2" --location 1
	[ "$(jq -r '[.source, .mileage, .sources.key_reader.reason] | join(" ")' <<< "$output")" = "telematics 2100 stale" ]
	[[ "$(jq -r .sources.telematics.why <<< "$output")" == *"in place of the key read (stale)"* ]]
	# not prioritized and telematics too old: the key read, the other source
	kp fleet settings set prioritize_key_reader=off --location 1 > /dev/null
	kp reader push --vin "$V3" --mileage 3000 --fuel 30 > /dev/null
	kp fleet push --vin "$V3" --mileage 2900 --fuel 35 --read-at "$(ago '3 hours')" > /dev/null
	run kp fleet resolve "$V3" --location 1
	[ "$(jq -r '[.source, .mileage, .sources.telematics.reason] | join(" ")' <<< "$output")" = "key_reader 3000 stale" ]
	# integration off at a location: telematics only
	kp fleet settings set integration=off --location 2 > /dev/null
	run kp fleet resolve "$V3" --location 2
	[ "$status" -eq 1 ]
	[ "$(head -1 <<< "$output" | jq -r '[.reason, .sources.key_reader.reason] | join(" ")')" = "stale off" ]
	# neither source: by hand, in a unit's event
	kp fleet settings set allow_add_manually=on --location 1 > /dev/null
	run kp fleet unit add U9 --vin WBA3A5C57CF256987 --location 1
	[ "$status" -eq 1 ]
	[[ "$output" == *"Key data was not retrieved or is invalid: no "* ]]
	[ "$(sql "SELECT count(*) FROM fleet_units")" = 0 ]
	run kp fleet unit add U9 --vin WBA3A5C57CF256987 --location 1 --mileage 77 --fuel 12
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.event.source, .event.mileage, .event.fuel_percent, .event.sources.manual.used] | join(" ")' <<< "$output")" = "manual 77 12 true" ]
}

@test "unit add by key reader: refused without allow_add_manually or integration; with them, the key read only" {
	kp reader push --vin "$VIN" --mileage 1234 --fuel 66 > /dev/null
	kp fleet push --vin "$VIN" --mileage 1230 --fuel 60 --read-at "$(ago '2 min')" > /dev/null
	run kp fleet unit add U1 --vin "$VIN" --location 1 --key-reader
	[ "$status" -eq 1 ]
	[[ "$output" == *"integration: key-reader integration is off at location 1"* ]]
	integrate
	run kp fleet unit add U1 --vin "$VIN" --location 1 --key-reader
	[ "$status" -eq 1 ]
	[[ "$output" == *"allow_add_manually: adding a unit by key reader needs allow_add_manually"* ]]
	[ "$(sql "SELECT count(*) FROM fleet_units")" = 0 ]
	# without the setting, a unit added otherwise takes telematics
	run kp fleet unit add U1 --vin "$VIN" --location 1
	[ "$(jq -r '[.event.source, .event.sources.key_reader.reason] | join(" ")' <<< "$output")" = "telematics setting_off" ]
	kp fleet settings set allow_add_manually=on --location 1 > /dev/null
	run kp fleet unit add U2 --vin "$VIN" --location 1 --key-reader
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.unit.status, .event.source, .event.mileage, .event.fuel_percent] | join(" ")' <<< "$output")" = "available key_reader 1234 66" ]
	# by key reader with no valid read: nothing added
	run kp fleet unit add U3 --vin "$VIN2" --location 1 --key-reader --mileage 5
	[ "$status" -eq 1 ]
	[ "$(sql "SELECT count(*) FROM fleet_units")" = 2 ]
}

@test "unit flows: add, edit, remove, return, assign, close-pending, close each record their source; a wrong state or agreement is refused" {
	integrate
	kp fleet settings set allow_add_manually=on --location 1 > /dev/null
	kp reader push --vin "$VIN" --mileage 100 --fuel 90 > /dev/null
	flow() { # EXPECTED-SOURCE ARGS...
		local want=$1
		shift
		run kp fleet unit "$@"
		[ "$status" -eq 0 ] || { echo "$output"; return 1; }
		[ "$(jq -r .event.source <<< "$output")" = "$want" ] || { echo "$output"; return 1; }
	}
	flow key_reader add U1 --vin "$VIN" --location 1
	flow key_reader edit U1 --location 2
	[ "$(jq -r .unit.location <<< "$output")" = Downtown ]
	kp fleet settings set integration=off --location 2 > /dev/null
	flow manual remove U1 --mileage 120 --fuel 80
	run kp fleet unit assign U1 --agreement A-1 --mileage 120
	[ "$status" -eq 1 ]
	[[ "$output" == *"unit U1 is removed: assign needs a unit that is available"* ]]
	kp fleet push --vin "$VIN" --mileage 130 --fuel 70 > /dev/null
	flow telematics return U1
	flow telematics assign U1 --agreement A-1
	run kp fleet unit close U1 --agreement A-2
	[ "$status" -eq 1 ]
	[[ "$output" == *"unit U1 is on agreement A-1, not A-2"* ]]
	flow telematics close-pending U1 --agreement A-1
	[ "$(jq -r '[.unit.status, .unit.agreement] | join(" ")' <<< "$output")" = "close_pending A-1" ]
	flow telematics close U1 --agreement A-1
	[ "$(jq -r '[.unit.status, .unit.agreement] | join(" ")' <<< "$output")" = "available " ]
	run kp fleet unit show U1
	[ "$(jq -r '[.events[] | "\(.event):\(.source)"] | join(" ")' <<< "$output")" = \
	  "add:key_reader edit:key_reader remove:manual return:telematics assign:telematics close_pending:telematics close:telematics" ]
	[ "$(jq -r '.events[3].resolution.telematics.used' <<< "$output")" = true ]
	# bad input changes nothing
	run kp fleet unit add U1 --vin "$VIN" --location 1
	[ "$status" -eq 1 ]
	run kp fleet unit add 'U 2' --vin "$VIN" --location 1
	[ "$status" -eq 3 ]
	run kp fleet unit add U2 --vin WBA3A5C53CF25698X --location 1
	[ "$status" -eq 3 ]
	run kp fleet unit edit U1 --mileage 5 --fuel 101
	[ "$status" -eq 3 ]
	run kp fleet unit edit U1 --fuel 50
	[ "$status" -eq 3 ]
	[ "$(sql "SELECT count(*) FROM unit_events")" = 7 ]
}

@test "mileage plausibility: a read or an event lower than an earlier mileage of the VIN is flagged, and such a read is not valid" {
	integrate
	kp fleet settings set allow_add_manually=on --location 1 > /dev/null
	kp reader push --vin "$VIN" --mileage 50000 --read-at "$(ago '30 min')" > /dev/null
	# the same distance in miles is no rollback
	run kp reader push --vin "$VIN" --mileage 31069 --mileage-unit mi --read-at "$(ago '20 min')"
	[ "$(jq -r .flag <<< "$output")" = null ]
	run kp reader push --vin "$VIN" --mileage 12000
	[ "$(jq -r .flag <<< "$output")" = mileage_rollback ]
	[[ "$(jq -r .warning <<< "$output")" == *"the mileage (12000 km) is lower than the 50001 km recorded for this VIN"* ]]
	run kp fleet latest "$VIN"
	[ "$status" -eq 1 ]
	[ "$(head -1 <<< "$output" | jq -r .reason)" = invalid ]
	[[ "$output" == *"a rolled-back odometer or a wrong VIN"* ]]
	# an event entered by hand lower than the reads: flagged
	sql "DELETE FROM key_reads WHERE mileage = 12000"
	run kp fleet unit add U1 --vin "$VIN" --location 1
	[ "$(jq -r '[.event.source, .event.flag] | join(" ")' <<< "$output")" = "key_reader " ]
	kp fleet settings set integration=off --location 2 > /dev/null
	run kp fleet unit edit U1 --location 2 --mileage 40000
	[ "$(jq -r '[.event.source, .event.flag] | join(" ")' <<< "$output")" = "manual mileage_rollback" ]
	[ "$(kp fleet unit show U1 | jq -r '.events[1].flag')" = mileage_rollback ]
}
