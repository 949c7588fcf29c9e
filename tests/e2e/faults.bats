#!/usr/bin/env bats
# Faults: a store file that cannot grow (a full disk, here a file-size
# limit on kcsd) fails the write with an error, keeps the store whole and
# serves again once it can grow; an SMTP server that stalls delays mail,
# never the API.

load helper
bats_require_minimum_version 1.5.0

@test "the store cannot grow: the write fails, nothing half-written, integrity_check ok; kcsd serves again once it can" {
	setup_kcsd
	if [ "$ENGINE" = pg ]; then
		# the store's files are PostgreSQL's, not kcsd's: what kcsd writes
		# itself, the spool, fails after the commit and is written at the next start
		add_operator
		add_sdrm g36d27a9
		prlimit --pid "$KCSD_PID" --fsize=1:unlimited
		form g36d27a9 j@example.com | hotline register > /dev/null
		[ "$(ls "$T/spool" 2> /dev/null | wc -l)" = 0 ]
		[ "$(sql "SELECT count(*) FROM outbox WHERE kind = 'email'")" = 1 ]
		prlimit --pid "$KCSD_PID" --fsize=unlimited:unlimited
		stop_kcsd
		start_kcsd
		[ "$(ls "$T/spool" | wc -l)" = 1 ]
		return 0
	fi
	admin dealer add D0 --dpn 1 --outlet 0 > /dev/null
	# a soft limit a few pages above the journal: kcsd ignores SIGXFSZ, a write gets EFBIG
	prlimit --pid "$KCSD_PID" --fsize=$(($(stat -c %s "$DB-wal") + 40000)):unlimited
	failed=
	for i in $(seq 1 200); do
		if ! admin dealer add "Dealer $i with a long name $(printf 'x%.0s' $(seq 80))" --dpn 1 --outlet "$i" \
			> /dev/null 2> "$T/err"; then
			failed=$i
			break
		fi
	done
	[ -n "$failed" ]
	grep -q 'the change could not be stored' "$T/err" || grep -q 'the store failed' "$T/err"
	kill -0 "$KCSD_PID"
	# what was acknowledged is there, the failed write is not, and the file is whole
	[ "$(sql 'SELECT count(*) FROM dealers')" = "$failed" ]
	[ "$(sql 'PRAGMA integrity_check')" = ok ]
	# reads go on meanwhile
	run admin dealer list
	[ "$status" -eq 0 ]
	prlimit --pid "$KCSD_PID" --fsize=unlimited:unlimited
	run admin dealer add After --dpn 2 --outlet 1
	[ "$status" -eq 0 ]
	run admin audit verify
	[ "$(jq -r .intact <<< "$output")" = true ]
}

@test "an SMTP server that stalls delays the mail, not the API" {
	start_smtp
	echo "stall j@example.com" > "$T/smtp/rules"
	setup_kcsd "smtp_url = $SMTP_URL" "smtp_timeout = 30"
	add_operator
	add_sdrm g36d27a9
	form g36d27a9 j@example.com | hotline register > /dev/null
	for _ in $(seq 100); do [ -e "$T/smtp/stalled" ] && break; sleep 0.1; done
	[ -e "$T/smtp/stalled" ]
	# the delivery hangs for up to a minute; every request is answered meanwhile
	for i in $(seq 20); do
		curl -fsS --max-time 5 -H "Authorization: Bearer $(cat "$T/admin.token")" "$KCS_URL/v1/admin/outbox" \
			> /dev/null
	done
	add_sdrm h36d27a9
	form h36d27a9 k@example.com > "$T/form.json"
	run timeout 5 env KCS_TOKEN_FILE="$T/operator.token" "$B/kcs-hotline" register < "$T/form.json"
	[ "$status" -eq 0 ]
	[ "$(sql "SELECT status FROM outbox WHERE recipient = 'j@example.com'")" = sending ]
}
