#!/usr/bin/env bats
# E-mail delivery over SMTP, to a real SMTP server on loopback (tests/smtp.py).

load helper

setup() { T=$BATS_TEST_TMPDIR; }

# kcsd with its e-mail going to the test SMTP server (started with OPTIONS)
smtp_kcsd() { # [CONFIG LINE...]
	setup_kcsd "smtp_url = $SMTP_URL" "smtp_retry = 1" "$@"
	add_operator
	add_sdrm g36d27a9
}

# A registration whose names are not ASCII: the e-mail says them right.
register_joern() { # EMAIL
	form g36d27a9 "$1" | jq -c '.first_name = "Jörn" | .last_name = "Wellniak-Øster"' | hotline register
}

# the bytes of a message's sealed body in the store (0: destroyed)
body_bytes() { # ID
	sql "SELECT length(sealed) FROM outbox WHERE id = $1"
}

outbox_of() { # ADDRESS: the newest outbox row for it
	admin outbox list | jq -c --arg to "$1" 'select(.recipient == $to)' | tail -n 1
}

# until_row ADDRESS FILTER: waits (10 s at most) until the jq FILTER holds of
# the newest outbox row for ADDRESS; prints that row.
until_row() {
	local row
	for _ in $(seq 100); do
		row=$(outbox_of "$1")
		[ "$(jq "$2" <<< "$row")" = true ] && break
		sleep 0.1
	done
	echo "$row"
}

@test "e-mails go out over SMTP once, 7-bit and CRLF, and leave no body or spool file behind" {
	start_smtp
	smtp_kcsd
	register_joern j@example.com > /dev/null
	[ "$(mails 1)" -eq 1 ]
	f=$(mail_file j@example.com)
	# the envelope: from mail_from, to the locksmith alone
	grep -q '^1 kcs@localhost j@example.com$' "$T/smtp/delivered"
	# every line ends in CRLF, is 7-bit and at most 78 characters
	[ "$(tr -d '\r' < "$f" | wc -l)" -eq "$(grep -c $'\r$' "$f")" ]
	refute grep -qP '[^\x00-\x7f]' "$f"
	[ "$(tr -d '\r' < "$f" | awk 'length > 78' | wc -l)" -eq 0 ]
	grep -q '^Content-Transfer-Encoding: quoted-printable' "$f"
	mail_body "$f" > "$T/body"
	grep -q '^Hello Jörn Wellniak-Øster,' "$T/body"
	link=$(grep -o 'http[^ ]*/verify-email?token=[0-9a-f]*' "$T/body")
	# the outbox keeps who, what, when, the Message-ID and the result; not the body
	row=$(outbox_of j@example.com)
	[ "$(jq -r .status <<< "$row")" = sent ]
	[ "$(jq -r .attempts <<< "$row")" -eq 1 ]
	grep -qF "Message-ID: $(jq -r .message_id <<< "$row")" "$f"
	[ "$(body_bytes "$(jq -r .id <<< "$row")")" -eq 0 ]
	[ "$(ls "$T/spool" | grep -c '\.eml$')" -eq 0 ]
	refute grep -qF "${link##*=}" <(store_bytes)
	# the link works: the temporary password comes the same way
	curl -fsS "$link" > /dev/null
	[ "$(mails 2)" -eq 2 ]
	mail_body "$(mail_file j@example.com)" | grep -o '[0-9A-Z]\{4\}-[0-9A-Z]\{4\}-[0-9A-Z]\{4\}-[0-9A-Z]\{4\}' |
		head -n 1 | tr -d '\n' > "$T/temp.pw"
	printf 'correct horse battery staple' > "$T/new.pw"
	klogin --email j@example.com --accept-disclaimer --password-file "$T/temp.pw" \
		--new-password-file "$T/new.pw" --sdrm-id g36d27a9 --sdrm-password-file "$T/sdrm-g36d27a9.pw"
	[ "$(admin audit verify | jq -r .intact)" = true ]
	[ "$(mails)" -eq 2 ]
}

