#!/usr/bin/env bats
# The download area: files signed by kcsd's download key, verified by the
# client against the key it pinned; the rules naming a vehicle's
# activation instructions.

load helper
bats_require_minimum_version 1.5.0

setup() {
	setup_kcsd
	add_operator
	active_locksmith g36d27a9 j@example.com
	add_vehicle "$VIN"
	printf 'Activation, set A: insert the key, press START twice.\n' > "$T/a.txt"
	printf 'Activation, set C: hold the key to the steering column mark.\n' > "$T/c.txt"
}

dl() { "$B/kcs-download" "$@"; }

@test "a file added, listed, fetched and verified; the download key is pinned on first use" {
	run admin download add activation-a --file "$T/a.txt" --title "Activation instructions, set A"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.name, .version, .size] | join(" ")' <<< "$output")" = "activation-a 1 $(wc -c < "$T/a.txt")" ]
	[ "$(jq -r .sha256 <<< "$output")" = "$(sha256sum "$T/a.txt" | cut -c1-64)" ]
	run dl list
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.name, .title, .version] | join("|")' <<< "$output")" = "activation-a|Activation instructions, set A|1" ]
	run --separate-stderr dl get activation-a
	[ "$status" -eq 0 ]
	[ "$output" = "$(cat "$T/a.txt")" ]
	[ -s "$T/state/kcs/download-key" ]
	[ "$(stat -c %a "$T/state/kcs/download-key")" = 600 ]
	run dl get activation-a --output "$T/got.txt"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.verified, .file] | join(" ")' <<< "$output")" = "true $T/got.txt" ]
	cmp "$T/a.txt" "$T/got.txt"
	# replaced: the next version, signed again
	run admin download add activation-a --file "$T/c.txt" --title "Activation instructions, set A"
	[ "$(jq -r .version <<< "$output")" = 2 ]
	[ "$(dl get activation-a)" = "$(cat "$T/c.txt")" ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event IN ('download.added', 'download.replaced')")" = 2 ]
}

@test "a file altered in the store, a bad signature, another key: refused" {
	admin download add activation-a --file "$T/a.txt" --title "Set A" > /dev/null
	dl get activation-a > /dev/null
	# the content changed, its hash not
	if [ "$ENGINE" = pg ]; then
		sql "UPDATE downloads SET content = convert_to('Activation, set A: press STOP.', 'UTF8')"
	else
		sql "UPDATE downloads SET content = CAST('Activation, set A: press STOP.' AS BLOB)"
	fi
	run dl get activation-a
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not match its SHA-256: damaged or altered"* ]]
	# content and hash changed together: the signature does not hold
	admin download add activation-a --file "$T/a.txt" --title "Set A" > /dev/null
	sql "UPDATE downloads SET signature = '$(printf '%0128d' 0)'"
	run dl get activation-a
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not signed by kcsd's download key"* ]]
	# a key other than the pinned one: refused, not trusted
	admin download add activation-a --file "$T/a.txt" --title "Set A" > /dev/null
	printf '%064d\n' 1 > "$T/state/kcs/download-key"
	run dl get activation-a
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not the one pinned"* ]]
	# a configured key wins over the pinned one
	mkdir -p "$T/config/kcs"
	echo "download_key = $(printf '%064d' 2)" >> "$T/config/kcs/config"
	run dl get activation-a
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not signed by kcsd's download key"* ]]
}

@test "activation instructions by model and production date" {
	admin download add activation-a --file "$T/a.txt" --title "Set A" > /dev/null
	admin download add activation-c --file "$T/c.txt" --title "Set C" > /dev/null
	run dl activation "$VIN"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no activation instructions are set for a 328i Sedan built on 2012-03-14"* ]]
	run admin activation add --model '*' --from 1981-01-01 --to 2030-12-31 --download activation-c
	[ "$status" -eq 0 ]
	run admin activation add --model "328i Sedan" --from 2010-01-01 --to 2014-12-31 --download activation-a
	[ "$status" -eq 0 ]
	run dl activation "$VIN"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.vin, .instructions.name, .instructions.title] | join("|")' <<< "$output")" = "$VIN|activation-a|Set A" ]
	add_vehicle "$VIN2"
	sql "UPDATE vehicles SET model = 'X5' WHERE vin = '$VIN2'"
	[ "$(dl activation "$VIN2" | jq -r .instructions.name)" = activation-c ]
	run admin activation list
	[ "$(wc -l <<< "$output")" -eq 2 ]
	# refusals name their field
	run admin activation add --model X --from 2014-12-31 --to 2010-01-01 --download activation-a
	[ "$status" -eq 3 ]
	[[ "$output" == *"to: is before from"* ]]
	run admin activation add --model X --from 2010-01-01 --to 2010-02-30 --download activation-a
	[ "$status" -eq 3 ]
	run admin activation add --model X --from 2010-01-01 --to 2011-01-01 --download nothing-here
	[ "$status" -eq 1 ]
	run admin activation add --model X --from 2010-01-01
	[ "$status" -eq 2 ]
	run dl activation WBA3A5C53CF256986
	[ "$status" -eq 3 ]
}

@test "bad names and contents are refused; only a full session reads the area" {
	run admin download add ../etc --file "$T/a.txt" --title T
	[ "$status" -eq 3 ]
	[[ "$output" == *"name:"* ]]
	run admin download add Upper --file "$T/a.txt" --title T
	[ "$status" -eq 3 ]
	run admin download add ok --file "$T/none" --title T
	[ "$status" -eq 3 ]
	run admin download add ok --file "$T/a.txt"
	[ "$status" -eq 2 ]
	run api POST /v1/admin/downloads -H "Authorization: Bearer $(cat "$T/admin.token")" \
		-H 'Content-Type: application/json' -d '{"name":"x","title":"T","content":"not base64!"}'
	[ "$(tail -n 1 <<< "$output")" = 400 ]
	run dl get ../../etc/passwd
	[ "$status" -eq 3 ]
	run dl get missing
	[ "$status" -eq 1 ]
	run api GET /v1/downloads
	[ "$(tail -n 1 <<< "$output")" = 401 ]
	run api GET /v1/downloads -H "Authorization: Bearer $(cat "$T/operator.token")"
	[ "$(tail -n 1 <<< "$output")" = 401 ]
	run api POST /v1/admin/downloads -H "Authorization: Bearer $(jq -r .token "$T/state/kcs/session")" \
		-H 'Content-Type: application/json' -d '{"name":"x","title":"T","content":"eA=="}'
	[ "$(tail -n 1 <<< "$output")" = 401 ]
}
