#!/usr/bin/env bats
# The locksmith account: registration to Active, and the login's bad paths.

load helper

setup() {
	setup_kcsd
	add_operator
}

@test "the whole flow: registration, e-mail link, first login, address code, Active" {
	add_sdrm g36d27a9
	run register g36d27a9 Joern.Wellniak@Example.com
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<< "$output")" = Inactive ]
	[ "$(jq -r .email <<< "$output")" = joern.wellniak@example.com ]

	# one e-mail with the link (a spool file), one letter with the code (the mail room's)
	[ "$(admin outbox list | jq -s length)" -eq 2 ]
	[ "$(ls "$T/spool" | wc -l)" -eq 1 ]
	grep -q '^Subject: Verify your e-mail address' "$T"/spool/*.eml
	[ "$(mailroom list | jq -r .subject)" = "Delivery address verification code" ]

	run curl -sS "$(verify_link joern.wellniak@example.com)"
	[[ "$output" == *"E-mail address verified"* ]]
	temp_password joern.wellniak@example.com

	run first_login g36d27a9 joern.wellniak@example.com
	[ "$status" -eq 0 ]
	[ "$(jq -r .stage <<< "$output")" = full ]
	[ "$(jq -r .status <<< "$output")" = Inactive ]

	run klogin status
	[ "$status" -eq 0 ]
	[ "$(jq -r .email_verified <<< "$output")" = true ]
	[ "$(jq -r .address_verified <<< "$output")" = false ]
	[ "$(jq -r .name <<< "$output")" = "Joern Wellniak" ]

	run klogin verify-address "$(address_code "Joern Wellniak")"
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<< "$output")" = Active ]

	run klogin logout
	[ "$status" -eq 0 ]
	run login g36d27a9 joern.wellniak@example.com
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<< "$output")" = Active ]
	run admin audit verify
	[ "$status" -eq 0 ]
	[ "$(jq -r .intact <<< "$output")" = true ]
}

@test "wrong password: not permitted, exit 4" {
	active_locksmith g36d27a9 j@example.com
	printf 'wrong password 123' > "$T/bad.pw"
	run login g36d27a9 j@example.com "$T/bad.pw"
	[ "$status" -eq 4 ]
	[[ "$output" == *"e-mail address or the password is wrong"* ]]
}

@test "wrong SDRM password: not permitted, exit 4, the session stays at step 1" {
	active_locksmith g36d27a9 j@example.com
	printf 'not the sdrm pw' > "$T/bad.pw"
	run klogin --email j@example.com --accept-disclaimer --password-file "$T/new.pw" \
		--sdrm-id g36d27a9 --sdrm-password-file "$T/bad.pw"
	[ "$status" -eq 4 ]
	[[ "$output" == *"SDRM ID or the SDRM password is wrong"* ]]
	run klogin status
	[ "$status" -eq 4 ]
	[[ "$output" == *"finish logging in"* ]]
}

@test "wrong SDRM ID (another locksmith's) is refused like a wrong SDRM password" {
	active_locksmith g36d27a9 j@example.com
	add_sdrm other1 other-pass
	printf 'other-pass' > "$T/other.pw"
	run klogin --email j@example.com --accept-disclaimer --password-file "$T/new.pw" \
		--sdrm-id other1 --sdrm-password-file "$T/other.pw"
	[ "$status" -eq 4 ]
	[[ "$output" == *"SDRM ID or the SDRM password is wrong"* ]]
}

@test "an unknown e-mail gets the same answer as a wrong password" {
	active_locksmith g36d27a9 j@example.com
	run api POST /v1/login -H 'Content-Type: application/json' \
		-d '{"email":"j@example.com","password":"wrong password 1","accept_disclaimer":true}'
	wrong=$output
	run api POST /v1/login -H 'Content-Type: application/json' \
		-d '{"email":"nobody@example.com","password":"wrong password 1","accept_disclaimer":true}'
	[ "$output" = "$wrong" ]
	[ "$(tail -n 1 <<< "$output")" = 401 ]
}

@test "an 11-character new password is refused and changes nothing" {
	verified_locksmith g36d27a9 j@example.com
	printf '12345678901' > "$T/short.pw"
	run klogin --email j@example.com --accept-disclaimer --password-file "$T/temp.pw" \
		--new-password-file "$T/short.pw" --sdrm-id g36d27a9 --sdrm-password-file "$T/sdrm-g36d27a9.pw"
	[ "$status" -eq 3 ]
	[[ "$output" == *"new_password: must have at least 12 characters (it has 11)"* ]]
	# the temporary password still works
	printf 'twelve chars' > "$T/twelve.pw"
	run klogin --email j@example.com --accept-disclaimer --password-file "$T/temp.pw" \
		--new-password-file "$T/twelve.pw" --sdrm-id g36d27a9 --sdrm-password-file "$T/sdrm-g36d27a9.pw"
	[ "$status" -eq 0 ]
}

@test "a long password (200 characters, multibyte) is kept whole, not truncated" {
	verified_locksmith g36d27a9 j@example.com
	long=$(printf 'ä%.0s' $(seq 200))
	printf '%s' "$long" > "$T/long.pw"
	printf '%s' "${long%ä}" > "$T/prefix.pw"
	run klogin --email j@example.com --accept-disclaimer --password-file "$T/temp.pw" \
		--new-password-file "$T/long.pw" --sdrm-id g36d27a9 --sdrm-password-file "$T/sdrm-g36d27a9.pw"
	[ "$status" -eq 0 ]
	run login g36d27a9 j@example.com "$T/prefix.pw"
	[ "$status" -eq 4 ]
	run login g36d27a9 j@example.com "$T/long.pw"
	[ "$status" -eq 0 ]
}

@test "the new password must differ from the old one" {
	verified_locksmith g36d27a9 j@example.com
	run klogin --email j@example.com --accept-disclaimer --password-file "$T/temp.pw" \
		--new-password-file "$T/temp.pw" --sdrm-id g36d27a9 --sdrm-password-file "$T/sdrm-g36d27a9.pw"
	[ "$status" -eq 3 ]
	[[ "$output" == *"new_password: must differ from the old password"* ]]
}

@test "a temporary password that was not changed allows nothing but the change" {
	verified_locksmith g36d27a9 j@example.com
	# no new password given and no terminal: the login stops after step 1
	run klogin --email j@example.com --accept-disclaimer --password-file "$T/temp.pw" \
		--sdrm-id g36d27a9 --sdrm-password-file "$T/sdrm-g36d27a9.pw"
	[ "$status" -eq 2 ]
	run klogin status
	[ "$status" -eq 4 ]
	[[ "$output" == *"change the temporary password first"* ]]
	token=$(jq -r .token "$T/state/kcs/session")
	run api POST /v1/login/sdrm -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		-d '{"sdrm_id":"g36d27a9","sdrm_password":"sdrm-secret-9"}'
	[ "$(tail -n 1 <<< "$output")" = 403 ]
	[[ "$output" == *"change the temporary password first"* ]]
}

@test "login without accepting the disclaimer: nothing continues" {
	active_locksmith g36d27a9 j@example.com
	klogin logout
	run klogin --email j@example.com --password-file "$T/new.pw" \
		--sdrm-id g36d27a9 --sdrm-password-file "$T/sdrm-g36d27a9.pw"
	[ "$status" -eq 4 ]
	[[ "$output" == *"disclaimer must be accepted"* ]]
	[ ! -e "$T/state/kcs/session" ]
	# and the server refuses a login that does not accept it
	run api POST /v1/login -H 'Content-Type: application/json' \
		-d '{"email":"j@example.com","password":"correct horse battery staple"}'
	[ "$(tail -n 1 <<< "$output")" = 403 ]
	[ "$(head -n 1 <<< "$output" | jq -r .error.field)" = accept_disclaimer ]
	run api POST /v1/login -H 'Content-Type: application/json' \
		-d '{"email":"j@example.com","password":"correct horse battery staple","accept_disclaimer":false}'
	[ "$(tail -n 1 <<< "$output")" = 403 ]
	# the acceptance is recorded with the disclaimer's version
	run sql "SELECT count(*), min(version) FROM acceptances WHERE kind = 'login'"
	[ "$output" = "1|1" ]
}

@test "a step-1 session can neither read the status nor act" {
	active_locksmith g36d27a9 j@example.com
	klogin logout
	printf 'bad' > "$T/bad.pw"
	run klogin --email j@example.com --accept-disclaimer --password-file "$T/new.pw" \
		--sdrm-id g36d27a9 --sdrm-password-file "$T/bad.pw"
	[ "$status" -eq 4 ]
	run klogin status
	[ "$status" -eq 4 ]
	[[ "$output" == *"finish logging in"* ]]
	token=$(jq -r .token "$T/state/kcs/session")
	run api POST /v1/me/verify-address -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		-d "{\"code\":\"$(address_code "Joern Wellniak")\"}"
	[ "$(tail -n 1 <<< "$output")" = 403 ]
	[ "$(head -n 1 <<< "$output" | jq -r .error.code)" = login_incomplete ]
	run api GET /v1/me -H "Authorization: Bearer $token"
	[ "$(tail -n 1 <<< "$output")" = 403 ]
	[ "$(head -n 1 <<< "$output" | jq -r .error.code)" = login_incomplete ]
}

@test "after logout the session cannot be used again" {
	active_locksmith g36d27a9 j@example.com
	cp "$T/state/kcs/session" "$T/saved-session"
	run klogin logout
	[ "$status" -eq 0 ]
	[ ! -e "$T/state/kcs/session" ]
	run klogin status
	[ "$status" -eq 4 ]
	[[ "$output" == *"not logged in"* ]]
	cp "$T/saved-session" "$T/state/kcs/session"
	run klogin status
	[ "$status" -eq 4 ]
	[[ "$output" == *"session has ended"* ]]
}

@test "a reused verification link is refused" {
	add_sdrm g36d27a9
	register g36d27a9 j@example.com
	link=$(verify_link j@example.com)
	run curl -sS -o /dev/null -w '%{http_code}' "$link"
	[ "$output" = 200 ]
	run curl -sS -w '\n%{http_code}' "$link"
	[ "$(tail -n 1 <<< "$output")" = 410 ]
	[[ "$output" == *"invalid, used or expired"* ]]
	# exactly one temporary password was sent
	[ "$(admin outbox list | jq -s '[.[] | select(.subject | test("temporary"))] | length')" -eq 1 ]
	run curl -sS -o /dev/null -w '%{http_code}' "$KCS_URL/verify-email?token=nonsense"
	[ "$output" = 400 ]
}

@test "a wrong address code is refused; a mistyped one is caught before it is sent" {
	verified_locksmith g36d27a9 j@example.com
	first_login g36d27a9 j@example.com > /dev/null
	code=$(address_code "Joern Wellniak")
	requests=$(grep -c verify-address "$T/kcsd.log" || true)
	# one character changed: the check character catches it locally
	typo=${code:0:-1}$( [ "${code: -1}" = 2 ] && echo 3 || echo 2 )
	run klogin verify-address "$typo"
	[ "$status" -eq 3 ]
	[[ "$output" == *"mistyped"* ]]
	[ "$(grep -c verify-address "$T/kcsd.log" || true)" -eq "$requests" ]
	# a well-formed wrong code (the right check character found by trying)
	prefix=$( [ "${code:0:4}" = 2222 ] && echo 3333-3333-3 || echo 2222-2222-2 )
	for c in $(echo 23456789ABCDEFGHJKLMNPQRSTUVWXYZ | fold -w1); do
		run klogin verify-address "$prefix$c"
		[ "$status" -eq 3 ] || break
	done
	[ "$status" -eq 4 ]
	[[ "$output" == *"address verification code is wrong"* ]]
	run klogin status
	[ "$(jq -r .status <<< "$output")" = Inactive ]
	run klogin verify-address "$code"
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<< "$output")" = Active ]
	run klogin verify-address "$code"
	[ "$status" -eq 1 ]
}

@test "duplicate registration: same SDRM ID or same e-mail, refused, nothing added" {
	add_sdrm g36d27a9
	add_sdrm h11
	register g36d27a9 j@example.com > /dev/null
	run register g36d27a9 k@example.com
	[ "$status" -eq 1 ]
	[[ "$output" == *"sdrm_id: SDRM ID g36d27a9 has an account already"* ]]
	run register h11 J@EXAMPLE.COM
	[ "$status" -eq 1 ]
	[[ "$output" == *"email: j@example.com has an account already"* ]]
	[ "$(sql 'SELECT count(*) FROM accounts')" -eq 1 ]
	[ "$(admin outbox list | jq -s length)" -eq 2 ]
}

@test "registration: every field is checked and named; an unknown SDRM ID is refused" {
	add_sdrm g36d27a9
	for bad in 'email="not-an-address"' 'state="XX"' 'zip="9581"' 'phone="call me"' \
	           'time_zone="Europe/Berlin"' 'last_name=""' 'first_name="a\nb"' 'sdrm_id="a b"'; do
		field=${bad%%=*}
		run hotline register <<< "$(form g36d27a9 j@example.com | jq -c ".$bad")"
		[ "$status" -eq 3 ]
		[[ "$output" == *"$field:"* ]]
	done
	run hotline register <<< "$(form g36d27a9 j@example.com | jq -c 'del(.city)')"
	[ "$status" -eq 3 ]
	[[ "$output" == *"city: is required"* ]]
	# the API refuses unknown fields (the tool passes on only the form's)
	run api POST /v1/hotline/locksmiths -H "Authorization: Bearer $(cat "$T/operator.token")" \
		-H 'Content-Type: application/json' -d "$(form g36d27a9 j@example.com | jq -c '.extra = 1')"
	[ "$(tail -n 1 <<< "$output")" = 400 ]
	[ "$(head -n 1 <<< "$output" | jq -r .error.field)" = extra ]
	run register nosuch j@example.com
	[ "$status" -eq 1 ]
	[[ "$output" == *"not in the SDRM directory"* ]]
	[ "$(sql 'SELECT count(*) FROM accounts')" -eq 0 ]
	[ "$(admin outbox list | jq -s length)" -eq 0 ]
	# flags override the piped form
	run hotline register --email flag@example.com <<< "$(form g36d27a9 j@example.com)"
	[ "$status" -eq 0 ]
	[ "$(jq -r .email <<< "$output")" = flag@example.com ]
}

@test "password reset: a code by e-mail, single use; all sessions end" {
	active_locksmith g36d27a9 j@example.com
	cp "$T/state/kcs/session" "$T/old-session"
	run klogin forgot --email j@example.com
	[ "$status" -eq 0 ]
	run klogin forgot --email nobody@example.com
	[ "$status" -eq 0 ]
	code=$(reset_code j@example.com)
	[ ${#code} -eq 32 ]
	printf 'a brand new password' > "$T/reset.pw"
	run klogin reset --email j@example.com --code "$code" --new-password-file "$T/reset.pw"
	[ "$status" -eq 0 ]
	run klogin reset --email j@example.com --code "$code" --new-password-file "$T/reset.pw"
	[ "$status" -eq 4 ]
	[[ "$output" == *"reset code is wrong, used or expired"* ]]
	cp "$T/old-session" "$T/state/kcs/session"
	run klogin status
	[ "$status" -eq 4 ]
	run login g36d27a9 j@example.com "$T/new.pw"
	[ "$status" -eq 4 ]
	run login g36d27a9 j@example.com "$T/reset.pw"
	[ "$status" -eq 0 ]
}

@test "password reset e-mails are throttled per account" {
	active_locksmith g36d27a9 j@example.com
	before=$(outbox_count)
	for i in 1 2 3 4 5; do
		run klogin forgot --email j@example.com
		[ "$status" -eq 0 ]
	done
	[ "$(outbox_count $((before + 1)))" -eq $((before + 1)) ]
	sleep 0.3
	[ "$(outbox_count)" -eq $((before + 1)) ]
	reconfigure "reset_interval = 0"
	klogin forgot --email j@example.com
	[ "$(outbox_count $((before + 2)))" -eq $((before + 2)) ]
}

@test "a password change ends every other session" {
	active_locksmith g36d27a9 j@example.com
	cp "$T/state/kcs/session" "$T/first"
	login g36d27a9 j@example.com > /dev/null
	printf 'yet another password' > "$T/next.pw"
	run klogin password --password-file "$T/new.pw" --new-password-file "$T/next.pw"
	[ "$status" -eq 0 ]
	run klogin status
	[ "$status" -eq 0 ]
	cp "$T/first" "$T/state/kcs/session"
	run klogin status
	[ "$status" -eq 4 ]
}

@test "on a terminal: prompts, the disclaimer asked, secrets not echoed" {
	verified_locksmith g36d27a9 j@example.com
	printf 'correct horse battery staple' > "$T/new.pw"
	{
		answer 'E-mail address (LSID): ' j@example.com
		answer 'Do you accept the disclaimer? [y/N]' y
		answer 'Password: ' "$(cat "$T/temp.pw")"
		answer 'New password (at least 12 characters): ' "$(cat "$T/new.pw")"
		answer 'Re-type new password: ' "$(cat "$T/new.pw")"
		answer 'SDRM ID: ' g36d27a9
		answer 'SDRM password: ' sdrm-secret-9
		answer '"stage":"full"' ''
	} | script -qfec "$B/kcs-login" "$T/typescript" > /dev/null
	grep -qF 'Key Coding System - terms of use' "$T/typescript"
	grep -qF '"status":"Inactive"' "$T/typescript"
	grep -qF 'g36d27a9' "$T/typescript"
	refute grep -qF "$(cat "$T/temp.pw")" "$T/typescript"
	refute grep -qF "$(cat "$T/new.pw")" "$T/typescript"
	refute grep -qF sdrm-secret-9 "$T/typescript"
	run klogin status
	[ "$status" -eq 0 ]
}

@test "on a terminal: a declined disclaimer stops the login" {
	active_locksmith g36d27a9 j@example.com
	klogin logout
	{
		answer 'Do you accept the disclaimer? [y/N]' n
		answer 'was not accepted' ''
	} | script -qfec "$B/kcs-login --email j@example.com" "$T/typescript" > /dev/null || rc=$?
	[ "${rc:-0}" -eq 4 ]
	grep -qF 'the login disclaimer was not accepted' "$T/typescript"
	refute grep -qF 'Password: ' "$T/typescript"
	[ ! -e "$T/state/kcs/session" ]
}

@test "the password hash is redone at login when the cost settings change" {
	active_locksmith g36d27a9 j@example.com
	before=$(sql 'SELECT pwhash FROM accounts')
	[[ "$before" == *'m=64,t=1'* ]]
	stop_kcsd
	sed -i 's/argon2_memlimit_kib = 64/argon2_memlimit_kib = 128/' "$T/kcs.conf"
	start_kcsd
	run login g36d27a9 j@example.com
	[ "$status" -eq 0 ]
	after=$(sql 'SELECT pwhash FROM accounts')
	[[ "$after" == *'m=128,t=1'* ]]
	run login g36d27a9 j@example.com
	[ "$status" -eq 0 ]
}

@test "the form's time zone is shown; its signature must be confirmed" {
	add_sdrm g36d27a9
	run hotline register <<< "$(form g36d27a9 j@example.com | jq -c 'del(.signature_confirmed)')"
	[ "$status" -eq 3 ]
	[[ "$output" == *"signature_confirmed: confirm that the form carries the locksmith's signature"* ]]
	[ "$(admin outbox list | jq -s length)" -eq 0 ]
	run hotline register --signature-confirmed <<< "$(form g36d27a9 j@example.com | jq -c 'del(.signature_confirmed)')"
	[ "$status" -eq 0 ]
	[ "$(jq -r .time_zone <<< "$output")" = America/Los_Angeles ]
	curl -fsS "$(verify_link j@example.com)" > /dev/null
	temp_password j@example.com
	first_login g36d27a9 j@example.com > /dev/null
	klogin verify-address "$(address_code "Joern Wellniak")" > /dev/null
	[ "$(klogin status | jq -r .time_zone)" = America/Los_Angeles ]
	run redeem "$(ticket)"
	[ "$(jq -r .time_zone <<< "$output")" = America/Los_Angeles ]
}

@test "the reset e-mail quotes the address in its shell command" {
	add_sdrm g36d27a9
	register g36d27a9 'a`id`b$home@example.com' > /dev/null
	curl -fsS "$(verify_link 'a`id`b$home@example.com')" > /dev/null
	klogin forgot --email 'a`id`b$home@example.com' > /dev/null
	reset_code 'a`id`b$home@example.com' > /dev/null # waits for the e-mail
	line=$(message 'a`id`b$home@example.com' | grep 'kcs-login reset')
	# run as a shell would: kcs-login stands in to show the arguments it gets
	kcs-login() { printf '%s\n' "$@"; }
	args=$(eval "$line")
	[ "$(sed -n 3p <<< "$args")" = 'a`id`b$home@example.com' ]
	refute grep -q uid= <<< "$args"
}

@test "concurrent wrong passwords at the password change pass the lockout no more than login's" {
	active_locksmith g36d27a9 j@example.com
	reconfigure "argon2_memlimit_kib = 16384" "lockout_failures = 3" "lockout_cooldown = 600" "threads = 8"
	login g36d27a9 j@example.com > /dev/null
	token=$(jq -r .token "$T/state/kcs/session")
	mkdir "$T/r"
	pids=()
	for i in $(seq 16); do
		api POST /v1/password -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
			-d '{"old_password":"wrong password 123","new_password":"another password 1"}' > "$T/r/$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	# the others are refused as locked, or as busy (the password checks that
	# may wait at once are bounded)
	[ "$(cat "$T"/r/* | grep -c '"wrong_password"')" -le 3 ]
	[ "$(cat "$T"/r/* | grep -c '"locked"\|"busy"')" -ge 13 ]
}