@test "a 450 answer is tried again until the server takes the message; a 550 fails it for good" {
	start_smtp
	echo "j@example.com 450 2 mailbox busy" > "$T/smtp/rules"
	echo "k@example.com 550 0 no such user" >> "$T/smtp/rules"
	smtp_kcsd
	register_joern j@example.com > /dev/null
	[ "$(mails 1)" -eq 1 ]
	row=$(outbox_of j@example.com)
	[ "$(jq -r .status <<< "$row")" = sent ]
	[ "$(jq -r .attempts <<< "$row")" -eq 3 ]
	add_sdrm h36d27a9
	form h36d27a9 k@example.com | hotline register > /dev/null
	row=$(until_row k@example.com '.status == "failed"')
	[ "$(jq -r .status <<< "$row")" = failed ]
	[ "$(jq -r .attempts <<< "$row")" -eq 1 ]
	jq -r .result <<< "$row" | grep -q '^550'
	[ "$(body_bytes "$(jq -r .id <<< "$row")")" -eq 0 ]
	[ "$(mails)" -eq 1 ]
}

@test "a delivery cut off after the server took the message is not sent again" {
	start_smtp
	echo "stall j@example.com" > "$T/smtp/rules"
	smtp_kcsd "smtp_timeout = 1"
	register_joern j@example.com > /dev/null
	for _ in $(seq 100); do [ -e "$T/smtp/stalled" ] && break; sleep 0.1; done
	[ -e "$T/smtp/stalled" ]
	kill -9 "$KCSD_PID"
	wait "$KCSD_PID" || true
	KCSD_PID=
	rm "$T/smtp/rules"
	start_kcsd
	row=$(until_row j@example.com '.status == "unknown"')
	[ "$(jq -r .status <<< "$row")" = unknown ]
	[ "$(body_bytes "$(jq -r .id <<< "$row")")" -eq 0 ]
	sleep 1.5
	[ "$(mails)" -eq 1 ]
}

@test "STARTTLS and a login: the server's certificate is checked against smtp_ca_file" {
	openssl req -x509 -newkey ed25519 -nodes -keyout "$T/smtp.key" -out "$T/smtp.pem" -days 2 \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost 2> /dev/null
	start_smtp --tls "$T/smtp.pem" "$T/smtp.key" --auth kcs 'mail secret'
	printf 'mail secret\n' > "$T/smtp.pw"
	SMTP_URL="smtp://localhost:$(cat "$T/smtp/port")/kcs.test"
	smtp_kcsd "smtp_ca_file = $T/smtp.pem" "smtp_user = kcs" "smtp_password_file = $T/smtp.pw" "smtp_retry_max = 1"
	register_joern j@example.com > /dev/null
	[ "$(mails 1)" -eq 1 ]
	[ "$(outbox_of j@example.com | jq -r .status)" = sent ]
	# a wrong password: not taken, tried again (the message is not at fault)
	printf 'wrong\n' > "$T/smtp.pw"
	reconfigure
	add_sdrm h36d27a9
	form h36d27a9 k@example.com | hotline register > /dev/null
	row=$(until_row k@example.com '.attempts >= 2')
	[[ "$(jq -r .status <<< "$row")" =~ ^(queued|sending)$ ]]
	[ "$(jq -r .attempts <<< "$row")" -ge 2 ]
	[ "$(mails)" -eq 1 ]
	# without the certificate's CA: not sent
	printf 'mail secret\n' > "$T/smtp.pw"
	sed -i '/^smtp_ca_file/d' "$T/kcs.conf"
	reconfigure
	row=$(until_row k@example.com '.result | test("certificate"; "i")')
	jq -r .result <<< "$row" | grep -qi certificate
	[[ "$(jq -r .status <<< "$row")" =~ ^(queued|sending)$ ]]
	[ "$(mails)" -eq 1 ]
}

@test "SMTP settings that cannot work stop kcsd at start, naming the setting" {
	setup_kcsd
	stop_kcsd
	echo "smtp_url = http://127.0.0.1:25/" >> "$T/kcs.conf"
	run "$B/kcsd" -c "$T/kcs.conf" "${STORE[@]}" --listen 127.0.0.1:0
	[ "$status" -ne 0 ]
	grep -q smtp_url <<< "$output"
	sed -i 's|^smtp_url = .*|smtp_url = smtp://127.0.0.1:25/kcs.test|' "$T/kcs.conf"
	echo "smtp_user = kcs" >> "$T/kcs.conf"
	run "$B/kcsd" -c "$T/kcs.conf" "${STORE[@]}" --listen 127.0.0.1:0
	[ "$status" -ne 0 ]
	grep -q smtp_password_file <<< "$output"
}

