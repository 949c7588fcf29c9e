#!/usr/bin/env bats
# Availability: slow clients, password floods, imports, lockouts, and
# answers whose timing would tell whether an account exists.

load helper

port() { sed 's/.*://' "$T/url"; }

# The median time of N answers to a store-backed route, in seconds.
typical() { # N
	for _ in $(seq "$1"); do
		curl -sS -o /dev/null -w '%{time_total}\n' "$KCS_URL/v1/admin/operators" \
			-H "Authorization: Bearer $(cat "$T/admin.token")"
		sleep 0.1
	done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

# Posts BODY (with @ standing for j@example.com, an account's address, or
# ghost@example.com, no one's) to PATH N times each, interleaved; fails
# unless the median times are within a factor of RATIO of each other.
same_time() { # N PATH BODY RATIO
	local who
	for _ in $(seq "$1"); do
		for who in j ghost; do
			curl -s -o /dev/null -w "$who %{time_total}\n" -X POST -H 'Content-Type: application/json' \
				"$KCS_URL$2" -d "${3//@/$who@example.com}"
		done
	done > "$T/times"
	for who in j ghost; do
		awk -v w=$who '$1 == w { print $2 }' "$T/times" | sort -n |
			awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
	done | paste -s | tee /dev/stderr |
		awk -v r="$4" '{ exit !($1 < r * $2 && $2 < r * $1) }'
}

@test "a request must arrive whole in time: trickling connections are dropped and new clients get in" {
	setup_kcsd "request_timeout = 2" "connection_limit = 16" "per_ip_connection_limit = 8"
	coproc trickle { python3 "$BATS_TEST_DIRNAME/trickle.py" "$(port)" 127.0.0.2,127.0.0.3 8 15; }
	read -r line <&"${trickle[0]}"
	[ "$line" = open ]
	served=
	for _ in $(seq 40); do
		if curl -fsS --max-time 1 "$KCS_URL/v1/health" > /dev/null 2>&1; then served=yes; break; fi
		sleep 0.25
	done
	[ "$served" = yes ]
	read -r closed <&"${trickle[0]}"
	[ "$closed" -eq 16 ]
}

@test "a flood of wrong logins leaves other routes their latency" {
	# a hash takes about half a second
	setup_kcsd "argon2_memlimit_kib = 524288" "threads = 4"
	pids=()
	for i in $(seq 8); do
		( end=$((SECONDS + 4))
		  while [ $SECONDS -lt $end ]; do
			curl -s -o /dev/null -X POST -H 'Content-Type: application/json' "$KCS_URL/v1/login" \
				-d "{\"email\":\"x$i@example.com\",\"password\":\"wrong password\",\"accept_disclaimer\":true}"
		  done ) &
		pids+=($!)
	done
	sleep 1
	t=$(typical 10)
	wait "${pids[@]}"
	echo "typical answer during the flood: ${t}s"
	awk -v t="$t" 'BEGIN { exit !(t < 0.2) }'
}

@test "an SDRM import hashes its passwords with the store released" {
	setup_kcsd "argon2_memlimit_kib = 65536"
	for i in $(seq 30); do printf '{"sdrm_id":"s%d","password":"pw-%d"}\n' "$i" "$i"; done > "$T/many.jsonl"
	admin sdrm import "$T/many.jsonl" > "$T/import.out" &
	import=$!
	sleep 0.3
	t=$(typical 5)
	kill -0 "$import" # still importing while the others were answered
	wait "$import"
	[ "$(jq -r .added "$T/import.out")" -eq 30 ]
	echo "typical answer during the import: ${t}s"
	awk -v t="$t" 'BEGIN { exit !(t < 0.2) }'
}

@test "a dormant account's login takes as long as an unknown address's after a cost change" {
	setup_kcsd "lockout_failures = 1000"
	add_operator
	active_locksmith g36d27a9 j@example.com
	reconfigure "argon2_memlimit_kib = 32768"
	same_time 15 /v1/login '{"email":"@","password":"wrong password","accept_disclaimer":true}' 1.4
}

@test "a reset request takes as long for an account as for an unknown address" {
	setup_kcsd "reset_interval = 0"
	add_operator
	active_locksmith g36d27a9 j@example.com
	same_time 40 /v1/password-reset '{"email":"@"}' 2
	# and the account's e-mails were sent
	[ "$(outbox_count 42)" -ge 42 ]
}

@test "a locksmith locked out by someone else's guesses gets back in with the e-mailed reset" {
	setup_kcsd "lockout_failures = 2" "lockout_cooldown = 3600"
	add_operator
	active_locksmith g36d27a9 j@example.com
	klogin logout
	printf 'wrong password 123' > "$T/bad.pw"
	run login g36d27a9 j@example.com "$T/bad.pw"
	run login g36d27a9 j@example.com "$T/bad.pw"
	run login g36d27a9 j@example.com
	[ "$status" -eq 1 ]
	[[ "$output" == *"too many failed attempts"* ]]
	klogin forgot --email j@example.com > /dev/null
	code=$(reset_code j@example.com)
	[ -n "$code" ]
	# a wrong code (the attacker) is refused, and does not stop the owner
	run klogin reset --email j@example.com --code 2222-2222-2222-2222-2222-2222-2Z --new-password-file "$T/bad.pw"
	[ "$status" -ne 0 ]
	printf 'a brand new password' > "$T/reset.pw"
	run klogin reset --email j@example.com --code "$code" --new-password-file "$T/reset.pw"
	[ "$status" -eq 0 ]
	run login g36d27a9 j@example.com "$T/reset.pw"
	[ "$status" -eq 0 ]
}
