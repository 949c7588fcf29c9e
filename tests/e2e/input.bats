#!/usr/bin/env bats
# Input that is not what it seems: NULs, control characters, e-mail
# domains, lengths, types and ranges, on the API and in the clients.

load helper

setup() {
	setup_kcsd
	add_operator
}

op_post() { # PATH BODY
	api POST "$1" -H "Authorization: Bearer $(cat "$T/operator.token")" -H 'Content-Type: application/json' \
		--data-binary "$2"
}
status_of() { tail -n 1 <<< "$output"; }
error_of() { head -n 1 <<< "$output" | jq -r ".error.$1"; }

@test "a \\u0000 in a JSON string is refused, naming the field, and nothing happens" {
	active_locksmith g36d27a9 j@example.com
	tan=$(ticket)
	run op_post /v1/hotline/redeem "{\"tan\":\"$tan\\u0000x\",\"sdrm_id\":\"g36d27a9\"}"
	[ "$(status_of)" = 400 ]
	[ "$(error_of field)" = tan ]
	[[ "$(error_of message)" == *NUL* ]]
	run api POST /v1/admin/operators -H "Authorization: Bearer $(cat "$T/admin.token")" \
		-H 'Content-Type: application/json' --data-binary '{"name":"eve","role":"admin\u0000junk"}'
	[ "$(status_of)" = 400 ]
	[ "$(error_of field)" = role ]
	[ "$(admin operator list | jq -s 'map(select(.name == "eve")) | length')" -eq 0 ]
	klogin logout
	run api POST /v1/login -H 'Content-Type: application/json' \
		--data-binary '{"email":"j@example.com\u0000x","password":"correct horse battery staple","accept_disclaimer":true}'
	[ "$(status_of)" = 400 ]
	[ "$(error_of field)" = email ]
	# the ticket was not redeemed
	run redeem "$tan"
	[ "$status" -eq 0 ]
	# a client refuses it on its standard input too
	run bash -c "printf '%s' '{\"tan\":\"1\\u0000\",\"sdrm_id\":\"g36d27a9\"}' |
		KCS_TOKEN_FILE='$T/operator.token' '$B/kcs-hotline' redeem"
	[ "$status" -eq 3 ]
	[[ "$output" == *"tan: standard input: must not contain a NUL"* ]]
}

@test "a %00 in the path or the query is refused, naming it" {
	add_sdrm sp150
	run api DELETE /v1/admin/sdrm/sp150%00x -H "Authorization: Bearer $(cat "$T/admin.token")"
	[ "$(status_of)" = 400 ]
	[ "$(error_of field)" = path ]
	run add_sdrm sp150
	[ "$status" -eq 1 ] # still in the directory
	run api GET "/v1/hotline/orders?vin=x&state=placed%00x" -H "Authorization: Bearer $(cat "$T/operator.token")"
	[ "$(status_of)" = 400 ]
	[ "$(error_of field)" = state ]
}

@test "control characters (C0, C1, line separators) and bidirectional controls are refused in typed text" {
	add_sdrm g36d27a9
	for bad in 'first_name="Jo\u009b31mern"' 'last_name="a\u0085b"' 'address="1 Main\u2028St"' \
	           'city="Sac\u2029"' 'address="100 Main St\u202e4321"' 'company="\u2066Locks\u2069"' \
	           'comments="x\u007f"'; do
		field=${bad%%=*}
		run hotline register <<< "$(form g36d27a9 j@example.com | jq -c ".$bad")"
		[ "$status" -eq 3 ]
		[[ "$output" == *"$field: must not contain"* ]] || { echo "$bad: $output"; false; }
	done
	[ "$(admin outbox list | jq -s length)" -eq 0 ]
}

@test "e-mail domains follow the DNS label rules; a bad character is shown as itself" {
	add_sdrm g36d27a9
	for bad in 'x@example..com' 'x@-example.com' "x@example.com'--" 'x@example-.com' 'x@example' \
	           'x@.example.com' 'x@example.123' ".x@example.com" "x..y@example.com" \
	           "x@$(printf 'a%.0s' $(seq 64)).com"; do
		run hotline register --email "$bad" <<< "$(form g36d27a9 j@example.com)"
		[ "$status" -eq 3 ] || { echo "$bad accepted"; false; }
		[[ "$output" == *"email: is not a valid e-mail address"* ]]
	done
	run hotline register --email 'jörn@example.com' <<< "$(form g36d27a9 j@example.com)"
	[ "$status" -eq 3 ]
	[[ "$output" == *"character 'ö'"* ]]
	run hotline register --email "o'brien+kcs@sub-1.example.com" <<< "$(form g36d27a9 j@example.com)"
	[ "$status" -eq 0 ]
}

