#!/usr/bin/env bats
# The mail room: letters are printed by a role of their own, and by no one else.

load helper

setup() {
	setup_kcsd
	add_operator
	add_sdrm g36d27a9
}

@test "the mail room reads letters and nothing else; a letter's text is gone once it is sent" {
	register g36d27a9 j@example.com > /dev/null
	run mailroom list
	[ "$status" -eq 0 ]
	[ "$(jq -s length <<< "$output")" -eq 1 ]
	[ "$(jq -r .recipient <<< "$output")" = "Joern Wellniak" ]
	[ "$(jq -c 'has("text")' <<< "$output")" = false ]
	id=$(jq -r .id <<< "$output")
	run mailroom print "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Sacramento, CA 95814"* ]]
	code=$(grep -o '[0-9A-Z]\{4\}-[0-9A-Z]\{4\}-[0-9A-Z]\{2\}' <<< "$output" | head -n 1)
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'letter.fetched' AND actor = 'mailroom:mailroom-1'")" -eq 1 ]
	# the administrator and the hotline cannot read it; the mail room can do nothing else
	refute grep -q "$code" <(admin outbox show "$id")
	KCS_TOKEN_FILE=$T/admin.token run "$B/kcs-mailroom" print "$id"
	[ "$status" -eq 4 ]
	KCS_TOKEN_FILE=$T/operator.token run "$B/kcs-mailroom" list
	[ "$status" -eq 4 ]
	KCS_TOKEN_FILE=$T/mailroom.token run "$B/kcs-admin" outbox list < /dev/null
	[ "$status" -eq 4 ]
	KCS_TOKEN_FILE=$T/mailroom.token run "$B/kcs-hotline" orders < /dev/null
	[ "$status" -eq 4 ]
	# not a letter, not a number, not there
	run mailroom print 1
	[ "$status" -eq 1 ]
	run mailroom print 99
	[ "$status" -eq 1 ]
	run mailroom print 1x
	[ "$status" -eq 3 ]
	run mailroom sent 1
	[ "$status" -eq 1 ]
	# posted: its text is destroyed
	run mailroom sent "$id"
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<< "$output")" = sent ]
	[ "$(sql "SELECT length(sealed) FROM outbox WHERE id = $id")" -eq 0 ]
	run mailroom print "$id"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is sent"* ]]
	run mailroom sent "$id"
	[ "$status" -eq 1 ]
	[ -z "$(mailroom list)" ]
	[ "$(sql "SELECT count(*) FROM audit WHERE event = 'letter.sent'")" -eq 1 ]
	# the code the locksmith got by post still works
	curl -fsS "$(verify_link j@example.com)" > /dev/null
	temp_password j@example.com
	first_login g36d27a9 j@example.com > /dev/null
	klogin verify-address "$code" > /dev/null
	[ "$(klogin status | jq -r .status)" = Active ]
	[ -z "$(ls "$T/spool" | grep -v '\.eml$')" ]
}
