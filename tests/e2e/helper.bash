# Shared by the end-to-end tests: each test gets its own directory, store,
# key file and kcsd on a free loopback port, and stops its kcsd by PID.

B=${KCS_BIN:?KCS_BIN must name the directory of the built binaries}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T=
KCSD_PID=
# The engine: SQLite, or PostgreSQL when KCS_PG names a cluster that
# tests/pg started (make check DB=pg); a fresh database for each test.
ENGINE=sqlite
[ -z "${KCS_PG:-}" ] || ENGINE=pg
DB=

# setup_kcsd [CONFIG LINE...]: a fresh store and a kcsd serving it.
setup_kcsd() {
	T=$BATS_TEST_TMPDIR
	export HOME=$T XDG_CONFIG_HOME=$T/config XDG_STATE_HOME=$T/state XDG_DATA_HOME=$T/data
	unset KCS_URL KCS_TOKEN KCS_TOKEN_FILE KCS_CA_FILE KCS_SESSION KCS_CONFIG
	if [ "$ENGINE" = pg ]; then
		DB=$("$TOP/tests/pg" url "$KCS_PG" "t$(md5sum <<< "$T" | cut -c1-16)")
	else
		DB=$T/kcs.db
	fi
	"$B/kcs-admin" init --db "$DB" --key "$T/kcs.key" > "$T/init.json"
	jq -r .admin_token "$T/init.json" > "$T/admin.token"
	jq -r .second_admin_token "$T/init.json" > "$T/admin2.token"
	{
		echo "argon2_opslimit = 1"
		echo "argon2_memlimit_kib = 64"
		for line in "$@"; do echo "$line"; done
	} > "$T/kcs.conf"
	store_args
	start_kcsd
}

# reconfigure LINE...: restart kcsd, on the same port, with settings added
# to its configuration.
reconfigure() {
	local port
	port=$(sed 's/.*://' "$T/url")
	stop_kcsd
	for line in "$@"; do echo "$line"; done >> "$T/kcs.conf"
	start_kcsd --listen "127.0.0.1:$port"
}

# start_kcsd [OPTION...]: on a free port unless --listen is given.
start_kcsd() {
	rm -f "$T/url"
	"$B/kcsd" -c "$T/kcs.conf" "${STORE[@]}" --listen 127.0.0.1:0 --url-file "$T/url" \
		"$@" 2>> "$T/kcsd.log" 3>&- &
	KCSD_PID=$!
	for _ in $(seq 100); do
		[ -s "$T/url" ] && break
		kill -0 "$KCSD_PID" 2>/dev/null || { cat "$T/kcsd.log" >&2; return 1; }
		sleep 0.05
	done
	[ -s "$T/url" ] || { cat "$T/kcsd.log" >&2; return 1; }
	export KCS_URL
	KCS_URL=$(cat "$T/url")
}

# kcsd's options naming the store, its key and its spool
store_args() { STORE=(--db "$DB" --key "$T/kcs.key" --spool "$T/spool"); }
STORE=()

# sql QUERY: a query on the store, on either engine ("a|b" lines).
sql() {
	if [ "$ENGINE" = pg ]; then
		psql -X -q -At "$DB" -c "$1"
	else
		sqlite3 "$DB" "$1"
	fi
}

# The store's stored bytes, for looking for what must not be in them.
store_bytes() {
	if [ "$ENGINE" = pg ]; then
		pg_dump --data-only "$DB"
	else
		cat "$T"/kcs.db*
	fi
}

# fail_inserts TABLE [CONDITION]: inserts into TABLE fail (a damaged store);
# allow_inserts TABLE mends it.
fail_inserts() {
	if [ "$ENGINE" = pg ]; then
		sql "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = 'check_violation'; END \$\$;
			CREATE TRIGGER boom BEFORE INSERT ON $1 FOR EACH ROW ${2:+WHEN ($2)} EXECUTE FUNCTION boom()"
	else
		sql "CREATE TRIGGER boom BEFORE INSERT ON $1 ${2:+WHEN $2} BEGIN SELECT RAISE(ABORT, 'boom'); END"
	fi
}
allow_inserts() {
	if [ "$ENGINE" = pg ]; then
		sql "DROP TRIGGER boom ON $1; DROP FUNCTION boom()"
	else
		sql "DROP TRIGGER boom"
	fi
}

# The audit log's append-only guard: off, as someone with the store would.
audit_unguard() {
	if [ "$ENGINE" = pg ]; then
		sql "ALTER TABLE audit DISABLE TRIGGER USER"
	else
		sql "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete"
	fi
}