@test "every kind of e-mail arrives once and byte-correct: a dot line, a long line, names not in ASCII" {
	start_smtp
	smtp_kcsd
	add_vehicle "$VIN"
	long="Gewerbepark Süd, Hinterhaus, Aufgang C, 3. Etage links, bei Müller-Lüdenscheidt & Söhne, Tor 12, Anlieferung über die Rampe"
	form g36d27a9 j@example.com |
		jq -c --arg a "$long" '.first_name = "Jörn" | .company = "." | .address = $a' | hotline register > /dev/null
	[ "$(mails 1)" -eq 1 ]
	curl -fsS "$(mail_body "$(mail_file j@example.com)" | grep -o 'http[^ ]*/verify-email?token=[0-9a-f]*')" > /dev/null
	[ "$(mails 2)" -eq 2 ]
	mail_body "$(mail_file j@example.com)" | grep -o '[0-9A-Z]\{4\}-[0-9A-Z]\{4\}-[0-9A-Z]\{4\}-[0-9A-Z]\{4\}' |
		head -n 1 | tr -d '\n' > "$T/temp.pw"
	first_login g36d27a9 j@example.com > /dev/null
	klogin verify-address "$(address_code "Jörn Wellniak")" > /dev/null
	order=$(order_key "$(call)")
	[ "$(mails 3)" -eq 3 ]
	f=$(mail_file j@example.com)
	# 7-bit lines of at most 78 characters, CRLF
	refute grep -qP '[^\x00-\x7f]' "$f"
	[ "$(tr -d '\r' < "$f" | awk 'length > 78' | wc -l)" -eq 0 ]
	[ "$(tr -d '\r' < "$f" | wc -l)" -eq "$(grep -c $'\r$' "$f")" ]
	# decoded, the text is the text sent: the lone dot, the long line whole
	mail_body "$f" > "$T/body"
	grep -qx 'Hello Jörn Wellniak,' "$T/body"
	grep -qx '\.' "$T/body"
	grep -qxF "$long" "$T/body"
	grep -qF "Key Code:     $(jq -r .key_code <<< "$order")" "$T/body"
	# the other kinds: a key writer order, a password reset
	redeem "$(ticket)" | hotline order-keywriter --payment-ref PAY-2 --address-confirmed > /dev/null
	klogin forgot --email j@example.com > /dev/null
	[ "$(mails 5)" -eq 5 ]
	sleep 0.5
	[ "$(mails)" -eq 5 ]
	for f in "$T"/smtp/Maildir/new/*; do
		refute grep -qP '[^\x00-\x7f]' "$f"
		[ "$(tr -d '\r' < "$f" | awk 'length > 78' | wc -l)" -eq 0 ]
		grep -q '^Subject: ' "$f"
	done
	# each kind once
	[ "$(grep -h '^Subject: ' "$T"/smtp/Maildir/new/* | sort | uniq -d | wc -l)" -eq 0 ]
	mail_body "$(mail_file j@example.com)" | grep -q 'kcs-login reset --email'
	[ "$(admin outbox list | jq -s 'map(select(.kind == "email" and .status != "sent")) | length')" -eq 0 ]
}

@test "STARTTLS is required of a server that is not on loopback" {
	start_smtp
	# a name, not a loopback address: libcurl reaches the test server, kcsd wants TLS of it
	SMTP_URL="smtp://kcs.localhost:$(cat "$T/smtp/port")/kcs.test"
	smtp_kcsd
	register_joern j@example.com > /dev/null
	row=$(until_row j@example.com '.attempts >= 1 and .status == "queued"')
	[ "$(jq -r .status <<< "$row")" = queued ]
	jq -r .result <<< "$row" | grep -qi starttls
	[ "$(mails)" -eq 0 ]
}
