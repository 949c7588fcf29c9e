#!/usr/bin/env bats
# The cut-code mapping table: fetched from the download area and verified,
# every rule of the table checked, and cut codes decoded offline.

load helper
bats_require_minimum_version 1.5.0

setup() {
	setup_kcsd
	add_operator
	active_locksmith g36d27a9 j@example.com
	TABLE=$TOP/share/cut-table-synthetic.json
}

upload() { # FILE
	admin download add cut-table --file "$1" --title "Cut code mapping table" > /dev/null
}

@test "the synthetic table: fetched, verified, kept; decode agrees with it over many codes, offline" {
	upload "$TABLE"
	run --separate-stderr "$B/kcs-cut" table
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.name, .version, .series, .codes, .synthetic] | join(" ")' <<< "$output")" = "cut-table 1 1 1000 true" ]
	[ "$(jq -r .sha256 <<< "$output")" = "$(sha256sum "$TABLE" | cut -c1-64)" ]
	[ -s "$T/data/kcs/cut-table.json" ]
	stop_kcsd # decoding is offline
	for n in $(seq 0 7 999); do
		code=$(printf 'KS000%05d' "$n")
		want=$(jq -r --arg c "$(printf '%05d' "$n")" '.series[0].codes[$c]' "$TABLE")
		got=$("$B/kcs-cut" decode "$code")
		[ "$(jq -r '.tracks | map(.depths | map(tostring) | join("")) | join("-")' <<< "$got")" = "$want" ] ||
			{ echo "$code: $got, want $want"; return 1; }
		[ "$(jq -r .bitting <<< "$got")" = "$want" ]
	done
	run "$B/kcs-cut" decode KS00000042
	[ "$(jq -r '[.series, .blank, .synthetic, (.tracks | length), (.tracks[0].depths | length), .table.version, .table.sha256 == "'"$(sha256sum "$TABLE" | cut -c1-64)"'"] | join(" ")' <<< "$output")" = \
	  "KS SYNTH-2T true 2 5 1 true" ]
	run "$B/kcs-cut" decode KS00001500
	[ "$status" -eq 1 ]
	[[ "$output" == *"series KS has no code 01500"* ]]
	run "$B/kcs-cut" decode AB00000001
	[ "$status" -eq 1 ]
	[[ "$output" == *"the table has no series AB"* ]]
	run "$B/kcs-cut" decode KS0001234
	[ "$status" -eq 3 ]
	run "$B/kcs-cut" decode ks00000042
	[ "$status" -eq 3 ]
}

@test "a table breaking a rule is refused, and the kept table stays" {
	upload "$TABLE"
	"$B/kcs-cut" table > /dev/null
	while IFS='|' read -r edit why; do
		jq -c "$edit" "$TABLE" > "$T/bad.json"
		upload "$T/bad.json"
		run "$B/kcs-cut" table
		[ "$status" -eq 1 ] || { echo "$edit: $output"; return 1; }
		[[ "$output" == *"the table is refused: $why"* ]] || { echo "$edit: $output"; return 1; }
	done <<-'EDITS'
	.series[0].codes["00003"] = "1234-12341"|series KS code 00003: track 1 has 4 cuts, not 5
	.series[0].codes["00003"] = "52113-12341"|series KS code 00003: depth '5' is out of the range 1 to 4
	.series[0].codes["00003"] = "14111-12341"|series KS code 00003: adjacent cuts 1 and 4 differ by more than 2
	.series[0].codes["00003"] = "12321-12321-12321"|series KS code 00003: 3 tracks, not 2
	.series[0].positions = 13|series KS: positions must be a whole number from 1 to 12
	.format_version = 2|table format 2: this kcs reads format 1
	.series[1] = .series[0]|series KS is in the table twice
	.series[0].codes["3"] = "12341-12341"|series KS: code 3 is not five digits with a bitting
	EDITS
	# the table kept before still answers
	[ "$("$B/kcs-cut" decode KS00000003 | jq -r .bitting)" = "$(jq -r '.series[0].codes["00003"]' "$TABLE")" ]
}

@test "a kept table altered, or signed by another key, is refused" {
	upload "$TABLE"
	"$B/kcs-cut" table > /dev/null
	kept=$T/data/kcs/cut-table.json
	cp "$kept" "$T/good.json"
	# another bitting, its hash recomputed: the signature does not hold
	content=$(jq -r .content "$kept" | base64 -d | jq -c '.series[0].codes["00042"] = "11111-11111"' | base64 -w0)
	sha=$(printf '%s' "$content" | base64 -d | sha256sum | cut -c1-64)
	jq --arg c "$content" --arg s "$sha" '.content = $c | .sha256 = $s' "$T/good.json" > "$kept"
	run "$B/kcs-cut" decode KS00000042
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not signed by kcsd's download key"* ]]
	# the content changed, not its hash
	jq --arg c "$content" '.content = $c' "$T/good.json" > "$kept"
	run "$B/kcs-cut" decode KS00000042
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not match its SHA-256"* ]]
	cp "$T/good.json" "$kept"
	run "$B/kcs-cut" decode KS00000042
	[ "$status" -eq 0 ]
	rm "$kept"
	run "$B/kcs-cut" decode KS00000042
	[ "$status" -eq 1 ]
	[[ "$output" == *"run kcs-cut table first"* ]]
}