# hold_store / release_store: another client holds a write transaction on
# the store (SQLite: the write lock; PostgreSQL: the sessions table against
# writers) until released; its PID in HOLD_PID.
HOLD_PID=
hold_store() {
	mkfifo "$T/hold"
	if [ "$ENGINE" = pg ]; then
		psql -X -q "$DB" < "$T/hold" > /dev/null &
	else
		sqlite3 "$DB" < "$T/hold" > /dev/null &
	fi
	HOLD_PID=$!
	exec 5> "$T/hold"
	if [ "$ENGINE" = pg ]; then
		printf 'BEGIN;\nLOCK TABLE sessions IN EXCLUSIVE MODE;\n' >&5
	else
		printf 'BEGIN IMMEDIATE;\n' >&5
	fi
	for _ in $(seq 100); do
		if [ "$ENGINE" = pg ]; then
			[ "$(sql "SELECT count(*) FROM pg_locks WHERE relation = 'sessions'::regclass
				AND mode = 'ExclusiveLock' AND granted")" = 1 ] && return
		else
			sqlite3 -cmd '.timeout 0' "$DB" 'BEGIN IMMEDIATE; ROLLBACK' 2> /dev/null || return 0
		fi
		sleep 0.05
	done
	return 1
}
release_store() {
	echo 'COMMIT;' >&5
	exec 5>&-
	wait "$HOLD_PID"
	HOLD_PID=
}

# start_smtp [OPTION...]: the test SMTP server (tests/smtp.py, options as
# there) in $T/smtp, its URL in SMTP_URL; stop_smtp stops it.
SMTP_PID=
start_smtp() {
	T=$BATS_TEST_TMPDIR
	mkdir -p "$T/smtp"
	rm -f "$T/smtp/port"
	/usr/bin/python3 "$TOP/tests/smtp.py" "$T/smtp" "$@" 2>> "$T/smtp.log" &
	SMTP_PID=$!
	for _ in $(seq 200); do
		[ -s "$T/smtp/port" ] && break
		kill -0 "$SMTP_PID" 2>/dev/null || { cat "$T/smtp.log" >&2; return 1; }
		sleep 0.05
	done
	[ -s "$T/smtp/port" ] || { cat "$T/smtp.log" >&2; return 1; }
	SMTP_URL="smtp://127.0.0.1:$(cat "$T/smtp/port")/kcs.test"
}
stop_smtp() {
	if [ -n "$SMTP_PID" ]; then
		kill "$SMTP_PID" 2>/dev/null || true
		wait "$SMTP_PID" 2>/dev/null || true
		SMTP_PID=
	fi
}

# The number of messages the SMTP server took; with N, waits (10 s at
# most) until it took N.
mails() { # [N]
	local n
	for _ in $(seq 200); do
		n=$(cat "$T/smtp/delivered" 2>/dev/null | wc -l)
		[ -z "${1:-}" ] || [ "$n" -ge "$1" ] && break
		sleep 0.05
	done
	echo "$n"
}

# The file of the newest message the SMTP server took for ADDRESS.
mail_file() { # ADDRESS
	local n
	n=$(awk -v to="$1" '$3 == to { n = $1 } END { print n }' "$T/smtp/delivered" 2>/dev/null)
	[ -n "$n" ] && echo "$T/smtp/Maildir/new/$n.eml"
}

# A message's body, decoded (quoted-printable, UTF-8).
mail_body() { # FILE
	/usr/bin/python3 -c 'import email, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
sys.stdout.write(m.get_payload(decode=True).decode(m.get_content_charset() or "ascii"))' "$1"
}

stop_kcsd() {
	if [ -n "$KCSD_PID" ]; then
		kill "$KCSD_PID" 2>/dev/null || true
		wait "$KCSD_PID" 2>/dev/null || true
		KCSD_PID=
	fi
}

teardown() {
	[ -z "$HOLD_PID" ] || release_store
	stop_kcsd
	stop_smtp
}

# refute CMD...: fails the test when CMD succeeds. (A command negated with
# "!" does not fail a bats test unless it is the test's last.)
refute() {
	if "$@"; then
		echo "expected to fail: $*" >&2
		return 1
	fi
}

# The tools, with stdin closed unless a test gives one.
admin() { KCS_TOKEN_FILE=$T/admin.token "$B/kcs-admin" "$@" < /dev/null; }
admin2() { KCS_TOKEN_FILE=$T/admin2.token "$B/kcs-admin" "$@" < /dev/null; }

