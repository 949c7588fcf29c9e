#!/usr/bin/env bats
# Every binary: --help, --version, usage errors, an unreachable server.

load helper

bats_require_minimum_version 1.5.0

bins=(kcsd kcs-admin kcs-cas kcs-code kcs-cut kcs-download kcs-hotline kcs-keypool kcs-keywriter kcs-login kcs-mailroom kcs-ticket)

@test "--help goes to stdout with exit 0 and lists the exit codes" {
	for b in "${bins[@]}"; do
		run --separate-stderr "$B/$b" --help
		[ "$status" -eq 0 ]
		[[ "$output" == usage:* ]]
		[[ "$output" == *"Exit status"* ]]
		[ -z "$stderr" ]
		run --separate-stderr "$B/$b" -h
		[ "$status" -eq 0 ]
		[[ "$output" == usage:* ]]
	done
}

@test "--version prints the name and version" {
	for b in "${bins[@]}"; do
		run "$B/$b" --version
		[ "$status" -eq 0 ]
		[[ "$output" =~ ^$b\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	done
}

@test "usage errors go to stderr with exit 2" {
	for b in "${bins[@]}"; do
		run --separate-stderr "$B/$b" --no-such-option
		[ "$status" -eq 2 ]
		[ -z "$output" ]
		[[ "$stderr" == *"$b: unknown option"* ]]
		[[ "$stderr" == *"Try '$b --help'"* ]]
	done
	run "$B/kcs-admin"
	[ "$status" -eq 2 ]
	run "$B/kcs-admin" operator fly
	[ "$status" -eq 2 ]
	run "$B/kcs-hotline" dance
	[ "$status" -eq 2 ]
	run "$B/kcs-login" dance
	[ "$status" -eq 2 ]
	run "$B/kcs-login" --password-fd x
	[ "$status" -eq 2 ]
	run "$B/kcs-login" status extra
	[ "$status" -eq 2 ]
	run "$B/kcs-hotline" register --url ftp://x --sdrm-id s < /dev/null
	[ "$status" -eq 2 ]
}

@test "an unreachable server is exit 5" {
	export HOME=$BATS_TEST_TMPDIR XDG_CONFIG_HOME=$BATS_TEST_TMPDIR XDG_STATE_HOME=$BATS_TEST_TMPDIR
	printf 'x' > "$BATS_TEST_TMPDIR/t"
	run "$B/kcs-admin" --url http://127.0.0.1:9 --token-file "$BATS_TEST_TMPDIR/t" operator list
	[ "$status" -eq 5 ]
	[[ "$output" == *"cannot reach kcsd"* ]]
}

@test "a full disk is an error, not silence" {
	run bash -c "'$B/kcs-admin' --help > /dev/full"
	[ "$status" -eq 6 ]
	[[ "$output" == *"writing standard output"* ]]
}

@test "--help, the man page and the completions list the same options" {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	for b in "${bins[@]}"; do
		page=$(ls "$top"/man/"$b".[0-9])
		help=$("$B/$b" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
		[ -n "$help" ]
		for o in $help; do
			grep -q -- "Fl Fl ${o#--}\b" "$page" || { echo "$b: $o not in $page"; return 1; }
			grep -q -- "$o\b" "$top/completions/kcs.bash" || { echo "$b: $o not in bash"; return 1; }
			grep -Eq -- "$o(\[|\})" "$top/completions/_kcs" ||
				{ echo "$b: $o not in zsh"; return 1; }
			grep -q -- "-l ${o#--}\b" "$top/completions/kcs.fish" || { echo "$b: $o not in fish"; return 1; }
		done
	done
}

@test "make install honours PREFIX and DESTDIR" {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	d=$BATS_TEST_TMPDIR/root
	make -s -C "$top" install B="$(basename "$B")" DESTDIR="$d" PREFIX=/opt/kcs > /dev/null
	for b in kcs-admin kcs-cas kcs-code kcs-cut kcs-download kcs-hotline kcs-keypool kcs-keywriter kcs-login kcs-mailroom kcs-ticket; do [ -x "$d/opt/kcs/bin/$b" ]; done
	[ -x "$d/opt/kcs/sbin/kcsd" ]
	for p in man1/kcs-login.1 man1/kcs-ticket.1 man1/kcs-mailroom.1 man1/kcs-keywriter.1 man1/kcs-cas.1 man1/kcs-code.1 man1/kcs-cut.1 man1/kcs-download.1 man1/kcs-keypool.1 man5/kcs-gki.5 man7/kcs-keywriter-protocol.7 man5/kcs.conf.5 man7/kcs.7 man8/kcsd.8 man8/kcs-admin.8; do
		[ -f "$d/opt/kcs/share/man/$p" ]
	done
	[ -f "$d/opt/kcs/share/bash-completion/completions/kcs-ticket" ]
	[ -f "$d/opt/kcs/share/zsh/site-functions/_kcs" ]
	[ -f "$d/opt/kcs/share/fish/vendor_completions.d/kcs.fish" ]
	[ -f "$d/opt/kcs/lib/udev/rules.d/70-kcs-keywriter.rules" ]
	[ ! -e "$d/opt/kcs/bin/kcs-kwemu" ]
	grep -q '^ExecStart=/opt/kcs/sbin/kcsd ' "$d/opt/kcs/lib/systemd/system/kcsd.service"
	grep -q '^ExecStart=/opt/kcs/bin/kcs-admin maintain$' "$d/opt/kcs/lib/systemd/system/kcs-maintain.service"
	[ -f "$d/opt/kcs/lib/systemd/system/kcs-maintain.timer" ]
	[ -z "$(find "$d" -path "$d/opt" -prune -o -type f -print)" ]
}

@test "the systemd units verify clean" {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	sed "s|@SBINDIR@|$B|" "$top/scripts/kcsd.service" > "$BATS_TEST_TMPDIR/kcsd.service"
	sed "s|@BINDIR@|$B|" "$top/scripts/kcs-maintain.service" > "$BATS_TEST_TMPDIR/kcs-maintain.service"
	cp "$top/scripts/kcs-maintain.timer" "$BATS_TEST_TMPDIR/"
	run systemd-analyze verify --man=no "$BATS_TEST_TMPDIR/kcsd.service" "$BATS_TEST_TMPDIR/kcs-maintain.service" \
		"$BATS_TEST_TMPDIR/kcs-maintain.timer"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}