@test "lengths count characters, with a byte bound behind them" {
	add_sdrm g36d27a9
	add_sdrm h11
	cjk=$(printf '张%.0s' $(seq 34))
	run hotline register --last-name "$cjk" <<< "$(form g36d27a9 j@example.com)"
	[ "$status" -eq 0 ]
	[ "$(jq -r .name <<< "$output")" = "Joern $cjk" ]
	long=$(printf '张%.0s' $(seq 101))
	run hotline register --last-name "$long" <<< "$(form h11 k@example.com)"
	[ "$status" -eq 3 ]
	[[ "$output" == *"last_name: is too long (at most 100 characters, it has 101)"* ]]
}

@test "a piped field of the wrong type is refused by the client, naming it" {
	add_sdrm g36d27a9
	run hotline register <<< "$(form g36d27a9 j@example.com | jq -c '.comments = ["a"]')"
	[ "$status" -eq 3 ]
	[[ "$output" == *"comments: must be a string"* ]]
	run hotline register <<< "$(form g36d27a9 j@example.com | jq -c '.company = 5')"
	[ "$status" -eq 3 ]
	[[ "$output" == *"company: must be a string"* ]]
	[ "$(admin outbox list | jq -s length)" -eq 0 ]
	run hotline ship --tracking T <<< '{"order_id":"abc"}'
	[ "$status" -eq 3 ]
	[[ "$output" == *"order_id: must be a positive whole number"* ]]
	run hotline ship --tracking T <<< '{"order_id":1e300}'
	[ "$status" -eq 3 ]
	[[ "$output" == *"order_id: is out of range"* ]]
	run hotline ship 99999999999999999999 --tracking T < /dev/null
	[ "$status" -eq 3 ]
	[[ "$output" == *"order_id: 99999999999999999999 is out of range"* ]]
	run admin operator remove 99999999999999999999
	[ "$status" -eq 3 ]
	[[ "$output" == *"out of range"* ]]
	run bash -c "'$B/kcs-login' forgot <<< '{\"email\": 5}'"
	[ "$status" -eq 3 ]
	[[ "$output" == *"email: must be a string"* ]]
}

@test "numbers out of range on the API say so, naming the field" {
	run op_post /v1/hotline/ship '{"order_id":1e300,"tracking":"T"}'
	[ "$(status_of)" = 400 ]
	[ "$(error_of field)" = order_id ]
	[[ "$(error_of message)" == *"out of range"* ]]
	run op_post /v1/hotline/ship '{"order_id":1.5,"tracking":"T"}'
	[[ "$(error_of message)" == *"whole number"* ]]
	run api DELETE /v1/admin/operators/99999999999999999999 -H "Authorization: Bearer $(cat "$T/admin.token")"
	[ "$(status_of)" = 400 ]
	[[ "$(error_of message)" == *"out of range"* ]]
}

@test "a production date in the future or before 1981 is refused" {
	run admin vehicle add "$VIN" --model 328i --production-date 2099-01-01
	[ "$status" -eq 3 ]
	[[ "$output" == *"production_date: 2099-01-01 is out of range"* ]]
	run admin vehicle add "$VIN" --model 328i --production-date 1975-05-01
	[ "$status" -eq 3 ]
	run admin vehicle add "$VIN" --model 328i --production-date "$(date -u +%F)"
	[ "$status" -eq 0 ]
}

@test "--listen: a port beyond 65535 is refused; a bind error names the port asked for" {
	run "$B/kcsd" -c "$T/kcs.conf" "${STORE[@]}" --listen 127.0.0.1:4294975721
	[ "$status" -eq 2 ]
	[[ "$output" == *"not a port number"* ]]
	port=$(sed 's/.*://' "$T/url")
	run "$B/kcsd" -c "$T/kcs.conf" "${STORE[@]}" --listen "127.0.0.1:$port"
	[ "$status" -eq 5 ]
	[[ "$output" == *"cannot listen on 127.0.0.1:$port: Address already in use"* ]]
}

@test "HEAD is answered as GET without a body, and changes nothing" {
	run curl -sS -I "$KCS_URL/v1/health"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *" 200 "* ]]
	run curl -sS -o "$T/body" -w '%{http_code}' --head "$KCS_URL/v1/admin/operators" \
		-H "Authorization: Bearer $(cat "$T/admin.token")"
	[ "$output" = 200 ]
	add_sdrm g36d27a9
	register g36d27a9 j@example.com > /dev/null
	link=$(verify_link j@example.com)
	run curl -sS -o /dev/null -w '%{http_code}' --head "$link"
	[ "$output" = 200 ]
	# the link was not used by the HEAD
	run curl -sS -o /dev/null -w '%{http_code}' "$link"
	[ "$output" = 200 ]
	[ "$(admin outbox list | jq -s '[.[] | select(.subject | test("temporary"))] | length')" -eq 1 ]
}