# grant NAME [ROLE]: one administrator asks, the other approves; the token.
grant() {
	local out
	out=$(admin operator add "$1" --role "${2:-operator}") || return 1
	admin2 request approve "$(jq -r .request_id <<< "$out")" > /dev/null || return 1
	jq -r .token <<< "$out"
}
hotline() { KCS_TOKEN_FILE=$T/operator.token "$B/kcs-hotline" "$@"; }
klogin() { "$B/kcs-login" "$@" < /dev/null; }

# A hotline operator and an SDRM entry (password in $T/sdrm.pw).
add_operator() {
	grant hotline-1 > "$T/operator.token"
}
add_sdrm() { # ID [PASSWORD]
	printf '%s' "${2:-sdrm-secret-9}" > "$T/sdrm-$1.pw"
	admin sdrm add "$1" --password-file "$T/sdrm-$1.pw" > /dev/null
}

form() { # SDRM_ID EMAIL: the Appendix A form as JSON
	jq -cn --arg s "$1" --arg e "$2" '{sdrm_id: $s, email: $e, last_name: "Wellniak",
		first_name: "Joern", company: "Wellniak Locks", address: "100 Main Street",
		city: "Sacramento", state: "CA", zip: "95814", phone: "+1 916 555 0100",
		comments: "", time_zone: "Pacific", signature_confirmed: true}'
}

register() { # SDRM_ID EMAIL
	form "$1" "$2" | hotline register
}

# A message as text: an e-mail's quoted-printable decoded.
qp_text() {
	perl -MMIME::QuotedPrint -0777 -pe '$_ = decode_qp($_) if /^Content-Transfer-Encoding: quoted-printable\r?$/m'
}

# The text of the newest message to RECIPIENT: an e-mail from the spool
# directory (the delivery channel when there is no SMTP), as the operator's
# mailer takes it (the outbox API shows no message's text); a letter (a
# name, not an address) from the mail room. With
# "reset", the newest password reset e-mail. Waits (5 s at most) for it:
# reset e-mails are written by a worker after the answer.
message() { # RECIPIENT [reset]
	local file
	if [[ $1 != *@* ]]; then
		letter "$1"
		return
	fi
	for _ in $(seq 100); do
		file=$(admin outbox list | jq -r --arg to "$1" --arg kind "${2:-}" \
			'select(.recipient == $to and (.subject | test($kind; "i"))) | .file' | tail -n 1)
		[ -n "$file" ] && [ -e "$T/spool/$file" ] && break
		sleep 0.05
	done
	[ -n "$file" ] && [ -e "$T/spool/$file" ] || return 1
	qp_text < "$T/spool/$file"
}

# The mail room's token, made when first needed.
mailroom() {
	[ -s "$T/mailroom.token" ] || grant mailroom-1 mailroom > "$T/mailroom.token"
	KCS_TOKEN_FILE=$T/mailroom.token "$B/kcs-mailroom" "$@" < /dev/null
}

# The text of the newest letter waiting for NAME, printed by the mail room.
letter() { # NAME
	local id
	id=$(mailroom list | jq -r --arg to "$1" 'select(.recipient == $to) | .id' | tail -n 1)
	[ -n "$id" ] && mailroom print "$id"
}

verify_link() { # EMAIL: the link in the verification e-mail
	message "$1" | grep -o 'http[^ ]*/verify-email?token=[0-9a-f]*' | head -n 1
}

temp_password() { # EMAIL -> $T/temp.pw
	message "$1" | grep -o '[0-9A-Z]\{4\}-[0-9A-Z]\{4\}-[0-9A-Z]\{4\}-[0-9A-Z]\{4\}' | head -n 1 |
		tr -d '\n' > "$T/temp.pw"
	[ -s "$T/temp.pw" ]
}

# The number of outbox messages; with N, waits (5 s at most) until there
# are N: password reset e-mails are written by a worker after the answer.
outbox_count() { # [N]
	local n
	for _ in $(seq 100); do
		n=$(admin outbox list | jq -s length)
		[ -z "${1:-}" ] || [ "$n" -ge "$1" ] && break
		sleep 0.05
	done
	echo "$n"
}

reset_code() { # EMAIL: the code in the newest password reset e-mail (waits for it)
	message "$1" reset | grep -o -- '--code [0-9A-Z-]*' | cut -d' ' -f2
}

address_code() { # "Joern Wellniak": the code in the newest letter
	message "$1" | grep -o '[0-9A-Z]\{4\}-[0-9A-Z]\{4\}-[0-9A-Z]\{2\}' | head -n 1
}

