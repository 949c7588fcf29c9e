#!/usr/bin/env bats
# Recovering an account: a password change or reset ends what an intruder
# holds; the hotline resends or corrects a verification link; an
# administrator closes an account and frees its SDRM ID.

load helper

setup() {
	setup_kcsd
	add_operator
}

@test "a password reset cancels the account's live ticket and open calls, audited" {
	active_locksmith g36d27a9 j@example.com
	# an intruder's ticket and a call the hotline has open on another
	tan=$(ticket)
	add_vehicle "$VIN"
	c=$(call)
	tan=$(ticket)
	klogin forgot --email j@example.com > /dev/null
	code=$(reset_code j@example.com)
	printf 'a brand new password' > "$T/reset.pw"
	klogin reset --email j@example.com --code "$code" --new-password-file "$T/reset.pw" > /dev/null
	run redeem "$tan"
	[ "$status" -eq 1 ]
	run order_key "$c"
	[ "$status" -eq 1 ]
	[[ "$output" == *"call_id: the call was cancelled"* ]]
	run admin audit verify
	[ "$status" -eq 0 ]
}

@test "a password change cancels the account's live ticket too" {
	active_locksmith g36d27a9 j@example.com
	tan=$(ticket)
	printf 'yet another password' > "$T/next.pw"
	klogin password --password-file "$T/new.pw" --new-password-file "$T/next.pw" > /dev/null
	run redeem "$tan"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no live ticket"* ]]
	# a ticket asked for after the change is good
	run redeem "$(ticket)"
	[ "$status" -eq 0 ]
}

@test "an expired verification link: the hotline sends a new one; the old one stays void" {
	reconfigure "email_link_lifetime = 1"
	add_sdrm g36d27a9
	register g36d27a9 j@example.com > /dev/null
	old=$(verify_link j@example.com)
	sleep 1.2
	reconfigure "email_link_lifetime = 600"
	run hotline resend-link --sdrm-id g36d27a9 < /dev/null
	[ "$status" -eq 0 ]
	[ "$(jq -r .email_verified <<< "$output")" = false ]
	new=$(verify_link j@example.com)
	[ "$new" != "$old" ]
	run curl -sS -o /dev/null -w '%{http_code}' "$old"
	[ "$output" = 410 ]
	run curl -sS -o /dev/null -w '%{http_code}' "$new"
	[ "$output" = 200 ]
	run hotline resend-link --sdrm-id g36d27a9 < /dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"verified already"* ]]
	run hotline resend-link --sdrm-id nosuch < /dev/null
	[ "$status" -eq 1 ]
}

@test "a mistyped e-mail address is corrected before verification; the old link stops working" {
	add_sdrm g36d27a9
	add_sdrm h11
	register g36d27a9 j@exmaple.com > /dev/null
	register h11 other@example.com > /dev/null
	old=$(verify_link j@exmaple.com)
	run hotline correct-email --sdrm-id g36d27a9 --email other@example.com < /dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"email: other@example.com has an account already"* ]]
	run hotline correct-email --sdrm-id g36d27a9 --email 'not an address' < /dev/null
	[ "$status" -eq 3 ]
	run hotline correct-email --sdrm-id g36d27a9 --email J@Example.com < /dev/null
	[ "$status" -eq 0 ]
	[ "$(jq -r .email <<< "$output")" = j@example.com ]
	run curl -sS -o /dev/null -w '%{http_code}' "$old"
	[ "$output" = 410 ]
	curl -fsS "$(verify_link j@example.com)" > /dev/null
	temp_password j@example.com
	first_login g36d27a9 j@example.com > /dev/null
	# once verified, the address is the login: not for the hotline to change
	run hotline correct-email --sdrm-id g36d27a9 --email k@example.com < /dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"verified already"* ]]
	[ "$(admin outbox list | jq -s '[.[] | select(.recipient == "k@example.com")] | length')" -eq 0 ]
}

@test "an administrator closes an account: it ends, and its SDRM ID can register again" {
	active_locksmith g36d27a9 j@example.com
	tan=$(ticket)
	KCS_TOKEN_FILE=$T/operator.token run "$B/kcs-admin" account close g36d27a9 < /dev/null
	[ "$status" -eq 4 ]
	run admin account close g36d27a9
	[ "$status" -eq 0 ]
	[ "$(jq -r .closed <<< "$output")" = true ]
	run klogin status
	[ "$status" -eq 4 ]
	run login g36d27a9 j@example.com
	[ "$status" -eq 4 ]
	run redeem "$tan"
	[ "$status" -eq 1 ]
	run admin account close g36d27a9
	[ "$status" -eq 1 ]
	run admin account close 'a b'
	[ "$status" -eq 3 ]
	# the SDRM ID and the address are free again
	run register g36d27a9 j@example.com
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<< "$output")" = Inactive ]
	run admin audit verify
	[ "$status" -eq 0 ]
}