# A registered locksmith whose e-mail is verified (temporary password in $T/temp.pw).
verified_locksmith() { # SDRM_ID EMAIL
	add_sdrm "$1"
	register "$1" "$2" > /dev/null
	curl -fsS ${KCS_CA_FILE:+--cacert "$KCS_CA_FILE"} "$(verify_link "$2")" > /dev/null
	temp_password "$2"
}

# Logged in with both steps, the temporary password changed to $T/new.pw.
first_login() { # SDRM_ID EMAIL
	printf 'correct horse battery staple' > "$T/new.pw"
	klogin --email "$2" --accept-disclaimer --password-file "$T/temp.pw" \
		--new-password-file "$T/new.pw" --sdrm-id "$1" --sdrm-password-file "$T/sdrm-$1.pw"
}

# An Active locksmith, logged in.
active_locksmith() { # SDRM_ID EMAIL
	verified_locksmith "$1" "$2"
	first_login "$1" "$2" > /dev/null
	klogin verify-address "$(address_code "Joern Wellniak")" > /dev/null
}

login() { # SDRM_ID EMAIL [PASSWORD FILE]
	klogin --email "$2" --accept-disclaimer --password-file "${3:-$T/new.pw}" \
		--sdrm-id "$1" --sdrm-password-file "$T/sdrm-$1.pw"
}

# For a program on a terminal (script(1)): answers TEXT once PATTERN shows
# in the transcript $T/typescript.
answer() { # PATTERN TEXT
	for _ in $(seq 400); do
		grep -qF -- "$1" "$T/typescript" 2> /dev/null && break
		sleep 0.025
	done
	printf '%s\n' "$2"
}

# curl to kcsd: prints the body, then the status on the last line.
api() { # METHOD PATH [curl args...]
	local m=$1 p=$2
	shift 2
	curl -sS -X "$m" -w '\n%{http_code}\n' "$KCS_URL$p" "$@"
}

# Vehicles, tickets and orders.
VIN=WBA3A5C53CF256985
VIN2=WBAJA5C50KB312345

add_vehicle() { # VIN
	admin vehicle add "$1" --model "328i Sedan" --production-date 2012-03-14 > /dev/null
}
ticket() { # prints the TAN of a new ticket
	"$B/kcs-ticket" --accept-disclaimer < /dev/null | jq -r .tan
}
redeem() { # TAN [SDRM_ID]
	hotline redeem --tan "$1" --sdrm-id "${2:-g36d27a9}" < /dev/null
}
call() { # a fresh call id for the logged-in locksmith
	redeem "$(ticket)" | jq -r .call_id
}
order_key() { # CALL_ID [VIN]
	hotline order-key --call-id "$1" --vin "${2:-$VIN}" --payment-ref PAY-1 --address-confirmed < /dev/null
}

# Key writers, emulated under umockdev (tests/kwemu.c): the command runs with
# one writer per SPEC; what crossed the wire goes to $T/capture.txt and the
# writers' counts to $T/report.json.
emu() { # SPEC... -- COMMAND [ARG...]
	local args=()
	while [ "$1" != -- ]; do args+=(--writer "$1"); shift; done
	shift
	"$B/kcs-kwemu" --report "$T/report.json" --capture "$T/capture.txt" "${args[@]}" -- "$@"
}
executed() { # COMMAND [WRITER INDEX]: how often the writer executed it
	jq -r --arg c "$1" ".writers[${2:-0}].executed[\$c]" "$T/report.json"
}

# Coding: a writer shipped to the logged-in locksmith, the owner's record,
# and kcs-code with the order's JSON ($T/order.json) on stdin.
ship_writer() { # SERIAL PUBLIC-KEY-FILE
	local order
	order=$(hotline order-keywriter --call-id "$(call)" --payment-ref P --address-confirmed < /dev/null | jq -r .order_id)
	hotline ship "$order" --tracking 1Z1 --serial "$1" --public-key "$(cat "$2")" < /dev/null > /dev/null
}

OWNER=(--customer-name "Jane Roe" --relation owner --id-kind drivers_license --id-state CA --id-last4 4321
	--registration-state ca --plate "8ABC123")
WRITER="serial=KW5-0001,slot=blank"
kcs_code() { # [EMULATOR SPEC] -- [kcs-code options]: the order's JSON on stdin
	local spec="$WRITER,key=$T/writer.key"
	[ "$1" = -- ] || { spec=$1; shift; }
	shift
	emu "$spec" -- "$B/kcs-code" --accept-disclaimer "${OWNER[@]}" "$@" < "$T/order.json"
}
